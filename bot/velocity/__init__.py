"""Sales velocity: order pace, stock-out prediction and peak detection, each with what it is computed from."""

from bot.velocity.explain import Words
from bot.velocity.rates import Pace, Peak, count_between, pace, peak, per_minute, session_start
from bot.velocity.report import velocity_report
from bot.velocity.stock import StockOut, stockout

__all__ = [
    "Pace",
    "Peak",
    "StockOut",
    "Words",
    "count_between",
    "pace",
    "peak",
    "per_minute",
    "session_start",
    "stockout",
    "velocity_report",
]
