"""The persisted domain records: conversations, messages, outbox, timers, products, orders, payments."""

from __future__ import annotations

import time
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from channels import Contact, Event, Reply

OrderStatus = Literal[
    "reserved", "awaiting_payment", "paid", "cancelled", "expired", "refund_due", "refunded"
]


# Which recorded statuses a newly reported one may replace: statuses arrive out of order, and a late
# "delivered" must never undo "read" (a later "delivered" does undo an early "failed").
STATUS_REPLACES: dict[str, tuple[str, ...]] = {
    "queued": ("queued",),
    "sent": ("queued", "sent"),
    "delivered": ("queued", "sent", "delivered", "failed"),
    "read": ("queued", "sent", "delivered", "read", "failed"),
    "failed": ("queued", "sent", "failed"),
}


def now() -> float:
    return time.time()


def to_json(record: BaseModel, include: AbstractSet[str] | None = None) -> str:
    """`record.model_dump_json(include=include)`, straight from the model's serializer: the method's keyword
    plumbing cost ~0.5 µs a dump, and a turn's write dumps five records."""
    return record.__pydantic_serializer__.to_json(record, include=include).decode()


class Conversation(BaseModel):
    """One buyer's conversation with one vendor on one channel; `id` is the event's conversation key."""

    id: str
    vendor_id: str
    channel: str
    provider: str
    contact: Contact
    dialog: str = "live_seller"
    state: str = "idle"
    slots: dict[str, Any] = Field(default_factory=dict)
    locale: str = "fr"
    handoff: bool = False
    assignee: str | None = None
    last_inbound_at: float | None = None  # the buyer's last message: opens WhatsApp's 24-hour window
    created_at: float = Field(default_factory=now)
    updated_at: float = Field(default_factory=now)
    version: int = 0
    # The last events whose turns this conversation took, written with it under its version check: a turn
    # rebuilt for one of them (a process that checked "processed?" before another's commit landed) sees it.
    recent_events: list[str] = Field(default_factory=list)


class Message(BaseModel):
    """A line of a transcript: inbound (buyer) or outbound (bot), in conversation order."""

    id: str
    conversation_id: str
    direction: Literal["in", "out"]
    text: str | None = None
    payload: str | None = None
    reply: Reply | None = None
    event_id: str | None = None
    provider_message_id: str | None = None
    status: str = "queued"
    error: str | None = None
    created_at: float = Field(default_factory=now)
    seq: int = 0


class OutboxEntry(BaseModel):
    """A reply waiting for delivery; the id is deterministic so a re-run turn writes the same entry."""

    id: str
    message_id: str
    conversation_id: str
    vendor_id: str
    channel: str
    provider: str
    recipient: str
    reply: Reply
    attempts: int = 0
    next_attempt_at: float = Field(default_factory=now)
    status: Literal["pending", "sent", "failed"] = "pending"
    error: str | None = None
    created_at: float = Field(default_factory=now)


class Timer(BaseModel):
    """A durable timer: when due it becomes a system event for its conversation."""

    id: str
    due_at: float
    conversation_id: str
    event: Event


class Product(BaseModel):
    vendor_id: str
    code: str
    name: str
    price: int
    stock: int
    description: str | None = None
    image_url: str | None = None


class Order(BaseModel):
    id: str
    vendor_id: str
    conversation_id: str
    contact: Contact
    channel: str
    product_code: str
    product_name: str
    quantity: int
    unit_price: int
    status: OrderStatus = "reserved"
    reserved_until: float = 0.0
    payment_method: str | None = None
    payment_id: str | None = None
    receipt: str | None = None
    created_at: float = Field(default_factory=now)
    paid_at: float | None = None

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity


class Payment(BaseModel):
    """A payment attempt at a PSP (the sandbox PSP keeps its checkout sessions here too)."""

    id: str
    psp: str
    vendor_id: str
    order_id: str
    amount: int
    currency: str = "XOF"
    method: str
    # refund_due -> refunded, or refund_manual (the vendor refunds by hand) -> refunded: bot/payments/refunds.py
    status: Literal["pending", "paid", "failed", "expired", "refund_due", "refund_manual", "refunded"] = "pending"
    expires_at: float = 0.0
    created_at: float = Field(default_factory=now)
    provider_ref: str | None = None  # the PSP's id for it (charge, session, invoice token)
    link: str | None = None  # the checkout URL the buyer was sent


CHANNELS = ("whatsapp", "telegram", "sms", "email", "web")


class ChannelAccount(BaseModel):
    """A vendor's account at a provider registered at run time (e.g. imported WhatsApp numbers).

    `settings` is that adapter's configuration, secrets included: it lives only in the store,
    never in YAML, logs or git.
    """

    provider: str
    vendor_id: str
    settings: dict[str, Any]
    label: str | None = None
    updated_at: float = Field(default_factory=now)

    @property
    def id(self) -> str:
        return f"{self.provider}:{self.vendor_id}"


@dataclass(slots=True)
class TurnWrite:
    """Everything one turn changes, written together: the event is marked processed last.

    `expected_version` is the version the turn loaded the conversation at (0 for a new one); when set,
    `Store.commit_turn` refuses the write with ConflictError if the stored version has moved since.
    A plain container of records already validated, never stored or parsed itself: a pydantic model
    here cost ~2 µs per turn to build and assign (bench/RESULTS.md).
    """

    event_id: str
    conversation: Conversation | None = None
    expected_version: int | None = None
    messages: list[Message] = field(default_factory=list)
    outbox: list[OutboxEntry] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    cancel_timers: list[str] = field(default_factory=list)
    # The conversation had already taken this event (its write landed, maybe not the rest): no new answer; the
    # store writes what the turn may have left unwritten.
    already_taken: bool = False
    conversation_id: str | None = None  # with already_taken: whose turn the store finishes


class Document(BaseModel):
    """A file the bot sends by link (a b2b quote PDF), served by its unguessable id."""

    id: str
    vendor_id: str
    filename: str
    content_type: str
    body: bytes
    created_at: float = Field(default_factory=now)
