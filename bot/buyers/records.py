"""A buyer's record with one vendor, folded from their orders on every channel, and what it allows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.buyers.trust import BuyerStats, Tier, TrustScore, reminder_percent, reservation_minutes, tier, trust_score
from storage import Order

OPEN = ("reserved", "awaiting_payment")


@dataclass
class BuyerRecord:
    """Per (vendor, buyer address): the address is canonical (E.164 for WhatsApp and SMS alike), so the
    record is the same whichever channel the buyer wrote on. Idempotent per order id."""

    vendor_id: str
    address: str
    orders: int = 0
    payments: int = 0
    expired: int = 0
    cancelled: int = 0
    total_spent: int = 0
    payment_seconds: float = 0.0
    first_order_at: float | None = None
    last_order_at: float | None = None
    methods: Counter[str] = field(default_factory=Counter)
    channels: set[str] = field(default_factory=set)
    bought: list[str] = field(default_factory=list)  # product codes of the paid orders, oldest first
    seen: dict[str, str] = field(default_factory=dict)  # order id -> the status already counted

    def apply(self, order: Order) -> None:
        """Count an order event (created, paid, expired, cancelled); the same state twice counts once."""
        if order.contact.address != self.address or order.vendor_id != self.vendor_id:
            raise ValueError("order of another buyer or vendor")
        before = self.seen.get(order.id)
        if before == order.status or (before is not None and before not in OPEN):
            return
        if before is None:
            self.orders += 1
            self.channels.add(order.channel)
            self.first_order_at = min(self.first_order_at or order.created_at, order.created_at)
            self.last_order_at = max(self.last_order_at or order.created_at, order.created_at)
        if order.status == "paid":
            self.payments += 1
            self.total_spent += order.total
            self.payment_seconds += max(0.0, (order.paid_at or order.created_at) - order.created_at)
            self.bought.append(order.product_code)
            if order.payment_method:
                self.methods[order.payment_method] += 1
        elif order.status == "expired":
            self.expired += 1
        elif order.status == "cancelled":
            self.cancelled += 1
        self.seen[order.id] = order.status

    @property
    def stats(self) -> BuyerStats:
        average = self.payment_seconds / self.payments if self.payments else None
        return BuyerStats(orders=self.orders, payments=self.payments, expired=self.expired,
                          total_spent=self.total_spent, average_payment_s=average)

    @property
    def score(self) -> TrustScore:
        return trust_score(self.stats)

    @property
    def tier(self) -> Tier:
        return tier(self.orders, self.score.value)

    @property
    def preferred_method(self) -> str | None:
        return self.methods.most_common(1)[0][0] if self.methods else None

    @property
    def last_bought(self) -> str | None:
        return self.bought[-1] if self.bought else None

    @property
    def open_orders(self) -> int:
        return sum(1 for status in self.seen.values() if status in OPEN)

    def card(self) -> dict[str, Any]:
        """What the vendor sees: history, score and the factors that moved it, tier, tags."""
        score = self.score
        stats = self.stats
        return {
            "orders": self.orders, "payments": self.payments, "expired": self.expired,
            "cancelled": self.cancelled, "total_spent": self.total_spent,
            "average_payment_s": None if stats.average_payment_s is None else round(stats.average_payment_s, 1),
            "first_order_at": self.first_order_at, "last_order_at": self.last_order_at,
            "preferred_method": self.preferred_method, "channels": sorted(self.channels),
            "score": score.value, "tier": self.tier, "tags": score.tags,
            "factors": [{"code": f.code, "points": f.points, "detail": f.detail} for f in score.factors],
        }


def record_from(vendor_id: str, address: str, orders: Iterable[Order]) -> BuyerRecord:
    """The record of one buyer from their orders, oldest first."""
    record = BuyerRecord(vendor_id, address)
    for order in sorted(orders, key=lambda o: o.created_at):
        record.apply(order)
    return record


@dataclass(frozen=True)
class Admission:
    """Whether the vendor takes a new order from this buyer now, and on which terms."""

    allowed: bool
    reason: str | None  # "low_trust" | "too_many_orders"
    reservation_minutes: int
    reminder_percent: int


def admit(record: BuyerRecord, settings: dict[str, Any]) -> Admission:
    """Apply the vendor's `min_trust_score_required` and `max_orders_per_client` to a buyer's record."""
    score = record.score
    minutes, percent = reservation_minutes(score), reminder_percent(score)
    if score.value < int(settings.get("min_trust_score_required") or 0):
        return Admission(False, "low_trust", minutes, percent)
    limit = settings.get("max_orders_per_client")
    if limit and record.open_orders >= int(limit):
        return Admission(False, "too_many_orders", minutes, percent)
    return Admission(True, None, minutes, percent)
