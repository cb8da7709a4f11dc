"""What every channel adapter shares: the Sender protocol, its errors, NotAMessage, and address helpers."""

from __future__ import annotations

import re
from typing import Protocol

from channels.replies import Reply

# A WhatsApp business-scoped user id ("US.13491208655302741918"): the address of a user who hides their
# number, given by Meta and by Twilio's WhatsApp sender alike.
BSUID = re.compile(r"^[A-Z]{2,3}\.[A-Za-z0-9]{1,128}$")


class NotAMessage(ValueError):
    """An authentic webhook request that carries nothing to answer (no message id, no sender).

    The endpoint answers 200 so the provider stops retrying it, stores nothing, counts and logs it.
    """


class SendError(Exception):
    """A delivery that failed; `permanent` ones are not retried. `code` is the provider's error code
    (Graph API code, Twilio error, HTTP status) when it gave one: logs and delivery policies read it."""

    permanent = False

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.code = code


class PermanentSendError(SendError):
    permanent = True


class Sender(Protocol):
    """Delivers replies to one provider. Must be safe to call concurrently."""

    async def send(self, recipient: str, reply: Reply, *, idempotency_key: str) -> str:
        """Send and return the provider's message id; raise SendError on failure."""
        ...


def mask_address(address: str) -> str:
    """An address fit for logs: '+221770000001' -> '+22177****001'; emails keep their domain."""
    if "@" in address:
        user, _, domain = address.partition("@")
        return f"{user[:1]}***@{domain}"
    if len(address) <= 6:
        return "***"
    return f"{address[:6]}****{address[-3:]}"
