"""The pipeline: durable intake, per-conversation queues, retries of failed turns, dead letters, recovery."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from bot.delivery.outbox import Delivery
from bot.http import ApiError
from bot.metrics import Metrics
from bot.payments import PaymentProvider
from bot.pipeline.courtesy import ANSWERED_KINDS, APOLOGY, HOLD_ON, courtesy_write
from bot.pipeline.failures import Backoff, is_transient
from bot.pipeline.partitions import PartitionWorker
from bot.pipeline.requeue import StreamIntake
from bot.pipeline.turn import TurnBuilder
from bot.vendors import Vendor
from channels import Event, Reply
from channels.base import mask_address
from channels.deadlines import Deadlines
from storage import Store, TurnWrite
from storage.coordination import Coordinator
from storage.dead_letters import ERROR_LIMIT, DeadLetter
from storage.streams import Lease, StreamBus

log = logging.getLogger("palabre.pipeline")

# A transient failure shorter than this goes unnoticed by the buyer; past it they are told to wait.
HOLD_ON_AFTER = 2.0
# A store that takes longer to make events durable counts as down: the webhook answers 503 (the provider
# retries) instead of hanging until the provider gives up on us. It matches MongoDB's default wtimeout.
INTAKE_TIMEOUT = 10.0
# Event ids a conversation remembers having taken (at most this many): more than one buyer's backlog in a
# partition batch, small enough to keep the conversation document small.
RECENT_EVENTS = 8

TurnListener = Callable[[Event, TurnWrite], Awaitable[None]]


class _Abandoned(Exception):
    """The partition's lease was lost mid-turn: the new owner runs the event; this process writes nothing."""


class IntakeUnavailable(ApiError):
    """Events could not be made durable: the caller must not acknowledge them, so the provider retries."""

    def __init__(self) -> None:
        super().__init__(503, "unavailable", "the event could not be saved right now; retry later")


class Pipeline:
    """Takes events from the adapters to replies in the outbox.

    Contract: `ingest` returns only once the events are durable, so a caller may acknowledge
    the provider afterwards (it raises IntakeUnavailable, a 503, otherwise). Events of one
    conversation are processed one at a time, in the order they were ingested; with
    `distributed` set, a coordinator lock on the conversation is taken before its state is
    loaded, so processes sharing a store never interleave one buyer. Each event is processed
    at most once (its id is checked under that lock), and all of a turn's writes land together
    in `Store.commit_turn`.

    Failures: a transient one (coordination or store unavailable, a timeout) leaves the event
    unprocessed and its turn is retried with backoff until it passes, holding back the
    conversation's later events so their order is kept; the buyer gets at most one "one moment"
    message. Any other failure is retried up to `max_attempts` times in all, then the event is
    set aside as a dead letter and the buyer gets one apology; `replay` queues it again.

    Partitioned (`streams` given, several processes on one Redis): `ingest` appends each new event
    to its conversation's stream partition once it is durable, and the `PartitionWorker` of whichever
    process leases that partition runs it (see bot/pipeline/partitions.py); no conversation lock is
    needed, as one process owns the partition. A turn whose lease was lost before its commit writes
    nothing, and the commit's version check refuses a turn that raced the new owner's.
    """

    def __init__(
        self,
        store: Store,
        coordinator: Coordinator,
        vendors: dict[str, Vendor],
        psp: PaymentProvider,
        delivery: Delivery,
        metrics: Metrics,
        *,
        distributed: bool = False,
        clock: Callable[[], float] = time.time,
        max_attempts: int = 3,
        backoff: Backoff | None = None,
        streams: StreamBus | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts!r}")
        self.store = store
        self.coordinator = coordinator
        self.vendors = vendors
        self.delivery = delivery
        self.metrics = metrics
        self.distributed = distributed
        self.max_attempts = max_attempts
        self.backoff = backoff or Backoff()
        self.turns = TurnBuilder(store, vendors, psp, delivery, clock)
        self._queues: dict[str, deque[Event]] = {}
        # Events this process just stored for the first time and has not run yet: no turn of theirs can be
        # committed, so their first run skips the store's processed-check (one query per turn less).
        self._unseen: set[str] = set()
        self._waiters: dict[str, asyncio.Future[list[Reply]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.streams = streams
        self.worker = PartitionWorker(streams, self._run_partitioned) if streams else None
        self.intake = StreamIntake(streams, store, coordinator, self._hold_on, self.worker) if streams else None
        self._requeuer: asyncio.Task[None] | None = None
        # One loop timer for every intake in flight: a timer per webhook cost ~4 µs (bench/RESULTS.md).
        self._intake_deadlines = Deadlines(INTAKE_TIMEOUT)
        # Called after each committed turn (e.g. the inbox follows handoffs); they must not raise.
        self.turn_listeners: list[TurnListener] = []

    # intake
    async def ingest(self, events: Iterable[Event]) -> list[bool]:
        """Persist events (durably) and queue the new ones; True for each event not seen before."""
        events = list(events)
        try:
            async with self._intake_deadlines.guard():
                fresh = await self.store.add_events(events)
        except Exception as exc:
            self.metrics.inc("palabre_intake_failures_total")
            log.warning("%d event(s) could not be made durable (%s): not acknowledged", len(events),
                        type(exc).__name__)
            raise IntakeUnavailable() from exc
        self.metrics.inc("palabre_events_received_total", len(events))
        if self.intake is not None:
            self.metrics.inc("palabre_events_duplicate_total", fresh.count(False))
            await self.intake.append(events, fresh)
            return fresh
        for event, is_new in zip(events, fresh, strict=True):
            if is_new:
                if not self.distributed:  # with a shared store, another process may run it meanwhile
                    self._unseen.add(event.id)
                self._enqueue(event)
            else:
                self.metrics.inc("palabre_events_duplicate_total")
        return fresh

    async def ingest_and_wait(self, event: Event, timeout: float = 30.0) -> list[Reply]:
        """Ingest one event and return the replies its turn produced (a retry gets the same ones)."""
        loop = asyncio.get_running_loop()
        waiter = self._waiters.setdefault(event.id, loop.create_future())
        try:
            (fresh,) = await self.ingest([event])
            if self.streams is not None:
                return await self._wait_anywhere(event, waiter, timeout)
            if not fresh and not self._pending(event) and await self.store.is_processed(event.id):
                return await self.replies_for(event)
            return await asyncio.wait_for(asyncio.shield(waiter), timeout)
        finally:
            if self._waiters.get(event.id) is waiter and waiter.done():
                del self._waiters[event.id]

    async def _wait_anywhere(self, event: Event, waiter: asyncio.Future[list[Reply]], timeout: float) -> list[Reply]:
        """The replies of an event whose turn may run in another process: from the turn here, or from the store."""
        async with asyncio.timeout(timeout):
            while True:
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(waiter), 0.05)
                if await self.store.is_processed(event.id):
                    return await self.replies_for(event)

    def _pending(self, event: Event) -> bool:
        q = self._queues.get(event.conversation_key)
        return q is not None and any(e.id == event.id for e in q)

    async def replies_for(self, event: Event) -> list[Reply]:
        msgs = await self.store.transcript(event.conversation_key)
        return [m.reply for m in msgs if m.direction == "out" and m.event_id == event.id and m.reply]

    def _enqueue(self, event: Event) -> None:
        key = event.conversation_key
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            task = asyncio.create_task(self._drain(key, queue))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        queue.append(event)

    async def _drain(self, key: str, queue: deque[Event]) -> None:
        try:
            while queue:
                await self._process_safely(queue[0])
                queue.popleft()
        finally:
            self._queues.pop(key, None)

    async def recover(self) -> int:
        """Queue every persisted event that has no committed turn (after a crash or restart).

        A stored event that no longer loads is set aside as a dead letter first: one poison event
        never stops a start-up.
        """
        for letter in await self.store.quarantine_unloadable():
            self.metrics.inc("palabre_dead_letters_total")
            log.error("stored event=%s cannot be loaded and is set aside as a dead letter", letter.event_id)
        if self.intake is not None:
            return await self.intake.recover()
        events = await self.store.unprocessed_events(limit=100_000)
        for event in events:
            if not self._pending(event):
                self._enqueue(event)
        return len(events)

    async def start(self) -> None:
        """Start consuming partitions (partitioned mode); the in-process path needs no start."""
        if self.worker is not None:
            await self.worker.start()
            self._requeuer = asyncio.create_task(self.intake.run())  # type: ignore[union-attr]

    async def replay(self, event_id: str) -> Event | None:
        """Take a dead letter off the list and queue its event again; None when it is not a dead letter.

        Raises ValueError when the stored event cannot be loaded (it stays dead).
        """
        event = await self.store.revive_event(event_id)
        if event is not None:
            log.warning("dead letter event=%s replayed", event_id)
            if self.intake is not None:
                await self.intake.append([event], [True])
            elif not self._pending(event):
                self._enqueue(event)
        return event

    async def idle(self, timeout: float = 30.0) -> None:
        """Wait until every queued event has been processed (for shutdown and tests)."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - time.monotonic()))
        if self.worker is not None:
            await self.worker.idle(max(0.0, deadline - time.monotonic()))

    async def stop(self) -> None:
        """Stop processing: turns still retrying stay unprocessed in the store, for the next start."""
        if self._requeuer is not None:
            self._requeuer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._requeuer
        if self.worker is not None:
            await self.worker.stop()
        if self.streams is not None:
            await self.streams.close()
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # processing
    async def _run_partitioned(self, event: Event, lease: Lease) -> None:
        await self._process_safely(event, lease)

    async def _process_safely(self, event: Event, lease: Lease | None = None) -> None:
        """Run the event's turn until it is committed or dead-lettered (or the pipeline stops, or the
        partition's lease is lost: the new owner runs it)."""
        waiter = self._waiters.get(event.id)
        started = time.perf_counter()
        failures = retries = 0
        held = False
        while True:
            if lease is not None and lease.lost:
                return
            try:
                replies = await self._process(event, lease)
                break
            except _Abandoned:
                return
            except Exception as exc:
                if is_transient(exc):
                    retries += 1
                    self.metrics.inc("palabre_turn_retries_total")
                    log.warning("turn failed for now (%s), retry %d vendor=%s conv=%s event=%s",
                                type(exc).__name__, retries, event.vendor_id, mask_address(event.contact.address),
                                event.id)
                    if not held and time.perf_counter() - started >= HOLD_ON_AFTER:
                        held = await self._hold_on(event)
                    await asyncio.sleep(self.backoff.delay(retries - 1))
                    continue
                failures += 1
                log.exception("turn failed (attempt %d of %d) vendor=%s conv=%s event=%s", failures,
                              self.max_attempts, event.vendor_id, mask_address(event.contact.address), event.id)
                self.metrics.inc("palabre_turn_errors_total")
                if failures >= self.max_attempts:
                    buried = await self._bury(event, exc, failures)
                    if buried is not None:
                        replies = buried
                        break
                await asyncio.sleep(self.backoff.delay(failures - 1))
        self.metrics.observe("palabre_turn_seconds", time.perf_counter() - started)
        if waiter and not waiter.done():
            waiter.set_result(replies)

    async def _process(self, event: Event, lease: Lease | None = None) -> list[Reply]:
        key = event.conversation_key
        partitioned = lease is not None
        lock = self.coordinator.lock(key) if self.distributed and not partitioned else contextlib.nullcontext()
        async with lock:
            if event.id in self._unseen:
                self._unseen.discard(event.id)  # a retry of this turn checks again
            elif await self.store.is_processed(event.id):
                return await self.replies_for(event)
            write = await self.turns.build(event)
            if write.already_taken:  # its conversation's write landed: finish the rest, answer nothing new
                await self.store.commit_turn(write)
                await self.delivery.sweep(lambda entry: entry.conversation_id == key)  # replies left by a crash
                return await self.replies_for(event)
            if lease is not None and lease.lost:
                raise _Abandoned()
            if write.conversation is not None:
                taken = write.conversation.recent_events
                taken[:] = [*taken[-(RECENT_EVENTS - 1):], event.id]
            await self.store.commit_turn(write)
        self.delivery.submit(write.outbox)
        self.metrics.inc("palabre_turns_total")
        for listener in self.turn_listeners:
            await listener(event, write)
        return [m.reply for m in write.messages if m.direction == "out" and m.reply
                and m.conversation_id == key]

    async def _hold_on(self, event: Event) -> bool:
        """Tell the buyer their message is being handled; True once that is recorded (or not needed).

        Committed as the turn of a companion id, so the event itself stays unprocessed, and recorded at
        most once whatever happens: its ids are fixed.
        """
        if event.kind not in ANSWERED_KINDS or event.vendor_id not in self.vendors:
            return True
        try:
            conv = await self.store.get_conversation(event.conversation_key) or self.turns.new_conversation(event)
            if conv.handoff:
                return True
            write, _ = courtesy_write(event, conv, self.vendors.get(event.vendor_id), HOLD_ON, "hold",
                                      f"{event.id}:hold")
            await self.store.commit_turn(write)
        except Exception as exc:
            log.warning("could not record the hold-on message for event=%s (%s)", event.id, type(exc).__name__)
            return False
        self.delivery.submit(write.outbox)
        return True

    async def _bury(self, event: Event, exc: Exception, attempts: int) -> list[Reply] | None:
        """Set the event aside as a dead letter with one apology to the buyer; None if that cannot be
        recorded now (the caller tries again later)."""
        letter = DeadLetter(event_id=event.id, vendor_id=event.vendor_id, conversation_id=event.conversation_key,
                            kind=event.kind, error=f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT], attempts=attempts)
        replies: list[Reply] = []
        write = TurnWrite(event_id=event.id)
        try:
            if event.kind in ANSWERED_KINDS and event.vendor_id in self.vendors:
                conv = await self.store.get_conversation(event.conversation_key) or \
                    self.turns.new_conversation(event)
                write, reply = courtesy_write(event, conv, self.vendors.get(event.vendor_id), APOLOGY, "apology",
                                              event.id)
                replies = [reply]
            await self.store.dead_letter(letter, write)
        except Exception as err:
            log.warning("could not record dead letter event=%s (%s); retrying", event.id, type(err).__name__)
            return None
        self.delivery.submit(write.outbox)
        self.metrics.inc("palabre_dead_letters_total")
        log.error("event=%s vendor=%s set aside as a dead letter after %d attempts (%s)", event.id,
                  event.vendor_id, attempts, type(exc).__name__)
        return replies
