"""Behaviour of the coordination backends: locks, de-dup, token buckets and cache, in-process and on Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from storage.coordination import (
    Coordinator,
    InProcessCoordinator,
    LockTimeout,
    RedisCoordinator,
    coordinator_from_url,
)

# Every Redis key written by these tests lives under this prefix, and only those keys are cleared
# between tests, so pointing REDIS_URL at a shared database never loses anyone else's data.
PREFIX = "palabre-test:"


async def _clear(url: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=PREFIX + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def _redis_keys(url: str, pattern: str) -> list[bytes]:
    client = aioredis.Redis.from_url(url)
    try:
        return [key async for key in client.scan_iter(match=PREFIX + pattern, count=1000)]
    finally:
        await client.aclose()


@pytest.fixture(params=["inprocess", "redis"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """None for the in-process coordinator, else the Redis URL (the server starts only if needed)."""
    if request.param == "inprocess":
        return None
    url: str = request.getfixturevalue("redis_url")
    return url


@pytest.fixture
async def coord(backend: str | None) -> AsyncIterator[Coordinator]:
    if backend is None:
        coordinator: Coordinator = InProcessCoordinator()
    else:
        await _clear(backend)
        coordinator = RedisCoordinator(backend, prefix=PREFIX)
    yield coordinator
    await coordinator.close()


@pytest.fixture
async def redis_pair(redis_url: str) -> AsyncIterator[tuple[RedisCoordinator, RedisCoordinator]]:
    """Two coordinators on one Redis, standing in for two server processes."""
    await _clear(redis_url)
    first = RedisCoordinator(redis_url, prefix=PREFIX)
    second = RedisCoordinator(redis_url, prefix=PREFIX)
    yield first, second
    await first.close()
    await second.close()


async def _bump_concurrently(coordinators: list[Coordinator], workers: int) -> tuple[int, int]:
    """`workers` tasks each add 1 to a shared counter with read-await-write under one lock, spread over
    `coordinators`; returns (final counter, most tasks ever inside the critical section at once)."""
    state = {"counter": 0, "inside": 0, "max_inside": 0}

    async def bump(coordinator: Coordinator) -> None:
        async with coordinator.lock("conversation-1", wait=10.0):
            state["inside"] += 1
            state["max_inside"] = max(state["max_inside"], state["inside"])
            value = state["counter"]
            await asyncio.sleep(0.0005)
            state["counter"] = value + 1
            state["inside"] -= 1

    async with asyncio.timeout(30):
        await asyncio.gather(*(bump(coordinators[i % len(coordinators)]) for i in range(workers)))
    return state["counter"], state["max_inside"]


async def test_lock_never_loses_an_update(coord: Coordinator) -> None:
    counter, max_inside = await _bump_concurrently([coord], 50)
    assert counter == 50
    assert max_inside == 1


async def test_different_keys_do_not_block_each_other(coord: Coordinator) -> None:
    async with coord.lock("conversation-a"):
        started = time.monotonic()
        async with coord.lock("conversation-b", wait=1.0):
            pass
        assert time.monotonic() - started < 1.0


async def test_lock_wait_timeout_raises_lock_timeout(coord: Coordinator) -> None:
    async with coord.lock("conversation-1"):
        started = time.monotonic()
        with pytest.raises(LockTimeout):
            async with coord.lock("conversation-1", wait=0.1):
                pytest.fail("acquired a lock that is held")
        elapsed = time.monotonic() - started
    assert 0.09 <= elapsed < 2.0
    assert issubclass(LockTimeout, TimeoutError)
    async with coord.lock("conversation-1", wait=1.0):
        pass


async def test_lock_is_released_when_the_body_raises(coord: Coordinator) -> None:
    with pytest.raises(RuntimeError):
        async with coord.lock("conversation-1"):
            raise RuntimeError("handler failed")
    async with coord.lock("conversation-1", wait=0.5):
        pass


async def test_unused_locks_leave_nothing_behind(coord: Coordinator, backend: str | None) -> None:
    for i in range(200):
        async with coord.lock(f"conversation-{i}"):
            pass
    async with coord.lock("busy"):
        with pytest.raises(LockTimeout):
            async with coord.lock("busy", wait=0.01):
                pass
        waiter = asyncio.create_task(coord.lock("busy", wait=10.0).__aenter__())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert len(coord._keyed_locks) == 0  # type: ignore[attr-defined]
    if backend is not None:
        assert await _redis_keys(backend, "lock:*") == []


async def test_lock_of_a_dead_holder_expires_after_ttl(
    redis_url: str, redis_pair: tuple[RedisCoordinator, RedisCoordinator]
) -> None:
    live = redis_pair[0]
    dead = RedisCoordinator(redis_url, prefix=PREFIX)
    await dead.lock("conversation-1", ttl=0.3).__aenter__()
    await dead.close()
    with pytest.raises(LockTimeout):
        async with live.lock("conversation-1", wait=0.05):
            pass
    started = time.monotonic()
    async with live.lock("conversation-1", wait=3.0):
        waited = time.monotonic() - started
    assert waited < 1.0


async def test_seen_is_true_only_after_the_first_time_until_ttl(coord: Coordinator) -> None:
    assert await coord.seen("wamid.1", ttl=0.2) is False
    assert await coord.seen("wamid.1", ttl=0.2) is True
    assert await coord.seen("wamid.2", ttl=0.2) is False
    await asyncio.sleep(0.35)
    assert await coord.seen("wamid.1", ttl=0.2) is False
    assert await coord.seen("wamid.1", ttl=0.2) is True


async def test_seen_marks_exactly_once_under_concurrency(coord: Coordinator) -> None:
    results = await asyncio.gather(*(coord.seen("wamid.3") for _ in range(20)))
    assert sorted(results) == [False] + [True] * 19


async def test_token_bucket_grants_burst_then_asks_to_wait_then_refills(coord: Coordinator) -> None:
    granted = [await coord.acquire_tokens("vendor-1", rate=10.0, burst=3) for _ in range(3)]
    assert granted == [0.0, 0.0, 0.0]
    wait = await coord.acquire_tokens("vendor-1", rate=10.0, burst=3)
    assert 0.0 < wait <= 0.11
    await asyncio.sleep(wait + 0.03)
    assert await coord.acquire_tokens("vendor-1", rate=10.0, burst=3) == 0.0


async def test_token_bucket_refusal_takes_nothing(coord: Coordinator) -> None:
    assert await coord.acquire_tokens("vendor-1", rate=10.0, burst=2, tokens=2) == 0.0
    wait = await coord.acquire_tokens("vendor-1", rate=10.0, burst=2, tokens=2)
    assert 0.15 < wait <= 0.21
    await asyncio.sleep(0.13)
    assert await coord.acquire_tokens("vendor-1", rate=10.0, burst=2, tokens=1) == 0.0


async def test_token_buckets_are_independent_and_validated(coord: Coordinator) -> None:
    assert await coord.acquire_tokens("vendor-1", rate=1.0, burst=1) == 0.0
    assert await coord.acquire_tokens("vendor-1", rate=1.0, burst=1) > 0.0
    assert await coord.acquire_tokens("vendor-2", rate=1.0, burst=1) == 0.0
    with pytest.raises(ValueError):
        await coord.acquire_tokens("vendor-3", rate=1.0, burst=2, tokens=3)
    with pytest.raises(ValueError):
        await coord.acquire_tokens("vendor-3", rate=0.0, burst=2)


async def test_cache_get_set_and_expiry(coord: Coordinator) -> None:
    assert await coord.cache_get("catalog:v1") is None
    await coord.cache_set("catalog:v1", "pagne wax", ttl=10.0)
    assert await coord.cache_get("catalog:v1") == "pagne wax"
    await coord.cache_set("catalog:v1", "bazin riche", ttl=0.2)
    assert await coord.cache_get("catalog:v1") == "bazin riche"
    await asyncio.sleep(0.35)
    assert await coord.cache_get("catalog:v1") is None


async def test_two_processes_share_locks(redis_pair: tuple[RedisCoordinator, RedisCoordinator]) -> None:
    first, second = redis_pair
    counter, max_inside = await _bump_concurrently([first, second], 50)
    assert counter == 50
    assert max_inside == 1
    async with first.lock("conversation-2"):
        with pytest.raises(LockTimeout):
            async with second.lock("conversation-2", wait=0.1):
                pass
    async with second.lock("conversation-2", wait=1.0):
        pass


async def test_two_processes_share_buckets_marks_and_cache(
    redis_pair: tuple[RedisCoordinator, RedisCoordinator],
) -> None:
    first, second = redis_pair
    assert await first.acquire_tokens("vendor-1", rate=1.0, burst=2) == 0.0
    assert await second.acquire_tokens("vendor-1", rate=1.0, burst=2) == 0.0
    assert await first.acquire_tokens("vendor-1", rate=1.0, burst=2) > 0.0
    assert await second.acquire_tokens("vendor-1", rate=1.0, burst=2) > 0.0
    assert await first.seen("wamid.1") is False
    assert await second.seen("wamid.1") is True
    await first.cache_set("catalog:v1", "attiéké", ttl=10.0)
    assert await second.cache_get("catalog:v1") == "attiéké"


async def test_coordinator_from_url(redis_url: str) -> None:
    assert isinstance(coordinator_from_url(None), InProcessCoordinator)
    assert isinstance(coordinator_from_url(""), InProcessCoordinator)
    remote = coordinator_from_url(redis_url)
    assert isinstance(remote, RedisCoordinator)
    await remote.close()
    with pytest.raises(ValueError):
        coordinator_from_url("memcached://127.0.0.1")
