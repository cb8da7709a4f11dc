"""Stock-out prediction: how many orders, and at the current pace how many minutes, until a product runs out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bot.velocity.rates import Pace


@dataclass(frozen=True)
class StockOut:
    """`stock` units at `units_per_order` (the mean quantity of the product's recent orders, 1 without any)
    last `orders_left` orders; at `pace` that is `minutes_left` (None while nobody orders it)."""

    stock: int
    units_per_order: float
    orders_left: int
    pace: Pace
    minutes_left: float | None


def stockout(stock: int, recent_quantities: Sequence[int], pace: Pace) -> StockOut:
    """The prediction for one product from its available stock, the quantities of its recent orders and its
    order pace. A last order for fewer units than usual still counts as one order (rounded up)."""
    units = sum(recent_quantities) / len(recent_quantities) if recent_quantities else 1.0
    left = math.ceil(max(stock, 0) / units) if units > 0 else 0
    rate = pace.per_minute
    return StockOut(max(stock, 0), units, left, pace, left / rate if rate > 0 else None)
