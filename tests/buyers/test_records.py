"""Buyer records from orders: one record across channels, counted once per order state, and the vendor's rules."""

from __future__ import annotations

import pytest

from bot.buyers import admit, record_from
from channels import Contact
from storage import Order

BUYER = "+221770000001"


def order(i: int, status: str, *, channel: str = "whatsapp", price: int = 15_000, paid_after: float = 60.0,
          method: str | None = "wave", address: str = BUYER) -> Order:
    created = 1000.0 * i
    return Order(id=f"o{i}", vendor_id="demo", conversation_id=f"demo:{channel}:{address}",
                 contact=Contact(address=address), channel=channel, product_code="ROBE1", product_name="Robe",
                 quantity=1, unit_price=price, status=status, created_at=created,  # type: ignore[arg-type]
                 paid_at=created + paid_after if status == "paid" else None,
                 payment_method=method if status == "paid" else None)


def test_record_counts_orders_from_every_channel_of_the_buyer() -> None:
    orders = [order(1, "paid", channel="whatsapp"), order(2, "paid", channel="sms", method="om", paid_after=100),
              order(3, "expired", channel="telegram"), order(4, "paid", method="wave", paid_after=20)]
    record = record_from("demo", BUYER, orders)
    card = record.card()
    assert (card["orders"], card["payments"], card["expired"], card["total_spent"]) == (4, 3, 1, 45_000)
    assert card["average_payment_s"] == 60.0 and card["preferred_method"] == "wave"
    assert card["channels"] == ["sms", "telegram", "whatsapp"]
    assert (card["first_order_at"], card["last_order_at"]) == (1000.0, 4000.0)
    # 50 + 15 (3 payments) + 10 (fast) − 10 (one expiry)
    assert card["score"] == 65 and card["tier"] == "silver"
    assert [f["code"] for f in card["factors"]] == ["start", "payments", "fast_payer", "expired"]


def test_an_order_event_seen_twice_counts_once_and_its_progress_counts() -> None:
    record = record_from("demo", BUYER, [])
    record.apply(order(1, "reserved"))
    record.apply(order(1, "awaiting_payment"))
    record.apply(order(1, "paid"))
    record.apply(order(1, "paid"))
    record.apply(order(1, "expired"))  # a paid order cannot expire afterwards
    assert (record.orders, record.payments, record.expired, record.total_spent) == (1, 1, 0, 15_000)


def test_another_buyers_order_is_refused() -> None:
    with pytest.raises(ValueError):
        record_from("demo", BUYER, [order(1, "paid", address="+221770000002")])


@pytest.mark.parametrize(("orders", "settings", "allowed", "reason"), [
    ([], {}, True, None),
    ([], {"min_trust_score_required": 60}, False, "low_trust"),  # 50 < 60
    ([order(i, "paid") for i in range(1, 3)], {"min_trust_score_required": 60}, True, None),  # 70
    ([order(1, "reserved"), order(2, "awaiting_payment")], {"max_orders_per_client": 2}, False, "too_many_orders"),
    ([order(1, "reserved"), order(2, "paid")], {"max_orders_per_client": 2}, True, None),
])
def test_vendor_settings_decide_whether_a_new_order_is_taken(orders: list, settings: dict, allowed: bool,
                                                            reason: str | None) -> None:
    decision = admit(record_from("demo", BUYER, orders), settings)
    assert (decision.allowed, decision.reason) == (allowed, reason)


def test_a_flagged_buyer_is_admitted_with_the_shortest_reservation() -> None:
    record = record_from("demo", BUYER, [order(i, "expired") for i in range(1, 5)])
    decision = admit(record, {})
    assert record.score.flagged and record.card()["tags"] == ["faux_acheteur_potentiel"]
    assert (decision.allowed, decision.reservation_minutes, decision.reminder_percent) == (True, 5, 50)


def test_vendor_file_settings_reach_the_admission(tmp_path) -> None:
    from bot.runtime import load_vendors
    from tests.conftest import vendor_dir

    settings = {"reservation_minutes": 10, "min_trust_score_required": 60, "max_orders_per_client": 2}
    vendor = load_vendors(str(vendor_dir(tmp_path, settings=settings)))["demo"]
    assert admit(record_from("demo", BUYER, []), vendor.settings).reason == "low_trust"
    with pytest.raises(Exception, match="min_trust_score_required"):
        load_vendors(str(vendor_dir(tmp_path, settings={"min_trust_score_required": 101})))
