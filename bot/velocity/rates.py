"""Order rates over time: the pace (orders per minute), the per-minute series, the session and its peaks.

Pure functions over order creation times (epoch seconds): no clock, no store. Each result keeps the
figures it was computed from (how many orders over how many minutes), so a page can say why.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

WINDOW_S = 600.0  # the current pace: orders of the last 10 minutes
PEAK_WINDOW_S = 120.0  # a peak is judged on the last 2 minutes...
PEAK_FACTOR = 2.0  # ...at twice the session's baseline or more...
PEAK_MIN_ORDERS = 5  # ...with at least 5 orders, so 2 orders after a quiet spell are no peak
MIN_BASELINE_S = 300.0  # a baseline needs 5 minutes of session before the peak window
SESSION_GAP_S = 1800.0  # 30 minutes without an order end a session (a live)
MIN_MINUTES = 1.0  # a pace is never taken over less than a minute: 3 orders in 10 s are not 18/min


@dataclass(frozen=True)
class Pace:
    """`orders` counted from `start` to `end`, i.e. `per_minute` over `minutes`."""

    orders: int
    minutes: float
    start: float
    end: float

    @property
    def per_minute(self) -> float:
        return self.orders / self.minutes


@dataclass(frozen=True)
class Peak:
    """Whether the last minutes run well above the session's own baseline, and the two paces compared."""

    active: bool
    recent: Pace
    baseline: Pace | None  # None while the session is too young to have one
    ratio: float | None  # recent / baseline pace; None without a baseline or when it is zero


def _sorted(times: Iterable[float]) -> list[float]:
    return sorted(times)


def count_between(times: Sequence[float], start: float, end: float) -> int:
    """Orders created in [start, end] (`times` sorted)."""
    return bisect.bisect_right(times, end) - bisect.bisect_left(times, start)


def pace(times: Iterable[float], now: float, *, window_s: float = WINDOW_S, since: float | None = None) -> Pace:
    """Orders per minute over the last `window_s` seconds, or since `since` when that is later (a live that
    began 4 minutes ago is measured over 4 minutes), never over less than a minute."""
    ordered = _sorted(times)
    start = now - window_s if since is None else max(now - window_s, since)
    minutes = max((now - start) / 60.0, MIN_MINUTES)
    return Pace(count_between(ordered, start, now), minutes, start, now)


def per_minute(times: Iterable[float], now: float, minutes: int = 30) -> tuple[float, list[int]]:
    """Orders in each clock minute of the last `minutes` (the current, unfinished one last): the first
    minute's start and the counts, oldest first."""
    end = (now // 60 + 1) * 60
    first = end - minutes * 60
    counts = [0] * minutes
    for t in times:
        if first <= t < end:
            counts[int((t - first) // 60)] += 1
    return first, counts


def session_start(times: Iterable[float], now: float, gap_s: float = SESSION_GAP_S) -> float | None:
    """When the current session (a live) began: its first order after a pause of `gap_s` or more. None when
    the last order is already `gap_s` old (no session is going on)."""
    ordered = [t for t in _sorted(times) if t <= now]
    if not ordered or now - ordered[-1] >= gap_s:
        return None
    start = ordered[-1]
    for t in reversed(ordered[:-1]):
        if start - t >= gap_s:
            break
        start = t
    return start


def peak(times: Iterable[float], now: float, since: float | None, *, window_s: float = PEAK_WINDOW_S,
         factor: float = PEAK_FACTOR, min_orders: int = PEAK_MIN_ORDERS,
         min_baseline_s: float = MIN_BASELINE_S) -> Peak:
    """A peak: at least `min_orders` orders in the last `window_s` at `factor` times the session's pace
    before that window (its baseline), or any such burst after a baseline of zero."""
    ordered = _sorted(times)
    recent = pace(ordered, now, window_s=window_s, since=since)
    cut = now - window_s
    if since is None or cut - since < min_baseline_s:
        return Peak(False, recent, None, None)
    # orders exactly at the cut belong to the recent window, not to the baseline
    before = bisect.bisect_left(ordered, cut) - bisect.bisect_left(ordered, since)
    baseline = Pace(before, (cut - since) / 60.0, since, cut)
    if baseline.orders == 0:
        return Peak(recent.orders >= min_orders, recent, baseline, None)
    ratio = recent.per_minute / baseline.per_minute
    return Peak(recent.orders >= min_orders and ratio >= factor, recent, baseline, ratio)
