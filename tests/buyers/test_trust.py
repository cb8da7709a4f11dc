"""PRODUCT.md's commerce rules as tables: trust score, flag, tiers, reservation and reminder timing."""

from __future__ import annotations

import pytest

from bot.buyers import BuyerStats, reminder_percent, reservation_minutes, tier, trust_score

# (orders, payments, expired, total spent, average payment seconds) -> score, flagged
SCORES = [
    ((0, 0, 0, 0, None), 50, False),  # start 50
    ((1, 1, 0, 15_000, 300.0), 55, False),  # +5 per payment
    ((5, 5, 0, 75_000, 300.0), 75, False),
    ((8, 8, 0, 96_000, 300.0), 75, False),  # payments cap at +25
    ((2, 2, 0, 30_000, 119.0), 70, False),  # +10 fast payer (< 120 s)
    ((2, 2, 0, 30_000, 120.0), 60, False),  # 120 s is not fast
    ((1, 1, 0, 100_001, 300.0), 65, False),  # +10 big spender (> 100 000 F)
    ((1, 1, 0, 100_000, 300.0), 55, False),  # 100 000 F is not > 100 000
    ((1, 0, 1, 0, None), 40, False),  # −10 per expiry
    ((3, 0, 3, 0, None), 20, False),  # 3 expiries: not yet flagged
    ((4, 0, 4, 0, None), 0, True),  # > 3 expiries and < 2 payments: flag, −20 → 50−40−20 = −10 → 0
    ((5, 1, 4, 10_000, 60.0), 5, True),  # 50 + 5 + 10 − 40 − 20
    ((6, 2, 4, 20_000, 60.0), 30, False),  # 2 payments: no flag
    ((20, 10, 0, 500_000, 30.0), 95, False),  # 50 + 25 + 10 + 10
    ((9, 0, 9, 0, None), 0, True),  # clamp at 0
]


@pytest.mark.parametrize(("stats", "score", "flagged"), SCORES)
def test_trust_score(stats: tuple, score: int, flagged: bool) -> None:
    result = trust_score(BuyerStats(*stats))
    assert (result.value, result.flagged) == (score, flagged)
    # the factors that moved the score add up to it
    assert sum(f.points for f in result.factors) == result.value
    assert ("faux_acheteur_potentiel" in result.tags) == flagged


def test_factors_name_each_rule_that_moved_the_score() -> None:
    result = trust_score(BuyerStats(orders=5, payments=1, expired=4, total_spent=10_000, average_payment_s=60.0))
    assert [(f.code, f.points) for f in result.factors] == [
        ("start", 50), ("payments", 5), ("fast_payer", 10), ("expired", -40), ("faux_acheteur_potentiel", -20)]


TIERS = [
    (10, 80, "diamond"), (10, 79, "gold"), (9, 95, "gold"), (6, 70, "gold"), (6, 69, "silver"),
    (5, 90, "silver"), (3, 60, "silver"), (3, 59, "bronze"), (2, 100, "bronze"), (0, 50, "bronze"),
]


@pytest.mark.parametrize(("orders", "score", "expected"), TIERS)
def test_tier(orders: int, score: int, expected: str) -> None:
    assert tier(orders, score) == expected


# stats -> (score), reservation minutes, reminder %
TIMING = [
    ((0, 0, 0, 0, None), 10, 70),  # 50: default
    ((3, 0, 3, 0, None), 5, 50),  # 20: < 30 → 5 min; < 40 → 50 %
    ((2, 0, 2, 0, None), 10, 50),  # 30: 10 min, but < 40 → 50 %
    ((1, 0, 1, 0, None), 10, 70),  # 40: 70 %
    ((6, 6, 0, 50_000, 60.0), 15, 80),  # 85: ≥ 80 → 15 min, 80 %
    ((5, 5, 0, 50_000, 130.0), 10, 70),  # 75
    ((4, 0, 4, 0, None), 5, 50),  # flagged
]


@pytest.mark.parametrize(("stats", "minutes", "percent"), TIMING)
def test_reservation_and_reminder_timing(stats: tuple, minutes: int, percent: int) -> None:
    score = trust_score(BuyerStats(*stats))
    assert (reservation_minutes(score), reminder_percent(score)) == (minutes, percent)


def test_the_best_flagged_buyer_still_gets_five_minutes() -> None:
    # one payment (two would lift the flag), fast, big spender: the best a flagged buyer can do
    score = trust_score(BuyerStats(orders=5, payments=1, expired=4, total_spent=200_000, average_payment_s=30.0))
    assert score.flagged and score.value == 15
    assert reservation_minutes(score) == 5
