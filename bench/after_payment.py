"""The adaptive part of a payment confirmation (first-buyer badge, complementary product) against a vendor
with many orders on the embedded store; prints one line.

    .venv/bin/python bench/after_payment.py [--orders 5000] [--payments 200]

The first payment of a window scans the vendor's orders once; the next ones should not (bot/buyers).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from bot.buyers.actions import first_paid_since
from bot.buyers.suggest import complementary
from channels import Contact
from storage import Order, Product
from storage.embedded import EmbeddedStore

PRODUCTS = 20


async def run(orders: int, payments: int) -> str:
    with tempfile.TemporaryDirectory(prefix="palabre-bench-") as folder:
        store = EmbeddedStore(folder)
        await store.start()
        try:
            await store.ensure_products([Product(vendor_id="v", code=f"P{i}", name=f"P{i}", price=1000, stock=50)
                                         for i in range(PRODUCTS)])
            now = time.time()
            made = []
            for i in range(orders):
                who = f"+2217700{i % max(1, orders // 3):05d}"
                order = Order(id=f"o{i}", vendor_id="v", conversation_id=f"v:web:{who}", contact=Contact(address=who),
                              channel="web", product_code=f"P{i % PRODUCTS}", product_name="x", quantity=1,
                              unit_price=1000, status="paid", created_at=now - 3000 + i * 0.01,
                              paid_at=now - 2990 + i * 0.01)
                await store.save_order(order)
                made.append(order)
            tags = {f"P{i}": ["t"] for i in range(PRODUCTS)}
            firsts, suggestions = [], []
            for order in made[-payments:]:
                t = time.perf_counter()
                await first_paid_since(store, "v", order, now - 3600)
                firsts.append(time.perf_counter() - t)
                t = time.perf_counter()
                await complementary(store, "v", order.contact.address, order.product_code, now, tags)
                suggestions.append(time.perf_counter() - t)
        finally:
            await store.close()
    ms = 1000
    return (f"after_payment orders={orders} payments={payments}: first-buyer first {firsts[0] * ms:.1f} ms, "
            f"median {statistics.median(firsts) * ms:.3f} ms; suggestion first {suggestions[0] * ms:.1f} ms, "
            f"median {statistics.median(suggestions) * ms:.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--payments", type=int, default=200)
    args = parser.parse_args()
    print(asyncio.run(run(args.orders, args.payments)))


if __name__ == "__main__":
    main()
