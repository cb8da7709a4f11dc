"""Sales velocity from hand-computed tables: pace, per-minute series, sessions, peaks, stock-out forecasts."""

from __future__ import annotations

import pytest

from bot.velocity import Pace, Words, pace, peak, per_minute, session_start, stockout

M = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC, on a minute boundary (08:00 in Dakar too)


@pytest.mark.parametrize(("times", "now", "since", "orders", "minutes", "per_min"), [
    # the last 10 minutes: T-700 is outside, T-590 … T inside
    ([M - 700, M - 590, M - 300, M - 60, M], M, None, 4, 10.0, 0.4),
    # a live that began 4 minutes ago is measured over those 4 minutes
    ([M - 700, M - 590, M - 300, M - 60, M], M, M - 240, 2, 4.0, 0.5),
    # 30 s of live: still over one minute, not 2 orders/min from one order
    ([M - 60, M], M, M - 30, 1, 1.0, 1.0),
    ([], M, None, 0, 10.0, 0.0),
    # the window's first second counts
    ([M - 600], M, None, 1, 10.0, 0.1),
])
def test_pace(times: list[float], now: float, since: float | None, orders: int, minutes: float,
              per_min: float) -> None:
    p = pace(times, now, since=since)
    assert (p.orders, p.minutes) == (orders, minutes)
    assert p.per_minute == pytest.approx(per_min)


def test_per_minute_counts_each_clock_minute_oldest_first_the_current_one_last() -> None:
    times = [M - 121, M - 120, M - 61, M - 60, M + 29, M + 30, M + 60]
    first, counts = per_minute(times, M + 30, minutes=3)
    assert first == M - 120
    # [M-120, M-60): M-120, M-61 · [M-60, M): M-60 · [M, M+60): M+29, M+30; M-121 and M+60 are outside
    assert counts == [2, 1, 2]


@pytest.mark.parametrize(("times", "now", "start"), [
    ([0, 100, 2000, 2100, 2200], 2300, 2000),  # 100 → 2000 is a 1900 s pause: the session starts at 2000
    ([0, 100, 2000, 2100, 2200], 4000, None),  # 30 min since the last order: no session
    ([0, 1700, 3400], 3500, 0),  # pauses of 1700 s do not break a session
    ([3490], 3500, 3490),
    ([], 3500, None),
    ([100, 200, 9000], 300, 100),  # an order after `now` is not part of it
])
def test_session_start(times: list[float], now: float, start: float | None) -> None:
    assert session_start(times, now) == start


def _spread(count: int, start: float, end: float) -> list[float]:
    """`count` orders evenly inside [start, end)."""
    step = (end - start) / count
    return [start + i * step for i in range(count)]


SINCE = M - 900  # a live 15 minutes old: baseline [M-900, M-120) is 13 minutes


@pytest.mark.parametrize(("times", "since", "active", "ratio", "baseline"), [
    # 13 orders in 13 min (1/min), then 6 in the last 2 min (3/min): ×3
    (_spread(13, SINCE, M - 120) + _spread(6, M - 119, M), SINCE, True, 3.0, 1.0),
    # 4 in the last 2 min is ×2 but fewer than 5 orders: no peak
    (_spread(13, SINCE, M - 120) + _spread(4, M - 119, M), SINCE, False, 2.0, 1.0),
    # 26 in 13 min (2/min), 6 in 2 min (3/min): ×1.5 is no peak
    (_spread(26, SINCE, M - 120) + _spread(6, M - 119, M), SINCE, False, 1.5, 2.0),
    # an order exactly at the cut belongs to the recent window: 5 recent, ×2.5
    ([*_spread(13, SINCE, M - 120), M - 120, *_spread(4, M - 100, M)], SINCE, True, 2.5, 1.0),
    # nothing before, 5 now: a peak from zero (no ratio)
    (_spread(5, M - 100, M), SINCE, True, None, 0.0),
])
def test_peak_against_the_sessions_baseline(times: list[float], since: float, active: bool, ratio: float | None,
                                            baseline: float) -> None:
    p = peak(times, M, since)
    assert p.active is active
    assert p.baseline is not None and p.baseline.per_minute == pytest.approx(baseline)
    assert p.ratio == (None if ratio is None else pytest.approx(ratio))


@pytest.mark.parametrize("since", [None, M - 300])  # no session; a session with 3 min before the window
def test_no_peak_without_a_baseline_of_five_minutes(since: float | None) -> None:
    p = peak(_spread(10, M - 100, M), M, since)
    assert (p.active, p.baseline, p.ratio) == (False, None, None)
    assert p.recent.orders == 10


def _pace(orders: int, minutes: float) -> Pace:
    return Pace(orders, minutes, M - minutes * 60, M)


@pytest.mark.parametrize(("stock", "quantities", "rate", "orders_left", "minutes_left", "units"), [
    (8, [], _pace(2, 1), 8, 4.0, 1.0),  # 8 units, 1 per order, 2 orders/min
    (8, [2, 2, 1, 1], _pace(4, 10), 6, 15.0, 1.5),  # 8 / 1.5 = 5.3 → 6 orders; 6 / 0.4 per min
    (5, [], _pace(0, 10), 5, None, 1.0),  # nobody orders it: no time
    (0, [1], _pace(3, 1), 0, 0.0, 1.0),
    (1, [3, 3], _pace(2, 2), 1, 1.0, 3.0),  # one last order, even for fewer units than usual
])
def test_stockout(stock: int, quantities: list[int], rate: Pace, orders_left: int, minutes_left: float | None,
                  units: float) -> None:
    s = stockout(stock, quantities, rate)
    assert (s.orders_left, s.units_per_order) == (orders_left, units)
    assert s.minutes_left == (None if minutes_left is None else pytest.approx(minutes_left))


@pytest.mark.parametrize(("locale", "stock", "rate", "text", "basis"), [
    ("fr", 8, _pace(2, 1), "rupture dans ~8 commande(s) (~4 min au rythme actuel)",
     "8 en stock ÷ 1 article(s) par commande ; 2 cmd/min pour ce produit (2 en 1 min)"),
    ("en", 8, _pace(4, 10), "out of stock in ~8 order(s) (~20 min at the current pace)",
     "8 in stock ÷ 1 unit(s) per order; 0.4 orders/min for this product (4 in 10 min)"),
    ("fr", 3, _pace(0, 10), "rupture dans ~3 commande(s)",
     "3 en stock ÷ 1 article(s) par commande ; 0 cmd/min pour ce produit (0 en 10 min)"),
    ("fr", 0, _pace(3, 1), "épuisé", "0 en stock ÷ 1 article(s) par commande ; 3 cmd/min pour ce produit (3 en 1 min)"),
])
def test_each_forecast_says_what_it_is_computed_from(locale: str, stock: int, rate: Pace, text: str,
                                                     basis: str) -> None:
    assert Words(locale).stockout(stockout(stock, [], rate)) == (text, basis)


def test_pace_and_peak_explanations_name_their_figures_and_times() -> None:
    words = Words("fr", "Africa/Dakar")
    assert words.pace(pace([M - 300, M - 60, M], M)) == "3 commande(s) en 10 min, de 07:50 à 08:00"
    spike = peak(_spread(13, SINCE, M - 120) + _spread(6, M - 119, M), M, SINCE)
    assert words.peak(spike, 300) == ("pic : 3 cmd/min sur les 2 dernières min, ×3 le rythme du live "
                                      "(1 cmd/min de 07:45 à 07:58)")
    assert Words("en").peak(peak([M], M, M - 200), 300) == \
        "no reference yet: it takes 5 min of live before the last 2 min"
