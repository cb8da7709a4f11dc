"""Buyers: per-vendor buyer records, trust score and its factors, tiers, adaptive reservation timing."""

from bot.buyers.actions import Timing, adaptive_timing, buyer_admitted, buyer_record
from bot.buyers.records import Admission, BuyerRecord, admit, record_from
from bot.buyers.trust import (
    FLAG,
    BuyerStats,
    Factor,
    Tier,
    TrustScore,
    reminder_percent,
    reservation_minutes,
    tier,
    trust_score,
)

__all__ = [
    "FLAG",
    "Admission",
    "BuyerRecord",
    "BuyerStats",
    "Factor",
    "Tier",
    "Timing",
    "TrustScore",
    "adaptive_timing",
    "admit",
    "buyer_admitted",
    "buyer_record",
    "record_from",
    "reminder_percent",
    "reservation_minutes",
    "tier",
    "trust_score",
]
