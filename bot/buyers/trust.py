"""Trust score, tiers and adaptive timing of PRODUCT.md's commerce rules, with the factors that moved a score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Tier = Literal["diamond", "gold", "silver", "bronze"]

START = 50
PER_PAYMENT, PAYMENTS_MAX = 5, 25
FAST_PAYER_S, FAST_PAYER = 120.0, 10
BIG_SPENDER_F, BIG_SPENDER = 100_000, 10
PER_EXPIRY = -10
FLAG = "faux_acheteur_potentiel"
FLAG_PENALTY = -20
DOUBTFUL_BELOW = 30
# (tier, minimum orders, minimum score), best first
TIERS: tuple[tuple[Tier, int, int], ...] = (("diamond", 10, 80), ("gold", 6, 70), ("silver", 3, 60))


@dataclass(frozen=True)
class BuyerStats:
    """What the score reads from one buyer's history with one vendor."""

    orders: int = 0
    payments: int = 0  # successful
    expired: int = 0  # reservations that ran out unpaid
    total_spent: int = 0  # francs
    average_payment_s: float | None = None  # from reservation to confirmed payment


@dataclass(frozen=True)
class Factor:
    """One line of "why this score": a rule, the points it gave, and the figure that triggered it."""

    code: str
    points: int
    detail: str


@dataclass(frozen=True)
class TrustScore:
    value: int
    factors: tuple[Factor, ...]
    flagged: bool

    @property
    def tags(self) -> list[str]:
        return [FLAG] if self.flagged else []


def trust_score(s: BuyerStats) -> TrustScore:
    """0–100: start 50; +5 per payment (max +25); +10 fast payer (< 120 s); +10 big spender (> 100 000 F);
    −10 per expired reservation; more than 3 expiries with fewer than 2 payments: flagged and −20."""
    factors = [Factor("start", START, "score de départ")]
    if s.payments:
        factors.append(Factor("payments", min(PAYMENTS_MAX, PER_PAYMENT * s.payments),
                              f"{s.payments} paiement(s) réussi(s)"))
    if s.payments and s.average_payment_s is not None and s.average_payment_s < FAST_PAYER_S:
        factors.append(Factor("fast_payer", FAST_PAYER, f"paie en {round(s.average_payment_s)} s en moyenne"))
    if s.total_spent > BIG_SPENDER_F:
        factors.append(Factor("big_spender", BIG_SPENDER, f"{s.total_spent} F dépensés"))
    if s.expired:
        factors.append(Factor("expired", PER_EXPIRY * s.expired, f"{s.expired} réservation(s) expirée(s)"))
    flagged = s.expired > 3 and s.payments < 2
    if flagged:
        factors.append(Factor(FLAG, FLAG_PENALTY, f"{s.expired} expirations pour {s.payments} paiement(s)"))
    raw = sum(f.points for f in factors)
    value = max(0, min(100, raw))
    if value != raw:
        factors.append(Factor("clamp", value - raw, "borné entre 0 et 100"))
    return TrustScore(value=value, factors=tuple(factors), flagged=flagged)


def tier(orders: int, score: int) -> Tier:
    for name, min_orders, min_score in TIERS:
        if orders >= min_orders and score >= min_score:
            return name
    return "bronze"


def doubtful(score: TrustScore) -> bool:
    """Score under 30 or flagged: a short reservation, or prepayment when the vendor asks for it."""
    return score.value < DOUBTFUL_BELOW or score.flagged


def reservation_minutes(score: TrustScore) -> int:
    """5 min for a doubtful buyer (score < 30 or flagged), 15 for a trusted one (≥ 80), else 10."""
    if doubtful(score):
        return 5
    return 15 if score.value >= 80 else 10


def reminder_percent(score: TrustScore) -> int:
    """When the one reminder goes out, as a share of the reservation: 80 % (≥ 80), 50 % (< 40), else 70 %."""
    if score.value >= 80:
        return 80
    return 50 if score.value < 40 else 70
