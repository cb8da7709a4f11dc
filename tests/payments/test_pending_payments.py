"""The poller's work lists from every store: pending payments older than a moment, oldest first; refunds owed."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import Payment
from tests.conftest import MONGO_ID, make_store


@pytest.mark.parametrize("kind", ["embedded", MONGO_ID])
async def test_pending_payments_lists_only_old_enough_pending_ones_oldest_first(tmp_path: Path, kind: str) -> None:
    store = make_store("embedded" if kind == "embedded" else "mongo", tmp_path)
    await store.start()
    try:
        for i, (created, status) in enumerate([(30.0, "pending"), (10.0, "pending"), (20.0, "paid"),
                                               (50.0, "pending")]):
            await store.save_payment(Payment(id=f"p{i}", psp="wave", vendor_id="demo", order_id=f"o{i}",
                                             amount=1000, method="wave", status=status, created_at=created,
                                             provider_ref=f"cos-{i}", link=f"https://pay/{i}"))
        pending = await store.pending_payments(created_before=40.0)
        assert [p.id for p in pending] == ["p1", "p0"]
        assert (pending[0].provider_ref, pending[0].link) == ("cos-1", "https://pay/1")
        assert [p.id for p in await store.pending_payments(created_before=40.0, limit=1)] == ["p1"]
        await store.transition_payment("p1", "pending", "paid")
        assert [p.id for p in await store.pending_payments(created_before=100.0)] == ["p0", "p3"]
    finally:
        await store.close()


@pytest.mark.parametrize("kind", ["embedded", MONGO_ID])
async def test_payments_owing_a_refund_are_listed_apart_from_pending_ones(tmp_path: Path, kind: str) -> None:
    store = make_store("embedded" if kind == "embedded" else "mongo", tmp_path)
    await store.start()
    try:
        for i, status in enumerate(["paid", "refund_due", "pending", "refund_manual"]):
            await store.save_payment(Payment(id=f"p{i}", psp="wave", vendor_id="demo", order_id=f"o{i}",
                                             amount=1000, method="wave", status=status, created_at=10.0 + i))
        assert [p.id for p in await store.pending_payments(100.0, status="refund_due")] == ["p1"]
        assert [p.id for p in await store.pending_payments(100.0)] == ["p2"]
        assert await store.transition_payment("p1", "refund_due", "refunded") is not None
        assert await store.pending_payments(100.0, status="refund_due") == []
        assert (await store.get_payment("p1")).status == "refunded"
    finally:
        await store.close()
