"""Twilio: the vendor YAML block, the provider's statuses, error codes and GSM-7 alphabet."""

from __future__ import annotations

import re

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from channels.events import DeliveryStatus

SIGNATURE_HEADER = "X-Twilio-Signature"
DEFAULT_API_BASE = "https://api.twilio.com"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
BODY_LIMIT = 1600  # Twilio's maximum Body per API call; it concatenates the segments itself
WHATSAPP_PREFIX = "whatsapp:"
URL_PATTERN = r"^https?://[^\s#]+(#\S*)?$"
# Twilio MessageStatus → our vocabulary (CHANNELS.md §1.2); partially_delivered → delivered is our choice.
STATUSES: dict[str, DeliveryStatus] = {
    "accepted": "queued", "scheduled": "queued", "queued": "queued", "sending": "queued",
    "sent": "sent", "delivered": "delivered", "partially_delivered": "delivered", "read": "read",
    "undelivered": "failed", "failed": "failed", "canceled": "failed",
}
INBOUND_STATUSES = frozenset({"received", "receiving"})
SID_PATTERN = re.compile(r"^[A-Za-z0-9]{2,64}$")
PHONE_IN_TEXT = re.compile(r"\+?\d[\d ]{5,}\d")
# REST error codes whose meaning the vendor should read in the transcript as it is (CHANNELS.md §4.3).
KNOWN_ERRORS = {
    20003: "authentication failed: check account_sid and auth_token",
    21211: "invalid 'To' phone number",
    21408: "this account may not send to that region",
    21610: "recipient unsubscribed (replied STOP)",
    21612: "this To/From combination is not allowed (sender not supported in that country?)",
    21614: "'To' is not a mobile number",
    21635: "'To' is a landline",
    63016: "outside the WhatsApp 24-hour window: a template is needed",
}

# GSM 03.38: the basic set costs one septet per character, the extension set two (escape + char).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
GSM7 = GSM7_BASIC | GSM7_EXTENSION
# What French text typically carries that GSM-7 lacks; letters with accents are folded by NFKD below.
GSM7_FOLD = {
    **dict.fromkeys("\t\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000",
                    " "),
    **dict.fromkeys("\u00ad\u200b\u200c\u200d\u2060\ufeff\ufe0e\ufe0f", ""),
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4`\u2039\u203a", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2022\u25cf", "-"),
    "\u2026": "...", "\u00d7": "x", "\u00f7": "/", "\u00b7": ".", "\u00b0": "o", "\u0153": "oe", "\u0152": "OE",
    "\u00e7": "c",
}


def to_e164(value: str) -> str:
    """A phone number as canonical E.164 ('+221771234567'); ValueError when it is not one."""
    try:
        number = phonenumbers.parse(value.strip(), None)
    except phonenumbers.NumberParseException:
        raise ValueError("not an E.164 phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class Config(BaseModel):
    """A vendor's Twilio account: `channels.twilio` in the vendor YAML (secrets as ${ENV} references)."""

    model_config = ConfigDict(extra="forbid")

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: str = Field(min_length=1, repr=False)
    # SMS sender: a Twilio number (E.164) or an alphanumeric sender id (one-way), or a Messaging Service.
    from_number: str | None = None
    messaging_service_sid: str | None = Field(None, pattern=r"^MG[0-9a-fA-F]{32}$")
    # The WhatsApp-enabled Twilio number, when the vendor also talks to buyers on WhatsApp through Twilio.
    whatsapp_from: str | None = None
    status_callback_url: str | None = Field(None, pattern=URL_PATTERN)
    webhook_url: str | None = Field(None, pattern=URL_PATTERN)
    validity_period: int | None = Field(None, ge=1, le=36000)
    api_base_url: str = DEFAULT_API_BASE

    @field_validator("from_number")
    @classmethod
    def _from_number(cls, value: str | None) -> str | None:
        if value is None or re.fullmatch(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}", value):
            return value
        if value.strip().startswith("+"):
            try:
                return to_e164(value)
            except ValueError:
                pass
        raise ValueError(f"'{value}' is neither an E.164 number like +33757001234 nor an alphanumeric "
                         "sender id (1-11 letters, digits or spaces, not only digits)")

    @field_validator("whatsapp_from")
    @classmethod
    def _whatsapp_from(cls, value: str | None) -> str | None:
        if value is None:
            return None
        bare = value[len(WHATSAPP_PREFIX):] if value.lower().startswith(WHATSAPP_PREFIX) else value
        try:
            return to_e164(bare)
        except ValueError:
            raise ValueError(f"'{value}' is not an E.164 phone number (optionally prefixed 'whatsapp:')") from None

    @model_validator(mode="after")
    def _one_sender(self) -> Config:
        if self.from_number and self.messaging_service_sid:
            raise ValueError("set from_number or messaging_service_sid, not both")
        if not (self.from_number or self.messaging_service_sid or self.whatsapp_from):
            raise ValueError("a sender is needed: from_number, messaging_service_sid or whatsapp_from")
        return self


