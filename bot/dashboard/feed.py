"""Dashboard updates: a store whose order and stock changes announce "vendor V changed" on a live-update bus.

The announcement is a nudge, not the data: a dashboard that hears it reads the vendor's figures again.
Nudges are coalesced per vendor (at most one every `FLUSH_SECONDS`), so a live sale of hundreds of orders
a second costs a handful of publishes, never one per order. The bus is the inbox's mechanism
(bot/inbox/events.py: in-process, or Redis pub/sub across processes) on a channel of its own, so inbox
pages are not woken by sales.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterable
from typing import Any, cast

from bot.inbox.events import EventBus, RedisEventBus
from storage import Order, Product, Store
from storage.records import OrderStatus

log = logging.getLogger("palabre.dashboard")

CHANNEL = "palabre:dashboard:events"
FLUSH_SECONDS = 0.2
UPDATE = "dashboard"


class Feed:
    """Collects the vendors whose orders or stock changed in this process and publishes them, coalesced."""

    def __init__(self, redis_url: str | None) -> None:
        self.bus: EventBus = RedisEventBus(redis_url, CHANNEL) if redis_url else EventBus()
        self._dirty: set[str] = set()
        self._flush: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.bus.start()

    async def stop(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        await self._publish()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2)
        await self.bus.close()

    def touched(self, vendor_id: str) -> None:
        """Note that a vendor's orders or stock changed; published within `FLUSH_SECONDS`."""
        self._dirty.add(vendor_id)
        if self._flush is None:
            with contextlib.suppress(RuntimeError):  # no running loop: a store used outside the server
                self._flush = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._spawn)

    def _spawn(self) -> None:
        self._flush = None
        task = asyncio.get_running_loop().create_task(self._publish())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self) -> None:
        vendors, self._dirty = self._dirty, set()
        for vendor_id in sorted(vendors):
            try:
                await self.bus.publish({"type": UPDATE, "vendor": vendor_id, "origin": os.getpid()})
            except Exception:  # a dashboard that misses a nudge catches up on the next one or its next load
                log.exception("dashboard update of vendor=%s not published", vendor_id)

    def watch(self, store: Store) -> Store:
        """`store`, announcing its order and stock changes here."""
        return cast(Store, _Watched(store, self))


class _Watched:
    """Delegates everything to the store; the writes that move a dashboard figure also nudge the feed."""

    def __init__(self, store: Store, feed: Feed) -> None:
        self._store = store
        self._feed = feed

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if callable(value):  # kept on the wrapper: the next call of a store method skips this lookup
            self.__dict__[name] = value
        return value

    async def save_order(self, order: Order) -> None:
        await self._store.save_order(order)
        self._feed.touched(order.vendor_id)

    async def transition_order(self, order_id: str, from_statuses: Iterable[OrderStatus], to_status: OrderStatus,
                               **fields: object) -> Order | None:
        order = await self._store.transition_order(order_id, from_statuses, to_status, **fields)
        if order is not None:
            self._feed.touched(order.vendor_id)
        return order

    async def reserve_stock(self, vendor_id: str, code: str, qty: int, hold_id: str) -> bool:
        taken = await self._store.reserve_stock(vendor_id, code, qty, hold_id)
        if taken:
            self._feed.touched(vendor_id)
        return taken

    async def release_stock(self, vendor_id: str, code: str, hold_id: str) -> bool:
        released = await self._store.release_stock(vendor_id, code, hold_id)
        if released:
            self._feed.touched(vendor_id)
        return released

    async def set_stock(self, vendor_id: str, code: str, stock: int) -> None:
        await self._store.set_stock(vendor_id, code, stock)
        self._feed.touched(vendor_id)

    async def sync_products(self, products: Iterable[Product]) -> None:
        products = list(products)
        await self._store.sync_products(products)
        for vendor_id in {p.vendor_id for p in products}:
            self._feed.touched(vendor_id)
