"""The two messages a buyer gets when their turn cannot run: "one moment" while it is retried, an apology
when it has failed for good."""

from __future__ import annotations

from bot.pipeline.turn import add_outbound
from bot.vendors import Vendor
from channels import Event, Reply
from storage import Conversation, Message, TurnWrite

APOLOGY = {
    "fr": "Désolé, un souci technique m'empêche de répondre. Réessayez dans un instant 🙏",
    "en": "Sorry, a technical problem stops me from answering. Please try again in a moment 🙏",
}
HOLD_ON = {
    "fr": "Un instant s'il vous plaît, je reviens vers vous très vite 🙏",
    "en": "One moment please, I will get back to you very soon 🙏",
}
# Only a buyer's own message deserves an answer; status and system events have nobody waiting.
ANSWERED_KINDS = frozenset({"message", "postback"})


def courtesy_write(
    event: Event, conv: Conversation, vendor: Vendor | None, texts: dict[str, str], tag: str, event_id: str
) -> tuple[TurnWrite, Reply]:
    """A write with the buyer's message and one of `texts` in the vendor's locale, committed as the turn of
    `event_id`. Ids derive from the event and `tag`, so recording it twice stores (and sends) it once, and
    the event's real turn later keeps its own reply ids."""
    reply = Reply(text=texts.get(vendor.config.locale if vendor else "fr", texts["fr"]))
    write = TurnWrite(event_id=event_id)
    write.messages.append(Message(
        id=f"{event.id}:in", conversation_id=conv.id, direction="in", text=event.text, payload=event.payload,
        event_id=event.id, provider_message_id=event.provider_message_id, status="received",
        created_at=event.received_at,
    ))
    add_outbound(write, conv, event, [reply], tag=tag)
    return write, reply
