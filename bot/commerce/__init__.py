"""Commerce actions for the dialogs: reserve stock, payment links, confirmation, expiry, receipts."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from bot.buyers import adaptive_settings, adaptive_timing, low_stock, offer_variables, prepayment_required, turn_buyer
from bot.buyers.actions import AGAIN_SLOT, after_payment
from bot.buyers.actions import register as register_buyers
from bot.commerce.about import register as register_about
from bot.commerce.words import register as register_words
from bot.payments import ENTITY_METHODS, METHOD_LABELS, PaymentProvider
from bot.vendors import Vendor
from channels.base import mask_address
from dialogs import Registry, Turn
from storage import Order, Store

OPEN = ("reserved", "awaiting_payment")
SETTLED = ("paid", "refund_due", "refunded")  # a payment reached the order: it is no longer open
STATUS_LABELS = {
    "fr": {"reserved": "réservée", "awaiting_payment": "en attente de paiement", "paid": "payée",
           "cancelled": "annulée", "expired": "expirée", "refund_due": "à rembourser",
           "refunded": "remboursée"},
    "en": {"reserved": "reserved", "awaiting_payment": "awaiting payment", "paid": "paid",
           "cancelled": "cancelled", "expired": "expired", "refund_due": "to be refunded",
           "refunded": "refunded"},
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
    live: Any = None  # bot/live's VendorDesk: the live totals and low-stock line of payment notifications

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
        turn.slots.pop("product", None)  # a later purchase naming no product is a new choice, not this one again
    turn.slots["last_order_id"] = order_id
    turn.cancel_timer(f"{order_id}:expire")
    turn.cancel_timer(f"{order_id}:remind")


def deposit_price(price: int, settings: dict[str, Any]) -> int:
    """What one unit costs now: the whole price, or the deposit (rounded up) when the dialog takes one."""
    if not settings.get("require_deposit"):
        return price
    return -(-price * int(settings.get("deposit_percent", 100)) // 100)


def _also_named(turn: Turn, code: str) -> None:
    """"je veux ROBE1 et SAC2": one order at a time, so the offer says how to get the other products named."""
    named = [e.get("value") for e in turn.parse.get("entities", ()) if e.get("entity") == "product"]
    turn.variables["also_named"] = [c for i, c in enumerate(named) if c != code and c not in named[:i]]


async def product_available(turn: Turn) -> bool:
    """The product the buyer named (or the `product` slot) exists and has stock; it becomes the `product` slot."""
    s = _svc(turn)
    code = turn.entity("product") or turn.slots.get("product")
    product = await s.store.get_product(s.vendor.id, code) if code else None
    turn.variables["product"] = product or {"code": code or "?", "name": code or "?"}
    if product is not None:
        turn.slots["product"] = product.code
        turn.variables.update(deposit=deposit_price(product.price, s.settings), places_left=product.stock)
        _also_named(turn, product.code)
    return product is not None and product.stock > 0


async def stock_remains(turn: Turn) -> bool:
    """After a reservation refused for its quantity: some units are left, fewer than asked (`places_left`)."""
    return int(turn.variables.get("places_left") or 0) > 0


async def describe_balance(turn: Turn) -> None:
    """What is left to pay on site for the order just paid (events: the deposit was paid)."""
    s = _svc(turn)
    order = turn.variables.get("order")
    product = await s.store.get_product(s.vendor.id, order.product_code) if order else None
    turn.variables["balance"] = (product.price - order.unit_price) * order.quantity if product and order else 0


def _wanted_code(turn: Turn, last_bought: str | None) -> str | None:
    """The product the buyer named, else their last one for the [same as last time] button, else the
    `product` slot."""
    code = turn.entity("product")
    if not code and turn.event.payload == "again":
        code = turn.slots.get(AGAIN_SLOT) or last_bought
    return code or turn.slots.get("product")  # type: ignore[no-any-return]


async def reserve_product(turn: Turn) -> bool:
    """Hold the wanted product for the buyer; a doubtful buyer of a vendor asking for prepayment gets an
    order with nothing held (`prepaid`): the unit is taken when the payment is confirmed."""
    s = _svc(turn)
    settings = s.settings
    # The buyer's record (a read of their orders) before the stock only when the reservation depends on it:
    # their last product, or prepayment for doubtful buyers. A sold-out turn then never reads it.
    early = turn.event.payload == "again" or bool(settings.get("prepayment_for_flagged"))
    record = await turn_buyer(turn) if early else None
    code = _wanted_code(turn, record.last_bought if record else None)
    order_id = derived_id("o", turn.event.id)
    # Whether this turn already holds units (run before, up to a crash) comes with the product's read.
    product, held = await s.store.get_product_and_hold(s.vendor.id, code, order_id) if code else (None, False)
    turn.variables["product"] = product or {"code": code or "?", "name": code or "?"}
    if product is None:
        return False
    _also_named(turn, product.code)
    wanted = turn.slots.get("quantity") or turn.entity("quantity", 1) or 1
    qty = max(1, min(int(wanted), int(settings["max_quantity"])))
    prepaid = record is not None and prepayment_required(record, settings)
    if product.stock < qty and (prepaid or not held):
        # sold out already when read, and nothing of it held for this turn: that read is what is left, and
        # no stock change is tried (a live sale's buyers after the last unit are most of its turns)
        turn.variables["places_left"] = product.stock
        return False
    if not prepaid and not await s.store.reserve_stock(s.vendor.id, product.code, qty, order_id):
        # what is left now, not what was left before the buyers who won the race took theirs
        fresh = await s.store.get_product(s.vendor.id, product.code)
        turn.variables["places_left"] = fresh.stock if fresh else 0
        return False
    turn.slots.pop(AGAIN_SLOT, None)
    if record is None:
        record = await turn_buyer(turn)
    # adaptive to the buyer's trust score (bot/buyers): 5/10/15 min, reminder at 50/70/80 %
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
    # what was left just before this reservation, less it: exact unless buyers race, and then
    # only the "N left" wording can be off by a few, never the stock itself
    stock_left = product.stock if prepaid else max(0, product.stock - qty)
    turn.variables.update(
        quantity=qty, total=order.total, minutes=round(minutes) if minutes >= 1 else minutes,
        stock_left=stock_left, reserved_until=order.reserved_until,
        deposit=order.total, balance=(product.price - order.unit_price) * qty, prepaid=prepaid,
        low_stock=low_stock(stock_left, adaptive_settings(settings)), **offer_variables(record, settings),
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
    payment_id = derived_id("pay_", turn.event.id)
    if order.status == "awaiting_payment" and order.payment_method == method and order.payment_id:
        current = await s.store.get_payment(order.payment_id)
        if current is not None and current.status == "pending":
            payment_id = current.id  # the same link again: two open links for one order invite paying twice
    payment, link = await s.psp.create_payment(order, method, payment_id)
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
    order = await s.store.get_order(order_id)
    if order is not None and order.status in OPEN:
        # The unit is taken now under the order's hold id: a held unit stays the same one (idempotent),
        # a prepaid order (nothing held) takes one now or, sold out meanwhile, is to be refunded.
        if await s.store.reserve_stock(s.vendor.id, order.product_code, order.quantity, order_id):
            order = await s.store.transition_order(order_id, OPEN, "paid", **fields)
        else:
            order = await s.store.transition_order(order_id, OPEN, "refund_due", **fields)
            refund = order is not None
    else:
        order = None
    if order is None:
        current = await s.store.get_order(order_id)
        if current is None:
            return False
        if current.status in SETTLED and current.payment_id == payment_id:
            order, refund = current, current.status != "paid"  # a replayed turn
        elif current.status in SETTLED:
            # a second payment for an order already paid: its money goes back (bot/payments/refunds.py)
            await s.store.transition_payment(payment_id or "", "paid", "refund_due")
            return False
        elif current.status in ("expired", "cancelled"):
            # Paid after the reservation was released: honour it if stock remains, else refund.
            if await s.store.reserve_stock(s.vendor.id, current.product_code, current.quantity, order_id):
                order = await s.store.transition_order(order_id, ("expired", "cancelled"), "paid", **fields)
            else:
                order = await s.store.transition_order(order_id, ("expired", "cancelled"), "refund_due", **fields)
                refund = True
        if order is None:
            return False
    if refund:  # refunded by the payments poller (bot/payments/refunds.py)
        await s.store.transition_payment(payment_id or "", "paid", "refund_due")
    else:
        await s.store.consume_hold(s.vendor.id, order.product_code, order.id)
    _forget(turn, order.id)
    turn.variables.update(order=order, refund=refund)
    notify = s.vendor.config.notify
    if notify and not refund:
        product = await s.store.get_product(s.vendor.id, order.product_code)
        note = await s.live.payment_note(s.vendor, order, product) if s.live is not None else {}
        turn.notify(notify.address, notify.channel, "vendor_paid", order=order,
                    buyer=mask_address(order.contact.address), stock_left=product.stock if product else 0, **note)
    turn.variables.update(badges=[], tier=None, suggestion=None, suggestion_reason=None)
    if not refund:
        turn.variables.update(await after_payment(turn, order))
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


async def change_quantity(turn: Turn) -> bool:
    """A new quantity for the product held ("je prends 2" with one reserved): the same product reserved again
    for that quantity, then the old reservation released, so the buyer never holds nothing in between. False
    (the old one kept) when no new quantity was given, another product was named, or the stock cannot cover
    it (`wanted` then holds the quantity asked for, and the old order stays the buyer's)."""
    s = _svc(turn)
    old = await _order(turn, turn.slots.get("order_id"))
    wanted = turn.entity("quantity")
    named = turn.entity("product")
    if old is None or old.status != "reserved" or not wanted or int(wanted) == old.quantity \
            or named not in (None, old.product_code):
        return False
    turn.slots["product"] = old.product_code
    slotted = bool(turn.slots.get("quantity"))  # a dialog that keeps the quantity in a slot (shop) reserves from it
    if slotted:
        turn.slots["quantity"] = int(wanted)
    if not await reserve_product(turn):
        if slotted:
            turn.slots["quantity"] = old.quantity
        turn.variables["wanted"] = int(wanted)  # the wording then says the held quantity is kept
        return False
    # the slot now holds the new order, so closing the old one keeps the buyer's product and order slots
    await _close(turn, old.id, "cancelled")
    if not turn.variables.get("prepaid"):  # the old units are back on sale: "N left" counts them
        stock_left = turn.variables["stock_left"] + old.quantity
        turn.variables.update(stock_left=stock_left, low_stock=low_stock(stock_left, adaptive_settings(s.settings)))
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
    # "c combien ?" with no product named is about the one the conversation is on: a product dialog slot, the
    # service being booked, or the order held
    code = turn.entity("product") or turn.slots.get("product") or turn.slots.get("service")
    if not code and (order := await _order(turn, turn.slots.get("order_id"))) is not None:
        code = order.product_code
    product = await s.store.get_product(s.vendor.id, code) if code else None
    turn.variables["product"] = product
    if product is not None and turn.state == "idle":
        # "c combien la robe ?" then "je prends": a purchase naming no product takes the one just asked about
        # (not while an order or a form is under way: that one stays the subject)
        turn.slots["product"] = product.code


async def list_catalogue(turn: Turn) -> None:
    s = _svc(turn)
    # not a service's bookable slots (bot/commerce/booking.py), nor a product dropped from the vendor file
    turn.variables["products"] = [p for p in await s.store.list_products(s.vendor.id) if s.vendor.lists(p)]


async def request_human(turn: Turn) -> None:
    turn.handoff("human")


def register(registry: Registry) -> Registry:
    for fn in (reserve_product, change_quantity, order_open, current_order, create_payment, confirm_payment,
               release_reservation, expire_order, describe_current_order, describe_product, list_catalogue,
               request_human, product_available, stock_remains, describe_balance):
        registry.add(fn.__name__, fn)
    return register_words(register_about(register_buyers(registry)))
