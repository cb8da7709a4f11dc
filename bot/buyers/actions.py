"""What dialogs reach of buyers: their record, the vendor's admission rules, adaptive timing and wording."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

from bot.buyers.adaptive import FirstBuyer, adaptive_settings, badges, buyer_kind
from bot.buyers.records import BuyerRecord, admit, record_from
from bot.buyers.suggest import complementary
from bot.buyers.trust import TrustScore, doubtful, reminder_percent, reservation_minutes
from dialogs import Registry, Turn
from storage import Order, Store

NORMAL_MINUTES = 10  # PRODUCT.md's reservation for an ordinary buyer: the vendor's setting stands for it
_RECORD = "_buyer_record"  # the turn's cached record (private: no wording can name it)
AGAIN_SLOT = "_again"  # the product a returning buyer's [same as last time] button reserves


@dataclass(frozen=True)
class Timing:
    minutes: float
    reminder_percent: float


async def buyer_record(store: Store, vendor_id: str, address: str) -> BuyerRecord:
    return record_from(vendor_id, address, await store.buyer_orders(vendor_id, address))


async def turn_buyer(turn: Turn) -> BuyerRecord:
    """The buyer's record as this turn started: read once per turn, whichever condition asks first."""
    cached = turn.variables.get(_RECORD)
    if cached is None:
        services: Any = turn.services
        cached = await buyer_record(services.store, services.vendor.id, turn.event.contact.address)
        turn.variables[_RECORD] = cached
    return cached  # type: ignore[no-any-return]


def adaptive_timing(score: TrustScore, base_minutes: float, base_percent: float) -> Timing:
    """The vendor's reservation time is the ordinary buyer's (10 min by default); a doubtful buyer gets
    half of it and a trusted one half again (5/10/15 min with the default). The reminder moves to
    80 % for trusted and 50 % for doubtful buyers; others keep the vendor's percentage."""
    minutes = base_minutes * reservation_minutes(score) / NORMAL_MINUTES
    percent = reminder_percent(score)
    return Timing(minutes, base_percent if percent == 70 else percent)


def prepayment_required(record: BuyerRecord, settings: dict[str, Any]) -> bool:
    """The vendor's `prepayment_for_flagged`: a doubtful buyer (flagged or score < 30) pays before any
    unit is held for them."""
    return bool(settings.get("prepayment_for_flagged")) and doubtful(record.score)


def offer_variables(record: BuyerRecord, settings: dict[str, Any]) -> dict[str, Any]:
    """What an offer's wording adapts to: which buyer this is and their tier."""
    return {"buyer_kind": buyer_kind(record, adaptive_settings(settings)), "tier": record.tier}


async def buyer_admitted(turn: Turn) -> bool:
    """The vendor takes a new order from this buyer (min_trust_score_required, max_orders_per_client);
    when not, `refusal` says why ("low_trust" | "too_many_orders") for the message."""
    services: Any = turn.services
    settings = services.settings
    if not (settings.get("min_trust_score_required") or settings.get("max_orders_per_client")):
        turn.variables["refusal"] = None  # no rule to apply: the record is read only when the offer needs it
        return True
    decision = admit(await turn_buyer(turn), settings)
    turn.variables["refusal"] = decision.reason
    return decision.allowed


async def returning_buyer(turn: Turn) -> bool:
    """A buyer who bought here before, greeted as such (unless the vendor switched it off); sets
    `buyer_kind`, `tier` and `last_product` (in stock, else none) for the welcome."""
    services: Any = turn.services
    record = await turn_buyer(turn)
    variables = offer_variables(record, services.settings)
    if variables["buyer_kind"] not in ("returning", "vip"):
        return False
    code = record.last_bought
    product = await services.store.get_product(services.vendor.id, code) if code else None
    product = product if product is not None and product.stock > 0 else None
    turn.variables.update(variables, last_product=product)
    if product is not None:
        turn.slots[AGAIN_SLOT] = product.code
    return True


async def last_product_in_stock(turn: Turn) -> bool:
    """The returning buyer's last product can be offered again (the [same as last time] button)."""
    return await returning_buyer(turn) and turn.variables.get("last_product") is not None


# store -> (vendor, window start) -> the earliest (paid_at, order id) seen paid in that window. Facts that
# stay true (a paid order stays paid), so a payment after a known one needs no scan of the
# vendor's orders: one scan per window and process instead of one per payment (9 ms at 1 000 orders).
_EARLIEST: WeakKeyDictionary[Store, dict[tuple[str, float], tuple[float, str]]] = WeakKeyDictionary()
_EARLIEST_WINDOWS = 256


async def first_paid_since(store: Store, vendor_id: str, order: Order, since: float) -> bool:
    """No other order of the vendor was paid between `since` and this one (a refunded one does not count)."""
    mine = (order.paid_at or order.created_at, order.id)
    known = _EARLIEST.setdefault(store, {})
    key = (vendor_id, since)
    if key in known and known[key] < mine:
        return False
    orders = await store.vendor_orders(vendor_id, since=since - 24 * 3600)  # reserved before, paid after `since`
    earliest = min([(o.paid_at, o.id) for o in orders
                    if o.status == "paid" and o.paid_at is not None and o.paid_at >= since]
                   + [mine])
    if len(known) >= _EARLIEST_WINDOWS:
        known.clear()
    known[key] = min(earliest, known.get(key, earliest))
    return earliest == mine


async def first_buyer(services: Any, order: Order) -> FirstBuyer:
    """`live` for the first paid order of the vendor's open live (bot/live), `day` when no live is open
    and it is the first of the vendor's day (its time zone), else None."""
    sessions = getattr(getattr(services, "live", None), "live", None)  # the desk's LiveStore, when bot/live runs
    session = await sessions.current_session(services.vendor.id) if sessions is not None else None
    if session is not None:
        return "live" if await first_paid_since(services.store, services.vendor.id, order, session.started_at) \
            else None
    paid_at = order.paid_at or order.created_at
    day = dt.datetime.fromtimestamp(paid_at, ZoneInfo(services.vendor.config.timezone))
    midnight = day.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    return "day" if await first_paid_since(services.store, services.vendor.id, order, midnight) else None


async def after_payment(turn: Turn, order: Order) -> dict[str, Any]:
    """The confirmation's adaptive part: the buyer's badges and one complementary product (not for a
    bronze buyer), each only when the vendor keeps it on."""
    services: Any = turn.services
    adaptive = adaptive_settings(services.settings)
    if not (adaptive.badges or adaptive.suggestion):
        return {"badges": [], "suggestion": None}
    store: Store = services.store
    record = await buyer_record(store, services.vendor.id, order.contact.address)  # this payment counted
    first = await first_buyer(services, order) if adaptive.badges else None
    found = None
    if adaptive.suggestion and record.tier != "bronze":
        tags = {p.code: p.tags for p in services.vendor.config.catalogue}
        found = await complementary(store, services.vendor.id, order.contact.address, order.product_code,
                                    services.now, tags, owned=record.bought)
    return {
        "badges": badges(record, order, first=first, adaptive=adaptive), "tier": record.tier,
        "suggestion": found.product if found else None, "suggestion_reason": found.reason if found else None,
    }


def register(registry: Registry) -> Registry:
    for fn in (buyer_admitted, returning_buyer, last_product_in_stock):
        registry.add(fn.__name__, fn)
    return registry
