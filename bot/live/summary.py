"""The figures of an end-of-live or daily summary, computed from the orders of a time window."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from storage import Order

OPEN = ("reserved", "awaiting_payment")
TIP_CODES = 5  # at most this many codes in a tip: a phone screen, not a report


def in_window(orders: Iterable[Order], start: float, end: float) -> list[Order]:
    """The orders created from `start` to `end`, both included: a live's or a day's orders."""
    return [o for o in orders if start <= o.created_at <= end]


def bought_before(orders: Iterable[Order], before: float) -> set[str]:
    """The addresses, among `orders`' buyers, that had bought (a paid order made) before `before`."""
    return {o.contact.address for o in orders if o.status == "paid" and o.created_at < before}


def best_seller(paid: list[Order]) -> dict[str, Any] | None:
    """The product with the most units paid; ties go to the higher revenue, then the code."""
    units: dict[str, int] = defaultdict(int)
    revenue: dict[str, int] = defaultdict(int)
    names: dict[str, str] = {}
    for o in paid:
        units[o.product_code] += o.quantity
        revenue[o.product_code] += o.total
        names[o.product_code] = o.product_name
    if not units:
        return None
    code = min(units, key=lambda c: (-units[c], -revenue[c], c))
    return {"code": code, "name": names[code], "units": units[code], "revenue": revenue[code]}


def stock_tip(window: list[Order], stock: Mapping[str, int], low_at: int) -> dict[str, Any] | None:
    """One thing to do about stock: restock what sold out, else what runs low (`low_at` units or fewer),
    else show what did not sell.

    `stock` is what is on sale now, by code (withdrawn products left out)."""
    ordered = sorted({o.product_code for o in window if o.product_code in stock})
    sold_out = [c for c in ordered if stock[c] <= 0]
    if sold_out:
        return {"kind": "sold_out", "codes": sold_out[:TIP_CODES]}
    low = [c for c in ordered if stock[c] <= low_at]
    if low:
        return {"kind": "low", "codes": low[:TIP_CODES]}
    paid_codes = {o.product_code for o in window if o.status == "paid"}
    unsold = sorted(c for c, n in stock.items() if n > 0 and c not in paid_codes)
    return {"kind": "unsold", "codes": unsold[:TIP_CODES]} if unsold else None


def summarise(window: list[Order], start: float, end: float, returning: set[str],
              stock: Mapping[str, int], low_at: int) -> dict[str, Any]:
    """The summary of PRODUCT.md: duration, revenue, orders paid/expired, conversion (paid per order made,
    in whole percent), best seller, new vs returning buyers (who had bought before `start`), a stock tip."""
    paid = [o for o in window if o.status == "paid"]
    buyers = {o.contact.address for o in window}
    return {
        "started_at": start, "ended_at": end, "duration_minutes": round((end - start) / 60),
        "revenue": sum(o.total for o in paid),
        "orders": len(window), "paid": len(paid),
        "expired": sum(1 for o in window if o.status == "expired"),
        "cancelled": sum(1 for o in window if o.status == "cancelled"),
        "pending": sum(1 for o in window if o.status in OPEN),
        "conversion": round(100 * len(paid) / len(window)) if window else 0,
        "best_seller": best_seller(paid),
        "buyers": len(buyers), "returning_buyers": len(buyers & returning),
        "new_buyers": len(buyers - returning),
        "tip": stock_tip(window, stock, low_at),
    }
