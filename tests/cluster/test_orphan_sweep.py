"""Events left unprocessed past a minute are appended again once cluster-wide, not once per process (issue 11 §2)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import redis.asyncio as aioredis

from bot.pipeline.requeue import ORPHAN_AGE, StreamIntake
from channels import Contact, Event
from storage.coordination.on_redis import RedisCoordinator
from storage.embedded import EmbeddedStore
from storage.streams import StreamBus

PARTITIONS = 2


async def test_three_processes_append_a_slow_backlog_again_once_a_minute_not_three_times(
        redis_url: str, tmp_path: Path) -> None:
    # Every process ran the one-minute sweep of unprocessed events on its own clock: under a backlog (FerretDB's
    # stock lock letting one reservation through at a time) three processes appended the same 100–170 queued
    # events three times a minute, each copy then costing a processed-check — and the backlog grew.
    prefix = f"palabre-test-orphans-{uuid.uuid4().hex[:8]}:"
    store = EmbeddedStore(tmp_path / "data")
    await store.start()
    old = time.time() - ORPHAN_AGE - 5
    backlog = [Event(id=f"tg:{i}", channel="telegram", provider="telegram", vendor_id="shop",
                     contact=Contact(address=str(100_000 + i)), text="ROBE1", received_at=old) for i in range(12)]
    fresh = Event(id="tg:new", channel="telegram", provider="telegram", vendor_id="shop",
                  contact=Contact(address="100999"), text="ROBE1")
    await store.add_events([*backlog, fresh])
    buses = [StreamBus(redis_url, partitions=PARTITIONS, prefix=prefix) for _ in range(3)]
    coordinators = [RedisCoordinator(redis_url, prefix=prefix) for _ in range(3)]

    async def hold_on(event: Event) -> bool:
        return True

    intakes = [StreamIntake(bus, store, coordinator, hold_on) for bus, coordinator in zip(buses, coordinators,
                                                                                         strict=True)]
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        appended = [await intake.sweep_orphans() for intake in intakes]
        assert sorted(appended) == [0, 0, len(backlog)], appended  # the young event is left to its own append
        entries = sum([await client.xlen(buses[0].stream(p)) for p in range(PARTITIONS)])
        assert entries == len(backlog)
    finally:
        await client.aclose()
        for bus in buses:
            await bus.close()
        for coordinator in coordinators:
            await coordinator.close()
        await store.close()
