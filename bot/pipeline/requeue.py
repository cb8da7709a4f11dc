"""Partitioned mode's intake: durable events onto their stream partitions, and the safety net that puts
back what Redis refused, lost (restarted empty) or never got (a crash between store and append)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bot.pipeline.partitions import PartitionWorker
from channels import Event
from storage import Store
from storage.coordination import Coordinator
from storage.streams import StreamBus

log = logging.getLogger("palabre.pipeline")

# How often events Redis refused are tried again.
REQUEUE_INTERVAL = 0.5
# After how long an unprocessed event is assumed to have missed its stream and is appended again.
ORPHAN_AGE = 60.0
# The cluster-wide mark lasts a little less than ORPHAN_AGE, so the process that swept finds it gone when it next asks.
ORPHAN_SWEEP_SHARE = 0.9
# A buyer whose message waits this long for Redis is told to hold on (once).
HOLD_ON_AFTER = 2.0


def _items(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.conversation_key, e.model_dump_json()) for e in events]


class StreamIntake:
    """Appends events the store already holds to their partitions.

    Contract: `append` never raises for Redis' sake: the events are durable, so the caller acknowledges
    them, and those Redis refused are appended by `run` as soon as it answers. Appending an event twice
    is harmless (its second run finds it processed), so every recovery here errs on the side of twice.
    """

    def __init__(self, streams: StreamBus, store: Store, coordinator: Coordinator,
                 hold_on: Callable[[Event], Awaitable[bool]], worker: PartitionWorker | None = None) -> None:
        self.streams = streams
        self.worker = worker
        self.store = store
        self.coordinator = coordinator
        self.hold_on = hold_on
        self._unqueued: dict[str, tuple[Event, float]] = {}
        self._held_on: set[str] = set()

    async def append(self, events: list[Event], fresh: list[bool]) -> None:
        """Queue durable events. A repeat of an event still unprocessed is appended again: its first
        append may have failed, and a second run of it only finds it processed. This process's partition
        worker is told of each entry (`PartitionWorker.appended`)."""
        queued = [e for e, is_new in zip(events, fresh, strict=True) if is_new]
        for event, is_new in zip(events, fresh, strict=True):
            if not is_new and not await self.store.is_processed(event.id):
                queued.append(event)
        try:
            ids = await self.streams.append(_items(queued))
        except Exception as exc:
            log.warning("%d durable event(s) could not be queued (%s); appended once Redis is back", len(queued),
                        type(exc).__name__)
            for event in queued:
                self._unqueued.setdefault(event.id, (event, time.monotonic()))
            return
        if self.worker is not None:
            for event, entry_id in zip(queued, ids, strict=True):
                self.worker.appended(self.streams.partition_of(event.conversation_key), entry_id, event)

    async def recover(self) -> int:
        """Once per Redis lifetime (the first process up, or Redis back empty): append every unprocessed
        event again. Events already queued are then queued twice; the second run finds them processed."""
        if not await self.streams.recovery_due():
            return 0
        return await self._append_unprocessed()

    async def run(self) -> None:
        """Until cancelled: append what Redis refused, everything unprocessed when Redis came back empty,
        and (once cluster-wide, every ORPHAN_AGE) any event left unprocessed that long."""
        last_orphan_sweep = time.monotonic()
        while True:
            await asyncio.sleep(REQUEUE_INTERVAL)
            try:
                await self._requeue()
                recovered = await self.recover()
                if recovered:
                    log.warning("recovered %d unprocessed events into new streams", recovered)
                if time.monotonic() - last_orphan_sweep >= ORPHAN_AGE:
                    last_orphan_sweep = time.monotonic()
                    await self.sweep_orphans()
            except Exception as exc:
                log.warning("requeueing events failed for now (%s)", type(exc).__name__)

    async def _requeue(self) -> None:
        if not self._unqueued:
            return
        pending = list(self._unqueued.values())
        try:
            await self.streams.append(_items([e for e, _ in pending]))
        except Exception:
            for event, since in pending:
                overdue = time.monotonic() - since >= HOLD_ON_AFTER and event.id not in self._held_on
                if overdue and await self.hold_on(event):
                    self._held_on.add(event.id)
            raise
        for event, _ in pending:
            self._unqueued.pop(event.id, None)
            self._held_on.discard(event.id)

    async def _append_unprocessed(self, older_than: float | None = None) -> int:
        events = await self.store.unprocessed_events(limit=100_000)
        if older_than is not None:
            events = [e for e in events if e.received_at <= older_than]
        await self.streams.append(_items(events))
        return len(events)

    async def sweep_orphans(self) -> int:
        """Append again every event left unprocessed for ORPHAN_AGE; done by one process per ORPHAN_AGE
        cluster-wide (each process asks every ORPHAN_AGE: the first to ask sweeps), so a backlog of slow but
        queued events is appended again once a minute, not once per process. The number appended."""
        if await self.coordinator.seen("sweep:orphans", ttl=ORPHAN_AGE * ORPHAN_SWEEP_SHARE):
            return 0
        count = await self._append_unprocessed(older_than=time.time() - ORPHAN_AGE)
        if count:
            log.warning("%d event(s) unprocessed for over %.0f s appended again", count, ORPHAN_AGE)
        return count
