"""Payment-note benchmark: a live's totals from every order read vs the store's paid-orders aggregate; one JSON line.

    .venv/bin/python bench/payment_note.py [--orders 10000] [--runs 20]   (MONGODB_URI set: the MongoStore too)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from channels import Contact
from storage import Order, Store
from storage.embedded import EmbeddedStore

VENDOR = "bench-note"
STATUSES = ("paid", "paid", "expired", "reserved")  # three of four orders of a live end up paid or expired


async def fill(store: Store, n: int, start: float) -> None:
    for i in range(n):
        await store.save_order(Order(
            id=f"bn-{i}", vendor_id=VENDOR, conversation_id=f"c{i}", contact=Contact(address=f"+22177{i:07d}"),
            channel="whatsapp", product_code="ROBE1", product_name="Robe", quantity=1 + i % 2, unit_price=15000,
            status=STATUSES[i % len(STATUSES)], created_at=start + i))  # type: ignore[arg-type]


async def timed(call, runs: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    samples, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = await call()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), result


async def measure(store: Store, n: int, runs: int) -> dict[str, object]:
    start = 1_000_000.0
    await fill(store, n, start)

    async def read_all() -> tuple[int, int]:
        paid = [o for o in await store.vendor_orders(VENDOR, since=start) if o.status == "paid"]
        return len(paid), sum(o.total for o in paid)

    before_ms, before = await timed(read_all, runs)
    after_ms, after = await timed(lambda: store.vendor_paid_totals(VENDOR, since=start), runs)
    assert before == after, (before, after)
    return {"orders": n, "read_all_ms": round(before_ms, 2), "aggregate_ms": round(after_ms, 2),
            "speedup": round(before_ms / after_ms, 1)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddedStore(Path(tmp))
        await store.start()
        try:
            out["embedded"] = await measure(store, args.orders, args.runs)
        finally:
            await store.close()
    if os.environ.get("MONGODB_URI"):
        from storage.mongo import MongoStore

        mongo = MongoStore(os.environ["MONGODB_URI"], "palabre_bench_note")  # same ids each run: no growth
        await mongo.start()
        try:
            out["mongo"] = await measure(mongo, args.orders, args.runs)
        finally:
            await mongo.close()
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
