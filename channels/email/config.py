"""E-mail: the vendor YAML block, the Inbound Parse token check and the channel's limits."""

from __future__ import annotations

import hmac
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_API_BASE = "https://api.sendgrid.com"
TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "email"
# SendGrid documents 20 MB and 30 MB in different places (CHANNELS.md §6.1.4): accept the larger.
MAX_INBOUND_BYTES = 32 * 1024 * 1024
MAX_TEXT = 8000
# Quote stripping and HTML parsing are pure Python on the event loop: bound the work per mail.
MAX_SCAN = 200_000
MAX_FIELDS = 200
ADDRESS = re.compile(r"^[^@\s<>,;\"]{1,64}@[^@\s<>,;\"]{1,255}\.[^@\s<>,;\"]{1,63}$")
MSG_ID = re.compile(r"<[^<>\s]{1,500}>")
URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
TRAILING_PUNCT = ".,;:!?)]}»'\""
REPLY_PREFIX = re.compile(r"^\s*(?:re|tr|fw|fwd|réf)\s*:", re.IGNORECASE)
EMAIL_IN_TEXT = re.compile(r"[^@\s<>\"'(),;:]+@[^@\s<>\"'(),;:]+")

STRINGS: dict[str, dict[str, str]] = {
    "fr": {"hint": "Répondez à cet e-mail avec le numéro de votre choix (par exemple 1).",
           "subject": "{name} — votre commande", "photo": "Photo", "link": "Lien"},
    "en": {"hint": "Reply to this e-mail with the number of your choice (for example 1).",
           "subject": "{name} — your order", "photo": "Photo", "link": "Link"},
}


class Config(BaseModel):
    """A vendor's e-mail channel: `channels.email` in the vendor YAML (secrets as ${ENV} references)."""

    # hide_input_in_errors: a validation error must not print the secrets it was given.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    from_address: str = Field(pattern=ADDRESS.pattern)
    from_name: str = Field(min_length=1, max_length=120)
    reply_to: str | None = Field(default=None, pattern=ADDRESS.pattern)
    locale: Literal["fr", "en"] = "fr"
    transport: Literal["sendgrid", "smtp"] = "sendgrid"
    api_key: str | None = Field(default=None, min_length=1, repr=False)
    api_base_url: str = DEFAULT_API_BASE
    smtp_host: str | None = Field(default=None, min_length=1)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_starttls: bool = True
    # The Parse webhook has no signature by default: this token in the URL path is the authentication.
    inbound_token: str = Field(pattern=r"^[A-Za-z0-9_-]{16,128}$", repr=False)

    @model_validator(mode="after")
    def _transport_settings(self) -> Config:
        if self.transport == "sendgrid" and not self.api_key:
            raise ValueError("api_key is required when transport is 'sendgrid'")
        if self.transport == "smtp" and not self.smtp_host:
            raise ValueError("smtp_host is required when transport is 'smtp'")
        if self.smtp_password and not self.smtp_username:
            raise ValueError("smtp_password is set but smtp_username is missing")
        return self


def verify(config: Config, token: str | None) -> bool:
    """The token from the Parse URL must equal the configured one (constant-time compare)."""
    expected = config.inbound_token
    return bool(expected) and bool(token) and hmac.compare_digest(expected.encode(), (token or "").encode())


class InboundError(ValueError):
    """An Inbound Parse request that is not an e-mail we can read."""


