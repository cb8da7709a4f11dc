"""Redis Streams partitions shared by every process: appends, consumer-group reads, acks, leases, claims.

Kafka's partition model on Redis: one stream per partition, one consumer group ("palabre") over all of
them, and a lease per partition so that exactly one process consumes it at a time. A lease carries a
fencing token (a per-partition counter bumped on each grant), so a holder that lost it can tell.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import secrets
import socket
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from channels import Event
from storage.redis_batch import AutoPipeline
from storage.redis_scripts import ACK_DEL_LUA, DEAD_CONSUMERS_LUA, LEASE_LUA, MEMBERS_LUA, RENEW_LUA, UNLOCK_LUA
from storage.waiters import settle

__all__ = ["Entry", "Lease", "StreamBus", "partition_of"]

log = logging.getLogger(__name__)

GROUP = "palabre"
# Bounded streams: acknowledged entries are trimmed away; the cap only bites on a backlog this deep,
# and an entry trimmed before it was read is still unprocessed in the store (see `recovery_due`).
STREAM_MAXLEN = 100_000
# Entry ids per acknowledging script call: Lua's unpack() takes a few thousand arguments at most.
ACK_CHUNK = 1000

@functools.lru_cache(maxsize=65_536)  # a buyer's key comes back with each of their messages
def partition_of(key: str, partitions: int) -> int:
    """The partition of a conversation key: stable across processes and restarts (not Python's hash)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


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
    # Events this process appended to the partition, by entry id, for its own read of the entry, and the last
    # entry id read with ">" (see PartitionWorker.appended).
    local: dict[str, Event] = field(default_factory=dict)
    read_upto: tuple[int, int] = (0, 0)


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

    def __init__(self, url: str, *, partitions: int = 64, prefix: str = "palabre:", lease_ttl: float = 10.0,
                 batch: AutoPipeline | None = None) -> None:
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
        self._reads = AutoPipeline(self._reader)
        self._lease = self._redis.register_script(LEASE_LUA)
        # Token-checked renew and release: the same scripts as the conversation locks.
        self._renew = self._redis.register_script(RENEW_LUA)
        self._release = self._redis.register_script(UNLOCK_LUA)
        self._members = self._redis.register_script(MEMBERS_LUA)
        self._dead_consumers = self._redis.register_script(DEAD_CONSUMERS_LUA)
        # Appends and acks share round trips with each other and, given the coordinator's `batch`, with
        # its delivery claims and token buckets: under load one write carries a whole loop tick's commands.
        self._own_batch = batch is None
        self._batch = batch or AutoPipeline(self._redis)
        self._names = [self.stream(p) for p in range(partitions)]
        self._encoded = [name.encode() for name in self._names]
        self._acking: tuple[dict[int, list[str]], list[asyncio.Future[None]]] | None = None

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

    async def append(self, items: list[tuple[str, str]]) -> list[str]:
        """Append (conversation key, payload) items, each to its key's partition; returns once Redis has them,
        with the entry ids, in the order of `items`.

        Concurrent calls share round trips, in the order they were made.
        """
        names, submit = self._names, self._batch.submit
        added = [submit("XADD", names[self.partition_of(key)], "MAXLEN", "~", STREAM_MAXLEN, "*", "e", payload)
                 for key, payload in items]
        if len(added) == 1:
            return [await added[0]]
        return list(await asyncio.gather(*added))

    async def read(self, cursors: dict[int, str], count: int, block_ms: int) -> list[Entry] | None:
        """Entries of the given partitions from their cursors ("0-0"…: our pending list; ">": new ones).

        A partition read from its pending list that has nothing more there is reported by an Entry with
        an empty id, so the caller moves its cursor on to ">".
        """
        names = self._names
        block = ("BLOCK", block_ms) if all(c == ">" for c in cursors.values()) else ()
        # Read on every leased partition at once: the stream names are most of the command, so they are
        # encoded once (`_encoded`), not on every read.
        reply = await self._reads.execute(
            "XREADGROUP", "GROUP", GROUP, self.consumer, "COUNT", count, *block, "STREAMS",
            *(self._encoded[p] for p in cursors), *cursors.values())
        by_name = {names[p]: p for p in cursors}
        out: list[Entry] = []
        # RESP3 (redis-py's default) answers a map of stream name to entries; RESP2 a list of pairs.
        for name, messages in reply.items() if isinstance(reply, dict) else reply or []:
            p = by_name[name]
            if not messages and cursors[p] != ">":
                out.append(Entry(p, "", ""))
            for entry_id, fields in messages:
                # A pending entry trimmed from the stream comes back without fields: nothing to run.
                out.append(Entry(p, entry_id, _field(fields, "e")))
        return out

    async def ack(self, partition: int, entry_ids: list[str]) -> None:
        """Acknowledge and delete processed entries (they are in the store; the stream is only the queue).

        Concurrent calls share round trips.
        """
        if not entry_ids:
            return
        loop = asyncio.get_running_loop()
        if self._acking is None:
            # The acks of one event-loop tick become one script call (XACK and XDEL) per partition.
            self._acking = ({}, [])
            loop.call_soon(self._flush_acks)
        by_partition, waiters = self._acking
        by_partition.setdefault(partition, []).extend(entry_ids)
        waiter: asyncio.Future[None] = loop.create_future()
        waiters.append(waiter)  # its own future (storage.waiters): a cancelled caller leaves the others' waits
        await waiter

    def _flush_acks(self) -> None:
        assert self._acking is not None
        (by_partition, waiters), self._acking = self._acking, None
        # EVAL, not EVALSHA: the script is short, and a Redis restarted empty never answers NOSCRIPT.
        commands = [self._batch.submit("EVAL", ACK_DEL_LUA, 1, self._names[partition], GROUP, *ids[i:i + ACK_CHUNK])
                    for partition, ids in by_partition.items() for i in range(0, len(ids), ACK_CHUNK)]
        asyncio.gather(*commands).add_done_callback(lambda result: _forward(result, waiters))

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

    async def remove_dead_consumers(self, partitions: list[int], idle: float) -> int:
        """Delete, on these partitions, the group's consumers idle for more than `idle` seconds with nothing
        pending: processes that died (or stopped) and whose entries were claimed since. Returns how many.

        Without this every process ever started stays listed in every stream it read, forever.
        """
        removed = 0
        for p in partitions:
            removed += int(await self._dead_consumers(keys=[self._names[p]],
                                                      args=[GROUP, max(1, int(idle * 1000)), self.consumer]))
        return removed

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
        await self._reads.close()
        if self._own_batch:
            await self._batch.close()
        await self._reader.aclose()
        await self._redis.aclose()

    def _lease_key(self, partition: int) -> str:
        return f"{self._prefix}lease:{partition}"

    def _ttl_ms(self) -> int:
        return max(1, int(self.lease_ttl * 1000))


def _field(fields: list[str] | None, name: str) -> str:
    """A field of a raw stream entry ([name, value, ...]); "" when absent."""
    if fields:
        for i in range(0, len(fields) - 1, 2):
            if fields[i] == name:
                return fields[i + 1]
    return ""


def _forward(result: asyncio.Future[object], waiters: list[asyncio.Future[None]]) -> None:
    """Settle the callers of one tick's acks as `result` went."""
    if result.cancelled():
        for waiter in waiters:
            waiter.cancel()
    else:
        settle(waiters, result.exception())
