"""The Redis conversation lock is renewed while its holder works, and a lock lost anyway is reported."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from storage.coordination import LockLost, LockTimeout, RedisCoordinator

PREFIX = "palabre-test-renewal:"
KEY = "demo:whatsapp:+221770000001"


@pytest.fixture
async def pair(redis_url: str) -> AsyncIterator[tuple[RedisCoordinator, RedisCoordinator]]:
    """Two coordinators on one real Redis, standing in for two server processes."""
    client = aioredis.Redis.from_url(redis_url)
    keys = [k async for k in client.scan_iter(match=PREFIX + "*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()
    first = RedisCoordinator(redis_url, prefix=PREFIX)
    second = RedisCoordinator(redis_url, prefix=PREFIX)
    yield first, second
    await first.close()
    await second.close()


async def test_lock_is_renewed_while_a_long_turn_runs(pair: tuple[RedisCoordinator, RedisCoordinator]) -> None:
    first, second = pair
    async with asyncio.timeout(10):
        async with first.lock(KEY, ttl=0.3) as held:
            # The turn runs for more than three ttls; another process must keep waiting all along.
            with pytest.raises(LockTimeout):
                async with second.lock(KEY, ttl=0.3, wait=1.0):
                    pytest.fail("a second process took a lock whose holder was still working")
            assert not held.lost
            held.check()
        started = time.monotonic()
        async with second.lock(KEY, ttl=0.3, wait=2.0):
            assert time.monotonic() - started < 0.5


async def test_a_lock_lost_by_a_stalled_holder_is_reported(
    pair: tuple[RedisCoordinator, RedisCoordinator], redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = pair
    caplog.set_level(logging.WARNING, logger="storage.coordination")
    second_holds, second_done = asyncio.Event(), asyncio.Event()

    async def other_process() -> None:
        async with second.lock(KEY, ttl=5.0, wait=2.0):
            second_holds.set()
            await second_done.wait()

    client = aioredis.Redis.from_url(redis_url)
    try:
        async with asyncio.timeout(10):
            async with first.lock(KEY, ttl=0.3) as held:
                # The whole process stalls (a VM pause, a blocking call) past the ttl: nothing renews.
                time.sleep(0.5)
                other = asyncio.create_task(other_process())
                await second_holds.wait()
                while not held.lost:
                    await asyncio.sleep(0.01)
                with pytest.raises(LockLost):
                    held.check()
            # The stale holder's release left the new holder's lock alone.
            assert await client.exists(PREFIX + "lock:" + KEY) == 1
            second_done.set()
            await other
    finally:
        await client.aclose()
    assert any("lost" in r.getMessage() for r in caplog.records), caplog.text
    assert "+221770000001" not in caplog.text
