"""MongoStore's single-process lease (no Redis to coordinate) and the FerretDB-safe layout of stock holds."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import mongomock_motor
import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from storage.mongo import MongoStore, StoreLeaseHeld
from storage.records import Product
from tests.conftest import MONGO_KIND, ROOT, mongo_test_uri

needs_server = pytest.mark.skipif(MONGO_KIND == "mongomock", reason="another process needs a MongoDB server")

StoreFactory = Callable[..., MongoStore]


@pytest.fixture
async def same_database() -> AsyncIterator[tuple[StoreFactory, str, Any]]:
    """Build MongoStores that all open one fresh database (as several processes would); and that
    database through a client of its own, to write what an older version left behind."""
    name = f"palabre_test_{uuid.uuid4().hex}"
    mock = mongomock_motor.AsyncMongoMockClient() if MONGO_KIND == "mongomock" else None
    raw = mock if mock is not None else AsyncIOMotorClient(mongo_test_uri())

    def build(**options: object) -> MongoStore:
        if mock is not None:
            return MongoStore("", name, client=mock, **options)  # type: ignore[arg-type]
        return MongoStore(mongo_test_uri(), name, **options)  # type: ignore[arg-type]

    yield build, name, raw[name]
    if mock is None:
        await raw.drop_database(name)
        raw.close()


async def test_second_store_without_redis_is_refused_naming_redis_url(same_database) -> None:
    build, _, _ = same_database
    first = build(single_process=True)
    await first.start()
    second = build(single_process=True)
    try:
        with pytest.raises(StoreLeaseHeld, match="REDIS_URL"):
            await second.start()
    finally:
        await second.close()
        await first.close()


async def test_closed_store_frees_the_database_at_once(same_database) -> None:
    build, _, _ = same_database
    first = build(single_process=True)
    await first.start()
    await first.close()
    second = build(single_process=True)
    await second.start()  # no wait for the 30-second lease to lapse
    await second.close()


async def test_stores_that_share_redis_take_no_lease(same_database) -> None:
    build, _, _ = same_database
    holder = build(single_process=True)
    await holder.start()
    tool = build()  # e.g. `palabre import-numbers`, or a process coordinated through Redis
    try:
        await tool.start()
    finally:
        await tool.close()
        await holder.close()


async def test_lease_is_renewed_while_the_process_lives(same_database) -> None:
    build, _, _ = same_database
    first = build(single_process=True, lease_ttl=0.6)
    await first.start()
    try:
        await asyncio.sleep(1.5)  # 2.5 lease lengths: only renewal keeps it
        second = build(single_process=True, lease_ttl=0.6)
        with pytest.raises(StoreLeaseHeld):
            await second.start()
        await second.close()
        assert first.fault() is None
    finally:
        await first.close()


async def test_process_that_lost_its_lease_reports_not_ready(same_database) -> None:
    build, _, raw = same_database
    frozen = build(single_process=True, lease_ttl=0.6)
    await frozen.start()
    try:
        # What a second process does once this one froze past its lease's expiry: it takes the lease.
        await raw["leases"].delete_many({})
        await raw["leases"].insert_one({"_id": "single-process", "owner": "other", "host": "other-host",
                                        "pid": 1, "expires_at": time.time() + 60})
        deadline = time.monotonic() + 5
        while frozen.fault() is None:
            assert time.monotonic() < deadline, "the lost lease went unnoticed"
            await asyncio.sleep(0.05)
        assert "lease lost" in frozen.fault()  # type: ignore[operator]
    finally:
        await frozen.close()
    assert (await raw["leases"].find_one({}))["owner"] == "other"  # closing did not free the other's lease


HOLDER = """
import asyncio, sys
from storage.mongo import MongoStore

async def main():
    store = MongoStore(sys.argv[1], sys.argv[2], single_process=True, lease_ttl=float(sys.argv[3]))
    await store.start()
    print("holding", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


@needs_server
async def test_killed_process_lease_lapses_and_another_takes_over(same_database) -> None:
    build, name, _ = same_database
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, mongo_test_uri(), name, "1.0"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(holder.stdout.readline), timeout=20)  # type: ignore[union-attr]
        assert line.strip() == "holding", line
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        early = build(single_process=True)
        with pytest.raises(StoreLeaseHeld, match="REDIS_URL"):
            await early.start()  # the dead holder's claim has not lapsed yet
        await early.close()
        deadline = time.monotonic() + 10
        while True:
            store = build(single_process=True)
            try:
                await store.start()
                break
            except StoreLeaseHeld:
                assert time.monotonic() < deadline, "the killed process's lease never lapsed"
                await asyncio.sleep(0.2)
            finally:
                await store.close()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)


async def test_hold_ids_with_dots_and_dollars_stay_separate(same_database) -> None:
    build, _, _ = same_database
    store = build()
    await store.start()
    try:
        await store.ensure_products([Product(vendor_id="v", code="WAX", name="Wax", price=100, stock=5)])
        assert await store.reserve_stock("v", "WAX", 1, "ord.1")
        assert await store.reserve_stock("v", "WAX", 2, "$ord")
        assert await store.reserve_stock("v", "WAX", 1, "ord%2E1")  # what "ord.1" escapes to, stays apart
        assert await store.release_stock("v", "WAX", "ord.1")
        assert not await store.consume_hold("v", "WAX", "ord.1")
        assert await store.consume_hold("v", "WAX", "$ord")
        assert (await store.get_product("v", "WAX")).stock == 5 - 2 - 1  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_holds_an_older_version_kept_in_an_array_survive_the_upgrade(same_database) -> None:
    build, _, raw = same_database
    old = build()
    await old.start()
    await old.ensure_products([Product(vendor_id="v", code="WAX", name="Wax", price=100, stock=3)])
    await raw["products"].update_one(  # the layout written before holds became a map
        {"vendor_id": "v", "code": "WAX"}, {"$set": {"holds": [{"id": "ord-1", "qty": 2}]}, "$unset": {"held": ""}}
    )
    await old.close()
    store = build()
    await store.start()
    try:
        assert await store.reserve_stock("v", "WAX", 2, "ord-1")  # already held: not taken twice
        assert (await store.get_product("v", "WAX")).stock == 3  # type: ignore[union-attr]
        assert await store.release_stock("v", "WAX", "ord-1")
        assert (await store.get_product("v", "WAX")).stock == 5  # type: ignore[union-attr]
    finally:
        await store.close()
