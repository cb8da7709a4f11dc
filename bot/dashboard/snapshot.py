"""The dashboard's figures for one vendor: order counts, revenue, stock bars and alerts, the per-minute
chart, recent payments and orders, and sales velocity when the vendor has it on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.buyers import stock_alert_at
from bot.commerce import OPEN, STATUS_LABELS
from bot.payments import METHOD_LABELS
from bot.velocity import Words, per_minute, velocity_report
from bot.vendors import Vendor
from channels.base import mask_address
from locales import money, normalise
from storage import Order, Product

CHART_MINUTES = 30
RECENT_PAYMENTS = 10
RECENT_ORDERS = 20


def day_start(now: float, timezone: str) -> float:
    """Midnight of `now`'s day in the vendor's time zone (UTC when the zone is unknown)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = datetime.fromtimestamp(now, zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def order_view(order: Order, locale: str, show_address: bool) -> dict[str, Any]:
    """One order as the dashboard lists it; the buyer's address masked unless the caller may read contacts."""
    address = order.contact.address
    return {
        "id": order.id, "product_code": order.product_code, "product_name": order.product_name,
        "quantity": order.quantity, "total": order.total, "total_text": money(order.total, locale=locale),
        "status": order.status, "status_label": STATUS_LABELS[locale].get(order.status, order.status),
        "channel": order.channel, "buyer": address if show_address else mask_address(address),
        "buyer_name": order.contact.name, "method": METHOD_LABELS.get(order.payment_method or "", None),
        "receipt": order.receipt, "created_at": order.created_at, "paid_at": order.paid_at,
    }


def stock_view(product: Product, orders: Sequence[Order], low_at: int) -> dict[str, Any]:
    """A product's stock bar: what is left of the period's supply (left + held + sold in the period);
    "low" at `low_at` units or fewer."""
    held = sum(o.quantity for o in orders if o.product_code == product.code and o.status in OPEN)
    sold = sum(o.quantity for o in orders if o.product_code == product.code and o.status == "paid")
    supply = product.stock + held + sold
    return {
        "code": product.code, "name": product.name, "price": product.price, "stock": product.stock,
        "held": held, "sold": sold, "supply": supply,
        "left_ratio": round(product.stock / supply, 3) if supply else 0.0,
        "low": 0 < product.stock <= low_at, "sold_out": product.stock == 0,
    }


def live_view(live: Mapping[str, Any] | None, orders: Sequence[Order], locale: str) -> dict[str, Any]:
    """Live on or off and, while on, the totals of the orders made since it started (the period's orders
    must reach back to its start: the caller reads from there)."""
    if not live:
        return {"on": False}
    started = float(live["started_at"])
    made = [o for o in orders if o.created_at >= started]
    paid = [o for o in made if o.status == "paid"]
    revenue = sum(o.total for o in paid)
    return {"on": True, "id": live.get("id"), "started_at": started, "orders": len(made), "paid": len(paid),
            "in_progress": sum(1 for o in made if o.status in OPEN), "revenue": revenue,
            "revenue_text": money(revenue, locale=locale)}


def build(vendor: Vendor, orders: Sequence[Order], products: Sequence[Product], now: float, since: float, *,
          show_address: bool, live: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The dashboard of `vendor` for its orders created since `since` (oldest first) and its products now;
    `live` is the vendor's open live (`started_at`, `id`) when there is one: velocity's session starts there
    and the live's own totals are shown."""
    cfg = vendor.config
    locale = normalise(cfg.locale)
    all_orders = orders  # from the live's start when it began before the period
    orders = [o for o in orders if o.created_at >= since]
    shown = [p for p in products if "@" not in p.code]  # bookable slots are products too; not stock to watch
    paid = [o for o in orders if o.status == "paid"]
    revenue = sum(o.total for o in paid)
    counts = {status: sum(1 for o in orders if o.status == status)
              for status in ("reserved", "awaiting_payment", "paid", "cancelled", "expired", "refund_due",
                         "refunded")}
    first, chart = per_minute([o.created_at for o in orders], now, CHART_MINUTES)
    _, paid_chart = per_minute([o.paid_at or o.created_at for o in paid], now, CHART_MINUTES)
    low_at = stock_alert_at(vendor.settings)
    stock = [stock_view(p, orders, low_at) for p in shown]
    live_since = float(live["started_at"]) if live else None
    velocity: dict[str, Any] | None = None
    if cfg.settings.sales_velocity:
        velocity = velocity_report(all_orders, shown, now, Words(locale, cfg.timezone), since=live_since)
    return {
        "vendor": {"id": vendor.id, "name": cfg.name, "locale": locale, "currency": cfg.currency,
                   "timezone": cfg.timezone},
        "period": {"since": since, "at": now},
        "totals": {
            "orders": len(orders), "paid": counts["paid"],
            "in_progress": counts["reserved"] + counts["awaiting_payment"],
            "expired": counts["expired"], "cancelled": counts["cancelled"], "refund_due": counts["refund_due"],
            "refunded": counts["refunded"],
            "revenue": revenue, "revenue_text": money(revenue, locale=locale),
            "conversion": round(counts["paid"] / len(orders), 3) if orders else None,
        },
        "stock": stock,
        "low_stock_units": low_at,
        "live": live_view(live, all_orders, locale),
        "alerts": [{"code": s["code"], "name": s["name"], "stock": s["stock"],
                    "kind": "sold_out" if s["sold_out"] else "low"} for s in stock if s["low"] or s["sold_out"]],
        "chart": {"start": first, "minutes": CHART_MINUTES, "orders": chart, "paid": paid_chart},
        "payments": [order_view(o, locale, show_address) for o in
                     sorted(paid, key=lambda o: o.paid_at or o.created_at, reverse=True)[:RECENT_PAYMENTS]],
        "orders": [order_view(o, locale, show_address) for o in reversed(orders[-RECENT_ORDERS:])],
        "velocity": velocity,
        "velocity_off": None if velocity is not None else Words(locale).say("off"),
    }
