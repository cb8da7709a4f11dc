"""The inbox's JSON: threads, transcripts, notes, order context; buyers' addresses masked unless the role allows."""

from __future__ import annotations

from typing import Any

from bot.inbox.users import Caller
from channels.base import mask_address
from storage import Conversation, Message, Order
from storage.inbox import CannedReply, Note, Thread


def contact(caller: Caller, thread: Thread) -> dict[str, Any]:
    address = thread.contact.address
    return {"name": thread.contact.name,
            "address": address if caller.can("contacts", "read") else mask_address(address)}


def summary(caller: Caller, thread: Thread, at: float) -> dict[str, Any]:
    last = thread.last_message
    return {
        "id": thread.id,
        "vendor": thread.vendor_id,
        "channel": thread.channel,
        "contact": contact(caller, thread),
        "status": thread.effective_status(at),
        "assignee": thread.assignee,
        "waiting_since": thread.waiting_since,
        "last_message": last.model_dump() if last else None,
        "labels": thread.labels,
        "reason": thread.reason,
        "category": thread.category,
        "opened_at": thread.opened_at,
    }


def message(m: Message) -> dict[str, Any]:
    agent = m.reply.data.get("agent") if m.reply else None
    author = "buyer" if m.direction == "in" else "agent" if agent else "bot"
    out: dict[str, Any] = {"id": m.id, "author": author, "text": m.text, "at": m.created_at, "status": m.status}
    if m.direction == "in" and m.payload:
        out["payload"] = m.payload
    if agent:
        out["agent"] = agent
    if m.reply and m.reply.buttons:
        out["buttons"] = [b.model_dump() for b in m.reply.buttons]
    return out


def note(n: Note) -> dict[str, Any]:
    return n.model_dump(include={"id", "author", "text", "created_at"})


def order(o: Order) -> dict[str, Any]:
    return {"id": o.id, "product_code": o.product_code, "product_name": o.product_name, "quantity": o.quantity,
            "total": o.total, "status": o.status, "payment_method": o.payment_method, "receipt": o.receipt,
            "created_at": o.created_at, "paid_at": o.paid_at}


def detail(caller: Caller, thread: Thread, conv: Conversation | None, messages: list[Message], notes: list[Note],
           orders: list[Order], at: float) -> dict[str, Any]:
    return {
        **summary(caller, thread, at),
        "locale": conv.locale if conv else None,
        "bot_state": conv.state if conv else None,
        "in_handoff": bool(conv and conv.handoff),
        "snoozed_until": thread.snoozed_until,
        "first_response_seconds": thread.first_response_at - thread.opened_at if thread.first_response_at else None,
        "resolution_seconds": thread.resolved_at - thread.opened_at if thread.resolved_at else None,
        "csat": {"pending": thread.csat_pending, "score": thread.csat_score},
        "messages": [message(m) for m in messages],
        "notes": [note(n) for n in notes],
        "orders": [order(o) for o in orders],
    }


def canned(c: CannedReply) -> dict[str, Any]:
    return {"id": c.id, "vendor": c.vendor_id, "shortcut": c.shortcut, "text": c.text, "updated_at": c.updated_at}
