"""A reply that failed for good on one channel, copied once to another of the buyer's channels (same number)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.delivery.policy import DeliverySettings, is_phone, outside_window
from storage import Conversation, Message, OutboxEntry, TurnWrite

if TYPE_CHECKING:
    from bot.delivery.outbox import Delivery

# Marks the id of a reply re-sent on another of the buyer's channels: such a copy never falls back again.
VIA = ":via:"


async def send_elsewhere(delivery: Delivery, entry: OutboxEntry) -> str | None:
    """Queue a reply that failed for good on another of the buyer's channels; returns that channel.

    The buyer's conversations with the vendor under the same phone number are tried in preference
    order (where they last wrote first), and the first one this process can send on gets one copy.
    """
    if VIA in entry.id or not is_phone(entry.recipient):
        return None
    policy = delivery.policy(entry.vendor_id)
    for conv in await delivery.store.conversations_with(entry.vendor_id, entry.recipient):
        if conv.id == entry.conversation_id or not _reachable(delivery, conv, policy):
            continue
        copy_id = f"{entry.id}{VIA}{conv.channel}"
        event_id = f"fallback:{entry.id}"
        message = Message(id=copy_id, conversation_id=conv.id, direction="out", text=entry.reply.text,
                          reply=entry.reply, event_id=event_id, status="queued")
        # Times taken from the failed entry, not the clock: queued again after a crash, the copy is the
        # same version of the same entry, so its delivery claim holds and it is not sent twice.
        copy = OutboxEntry(id=copy_id, message_id=copy_id, conversation_id=conv.id, vendor_id=conv.vendor_id,
                           channel=conv.channel, provider=conv.provider, recipient=conv.contact.address,
                           reply=entry.reply, next_attempt_at=entry.created_at, created_at=entry.created_at)
        await delivery.store.commit_turn(TurnWrite(event_id=event_id, messages=[message], outbox=[copy]))
        delivery.metrics.inc("palabre_replies_other_channel_total")
        delivery.submit([copy])
        return conv.channel
    return None


def _reachable(delivery: Delivery, conv: Conversation, policy: DeliverySettings) -> bool:
    """Whether a copy could go out in this conversation: a sender, and Meta's window open or a template."""
    if not delivery.can_send(conv.provider, conv.vendor_id):
        return False
    if conv.provider == "meta" and conv.channel == "whatsapp" and policy.whatsapp_template is None:
        return not outside_window(conv.last_inbound_at, delivery.clock(), policy.window_margin)
    return True
