"""Wasender: the vendor YAML block, and the event names, status codes and limits of the provider."""

from __future__ import annotations

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

SIGNATURE_HEADER = "X-Webhook-Signature"
DEFAULT_API_BASE = "https://www.wasenderapi.com"
# Wasender documents no maximum; WhatsApp itself is comfortable with Meta's 4096 (CHANNELS.md §3.3).
TEXT_LIMIT = 4096
# Without any rate-limit header a 429 most likely comes from the trial plan (1 send per minute).
DEFAULT_RETRY_AFTER = 60.0

MESSAGE_EVENTS = frozenset({
    "messages.received", "messages.upsert", "messages-personal.received", "messages-group.received",
    "message.sent",
})
STATUS_EVENTS = frozenset({"messages.update"})
RECEIPT_EVENTS = frozenset({"message-receipt.update"})
POLL_EVENTS = frozenset({"poll.results"})
SESSION_EVENTS = frozenset({"session.status"})
# The Python SDK spells one event "messages.recieved"; Wasender may send either.
EVENT_ALIASES = {"messages.recieved": "messages.received"}

# messages.update `data.update.status` (CHANNELS.md §1.2).
STATUS_CODES = {0: "failed", 1: "queued", 2: "sent", 3: "delivered", 4: "read", 5: "read"}
STATUS_NAMES = {"error": "failed", "failed": "failed", "pending": "queued", "server_ack": "sent", "sent": "sent",
                "delivery_ack": "delivered", "delivered": "delivered", "read": "read", "played": "read"}

MEDIA_KINDS = {"imageMessage": "image", "videoMessage": "video", "audioMessage": "audio",
               "documentMessage": "document", "stickerMessage": "sticker"}
# Envelopes WhatsApp Web wraps around the real content.
WRAPPERS = ("ephemeralMessage", "viewOnceMessage", "viewOnceMessageV2", "viewOnceMessageV2Extension",
            "documentWithCaptionMessage", "editedMessage")
# Message parts that carry no content of their own: a message made only of these is not shown to the buyer
# (reactions, revokes, key distribution) and gets no reply.
SILENT_PARTS = frozenset({"messageContextInfo", "senderKeyDistributionMessage", "protocolMessage",
                          "reactionMessage", "pollUpdateMessage", "keepInChatMessage"})
PHONE_SERVERS = ("s.whatsapp.net", "c.us")
# The shortest digits taken as a phone number when phonenumbers does not know it (short test numbers).
MIN_PHONE_DIGITS = 4
DOCUMENT_EXTENSIONS = frozenset({"pdf", "doc", "docx", "xls", "xlsx", "csv", "txt", "ppt", "pptx", "zip", "odt",
                                 "ods", "rtf"})
VIDEO_EXTENSIONS = frozenset({"mp4", "3gp", "mov"})


class Config(BaseModel):
    """One vendor's WhatsApp number on Wasender: `channels.wasender` in the vendor YAML (secrets as ${ENV})."""

    # The title names the YAML block in error messages; inputs are hidden so a bad secret is never printed.
    model_config = ConfigDict(extra="forbid", title="channels.wasender", hide_input_in_errors=True)

    phone_number: str
    instance_id: str | None = None
    api_key: str = Field(min_length=1, repr=False)
    webhook_secret: str = Field(min_length=8, repr=False)
    api_base_url: str = DEFAULT_API_BASE

    @field_validator("phone_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        problem = "must be the WhatsApp number in E.164 form, e.g. +221771234567"
        if not value.startswith("+"):
            raise ValueError(problem)
        try:
            number = phonenumbers.parse(value)
        except phonenumbers.NumberParseException:
            raise ValueError(problem) from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError(problem)
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @field_validator("api_key", "webhook_secret")
    @classmethod
    def _no_blanks(cls, value: str) -> str:
        # A secret pasted with a stray space or newline would never match what Wasender sends.
        if value != value.strip():
            raise ValueError("must not start or end with spaces or newlines")
        return value

    @field_validator("api_base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https://")
        return value.rstrip("/")


