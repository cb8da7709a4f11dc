"""Redis Streams partitions shared by every process: appends, consumer-group reads, acks, leases, claims.

Kafka's partition model on Redis: one stream per partition, one consumer group ("palabre") over all of
them, and a lease per partition so that exactly one process consumes it at a time. A lease carries a
fencing token (a per-partition counter bumped on each grant), so a holder that lost it can tell.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

# Token-checked renew and release: the same scripts as the conversation locks.
from storage.coordination import _RENEW_LUA, _UNLOCK_LUA

__all__ = ["Entry", "Lease", "StreamBus", "partition_of"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

GROUP = "palabre"
# Bounded streams: acknowledged entries are trimmed away; the cap only bites on a backlog this deep,
# and an entry trimmed before it was read is still unprocessed in the store (see `recovery_due`).
STREAM_MAXLEN = 100_000

# KEYS[1] lease, KEYS[2] fence counter; ARGV[1] consumer, ARGV[2] ttl ms. Returns the fencing token, or 0.
_LEASE_LUA = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local fence = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], ARGV[1] .. '/' .. fence, 'PX', ARGV[2])
  return fence
end
return 0
"""


# KEYS[1] members zset; ARGV[1] consumer, ARGV[2] ttl ms. Clocked by the Redis server, so process clocks
# may disagree. Returns how many processes are alive (this one included).
_MEMBERS_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""


def partition_of(key: str, partitions: int) -> int:
    """The partition of a conversation key: stable across processes and restarts (not Python's hash)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


class _Coalesced(Generic[_T]):
    """Items submitted by concurrent callers go to Redis together: one pipeline in flight at a time, and
    whatever arrives meanwhile forms the next one. Under load that is one round trip for many webhooks
    (or acks) instead of one each; each caller still returns only once its own items are written, and
    items keep their submission order."""

    def __init__(self, flush: Callable[[list[_T]], Awaitable[None]]) -> None:
        self._flush = flush
        self._waiting: list[tuple[list[_T], asyncio.Future[None]]] = []
        self._running: asyncio.Task[None] | None = None

    async def submit(self, items: list[_T]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, future))
        if self._running is None:
            self._running = asyncio.ensure_future(self._run())
        await future

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    await self._flush([item for items, _ in batch for item in items])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._running = None


@dataclass
class Lease:
    """This process's hold on one partition. `lost` turns True once a renewal finds it gone."""

    partition: int
    fence: int
    value: str
    lost: bool = False
    # Where the next read of this partition starts: an id in our pending list, then ">" (new entries).
    cursor: str = "0-0"
    draining: bool = False
    inflight: set[str] = field(default_factory=set)
    renewed: float = 0.0  # event-loop time of the last successful renewal


@dataclass(frozen=True)
class Entry:
    partition: int
    id: str
    payload: str


class StreamBus:
    """The streams, group and leases under `prefix` on one Redis.

    Contract: `append` returns once Redis has the entries (XADD); entries of one partition are read
    in the order appended; an entry stays in the group's pending list until `ack`, so a process that
    dies leaves its unacknowledged entries to whoever takes its partitions over (`claim`).
    """

    def __init__(self, url: str, *, partitions: int = 64, prefix: str = "palabre:", lease_ttl: float = 10.0) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions!r}")
        if not lease_ttl > 0:
            raise ValueError(f"lease_ttl must be > 0 seconds, got {lease_ttl!r}")
        self.partitions = partitions
        self.lease_ttl = lease_ttl
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        self._prefix = prefix
        self._redis: aioredis.Redis = aioredis.Redis.from_url(url, decode_responses=True)
        # Blocking reads get a connection of their own, so they never hold up appends and acks.
        self._reader: aioredis.Redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._lease = self._redis.register_script(_LEASE_LUA)
        self._renew = self._redis.register_script(_RENEW_LUA)
        self._release = self._redis.register_script(_UNLOCK_LUA)
        self._members = self._redis.register_script(_MEMBERS_LUA)
        self._appends: _Coalesced[tuple[str, str]] = _Coalesced(self._append_now)
        self._acks: _Coalesced[tuple[int, str]] = _Coalesced(self._ack_now)

    def stream(self, partition: int) -> str:
        return f"{self._prefix}stream:{partition}"

    def partition_of(self, key: str) -> int:
        return partition_of(key, self.partitions)

    async def ensure_groups(self) -> None:
        """Create the consumer group on every partition (and the streams); existing ones are kept."""
        pipe = self._redis.pipeline(transaction=False)
        for p in range(self.partitions):
            pipe.xgroup_create(self.stream(p), GROUP, id="0", mkstream=True)
        for result in await pipe.execute(raise_on_error=False):
            if isinstance(result, ResponseError) and "BUSYGROUP" not in str(result):
                raise result

    async def recovery_due(self) -> bool:
        """True for exactly one caller per Redis lifetime: the streams are new (first start, or Redis came
        back empty), so events the store holds unprocessed must be appended again."""
        created = await self._redis.set(self._prefix + "streams:epoch", self.consumer, nx=True)
        return bool(created)

    async def append(self, items: list[tuple[str, str]]) -> None:
        """Append (conversation key, payload) items, each to its key's partition; returns once Redis has them.

        Concurrent calls share round trips, in the order they were made.
        """
        if items:
            await self._appends.submit(items)

    async def _append_now(self, items: list[tuple[str, str]]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for key, payload in items:
            pipe.xadd(self.stream(self.partition_of(key)), {"e": payload}, maxlen=STREAM_MAXLEN, approximate=True)
        await pipe.execute()

    async def read(self, cursors: dict[int, str], count: int, block_ms: int) -> list[Entry] | None:
        """Entries of the given partitions from their cursors ("0-0"…: our pending list; ">": new ones).

        A partition read from its pending list that has nothing more there is reported by an Entry with
        an empty id, so the caller moves its cursor on to ">".
        """
        streams = {self.stream(p): c for p, c in cursors.items()}
        reply = await self._reader.xreadgroup(GROUP, self.consumer, streams, count=count,
                                              block=block_ms if all(c == ">" for c in cursors.values()) else None)
        by_name = {self.stream(p): p for p in cursors}
        out: list[Entry] = []
        for name, messages in reply or []:
            p = by_name[name]
            if not messages and cursors[p] != ">":
                out.append(Entry(p, "", ""))
            for entry_id, fields in messages:
                # A pending entry trimmed from the stream comes back without fields: nothing to run.
                out.append(Entry(p, entry_id, (fields or {}).get("e", "")))
        return out

    async def ack(self, partition: int, entry_ids: list[str]) -> None:
        """Acknowledge and delete processed entries (they are in the store; the stream is only the queue).

        Concurrent calls share round trips.
        """
        if entry_ids:
            await self._acks.submit([(partition, i) for i in entry_ids])

    async def _ack_now(self, items: list[tuple[int, str]]) -> None:
        by_partition: dict[int, list[str]] = {}
        for partition, entry_id in items:
            by_partition.setdefault(partition, []).append(entry_id)
        pipe = self._redis.pipeline(transaction=False)
        for partition, ids in by_partition.items():
            pipe.xack(self.stream(partition), GROUP, *ids)
            pipe.xdel(self.stream(partition), *ids)
        await pipe.execute()

    async def claim(self, partition: int, limit: int = 10_000) -> int:
        """Make every pending entry of the partition ours (XAUTOCLAIM): a previous owner's unacknowledged
        work. Returns how many were claimed; entries deleted meanwhile are dropped from the pending list."""
        start, claimed = "0-0", 0
        while claimed < limit:
            reply = await self._redis.xautoclaim(self.stream(partition), GROUP, self.consumer, 0, start, count=500)
            start, messages = reply[0], reply[1]
            claimed += len(messages)
            if start == "0-0":
                break
        return claimed

    async def take_lease(self, partition: int) -> Lease | None:
        fence = int(await self._lease(keys=[self._lease_key(partition), self._lease_key(partition) + ":fence"],
                                      args=[self.consumer, self._ttl_ms()]))
        if not fence:
            return None
        return Lease(partition, fence, f"{self.consumer}/{fence}")

    async def renew_leases(self, leases: list[Lease]) -> list[bool]:
        """Extend each lease; False for each one found gone (expired, or taken over)."""
        if not leases:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for lease in leases:
            await self._renew(keys=[self._lease_key(lease.partition)], args=[lease.value, self._ttl_ms()],
                              client=pipe)
        return [bool(r) for r in await pipe.execute()]

    async def release_lease(self, lease: Lease) -> None:
        await self._release(keys=[self._lease_key(lease.partition)], args=[lease.value])

    async def heartbeat(self) -> int:
        """Say this process is alive; returns how many processes are."""
        return int(await self._members(keys=[self._prefix + "members"], args=[self.consumer, self._ttl_ms()]))

    async def leave(self) -> None:
        await self._redis.zrem(self._prefix + "members", self.consumer)

    async def close(self) -> None:
        await self._reader.aclose()
        await self._redis.aclose()

    def _lease_key(self, partition: int) -> str:
        return f"{self._prefix}lease:{partition}"

    def _ttl_ms(self) -> int:
        return max(1, int(self.lease_ttl * 1000))
