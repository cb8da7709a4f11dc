"""B2B dialog actions: price a quote, send it as a PDF, and take an order on credit (net terms)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any
from zoneinfo import ZoneInfo

from bot.commerce import OPEN, Services
from bot.quotes.pdf import Quote, QuoteLine, render
from channels.base import mask_address
from dialogs import Registry, Turn
from storage import Document

INVOICE_METHOD = "invoice"  # an order's payment_method when it is paid later on an invoice
# The buyer's last quote: its reference, product, quantity, unit price and end of validity. An order of
# that product and quantity before then pays the quoted price, whatever the vendor file says since.
QUOTE_SLOT = "_quote"


def _svc(turn: Turn) -> Services:
    return turn.services  # type: ignore[no-any-return]


def _day(ts: float, s: Services) -> str:
    return f"{dt.datetime.fromtimestamp(ts, ZoneInfo(s.vendor.config.timezone)):%d/%m/%Y}"


def reference(prefix: str, seed: str, ts: float, s: Services) -> str:
    """'DEV-20260609-3F2A': readable on the phone, the date in the vendor's time zone."""
    day = dt.datetime.fromtimestamp(ts, ZoneInfo(s.vendor.config.timezone))
    return f"{prefix}-{day:%Y%m%d}-{hashlib.sha1(seed.encode()).hexdigest()[:4].upper()}"


def valid_quote(turn: Turn, code: str, quantity: int) -> dict[str, Any] | None:
    """The buyer's quote for this product and quantity, if it is still valid."""
    quote = turn.slots.get(QUOTE_SLOT)
    if not isinstance(quote, dict) or (quote.get("code"), quote.get("qty")) != (code, quantity):
        return None
    return quote if _svc(turn).now < float(quote.get("until", 0)) else None


async def describe_quote(turn: Turn) -> None:
    """`product`, `quantity` and `total` of what the buyer is pricing (slots `product`, `quantity`); the
    price of their quote while it is valid (`quoted`: its reference)."""
    s = _svc(turn)
    product = await s.store.get_product(s.vendor.id, turn.slots.get("product") or "")
    quantity = int(turn.slots.get("quantity") or 0)
    quote = valid_quote(turn, product.code, quantity) if product else None
    if product and quote:
        product = product.model_copy(update={"price": int(quote["price"])})
    turn.variables.update(product=product, quantity=quantity, total=product.price * quantity if product else 0,
                          quoted=quote["ref"] if quote else None)


async def apply_quote(turn: Turn) -> None:
    """The order just placed pays the buyer's valid quote's price for that product and quantity."""
    s = _svc(turn)
    order_id = turn.slots.get("order_id")
    order = await s.store.get_order(order_id) if order_id else None
    quote = valid_quote(turn, order.product_code, order.quantity) if order else None
    if order is None or quote is None or order.status not in OPEN:
        return
    price = int(quote["price"])
    if order.unit_price != price:
        order = await s.store.transition_order(order.id, OPEN, order.status, unit_price=price) or order
    product = turn.variables.get("product")
    if product is not None and hasattr(product, "model_copy"):
        turn.variables["product"] = product.model_copy(update={"price": price})
    turn.variables.update(order=order, total=order.total, quoted=quote["ref"])


async def make_quote(turn: Turn) -> bool:
    """Draw the quote PDF, keep it under an unguessable id and attach it to the next message said."""
    s = _svc(turn)
    await describe_quote(turn)
    quantity = turn.variables["quantity"]
    # a new quote is at today's price: a quote never extends an older one's
    product = await s.store.get_product(s.vendor.id, turn.slots.get("product") or "")
    if product is None or quantity < 1:
        return False
    settings = s.settings
    doc_id = secrets.token_urlsafe(24)  # 192 random bits: the link is the only key to the document
    ref = reference("DEV", doc_id, s.now, s)
    valid_days = int(settings.get("quote_valid_days", 30))
    contact = turn.event.contact
    quote = Quote(reference=ref, vendor_name=s.vendor.config.name,
                  customer=contact.name or mask_address(contact.address), issued_at=s.now, valid_days=valid_days,
                  lines=[QuoteLine(product.code, product.name, quantity, product.price)],
                  currency=s.vendor.config.currency, locale=s.vendor.config.locale,
                  timezone=s.vendor.config.timezone, net_days=int(settings.get("net_terms_days", 0)))
    filename = f"{ref}.pdf"
    await s.store.save_document(Document(id=doc_id, vendor_id=s.vendor.id, filename=filename,
                                         content_type="application/pdf", body=render(quote), created_at=s.now))
    url = f"{s.base_url}/quotes/{doc_id}.pdf"
    turn.slots["quote_reference"] = ref
    turn.slots[QUOTE_SLOT] = {"ref": ref, "code": product.code, "qty": quantity, "price": product.price,
                              "until": s.now + valid_days * 86400}
    turn.variables.update(product=product, total=product.price * quantity, quoted=None, quote_url=url,
                          quote_reference=ref, valid_until=_day(s.now + valid_days * 86400, s))
    turn.attach(url, filename)
    return True


async def invoice_on_terms(turn: Turn) -> bool:
    """The open order is sold on credit: stock taken for good, an invoice reference, payment due in
    `net_terms_days` days; the vendor is told. False when the vendor grants no terms or no order is open."""
    s = _svc(turn)
    days = int(s.settings.get("net_terms_days", 0))
    order_id = turn.slots.get("order_id")
    order = await s.store.get_order(order_id) if order_id else None
    if days <= 0 or order is None or order.status not in OPEN:
        return False
    invoice = reference("FAC", order.id, s.now, s)
    order = await s.store.transition_order(order.id, OPEN, "awaiting_payment", payment_method=INVOICE_METHOD,
                                           receipt=invoice) or order
    await s.store.consume_hold(s.vendor.id, order.product_code, order.id)
    # the reservation no longer expires: the goods are sold, only the payment is later
    turn.slots.pop("order_id", None)
    turn.slots["last_order_id"] = order.id
    turn.cancel_timer(f"{order.id}:expire")
    turn.cancel_timer(f"{order.id}:remind")
    variables: dict[str, Any] = {"order": order, "invoice": invoice, "due_date": _day(s.now + days * 86400, s),
                                 "net_days": days}
    turn.variables.update(variables)
    notify = s.vendor.config.notify
    if notify:
        turn.notify(notify.address, notify.channel, "vendor_invoiced", buyer=mask_address(order.contact.address),
                    **variables)
    return True


def register(registry: Registry) -> Registry:
    for fn in (describe_quote, make_quote, apply_quote, invoice_on_terms):
        registry.add(fn.__name__, fn)
    return registry
