"""The coordination contract every backend keeps, its errors and the argument checks they share."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager

from channels.base import mask_address


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
