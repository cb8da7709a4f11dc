"""Partitioned work across processes: lease this process's fair share of the stream partitions, read them
in order, run each conversation's events one at a time, acknowledge what is done, take over the dead's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable

from channels import Event
from storage.coordination import Coordinator, LockTimeout
from storage.streams import Entry, Lease, StreamBus

log = logging.getLogger("palabre.partitions")

# What one read may bring back, and how long it waits for new entries before looking at leases again.
READ_COUNT = 256
READ_BLOCK_MS = 200
# Entries that are queued locally but not yet done, beyond which reading pauses (back-pressure).
MAX_QUEUED = 4096
# A stream consumer idle this many lease ttls with nothing pending is a process gone for good: its name
# is deleted from the partitions this process leases, checked as often.
DEAD_AFTER_TTLS = 10

# Events appended to a leased partition and kept for this process's read of them; past this many (entries
# never read, e.g. trimmed away) the read decodes them from the stream as any other.
LOCAL_MAX = 4096

# Run one event to its end (committed, dead-lettered, or abandoned because `lease.lost`); never raises.
Processor = Callable[[Event, Lease], Awaitable[None]]


class PartitionWorker:
    """Consumes the partitions this process leases.

    Ordering: a partition's entries are read in stream order and each conversation's go through one
    local queue, so one buyer's events run one at a time, in the order their webhooks appended them,
    whichever process received them. Other conversations of the partition run in parallel.

    Ownership: every `lease_ttl / 3` the process renews its leases, says it is alive, and balances:
    it takes free partitions up to its fair share (ceil(partitions / live processes)) and gives back
    the ones above it once their queued work is done. A lease found gone stops the partition here at
    once (queued events are left pending for the new owner); a partition taken over starts with
    `claim` (XAUTOCLAIM of the previous owner's pending entries) and reads that pending list before
    any new entry, so the order survives a takeover.

    Local hand-over: an event this process appended to a partition it leases is kept in memory and handed
    to its own read of that entry, which still comes in stream order, after every earlier entry (other
    processes' too). The stream and the group's pending list stay the durable record and the path of every
    other reader (a takeover claims the entry as before); the turn still checks the event is unprocessed.
    """

    def __init__(self, bus: StreamBus, process: Processor) -> None:
        self.bus = bus
        self.process = process
        self.leases: dict[int, Lease] = {}
        self._queues: dict[str, deque[tuple[Entry, Event]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._queued = 0
        self._changed = asyncio.Event()
        # Partitions of the read in flight: a blocked XREADGROUP still hands their new entries to this
        # consumer, so they are released only once it has returned and its entries have been run.
        self._reading: frozenset[int] = frozenset()

    @property
    def busy(self) -> int:
        return len(self._queues)

    async def start(self) -> None:
        await self.bus.ensure_groups()
        await self._balance()
        self._loops = [asyncio.create_task(self._lease_loop()), asyncio.create_task(self._read_loop())]

    async def stop(self) -> None:
        """Stop reading, let running turns end (bounded), release the leases for the others."""
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10)
        for task in set(self._tasks):
            task.cancel()
        for lease in list(self.leases.values()):
            with contextlib.suppress(Exception):
                await self.bus.release_lease(lease)
        self.leases.clear()
        with contextlib.suppress(Exception):
            await self.bus.leave()

    async def idle(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks and loop.time() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - loop.time()))

    def appended(self, partition: int, entry_id: str, event: Event) -> None:
        """This process appended `event` as `entry_id`: if it leases the partition, the event is kept for its
        read of that entry, which then needs no decoding. The entry is still read in stream order."""
        lease = self.leases.get(partition)
        if lease is None or lease.lost or lease.draining or _id_order(entry_id) <= lease.read_upto:
            return  # not ours to read, or read back before its append's reply came (decoded already)
        if len(lease.local) >= LOCAL_MAX:
            _prune(lease)
        if len(lease.local) < LOCAL_MAX:
            lease.local[entry_id] = event

    # leases
    async def _lease_loop(self) -> None:
        loop = asyncio.get_running_loop()
        dead_after = self.bus.lease_ttl * DEAD_AFTER_TTLS
        last_cleanup = loop.time()
        while True:
            await asyncio.sleep(self.bus.lease_ttl / 3)
            try:
                await self._balance()
                if loop.time() - last_cleanup >= dead_after:
                    last_cleanup = loop.time()
                    removed = await self.bus.remove_dead_consumers(sorted(self.leases), dead_after)
                    if removed:
                        log.info("removed %d dead stream consumer(s) from this process's partitions", removed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("partition leases could not be renewed (%s); retrying", type(exc).__name__)
                self._expire_unrenewed()
                if "NOGROUP" in str(exc):  # Redis came back empty: streams and group are gone
                    with contextlib.suppress(Exception):
                        await self.bus.ensure_groups()

    async def _balance(self) -> None:
        leases = list(self.leases.values())
        kept = await self.bus.renew_leases(leases)
        now = asyncio.get_running_loop().time()
        for lease, ok in zip(leases, kept, strict=True):
            if ok:
                lease.renewed = now
            else:
                self._drop(lease, "lost")
        alive = await self.bus.heartbeat()
        share = math.ceil(self.bus.partitions / max(1, alive))
        if len(self.leases) > share:
            await self._give_back(len(self.leases) - share)
        free = [p for p in range(self.bus.partitions) if p not in self.leases]
        random.shuffle(free)
        for p in free:
            if len(self.leases) >= share:
                break
            lease = await self.bus.take_lease(p)
            if lease is None:
                continue
            lease.renewed = now
            try:
                claimed = await self.bus.claim(p)
            except Exception:
                # Not ours to read before the previous owner's pending entries are: give it back.
                with contextlib.suppress(Exception):
                    await self.bus.release_lease(lease)
                raise
            if claimed:
                log.warning("partition %d taken over with %d pending entries (fence %d)", p, claimed, lease.fence)
            self.leases[p] = lease
            self._changed.set()

    def _expire_unrenewed(self) -> None:
        """Redis unreachable: a lease not renewed for its ttl may be someone else's by now."""
        now = asyncio.get_running_loop().time()
        for lease in list(self.leases.values()):
            if now - lease.renewed >= self.bus.lease_ttl:
                self._drop(lease, "unrenewed")

    async def _give_back(self, extra: int) -> None:
        """Stop reading `extra` partitions; each is released once its queued work is done."""
        for lease in sorted(self.leases.values(), key=lambda lease: len(lease.inflight))[:extra]:
            lease.draining = True
        self._release_drained()

    def _release_drained(self) -> None:
        """Release the given-back partitions with no queued work that no read in flight still covers."""
        for lease in list(self.leases.values()):
            if lease.draining and not lease.inflight and lease.partition not in self._reading:
                self.leases.pop(lease.partition, None)
                self._spawn(self._release(lease))

    def _drop(self, lease: Lease, why: str) -> None:
        lease.lost = True
        self.leases.pop(lease.partition, None)
        log.warning("partition %d lease %s (fence %d): its pending work is left to the next owner",
                    lease.partition, why, lease.fence)

    # reading
    async def _read_loop(self) -> None:
        failures = 0
        while True:
            cursors = {p: lease.cursor for p, lease in self.leases.items() if not lease.draining}
            if not cursors or self._queued >= MAX_QUEUED:
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), READ_BLOCK_MS / 1000)
                continue
            self._reading = frozenset(cursors)
            try:
                entries = await self.bus.read(cursors, READ_COUNT, READ_BLOCK_MS)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.warning("reading the partitions failed (%s); retrying", type(exc).__name__)
                if "NOGROUP" in str(exc):
                    with contextlib.suppress(Exception):
                        await self.bus.ensure_groups()
                await asyncio.sleep(min(2.0, 0.05 * 2 ** min(failures, 6)))
                continue
            finally:
                self._reading = frozenset()
            for entry in entries:
                self._accept(entry)
            self._release_drained()

    def _accept(self, entry: Entry) -> None:
        lease = self.leases.get(entry.partition)
        if lease is None or lease.lost:
            return
        if not entry.id:
            lease.cursor = ">"  # the pending list is read through: new entries from now on
            return
        if lease.cursor != ">":
            lease.cursor = entry.id
        if entry.id in lease.inflight:
            return
        if lease.cursor == ">":
            lease.read_upto = max(lease.read_upto, _id_order(entry.id))
        event = lease.local.pop(entry.id, None)
        if event is None:
            try:
                event = Event.model_validate_json(entry.payload)
            except ValueError:
                # The store holds the event: a turn that cannot be read from the stream is run from there.
                log.error("partition %d entry %s is unreadable; acknowledged (the stored event stays "
                          "unprocessed)", entry.partition, entry.id)
                self._spawn(self.bus.ack(entry.partition, [entry.id]))
                return
        lease.inflight.add(entry.id)
        self._queued += 1
        key = event.conversation_key
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            self._spawn(self._drain(key, queue))
        queue.append((entry, event))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, key: str, queue: deque[tuple[Entry, Event]]) -> None:
        try:
            while queue:
                entry, event = queue[0]
                lease = self.leases.get(entry.partition)
                if lease is not None and not lease.lost:
                    await self.process(event, lease)
                    if not lease.lost:
                        await self._ack(lease, entry)
                self._done(entry)
                queue.popleft()
        finally:
            for entry, _ in queue:
                self._done(entry)
            self._queues.pop(key, None)

    async def _ack(self, lease: Lease, entry: Entry) -> None:
        for attempt in range(5):
            try:
                await self.bus.ack(entry.partition, [entry.id])
                return
            except Exception as exc:
                log.warning("ack of partition %d entry %s failed (%s)", entry.partition, entry.id, type(exc).__name__)
                await asyncio.sleep(0.1 * 2 ** attempt)
        # Left pending: whoever reads it again finds the event processed and only acknowledges it.

    def _done(self, entry: Entry) -> None:
        self._queued -= 1
        lease = self.leases.get(entry.partition)
        if lease is None:
            return
        lease.inflight.discard(entry.id)
        if lease.draining:
            self._release_drained()
        if self._queued < MAX_QUEUED:
            self._changed.set()

    async def _release(self, lease: Lease) -> None:
        try:
            await self.bus.release_lease(lease)
        except Exception as exc:
            log.warning("partition %d could not be released (%s); it expires", lease.partition, type(exc).__name__)


def _id_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _prune(lease: Lease) -> None:
    """Forget the events kept for entries read already (an entry trimmed from the stream is never read)."""
    for entry_id in [e for e in lease.local if _id_order(e) <= lease.read_upto]:
        del lease.local[entry_id]


async def only_one(coordinator: Coordinator, name: str, job: Callable[[], Awaitable[object]]) -> None:
    """Run `job` unless another process is running it right now (a sweep done once cluster-wide)."""
    try:
        async with coordinator.lock(f"sweep:{name}", ttl=30.0, wait=0):
            await job()
    except LockTimeout:
        return
