"""Coordination inside one process: asyncio locks, in-memory de-dup marks, token buckets and cache."""

from __future__ import annotations

import asyncio
import heapq
import time
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Generic, TypeVar

from storage.coordination.base import Coordinator, HeldLock, LockTimeout, _check_bucket, _check_ttl, _for_log

_V = TypeVar("_V")


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
