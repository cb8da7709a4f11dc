"""`Turn`: what one dialog step sees (state, slots, parse, event) and what it produces."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from channels import Event

# The slots the pipeline and the inbox read to hand a conversation over (bot/inbox/service.py).
HANDOFF_SLOT = "handoff_requested"
HANDOFF_REASON_SLOT = "_handoff_reason"


@dataclass
class TimerRequest:
    """A durable timer to create: when due, `trigger` is fired as a system event."""

    id: str
    due_at: float
    trigger: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Notification:
    """A message for someone other than the buyer (e.g. the vendor), by message key."""

    address: str
    channel: str
    key: str
    variables: dict[str, Any] = field(default_factory=dict)


@dataclass
class Attachment:
    """A file sent with a message: a document by link (a quote PDF) where the channel can."""

    url: str
    filename: str
    media_type: str = "document"


@dataclass
class Turn:
    """One step of one conversation. Actions read and change it; nothing here touches storage."""

    state: str
    slots: dict[str, Any]
    event: Event
    parse: dict[str, Any]
    services: Any = None
    settings: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    says: list[str] = field(default_factory=list)
    timers: list[TimerRequest] = field(default_factory=list)
    cancelled_timers: list[str] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    attachments: dict[int, Attachment] = field(default_factory=dict)  # index in `says` -> its file
    now: float | None = None  # the turn's clock; else `services.now`, else the wall clock

    def clock(self) -> float:
        if self.now is None:
            self.now = float(getattr(self.services, "now", None) or time.time())
        return self.now

    def handoff(self, reason: str = "human") -> None:
        """Hand the conversation to a human: the pipeline sets the conversation's handoff flag."""
        self.slots[HANDOFF_SLOT] = True
        self.slots[HANDOFF_REASON_SLOT] = reason

    def say(self, key: str, **variables: Any) -> None:
        self.variables.update(variables)
        self.says.append(key)

    def attach(self, url: str, filename: str, media_type: str = "document") -> None:
        """Send a file with the next message said (a transition's `say` after its actions): as a document
        where the channel can; elsewhere the wording's own link is what the buyer gets."""
        self.attachments[len(self.says)] = Attachment(url, filename, media_type)

    def schedule(self, timer_id: str, due_at: float, trigger: str, **data: Any) -> None:
        self.timers.append(TimerRequest(timer_id, due_at, trigger, data))

    def cancel_timer(self, timer_id: str) -> None:
        self.cancelled_timers.append(timer_id)

    def notify(self, address: str, channel: str, key: str, **variables: Any) -> None:
        self.notifications.append(Notification(address, channel, key, variables))

    def entity(self, name: str, default: Any = None) -> Any:
        """The first value of an entity in the parse result."""
        for ent in self.parse.get("entities", ()):
            if ent.get("entity") == name:
                return ent.get("value")
        return default
