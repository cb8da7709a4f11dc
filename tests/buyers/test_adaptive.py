"""Adaptive wording as tables: which buyer is greeted how, low-stock urgency, badges, plain text, prepayment."""

from __future__ import annotations

import pytest

from bot.buyers import AdaptiveSettings, badges, buyer_kind, low_stock, plain_text, prepayment_required, record_from
from bot.buyers.adaptive import FirstBuyer
from channels import Contact
from storage import Order

BUYER = "+221770000001"
ON = AdaptiveSettings()


def history(payments: int, expired: int = 0, paid_after: float = 300.0, price: int = 10_000) -> list[Order]:
    """A buyer's orders with one vendor: `payments` paid (each `paid_after` seconds after its order), then
    `expired` reservations that ran out."""
    orders = []
    for i in range(payments + expired):
        created = 1_000_000.0 + 3600 * i
        paid = i < payments
        orders.append(Order(
            id=f"o{i}", vendor_id="demo", conversation_id=f"demo:web:{BUYER}", contact=Contact(address=BUYER),
            channel="web", product_code="ROBE1", product_name="Robe", quantity=1, unit_price=price,
            status="paid" if paid else "expired", created_at=created, paid_at=created + paid_after if paid else None))
    return orders


# (payments, expired, average payment seconds, settings) -> kind. PRODUCT.md: gold ≥ 6 orders and score ≥ 70,
# diamond ≥ 10 and ≥ 80; the VIP line is for gold and diamond.
KINDS = [
    ((0, 0, 300.0), ON, "new"),  # no order yet: welcomed
    ((0, 0, 300.0), AdaptiveSettings(welcome=False), ""),
    ((0, 2, 300.0), ON, ""),  # ordered, never paid: neither new nor returning
    ((1, 0, 300.0), ON, "returning"),  # score 55, bronze
    ((1, 0, 300.0), AdaptiveSettings(returning=False), ""),
    ((3, 0, 300.0), ON, "returning"),  # silver (3 orders, 65): not VIP
    ((6, 0, 300.0), ON, "vip"),  # 6 orders, 50 + 25 = 75 ≥ 70: gold
    ((5, 1, 300.0), ON, "returning"),  # 6 orders but 50 + 25 − 10 = 65 < 70: silver
    ((10, 0, 60.0), ON, "vip"),  # 10 orders, 50 + 25 + 10 = 85: diamond
    ((10, 0, 60.0), AdaptiveSettings(vip=False), "returning"),  # VIP line off: still a returning buyer
    ((10, 0, 60.0), AdaptiveSettings(vip=False, returning=False), ""),
    ((3, 3, 300.0), ON, "returning"),  # 6 orders, 50 + 15 − 30 = 35: bronze
]


@pytest.mark.parametrize(("past", "settings", "kind"), KINDS)
def test_buyer_kind(past: tuple[int, int, float], settings: AdaptiveSettings, kind: str) -> None:
    payments, expired, after = past
    assert buyer_kind(record_from("demo", BUYER, history(payments, expired, after)), settings) == kind


# (stock left after the reservation, threshold, urgency on) -> "plus que N !"; 0 left says "c'était le dernier"
URGENCY = [(2, 2, True, True), (1, 2, True, True), (3, 2, True, False), (0, 2, True, False),
           (1, 2, False, False), (5, 5, True, True), (6, 5, True, False), (1, 0, True, False)]


@pytest.mark.parametrize(("left", "threshold", "on", "urgent"), URGENCY)
def test_low_stock_urgency(left: int, threshold: int, on: bool, urgent: bool) -> None:
    assert low_stock(left, AdaptiveSettings(low_stock=on, low_stock_threshold=threshold)) is urgent


# (payments including this one, expiries, seconds from order to payment, first paid of the live / of the
# day without a live / neither) -> badges.
# The product documents: fast payer < 2 min, loyal at 3 purchases, verified at 5 payments without incident.
BADGES = [
    ((1, 0, 30.0, "live"), ["first_buyer", "fast_payer"]),
    ((1, 0, 119.0, None), ["fast_payer"]),
    ((1, 0, 120.0, None), []),  # 2 minutes is not fast
    ((2, 0, 300.0, None), []),
    ((3, 0, 300.0, None), ["loyal"]),
    ((5, 0, 60.0, None), ["fast_payer", "loyal", "verified"]),
    ((5, 1, 300.0, None), ["loyal"]),  # an expired reservation is an incident
    ((4, 0, 300.0, "day"), ["first_today", "loyal"]),
]


@pytest.mark.parametrize(("case", "expected"), BADGES)
def test_badges(case: tuple[int, int, float, FirstBuyer], expected: list[str]) -> None:
    payments, expired, after, first = case
    orders = history(payments, expired, after)
    record = record_from("demo", BUYER, orders)
    assert badges(record, orders[payments - 1], first=first, adaptive=ON) == expected
    assert badges(record, orders[payments - 1], first=first, adaptive=AdaptiveSettings(badges=False)) == []


PLAIN = [
    ("✅ Paiement reçu, merci !", "Paiement reçu, merci !"),
    ("👋🏾 Bienvenue chez Awa !\n⚡ Plus que 2 en stock !", "Bienvenue chez Awa !\nPlus que 2 en stock !"),
    ("Vos badges : 🛡️ Vérifié · 🔥 Fidèle", "Vos badges : Vérifié · Fidèle"),
    ("Robe Wax (ROBE1) — 15 000 F CFA, « ça » l’œuvre", "Robe Wax (ROBE1) — 15 000 F CFA, « ça » l’œuvre"),
    ("👨‍👩‍👧 famille", "famille"),  # a ZWJ sequence goes whole
]


@pytest.mark.parametrize(("text", "expected"), PLAIN)
def test_plain_text_drops_emojis_and_keeps_the_french(text: str, expected: str) -> None:
    assert plain_text(text) == expected


# (payments, expiries, vendor's prepayment_for_flagged) -> prepayment. PRODUCT.md: score < 30 or flagged.
PREPAYMENT = [
    ((0, 0), True, False),  # 50
    ((0, 3), True, True),  # 20 < 30
    ((0, 2), True, False),  # 30 is not < 30
    ((1, 4), True, True),  # flagged (> 3 expiries, < 2 payments): 50 + 5 − 40 − 20 → 0
    ((2, 4), False, False),  # the vendor did not ask
    ((0, 3), False, False),
]


@pytest.mark.parametrize(("past", "asked", "expected"), PREPAYMENT)
def test_prepayment_for_flagged_buyers(past: tuple[int, int], asked: bool, expected: bool) -> None:
    record = record_from("demo", BUYER, history(*past))
    assert prepayment_required(record, {"prepayment_for_flagged": asked}) is expected
