"""A store whose stock updates are serialised per product through the coordinator's lock.

Only for a store whose single-document updates are not atomic across connections (FerretDB v1, the CI
stand-in for MongoDB: docs/decisions.md "FerretDB in CI"); on MongoDB each conditional update is atomic
and this costs two Redis round trips for nothing.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, cast

from storage import Store
from storage.coordination import Coordinator, HeldLock

# A holder killed mid-change blocks the product this long at most (a live holder renews every third of it).
LOCK_TTL = 10.0
# A live sale queues every buyer on one product: a change waits its turn instead of timing out and running its
# whole turn again, which read the store again and slowed the queue it had left (docs/decisions.md).
LOCK_WAIT = 300.0


class _StockLocked:
    """Delegates everything to `store`, taking `stock:<vendor>:<code>` around each stock change."""

    def __init__(self, store: Store, coordinator: Coordinator) -> None:
        self._store = store
        self._coordinator = coordinator

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _product(self, vendor_id: str, code: str) -> AbstractAsyncContextManager[HeldLock]:
        return self._coordinator.lock(f"stock:{vendor_id}:{code}", ttl=LOCK_TTL, wait=LOCK_WAIT)

    async def reserve_stock(self, vendor_id: str, code: str, qty: int, hold_id: str) -> bool:
        async with self._product(vendor_id, code):
            return await self._store.reserve_stock(vendor_id, code, qty, hold_id)

    async def release_stock(self, vendor_id: str, code: str, hold_id: str) -> bool:
        async with self._product(vendor_id, code):
            return await self._store.release_stock(vendor_id, code, hold_id)

    async def consume_hold(self, vendor_id: str, code: str, hold_id: str) -> bool:
        async with self._product(vendor_id, code):
            return await self._store.consume_hold(vendor_id, code, hold_id)

    async def set_stock(self, vendor_id: str, code: str, stock: int) -> None:
        async with self._product(vendor_id, code):
            await self._store.set_stock(vendor_id, code, stock)


def stock_locked(store: Store, coordinator: Coordinator) -> Store:
    """`store` with its stock changes taken one at a time per product, across every process."""
    return cast(Store, _StockLocked(store, coordinator))
