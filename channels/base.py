"""What every channel adapter offers the runtime: sending a Reply, and the errors it may raise."""

from __future__ import annotations

from typing import Protocol

from channels.replies import Reply


class SendError(Exception):
    """A delivery that failed; `permanent` ones are not retried."""

    permanent = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
