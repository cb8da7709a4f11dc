"""The dashboard's period and stock bars from hand-computed tables."""

from __future__ import annotations

import pytest

from bot.dashboard.snapshot import day_start, stock_view
from channels import Contact
from storage import Order, Product

NOON_UTC = 1_800_014_400.0  # 2027-01-15 12:00:00 UTC


@pytest.mark.parametrize(("timezone", "midnight"), [
    ("Africa/Dakar", 1_799_971_200.0),  # UTC+0: 2027-01-15 00:00 UTC
    ("Europe/Paris", 1_799_967_600.0),  # UTC+1: 2027-01-14 23:00 UTC
    ("America/New_York", 1_799_989_200.0),  # UTC−5: 2027-01-15 05:00 UTC
    ("Not/AZone", 1_799_971_200.0),  # unknown: UTC
])
def test_the_period_starts_at_the_vendors_midnight(timezone: str, midnight: float) -> None:
    assert day_start(NOON_UTC, timezone) == midnight


def _order(code: str, status: str, quantity: int = 1) -> Order:
    return Order(id=f"{code}-{status}-{quantity}", vendor_id="demo", conversation_id="c", contact=Contact(address="+1"),
                 channel="web", product_code=code, product_name=code, quantity=quantity, unit_price=100,
                 status=status)  # type: ignore[arg-type]


@pytest.mark.parametrize(("stock", "orders", "held", "sold", "ratio", "low", "sold_out"), [
    (10, [], 0, 0, 1.0, False, False),
    # 3 left + 1 held + 2 sold (one order of 2) = 6; an expired order counts for nothing
    (3, [_order("A", "reserved"), _order("A", "paid", 2), _order("A", "expired")], 1, 2, 0.5, True, False),
    (0, [_order("A", "paid"), _order("A", "awaiting_payment")], 1, 1, 0.0, False, True),
    (4, [_order("B", "paid")], 0, 0, 1.0, False, False),  # another product's order
])
def test_a_stock_bar_shows_what_is_left_of_the_periods_supply(stock: int, orders: list[Order], held: int, sold: int,
                                                              ratio: float, low: bool, sold_out: bool) -> None:
    bar = stock_view(Product(vendor_id="demo", code="A", name="A", price=100, stock=stock), orders, low_at=3)
    assert (bar["held"], bar["sold"], bar["left_ratio"], bar["low"], bar["sold_out"]) == (held, sold, ratio, low,
                                                                                          sold_out)


@pytest.mark.parametrize(("stock", "low_at", "low"), [(3, 3, True), (4, 3, False), (1, 0, False), (5, 5, True)])
def test_a_stock_bar_is_low_at_the_vendors_alert_level(stock: int, low_at: int, low: bool) -> None:
    bar = stock_view(Product(vendor_id="demo", code="A", name="A", price=100, stock=stock), [], low_at=low_at)
    assert bar["low"] is low
