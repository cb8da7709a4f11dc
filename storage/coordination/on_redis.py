"""Coordination across processes on one Redis: locks with heartbeats, de-dup marks, token buckets, cache."""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Awaitable
from contextlib import AbstractAsyncContextManager
from types import TracebackType

import redis.asyncio as aioredis

from storage.coordination.base import Coordinator, HeldLock, LockTimeout, _check_bucket, _check_ttl, _for_log, _ms
from storage.coordination.in_process import _KeyedLocks
from storage.redis_batch import AutoPipeline
from storage.redis_scripts import BUCKET_LUA, CLAIM_TAKE_LUA, RELOCK_LUA, RENEW_LUA, UNLOCK_LUA

# The logger of the package, as before the split: operators filter on it.
logger = logging.getLogger("storage.coordination")


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
        await self.batch.close()
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
