"""Commerce actions for the dialogs: reserve stock, payment links, confirmation, expiry, receipts."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from bot.buyers import adaptive_timing, buyer_admitted, buyer_record
from bot.payments import ENTITY_METHODS, METHOD_LABELS, PaymentProvider
from bot.vendors import Vendor
from channels.base import mask_address
from dialogs import Registry, Turn
from storage import Order, Store

OPEN = ("reserved", "awaiting_payment")
STATUS_LABELS = {
    "fr": {"reserved": "réservée", "awaiting_payment": "en attente de paiement", "paid": "payée",
           "cancelled": "annulée", "expired": "expirée", "refund_due": "à rembourser"},
    "en": {"reserved": "reserved", "awaiting_payment": "awaiting payment", "paid": "paid",
           "cancelled": "cancelled", "expired": "expired", "refund_due": "to be refunded"},
}


@dataclass
class Services:
    """What commerce actions reach through `Turn.services`."""

    store: Store
    vendor: Vendor
    psp: PaymentProvider
    conversation_id: str
    now: float
    base_url: str = ""  # where the server is reached from outside: links to documents (b2b quotes)

    @property
    def settings(self) -> dict[str, Any]:
        """The vendor's settings over its dialog's defaults; dialog conditions and timeouts read them."""
        return self.vendor.settings or self.vendor.config.settings.model_dump()


def derived_id(prefix: str, *parts: str, length: int = 16) -> str:
    """A deterministic id, so that replaying a turn after a crash reuses the same records."""
    return prefix + hashlib.sha1(":".join(parts).encode()).hexdigest()[:length]


def receipt_ref(order_id: str, paid_at: float, tz_offset_hours: int = 0) -> str:
    """A receipt reference buyers can read out: LP-2026-0215-A3F2."""
    t = time.gmtime(paid_at + tz_offset_hours * 3600)
    suffix = hashlib.sha1(order_id.encode()).hexdigest()[:4].upper()
    return f"LP-{t.tm_year}-{t.tm_mon:02d}{t.tm_mday:02d}-{suffix}"


def _svc(turn: Turn) -> Services:
    return turn.services  # type: ignore[no-any-return]


async def _order(turn: Turn, order_id: str | None) -> Order | None:
    return await _svc(turn).store.get_order(order_id) if order_id else None


def _forget(turn: Turn, order_id: str) -> None:
    if turn.slots.get("order_id") == order_id:
        turn.slots.pop("order_id", None)
    turn.slots["last_order_id"] = order_id
    turn.cancel_timer(f"{order_id}:expire")
    turn.cancel_timer(f"{order_id}:remind")


def deposit_price(price: int, settings: dict[str, Any]) -> int:
    """What one unit costs now: the whole price, or the deposit (rounded up) when the dialog takes one."""
    if not settings.get("require_deposit"):
        return price
    return -(-price * int(settings.get("deposit_percent", 100)) // 100)


async def product_available(turn: Turn) -> bool:
    """The product the buyer named (or the `product` slot) exists and has stock; it becomes the `product` slot."""
    s = _svc(turn)
    code = turn.entity("product") or turn.slots.get("product")
    product = await s.store.get_product(s.vendor.id, code) if code else None
    turn.variables["product"] = product or {"code": code or "?", "name": code or "?"}
    if product is not None:
        turn.slots["product"] = product.code
        turn.variables.update(deposit=deposit_price(product.price, s.settings), places_left=product.stock)
    return product is not None and product.stock > 0


async def describe_balance(turn: Turn) -> None:
    """What is left to pay on site for the order just paid (events: the deposit was paid)."""
    s = _svc(turn)
    order = turn.variables.get("order")
    product = await s.store.get_product(s.vendor.id, order.product_code) if order else None
    turn.variables["balance"] = (product.price - order.unit_price) * order.quantity if product and order else 0


async def reserve_product(turn: Turn) -> bool:
    s = _svc(turn)
    code = turn.entity("product") or turn.slots.get("product")
    product = await s.store.get_product(s.vendor.id, code) if code else None
    turn.variables["product"] = product or {"code": code or "?", "name": code or "?"}
    if product is None:
        return False
    settings = s.settings
    wanted = turn.slots.get("quantity") or turn.entity("quantity", 1) or 1
    qty = max(1, min(int(wanted), int(settings["max_quantity"])))
    order_id = derived_id("o", turn.event.id)
    if not await s.store.reserve_stock(s.vendor.id, product.code, qty, order_id):
        # what is left now, not what was left before the buyers who won the race took theirs
        fresh = await s.store.get_product(s.vendor.id, product.code)
        turn.variables["places_left"] = fresh.stock if fresh else 0
        return False
    # adaptive to the buyer's trust score (bot/buyers): 5/10/15 min, reminder at 50/70/80 %
    record = await buyer_record(s.store, s.vendor.id, turn.event.contact.address)
    timing = adaptive_timing(record.score, float(settings["reservation_minutes"]), float(settings["reminder_percent"]))
    minutes = timing.minutes
    order = await s.store.get_order(order_id)
    if order is None:
        order = Order(
            id=order_id, vendor_id=s.vendor.id, conversation_id=s.conversation_id,
            contact=turn.event.contact, channel=turn.event.channel, product_code=product.code,
            product_name=product.name, quantity=qty, unit_price=deposit_price(product.price, settings),
            reserved_until=s.now + minutes * 60, created_at=s.now,
        )
        await s.store.save_order(order)
    turn.slots["order_id"] = order_id
    turn.schedule(f"{order_id}:expire", order.reserved_until, "reservation_expired", order_id=order_id)
    minutes = (order.reserved_until - order.created_at) / 60  # a replayed turn keeps the first timing
    remind_at = order.created_at + minutes * 60 * timing.reminder_percent / 100
    turn.schedule(f"{order_id}:remind", remind_at, "reservation_reminder", order_id=order_id)
    turn.variables.update(
        quantity=qty, total=order.total, minutes=round(minutes) if minutes >= 1 else minutes,
        # what was left just before this reservation, less it: exact unless buyers race, and then
        # only the "N left" wording can be off by a few, never the stock itself
        stock_left=max(0, product.stock - qty), reserved_until=order.reserved_until,
        deposit=order.total, balance=(product.price - order.unit_price) * qty,
    )
    return True


async def order_open(turn: Turn) -> bool:
    order = await _order(turn, turn.slots.get("order_id"))
    turn.variables["order"] = order
    return order is not None and order.status in OPEN


async def current_order(turn: Turn) -> bool:
    return bool(turn.event.data.get("order_id")) and turn.event.data.get("order_id") == turn.slots.get("order_id")


async def create_payment(turn: Turn) -> bool:
    s = _svc(turn)
    method = turn.event.payload if turn.event.payload in METHOD_LABELS else None
    method = method or ENTITY_METHODS.get(turn.entity("payment_method") or "")
    order = await _order(turn, turn.slots.get("order_id"))
    if method is None or order is None or order.status not in OPEN:
        return False
    payment, link = await s.psp.create_payment(order, method, derived_id("pay_", turn.event.id))
    order = await s.store.transition_order(
        order.id, OPEN, "awaiting_payment", payment_method=method, payment_id=payment.id
    ) or order
    turn.variables.update(order=order, link=link, method_label=METHOD_LABELS[method])
    return True


async def confirm_payment(turn: Turn) -> bool:
    s = _svc(turn)
    order_id = turn.event.data.get("order_id", "")
    payment_id = turn.event.data.get("payment_id")
    receipt = receipt_ref(order_id, s.now)
    fields: dict[str, Any] = {"paid_at": s.now, "receipt": receipt, "payment_id": payment_id}
    refund = False
    order = await s.store.transition_order(order_id, OPEN, "paid", **fields)
    if order is None:
        current = await s.store.get_order(order_id)
        if current is None:
            return False
        if current.status in ("paid", "refund_due") and current.payment_id == payment_id:
            order, refund = current, current.status == "refund_due"  # a replayed turn
        elif current.status in ("expired", "cancelled"):
            # Paid after the reservation was released: honour it if stock remains, else refund.
            if await s.store.reserve_stock(s.vendor.id, current.product_code, current.quantity, order_id):
                order = await s.store.transition_order(order_id, ("expired", "cancelled"), "paid", **fields)
            else:
                order = await s.store.transition_order(order_id, ("expired", "cancelled"), "refund_due", **fields)
                refund = True
        if order is None:
            return False
    if not refund:
        await s.store.consume_hold(s.vendor.id, order.product_code, order.id)
    _forget(turn, order.id)
    turn.variables.update(order=order, refund=refund)
    notify = s.vendor.config.notify
    if notify and not refund:
        product = await s.store.get_product(s.vendor.id, order.product_code)
        turn.notify(notify.address, notify.channel, "vendor_paid", order=order,
                    buyer=mask_address(order.contact.address), stock_left=product.stock if product else 0)
    return True


async def _close(turn: Turn, order_id: str | None, to_status: str) -> bool:
    s = _svc(turn)
    if not order_id:
        return False
    order = await s.store.transition_order(order_id, OPEN, to_status)  # type: ignore[arg-type]
    if order is None:
        order = await s.store.get_order(order_id)
        if order is None or order.status != to_status:
            return False
    await s.store.release_stock(s.vendor.id, order.product_code, order_id)
    _forget(turn, order_id)
    turn.variables["order"] = order
    return True


async def release_reservation(turn: Turn) -> None:
    turn.variables.setdefault("order", None)
    await _close(turn, turn.slots.get("order_id"), "cancelled")


async def expire_order(turn: Turn) -> bool:
    return await _close(turn, turn.event.data.get("order_id"), "expired")


async def describe_current_order(turn: Turn) -> None:
    order = await _order(turn, turn.slots.get("order_id") or turn.slots.get("last_order_id"))
    locale = _svc(turn).vendor.config.locale
    turn.variables.update(
        order=order, order_status_label=STATUS_LABELS[locale].get(order.status, order.status) if order else ""
    )


async def describe_product(turn: Turn) -> None:
    s = _svc(turn)
    code = turn.entity("product")
    turn.variables["product"] = await s.store.get_product(s.vendor.id, code) if code else None


async def list_catalogue(turn: Turn) -> None:
    s = _svc(turn)
    # bookable slots of a service are products too (bot/commerce/booking.py): the catalogue lists services only
    turn.variables["products"] = [p for p in await s.store.list_products(s.vendor.id) if "@" not in p.code]


async def request_human(turn: Turn) -> None:
    turn.handoff("human")


def register(registry: Registry) -> Registry:
    for fn in (reserve_product, order_open, current_order, create_payment, confirm_payment,
               release_reservation, expire_order, describe_current_order, describe_product, list_catalogue,
               request_human, product_available, describe_balance, buyer_admitted):
        registry.add(fn.__name__, fn)
    return registry
