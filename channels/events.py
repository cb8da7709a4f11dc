"""The inbound `Event`: what every provider webhook is normalised into."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventKind = Literal["message", "postback", "status", "system"]
Channel = Literal["whatsapp", "telegram", "sms", "email", "web"]
Provider = Literal["meta", "wasender", "twilio", "telegram", "email", "simulator", "system"]
DeliveryStatus = Literal["queued", "sent", "delivered", "read", "failed"]


class Contact(BaseModel):
    """Who the conversation is with: a canonical address plus an optional display name."""

    model_config = ConfigDict(frozen=True)

    address: str
    name: str | None = None


class Media(BaseModel):
    kind: Literal["image", "video", "audio", "document", "sticker"] = "image"
    url: str | None = None
    provider_media_id: str | None = None
    mime_type: str | None = None
    caption: str | None = None
    filename: str | None = None


class Location(BaseModel):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class Event(BaseModel):
    """One inbound happening of a conversation.

    `id` is the idempotency key: the pipeline processes an event id at most once, so a
    provider retry or a redelivered queue entry never produces a second reply.
    """

    id: str
    kind: EventKind = "message"
    channel: Channel
    provider: Provider
    vendor_id: str
    contact: Contact
    text: str | None = None
    payload: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    media: Media | None = None
    location: Location | None = None
    reply_to: str | None = None
    status: DeliveryStatus | None = None
    error_code: str | None = None
    provider_message_id: str | None = None
    received_at: float = Field(default_factory=time.time)
    raw: dict[str, Any] | None = None

    @property
    def conversation_key(self) -> str:
        """Events with the same key belong to one conversation and are handled in order."""
        return f"{self.vendor_id}:{self.channel}:{self.contact.address}"
