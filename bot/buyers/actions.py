"""What dialogs reach of buyers: their record, the vendor's admission rules, adaptive reservation timing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.buyers.records import BuyerRecord, admit, record_from
from bot.buyers.trust import TrustScore, reminder_percent, reservation_minutes
from dialogs import Registry, Turn
from storage import Store

NORMAL_MINUTES = 10  # PRODUCT.md's reservation for an ordinary buyer: the vendor's setting stands for it


@dataclass(frozen=True)
class Timing:
    minutes: float
    reminder_percent: float


async def buyer_record(store: Store, vendor_id: str, address: str) -> BuyerRecord:
    return record_from(vendor_id, address, await store.buyer_orders(vendor_id, address))


def adaptive_timing(score: TrustScore, base_minutes: float, base_percent: float) -> Timing:
    """The vendor's reservation time is the ordinary buyer's (10 min by default); a doubtful buyer gets
    half of it and a trusted one half again (5/10/15 min with the default). The reminder moves to
    80 % for trusted and 50 % for doubtful buyers; others keep the vendor's percentage."""
    minutes = base_minutes * reservation_minutes(score) / NORMAL_MINUTES
    percent = reminder_percent(score)
    return Timing(minutes, base_percent if percent == 70 else percent)


async def buyer_admitted(turn: Turn) -> bool:
    """The vendor takes a new order from this buyer (min_trust_score_required, max_orders_per_client);
    when not, `refusal` says why ("low_trust" | "too_many_orders") for the message."""
    services: Any = turn.services
    record = await buyer_record(services.store, services.vendor.id, turn.event.contact.address)
    decision = admit(record, services.settings)
    turn.variables.update(refusal=decision.reason, buyer=record.card())
    return decision.allowed


def register(registry: Registry) -> Registry:
    registry.add("buyer_admitted", buyer_admitted)
    return registry
