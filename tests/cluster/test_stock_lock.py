"""The stock lock of stores whose updates are not atomic across processes (FerretDB; bot/pipeline/stock_lock.py),
taken by two processes' coordinators on one real Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.pipeline.stock_lock import stock_locked
from storage import Product
from storage.coordination import RedisCoordinator
from storage.embedded import EmbeddedStore


async def test_a_buyer_queued_on_the_stock_lock_for_over_30_s_keeps_its_place_and_gets_the_last_unit(
    tmp_path: Path, own_redis: str,
) -> None:
    # A live sale queues every buyer of a product on this one lock. A buyer who gave up after 30 s ran their whole
    # turn again from the back of the queue, and under load those re-runs slowed the queue until some buyers of the
    # three-process test were not answered in 7 minutes (tests/cluster/test_partitions.py).
    store = EmbeddedStore(tmp_path / "data")
    await store.start()
    ahead, buyer = RedisCoordinator(own_redis, prefix="stock-test:"), RedisCoordinator(own_redis, prefix="stock-test:")
    try:
        await store.sync_products([Product(vendor_id="shop", code="ROBE1", name="Robe", price=15000, stock=1)])
        async with ahead.lock("stock:shop:ROBE1"):  # the buyers ahead, in another process
            reserving = asyncio.create_task(stock_locked(store, buyer).reserve_stock("shop", "ROBE1", 1, "late"))
            await asyncio.sleep(31)
            assert not reserving.done(), reserving.exception()
        assert await asyncio.wait_for(reserving, 10)
        product = await store.get_product("shop", "ROBE1")
        assert product is not None and product.stock == 0
    finally:
        await ahead.close()
        await buyer.close()
        await store.close()
