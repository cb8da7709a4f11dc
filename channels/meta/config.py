"""Meta WhatsApp Cloud API: the vendor YAML block, and the provider's limits and error codes."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from channels.events import DeliveryStatus

SIGNATURE_HEADER = "X-Hub-Signature-256"
DEFAULT_API_BASE = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"

# Content limits (CHANNELS.md §2.3).
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
INTERACTIVE_BODY_LIMIT = 1024
HEADER_LIMIT = 60
FOOTER_LIMIT = 60
MAX_BUTTONS = 3
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
MAX_LIST_ROWS = 10
LIST_BUTTON_LIMIT = 20
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200
SECTION_TITLE_LIMIT = 24
CALLBACK_DATA_LIMIT = 512
DEFAULT_LIST_BUTTON = "Options"  # the same word in French and English; Reply.data["list_button"] overrides it
EMPTY_BODY = "👇"  # interactive messages need a body; used when the Reply has buttons and no text

STATUSES: dict[str, DeliveryStatus] = {"sent": "sent", "delivered": "delivered", "read": "read",
                                       "played": "read", "failed": "failed"}
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")

# Send errors (CHANNELS.md §2.3 "Throughput and rate limits"): codes worth retrying, and after how long
# when the response carries no Retry-After. 130429 is per-second throughput; 131056 is the pair rate
# (about one message per 6 s to one user); 131048/80007/4 are quality, account and app-level limits.
RETRY_AFTER = {130429: 1.0, 131056: 6.0, 131048: 60.0, 80007: 60.0, 4: 60.0}
RATE_LIMITED_DEFAULT = 5.0


PHONE_NUMBER_ID = re.compile(r"^[0-9]{1,32}$")


class Config(BaseModel):
    """A vendor's WhatsApp numbers on the Cloud API: `channels.meta` in the vendor YAML.

    A message is answered from the number it was sent to, whichever it is; `phone_number_ids` lists
    the vendor's numbers so that the shared `/webhooks/meta` URL can route them, and its first one
    (or `phone_number_id`) sends what the bot starts itself (notifications, reminders).
    Secrets (`access_token`, `app_secret`, `verify_token`) are given as ${ENV} references; without
    `app_secret` the vendor is reached only through the shared URL and the operator's app secret.
    `api_version` must be a Graph API version the Meta app can call (see docs/channels/meta.md).
    """

    model_config = ConfigDict(extra="forbid", title="channels.meta", hide_input_in_errors=True)

    phone_number_id: str | None = Field(default=None, pattern=PHONE_NUMBER_ID.pattern)
    phone_number_ids: list[str] = Field(default_factory=list)
    access_token: str = Field(min_length=1, repr=False)
    app_secret: str | None = Field(default=None, min_length=1, repr=False)
    verify_token: str | None = Field(default=None, min_length=1, repr=False)
    api_version: str = Field(default=DEFAULT_API_VERSION, pattern=r"^v[0-9]+\.[0-9]+$")
    api_base_url: str = DEFAULT_API_BASE

    @field_validator("phone_number_id", mode="before")
    @classmethod
    def _digits_as_text(cls, value: Any) -> Any:
        # YAML reads an unquoted id as an integer.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("phone_number_ids", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        if isinstance(value, str | int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list):
            return value
        ids = [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        for v in ids:
            if not isinstance(v, str) or not PHONE_NUMBER_ID.match(v):
                raise ValueError("each phone number id is the digits Meta shows for the number (WhatsApp Manager)")
        return ids

    @model_validator(mode="after")
    def _one_sender(self) -> Config:
        numbers = list(dict.fromkeys([*([self.phone_number_id] if self.phone_number_id else []),
                                      *self.phone_number_ids]))
        if not numbers:
            raise ValueError("phone_number_ids must list at least one number (the one the bot writes from first)")
        self.phone_number_id, self.phone_number_ids = numbers[0], numbers
        return self

    @property
    def sender_id(self) -> str:
        """The number messages the bot starts itself are sent from."""
        return self.phone_number_ids[0]
