"""Cross-process coordination: per-key locks, de-duplication, token buckets and a small TTL cache."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Generic, TypeVar

import redis.asyncio as aioredis

from channels.base import mask_address
from storage.redis_batch import AutoPipeline
from storage.redis_scripts import BUCKET_LUA, CLAIM_TAKE_LUA, RELOCK_LUA, RENEW_LUA, UNLOCK_LUA

__all__ = [
    "Coordinator",
    "HeldLock",
    "InProcessCoordinator",
    "LockLost",
    "LockTimeout",
    "RedisCoordinator",
    "coordinator_from_url",
]

logger = logging.getLogger(__name__)

_V = TypeVar("_V")


class LockTimeout(TimeoutError):
    """A lock was not acquired within its `wait` seconds."""


class LockLost(TimeoutError):
    """A held lock expired or was taken over: another process may be in the critical section."""


class HeldLock:
    """What `async with coordinator.lock(key) as held` gives: whether the lock is still ours.

    Check `held.lost` (or call `held.check()`) before a write the lock protects.
    """

    __slots__ = ("key", "lost")

    def __init__(self, key: str) -> None:
        self.key = key
        self.lost = False

    def check(self) -> None:
        """Raise LockLost if the lock was lost since it was acquired."""
        if self.lost:
            raise LockLost(f"lock {_for_log(self.key)} was lost while held")


def _for_log(key: str) -> str:
    """A lock key fit for logs: conversation keys end with the buyer's address, which is masked."""
    head, sep, tail = key.rpartition(":")
    return head + sep + mask_address(tail)


def _check_ttl(ttl: float) -> None:
    if not ttl > 0:
        raise ValueError(f"ttl must be > 0 seconds, got {ttl!r}")


def _check_bucket(rate: float, burst: int, tokens: int) -> None:
    if not rate > 0:
        raise ValueError(f"rate must be > 0 tokens per second, got {rate!r}")
    if burst < 1:
        raise ValueError(f"burst must be >= 1, got {burst!r}")
    if not 1 <= tokens <= burst:
        raise ValueError(f"tokens must be between 1 and burst ({burst}), got {tokens!r}")


def _ms(seconds: float) -> int:
    """Seconds as whole milliseconds for Redis PX, rounded up and never below 1."""
    return max(1, math.ceil(seconds * 1000))


class Coordinator(ABC):
    """Coordination primitives shared by every process using the same backend.

    All methods are coroutine-safe: any number of tasks of one event loop may call them
    concurrently. An instance belongs to the event loop it is first used on.
    """

    @abstractmethod
    def lock(self, key: str, *, ttl: float = 30.0, wait: float = 30.0) -> AbstractAsyncContextManager[HeldLock]:
        """Mutual exclusion on `key` (e.g. one conversation) across every process sharing the backend.

        Use as `async with coordinator.lock(key) as held: ...`; the returned object is single-use.
        Raises LockTimeout (a TimeoutError) if not acquired within `wait` seconds (`wait <= 0`
        tries once). Waiters of one process are served first come, first served; across
        processes there is no ordering guarantee. The Redis lock expires `ttl` seconds after its
        holder's last renewal, so a killed process cannot hold it forever, while a live holder
        renews it every `ttl / 3` seconds for as long as the critical section runs. If a renewal
        finds the lock gone (Redis unreachable for `ttl`, or the key taken over), `held.lost`
        becomes True and a warning is logged: the holder must then not write what the lock guards.
        """

    @abstractmethod
    async def seen(self, key: str, ttl: float = 86400.0) -> bool:
        """De-dup: True if `key` was already marked; otherwise marks it for `ttl` seconds and returns False.

        Atomic (SET NX): of any number of concurrent callers with the same key, exactly one gets False.
        """

    @abstractmethod
    async def acquire_tokens(self, bucket: str, rate: float, burst: int, tokens: int = 1) -> float:
        """Token bucket of `burst` tokens refilled at `rate` tokens per second, starting full.

        Takes `tokens` and returns 0.0 if that many are available now; otherwise takes nothing and
        returns the seconds to wait before they will be (other takers may get there first). Atomic,
        and shared by all processes on Redis (one Lua script, clocked by the Redis server).
        Raises ValueError unless rate > 0 and 1 <= tokens <= burst.
        """

    async def claim_and_take(self, key: str, ttl: float, buckets: list[tuple[str, float, int]]) -> float | None:
        """Claim `key` as `seen` does and, when that claim is ours, take one token from each bucket
        (name, rate, burst), all or none: one step where `seen` then `acquire_tokens` would be several.

        None when `key` was claimed before (nothing taken). Otherwise the claim is ours for `ttl` seconds
        and the result is 0.0 once every token is taken, or the seconds to wait before each bucket has
        one (nothing taken; the caller goes on with `acquire_tokens`).
        """
        for _, rate, burst in buckets:
            _check_bucket(rate, burst, 1)
        if await self.seen(key, ttl):
            return None
        waits = [await self._tokens_wait(name, rate, burst) for name, rate, burst in buckets]
        if any(waits):
            return max(waits)
        for name, rate, burst in buckets:
            wait = await self.acquire_tokens(name, rate, burst)
            if wait:  # taken by another caller since: the ones already taken stay taken, as in two calls
                return wait
        return 0.0

    async def _tokens_wait(self, bucket: str, rate: float, burst: int) -> float:
        """Seconds until `bucket` has a token, taking nothing; 0.0 tells nothing (callers then take it)."""
        return 0.0

    @abstractmethod
    async def cache_get(self, key: str) -> str | None:
        """The value stored by `cache_set` under `key`, or None if absent or expired."""

    @abstractmethod
    async def cache_set(self, key: str, value: str, ttl: float) -> None:
        """Store `value` under `key` for `ttl` seconds (> 0), replacing any previous value."""

    @abstractmethod
    async def close(self) -> None:
        """Release backend resources. Locks still held are left to expire; the instance is unusable after."""


class _KeyedLocks:
    """One asyncio.Lock per key, created on first use and dropped as soon as nobody holds or awaits it."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[str, _KeyedEntry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def acquire(self, key: str, wait: float) -> None:
        """Acquire `key` (FIFO among local waiters) or raise LockTimeout after `wait` seconds."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _KeyedEntry()
        entry.users += 1
        if entry.users == 1:
            # Sole user: the lock is free with no waiters, so acquire() completes without suspending.
            await entry.lock.acquire()
            return
        try:
            async with asyncio.timeout(max(wait, 0.0)):
                await entry.lock.acquire()
        except TimeoutError:
            self._drop(key, entry)
            raise LockTimeout(f"lock {_for_log(key)} not acquired within {wait} s") from None
        except BaseException:
            self._drop(key, entry)
            raise

    def release(self, key: str) -> None:
        entry = self._entries[key]
        entry.lock.release()
        self._drop(key, entry)

    def _drop(self, key: str, entry: _KeyedEntry) -> None:
        entry.users -= 1
        if entry.users == 0:
            del self._entries[key]


class _KeyedEntry:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class _ExpiringDict(Generic[_V]):
    """A dict whose entries vanish at their expiry (monotonic clock); expired entries are purged as
    new ones are written, so memory stays proportional to the live entries."""

    __slots__ = ("_data", "_heap")

    def __init__(self) -> None:
        self._data: dict[str, tuple[float, _V]] = {}
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str, now: float) -> _V | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._data[key]
            return None
        return entry[1]

    def set(self, key: str, value: _V, expires: float, now: float) -> None:
        self._purge(now)
        self._data[key] = (expires, value)
        heapq.heappush(self._heap, (expires, key))
        if len(self._heap) > 2 * len(self._data) + 64:
            # Overwritten keys leave stale heap items behind; rebuild before they pile up.
            self._heap = [(exp, k) for k, (exp, _) in self._data.items()]
            heapq.heapify(self._heap)

    def clear(self) -> None:
        self._data.clear()
        self._heap.clear()

    def _purge(self, now: float) -> None:
        heap, data = self._heap, self._data
        while heap and heap[0][0] <= now:
            _, key = heapq.heappop(heap)
            entry = data.get(key)
            if entry is not None and entry[0] <= now:
                del data[key]


class InProcessCoordinator(Coordinator):
    """Coordinator for a single process: asyncio locks, in-memory de-dup marks, buckets and cache.

    `lock` ignores `ttl`: a holder cannot die without its process, and a holder that overruns keeps
    the lock (stricter than Redis, where the lock would expire). Memory is bounded by live state:
    lock entries are dropped when unused, expired marks and cache entries are purged on writes,
    and a bucket is forgotten once it has refilled (a full bucket and an absent one are the same).
    """

    def __init__(self) -> None:
        self._keyed_locks = _KeyedLocks()
        self._seen: _ExpiringDict[bool] = _ExpiringDict()
        self._cache: _ExpiringDict[str] = _ExpiringDict()
        self._buckets: _ExpiringDict[tuple[float, float]] = _ExpiringDict()

    def lock(self, key: str, *, ttl: float = 30.0, wait: float = 30.0) -> AbstractAsyncContextManager[HeldLock]:
        _check_ttl(ttl)
        return _InProcessLock(self._keyed_locks, key, wait)

    async def seen(self, key: str, ttl: float = 86400.0) -> bool:
        _check_ttl(ttl)
        now = time.monotonic()
        if self._seen.get(key, now):
            return True
        self._seen.set(key, True, now + ttl, now)
        return False

    async def acquire_tokens(self, bucket: str, rate: float, burst: int, tokens: int = 1) -> float:
        _check_bucket(rate, burst, tokens)
        now = time.monotonic()
        available = self._level(bucket, rate, burst, now)
        if available < tokens:
            return (tokens - available) / rate
        available -= tokens
        self._buckets.set(bucket, (available, now), now + (burst - available) / rate, now)
        return 0.0

    async def _tokens_wait(self, bucket: str, rate: float, burst: int) -> float:
        available = self._level(bucket, rate, burst, time.monotonic())
        return 0.0 if available >= 1 else (1 - available) / rate

    def _level(self, bucket: str, rate: float, burst: int, now: float) -> float:
        state = self._buckets.get(bucket, now)
        if state is None:
            return float(burst)
        level, stamp = state
        return min(float(burst), level + (now - stamp) * rate)

    async def cache_get(self, key: str) -> str | None:
        return self._cache.get(key, time.monotonic())

    async def cache_set(self, key: str, value: str, ttl: float) -> None:
        _check_ttl(ttl)
        now = time.monotonic()
        self._cache.set(key, value, now + ttl, now)

    async def close(self) -> None:
        self._seen.clear()
        self._cache.clear()
        self._buckets.clear()


class _InProcessLock(AbstractAsyncContextManager[HeldLock]):
    __slots__ = ("_key", "_keyed_locks", "_wait")

    def __init__(self, locks: _KeyedLocks, key: str, wait: float) -> None:
        self._keyed_locks = locks
        self._key = key
        self._wait = wait

    async def __aenter__(self) -> HeldLock:
        await self._keyed_locks.acquire(self._key, self._wait)
        return HeldLock(self._key)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._keyed_locks.release(self._key)


_POLL_FIRST = 0.001
_POLL_MAX = 0.02


class RedisCoordinator(Coordinator):
    """Coordinator shared by every process connected to one Redis (keys under `prefix`).

    Lock: `SET key token NX PX ttl` to acquire and a compare-and-delete script to release, so an
    uncontended lock costs one round trip each way. Waiters of one key inside this process queue
    on a local asyncio.Lock (FIFO, no Redis traffic) and only the head of that queue polls Redis,
    sleeping 1 ms growing to 20 ms between attempts. A Redis call already in flight is bounded by
    the client's socket timeout, not by `wait`. While held, a heartbeat task renews the lock every
    `ttl / 3` (compare-and-expire on the holder token); if the lock is found gone, or no renewal
    succeeded for `ttl`, the holder's `HeldLock.lost` is set and a warning logged. Its release then
    leaves any new holder alone. Release never raises on a Redis error (the critical section did
    run): it logs, and the lock expires after `ttl`.
    """

    def __init__(self, url: str, *, prefix: str = "palabre:") -> None:
        self._redis: aioredis.Redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._prefix = prefix
        self._keyed_locks = _KeyedLocks()
        self._unlock = self._redis.register_script(UNLOCK_LUA)
        self._renew = self._redis.register_script(RENEW_LUA)
        self._relock = self._redis.register_script(RELOCK_LUA)
        self._bucket = self._redis.register_script(BUCKET_LUA)
        self._claim_take = self._redis.register_script(CLAIM_TAKE_LUA)
        # De-dup marks, buckets and cache reads of concurrent tasks share round trips (locks do not:
        # their waits and heartbeats are timed per lock).
        self.batch = AutoPipeline(self._redis)
        self._token_prefix = secrets.token_hex(8) + ":"
        self._counter = itertools.count()
        self._cleanups: set[asyncio.Task[None]] = set()
        self._heartbeats: set[asyncio.Task[None]] = set()

    def lock(self, key: str, *, ttl: float = 30.0, wait: float = 30.0) -> AbstractAsyncContextManager[HeldLock]:
        _check_ttl(ttl)
        return _RedisLock(self, key, ttl, wait)

    async def seen(self, key: str, ttl: float = 86400.0) -> bool:
        _check_ttl(ttl)
        created = await self.batch.execute("SET", self._prefix + "seen:" + key, "1", "NX", "PX", _ms(ttl))
        return not created

    async def acquire_tokens(self, bucket: str, rate: float, burst: int, tokens: int = 1) -> float:
        _check_bucket(rate, burst, tokens)
        wait = await self.batch.script(self._bucket, [self._prefix + "bucket:" + bucket], [repr(rate), burst, tokens])
        return max(0.0, float(wait))

    async def claim_and_take(self, key: str, ttl: float, buckets: list[tuple[str, float, int]]) -> float | None:
        _check_ttl(ttl)
        args: list[object] = [_ms(ttl)]
        for _, rate, burst in buckets:
            _check_bucket(rate, burst, 1)
            args += [repr(rate), burst]
        keys = [self._prefix + "seen:" + key, *(self._prefix + "bucket:" + name for name, _, _ in buckets)]
        wait = float(await self.batch.script(self._claim_take, keys, args))
        return None if wait < 0 else wait

    async def cache_get(self, key: str) -> str | None:
        value: str | None = await self.batch.execute("GET", self._prefix + "cache:" + key)
        return value

    async def cache_set(self, key: str, value: str, ttl: float) -> None:
        _check_ttl(ttl)
        await self.batch.execute("SET", self._prefix + "cache:" + key, value, "PX", _ms(ttl))

    async def close(self) -> None:
        # Locks still held stop being renewed, so they expire after their ttl as for a dead process.
        for task in list(self._heartbeats):
            task.cancel()
        if self._heartbeats:
            await asyncio.gather(*self._heartbeats, return_exceptions=True)
        if self._cleanups:
            await asyncio.gather(*self._cleanups, return_exceptions=True)
        await self._redis.aclose()

    async def _acquire(self, key: str, ttl: float, wait: float) -> str:
        """Take the local then the Redis lock on `key`; returns the holder token."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        await self._keyed_locks.acquire(key, wait)
        try:
            name = self._prefix + "lock:" + key
            token = self._token_prefix + str(next(self._counter))
            px = _ms(ttl)
            if await self._guarded(name, token, self._redis.set(name, token, nx=True, px=px)):
                return token
            delay = _POLL_FIRST
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise LockTimeout(f"lock {_for_log(key)} not acquired within {wait} s")
                await asyncio.sleep(min(delay, remaining))
                delay = min(delay * 2, _POLL_MAX)
                if await self._guarded(name, token, self._relock(keys=[name], args=[token, px])):
                    return token
        except BaseException:
            self._keyed_locks.release(key)
            raise

    def _start_heartbeat(self, held: HeldLock, token: str, ttl: float) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._heartbeat(held, token, ttl))
        self._heartbeats.add(task)
        task.add_done_callback(self._heartbeats.discard)
        return task

    async def _heartbeat(self, held: HeldLock, token: str, ttl: float) -> None:
        """Renew the lock every ttl/3 until cancelled; mark it lost if it is gone or stays unrenewed for ttl."""
        loop = asyncio.get_running_loop()
        name, px = self._prefix + "lock:" + held.key, _ms(ttl)
        renewed = loop.time()
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                still_ours = bool(await self._renew(keys=[name], args=[token, px]))
            except Exception as exc:
                if loop.time() - renewed < ttl:
                    logger.warning("could not renew lock %s (%s); retrying", _for_log(held.key), exc)
                    continue
                still_ours = False
            if not still_ours:
                held.lost = True
                logger.warning("lock %s was lost while held: another process may run the same critical "
                               "section", _for_log(held.key))
                return
            renewed = loop.time()

    async def _release(self, key: str, token: str, held: HeldLock | None = None) -> None:
        name = self._prefix + "lock:" + key
        try:
            released = await self._guarded(name, token, self._unlock(keys=[name], args=[token]))
        except Exception:
            logger.warning("could not release lock %s; it will expire after its ttl", _for_log(key),
                           exc_info=True)
            return
        finally:
            self._keyed_locks.release(key)
        if not released and not (held and held.lost):
            logger.warning("lock %s was no longer held at release: its critical section outlived ttl",
                           _for_log(key))

    async def _guarded(self, name: str, token: str, call: Awaitable[object]) -> bool:
        """Await a lock command; if it fails or is cancelled mid-flight it may still have taken effect on
        the server, so drop our token from `name` in the background before re-raising."""
        try:
            return bool(await call)
        except BaseException:
            task = asyncio.get_running_loop().create_task(self._drop_token(name, token))
            self._cleanups.add(task)
            task.add_done_callback(self._cleanups.discard)
            raise

    async def _drop_token(self, name: str, token: str) -> None:
        try:
            await self._unlock(keys=[name], args=[token])
        except Exception:
            logger.warning("could not clear lock %s after a failed call; it will expire after its ttl",
                           _for_log(name))


class _RedisLock(AbstractAsyncContextManager[HeldLock]):
    __slots__ = ("_coordinator", "_heartbeat", "_held", "_key", "_token", "_ttl", "_wait")

    def __init__(self, coordinator: RedisCoordinator, key: str, ttl: float, wait: float) -> None:
        self._coordinator = coordinator
        self._key = key
        self._ttl = ttl
        self._wait = wait
        self._token = ""
        self._held = HeldLock(key)
        self._heartbeat: asyncio.Task[None] | None = None

    async def __aenter__(self) -> HeldLock:
        self._token = await self._coordinator._acquire(self._key, self._ttl, self._wait)
        self._heartbeat = self._coordinator._start_heartbeat(self._held, self._token, self._ttl)
        return self._held

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            # gather, unlike awaiting the task, still raises if *this* task is being cancelled.
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        await self._coordinator._release(self._key, self._token, self._held)


def coordinator_from_url(url: str | None) -> Coordinator:
    """InProcessCoordinator for None or "", RedisCoordinator for redis://, rediss:// and unix:// URLs."""
    if not url:
        return InProcessCoordinator()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisCoordinator(url)
    raise ValueError(f"unsupported coordination URL {url!r}: expected redis://, rediss:// or unix://")
