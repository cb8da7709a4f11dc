"""Sales velocity of one vendor from its orders and products: pace, session, peak and stock-out per product."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.velocity.explain import Words
from bot.velocity.rates import MIN_BASELINE_S, SESSION_GAP_S, WINDOW_S, Pace, pace, peak, session_start
from bot.velocity.stock import stockout
from storage import Order, Product


def _pace_json(words: Words, p: Pace) -> dict[str, Any]:
    return {"per_minute": round(p.per_minute, 2), "orders": p.orders, "minutes": round(p.minutes, 2),
            "explain": words.pace(p)}


def velocity_report(orders: Sequence[Order], products: Sequence[Product], now: float, words: Words,
                    since: float | None = None) -> dict[str, Any]:
    """The figures and, next to each, what it is computed from. `since` is the live's start when known;
    without it the session is found from the orders (the first after 30 minutes without any)."""
    times = sorted(o.created_at for o in orders)
    start = since if since is not None else session_start(times, now)
    if since is not None:
        session = {"start": since, "explain": words.say("given_session", start=words.time(since))}
    elif start is not None:
        session = {"start": start, "explain": words.say("session", start=words.time(start),
                                                        gap=words.number(SESSION_GAP_S / 60))}
    else:
        session = {"start": None, "explain": words.say("no_session", gap=words.number(SESSION_GAP_S / 60))}
    current = pace(times, now, since=start)
    spike = peak(times, now, start)
    by_code: dict[str, list[Order]] = {}
    for o in orders:
        if o.created_at >= now - WINDOW_S and (start is None or o.created_at >= start):
            by_code.setdefault(o.product_code, []).append(o)
    stockouts: dict[str, Any] = {}
    for product in products:
        recent = by_code.get(product.code, [])
        rate = pace([o.created_at for o in recent], now, since=start)
        prediction = stockout(product.stock, [o.quantity for o in recent], rate)
        text, basis = words.stockout(prediction)
        stockouts[product.code] = {
            "orders_left": prediction.orders_left, "units_per_order": round(prediction.units_per_order, 2),
            "per_minute": round(rate.per_minute, 2),
            "minutes_left": None if prediction.minutes_left is None else round(prediction.minutes_left, 1),
            "text": text, "explain": basis,
        }
    return {
        "session": session,
        "pace": _pace_json(words, current),
        "peak": {"active": spike.active, "ratio": None if spike.ratio is None else round(spike.ratio, 2),
                 "recent": _pace_json(words, spike.recent),
                 "explain": words.peak(spike, MIN_BASELINE_S)},
        "stockouts": stockouts,
    }
