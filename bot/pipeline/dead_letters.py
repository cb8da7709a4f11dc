"""Dead letters as operators see them (CLI and admin API): listed without buyers' full addresses, replayed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from channels import Event
from channels.base import mask_address
from storage import Store
from storage.dead_letters import DeadLetter


def masked_conversation(conversation_id: str) -> str:
    """'demo:whatsapp:+221770000001' -> 'demo:whatsapp:+22177****001': enough to recognise, not to contact."""
    vendor, sep, rest = conversation_id.partition(":")
    channel, sep2, address = rest.partition(":")
    if not (sep and sep2):
        return mask_address(conversation_id) if conversation_id else ""
    return f"{vendor}:{channel}:{mask_address(address)}"


def public(letter: DeadLetter) -> dict[str, Any]:
    return {
        "event_id": letter.event_id,
        "vendor": letter.vendor_id,
        "conversation": masked_conversation(letter.conversation_id),
        "kind": letter.kind,
        "error": letter.error,
        "attempts": letter.attempts,
        "dead_at": letter.dead_at,
    }


async def revive_all(
    store: Store, vendor_id: str | None = None, revive: Callable[[str], Awaitable[Event | None]] | None = None
) -> tuple[list[str], list[dict[str, str]]]:
    """Revive every dead letter (of one vendor); (revived ids, [{event_id, error}] of those that cannot be).

    `revive` defaults to `store.revive_event`, which only marks the event unprocessed (it runs at the
    next start-up); a running pipeline passes its `replay`, which also queues it.
    """
    revive = revive or store.revive_event
    revived: list[str] = []
    failed: list[dict[str, str]] = []
    for letter in await store.dead_letters(vendor_id, limit=100_000):
        try:
            if await revive(letter.event_id) is not None:
                revived.append(letter.event_id)
        except ValueError as exc:
            failed.append({"event_id": letter.event_id, "error": str(exc)[:300]})
    return revived, failed
