"""The buyer card: a buyer's history with a vendor, trust score and the factors that moved it, tier, tags,
total value — found from one of their orders or conversations, so the caller never needs the address."""

from __future__ import annotations

from typing import Any

from bot.buyers import record_from
from bot.dashboard.snapshot import order_view
from bot.http import ApiError
from bot.vendors import Vendor
from channels.base import mask_address
from locales import money, normalise
from storage import Store

HISTORY = 20


async def buyer_address(store: Store, vendor: Vendor, order_id: str | None, conversation_id: str | None) -> tuple[
        str, str | None]:
    """The buyer's canonical address and name behind an order or a conversation of this vendor, or 404."""
    if order_id:
        order = await store.get_order(order_id)
        if order is None or order.vendor_id != vendor.id:
            raise ApiError(404, "unknown_order", "this vendor has no such order")
        return order.contact.address, order.contact.name
    if conversation_id:
        conv = await store.get_conversation(conversation_id)
        if conv is None or conv.vendor_id != vendor.id:
            raise ApiError(404, "unknown_conversation", "this vendor has no such conversation")
        return conv.contact.address, conv.contact.name
    raise ApiError(400, "missing_buyer", "give ?order=<order id> or ?conversation=<conversation id>")


async def buyer_card(store: Store, vendor: Vendor, *, order_id: str | None = None,
                     conversation_id: str | None = None, show_address: bool = False) -> dict[str, Any]:
    """The card of the buyer behind the order or conversation; a buyer with no order yet has an empty history
    and the starting score."""
    address, name = await buyer_address(store, vendor, order_id, conversation_id)
    locale = normalise(vendor.config.locale)
    orders = await store.buyer_orders(vendor.id, address)
    card = record_from(vendor.id, address, orders).card()
    return {
        "vendor": vendor.id,
        "buyer": {"address": address if show_address else mask_address(address), "name": name},
        **card,
        "total_spent_text": money(card["total_spent"], locale=locale),
        "history": [order_view(o, locale, show_address) for o in reversed(orders[-HISTORY:])],
    }
