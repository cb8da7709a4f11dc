"""The simulator channel: a JSON API and a web page to talk to a bot with no provider account."""

from __future__ import annotations

import re
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from channels.events import Contact, Event
from channels.replies import Reply

ADDRESS = re.compile(r"^\+?[0-9]{6,15}$|^[A-Za-z0-9._-]{1,64}$")


class SimulatorMessage(BaseModel):
    """Body of POST /simulator/{vendor}/messages."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    sender: str = Field(alias="from", min_length=1, max_length=64)
    text: str | None = Field(default=None, max_length=4096)
    payload: str | None = Field(default=None, max_length=256)
    name: str | None = Field(default=None, max_length=128)
    id: str | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _content(self) -> SimulatorMessage:
        if not (self.text and self.text.strip()) and not self.payload:
            raise ValueError("give 'text' or 'payload'")
        if not ADDRESS.match(self.sender):
            raise ValueError("'from' must be a phone number like +221770000001 or a simple id")
        return self


class SimulatorInputError(ValueError):
    """A simulator request that cannot be turned into an event."""


def parse_message(body: Any, vendor_id: str) -> Event:
    """Turn the simulator JSON into an Event (postback when a button payload is given)."""
    try:
        msg = SimulatorMessage.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise SimulatorInputError(f"{where}: {first['msg']}") from None
    return Event(
        id=f"sim:{vendor_id}:{msg.id or uuid.uuid4().hex}",
        kind="postback" if msg.payload else "message",
        channel="web",
        provider="simulator",
        vendor_id=vendor_id,
        contact=Contact(address=msg.sender, name=msg.name),
        text=msg.text.strip() if msg.text else None,
        payload=msg.payload,
    )


class SimulatorSender:
    """Delivery to the simulator is the transcript itself: nothing leaves the process."""

    async def send(self, recipient: str, reply: Reply, *, idempotency_key: str) -> str:
        return f"sim:{idempotency_key}"
