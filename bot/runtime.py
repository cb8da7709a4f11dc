"""The runtime: builds the store, coordinator, vendors, pipeline, delivery and timers, and runs them."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot import numbers
from bot.actions import build_registry
from bot.adapters import channel_module
from bot.campaigns.service import Campaigns
from bot.dashboard import Feed
from bot.delivery.outbox import Delivery
from bot.inbox import Inbox
from bot.metrics import Metrics
from bot.payments import build_providers
from bot.payments.settle import Settler
from bot.pipeline import Pipeline
from bot.pipeline.partitions import only_one
from bot.pipeline.stock_lock import stock_locked
from bot.settings import Settings
from bot.timers import TimerWorker
from bot.vendors import Vendor, VendorLoader
from channels.base import Sender
from channels.simulator import SimulatorSender
from storage import Store
from storage.coordination import coordinator_from_url
from storage.streams import StreamBus

log = logging.getLogger("palabre")
# How long one part of the shutdown may take before the next goes on regardless.
STOP_STEP_SECONDS = 10.0
PAYMENT_POLL_INTERVAL = 15.0  # seconds between two rounds of the payment poller
OUTBOX_ORPHAN_AGE = 30.0  # seconds past due after which any process sends a reply, not only its partition's owner


async def every(interval: float, job: Callable[[], Awaitable[object]], what: str) -> None:
    """Run `job` every `interval` seconds until cancelled; a failure is logged and the next run goes on."""
    while True:
        try:
            await job()
        except Exception:
            log.exception("%s failed", what)
        await asyncio.sleep(interval)


def make_store(settings: Settings, *, serving: bool = False) -> Store:
    """The configured store; a `serving` process on MongoDB without Redis holds the database alone."""
    if settings.mongodb_uri:
        from storage.mongo import MongoStore

        return MongoStore(settings.mongodb_uri, settings.mongodb_db,
                          single_process=serving and not settings.redis_url,
                          write_concern=settings.mongodb_write_concern)
    from storage.embedded import EmbeddedStore

    return EmbeddedStore(settings.data_dir)


def server_loop(choice: str = "auto") -> asyncio.AbstractEventLoop:
    """The event loop the server runs on: uvloop unless `choice` is "asyncio" (PALABRE_LOOP); "auto" falls
    back to asyncio's where uvloop is not installed (Windows). uvloop's loop is libuv in C: the webhook
    intake and the provider calls cost less CPU per update (bench/RESULTS.md, docs/decisions.md)."""
    loop: asyncio.AbstractEventLoop | None = None
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise
        else:
            loop = uvloop.new_event_loop()
    loop = loop or asyncio.new_event_loop()
    log.debug("event loop: %s.%s", type(loop).__module__, type(loop).__name__)
    return loop


def cluster_name(settings: Settings) -> str:
    """Processes share work when they share a store: its name keys their streams, so two deployments (or
    test runs) on one Redis never run each other's events."""
    store = f"mongo:{settings.mongodb_db}" if settings.mongodb_uri else f"embedded:{Path(settings.data_dir).resolve()}"
    return hashlib.blake2b(store.encode(), digest_size=6).hexdigest()


def channel_senders(vendors: dict[str, Vendor]) -> dict[str, Sender]:
    """One sender per vendor and provider, from the credentials in the vendor's YAML."""
    return {
        f"{provider}:{vendor.id}": channel_module(provider).make_sender(config)
        for vendor in vendors.values()
        for provider, config in vendor.config.channels.items()
    }


def load_vendors(directory: str) -> dict[str, Vendor]:
    """The vendors of a folder, their dialogs naming built-in and operator actions (bot/actions.py)."""
    return VendorLoader(build_registry()).load_dir(directory)


class Runtime:
    """Everything one Palabre process runs. `start` recovers unfinished work before serving."""

    def __init__(
        self,
        settings: Settings,
        vendors: dict[str, Vendor],
        *,
        store: Store | None = None,
        senders: dict[str, Sender] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.vendors = vendors
        self.clock = clock
        self.metrics = Metrics()
        self.store = store or make_store(settings, serving=True)
        self.coordinator = coordinator_from_url(settings.redis_url)
        if settings.stock_lock and settings.redis_url:
            self.store = stock_locked(self.store, self.coordinator)
        # order and stock changes nudge the vendor's dashboards (bot/dashboard/feed.py), in every process
        self.feed = Feed(settings.redis_url)
        self.store = self.feed.watch(self.store)
        # With Redis, the work is spread over stream partitions shared by every process (bot/pipeline).
        streams = StreamBus(settings.redis_url, partitions=settings.partitions, lease_ttl=settings.lease_ttl,
                            prefix=f"palabre:{cluster_name(settings)}:",
                            batch=getattr(self.coordinator, "batch", None)) \
            if settings.redis_url and settings.partitions > 0 else None
        self.psp = build_providers(self.store, settings.base_url, settings.sandbox_psp_secret,
                                   {v.id: v.config.psp for v in vendors.values()}, clock)
        self.senders: dict[str, Sender] = {"simulator": SimulatorSender(), **channel_senders(vendors),
                                           **(senders or {})}
        self.delivery = Delivery(self.store, self.senders, self.metrics, coordinator=self.coordinator,
                                 settings={v.id: v.config.delivery for v in vendors.values()},
                                 max_attempts=settings.outbox_max_attempts, clock=clock)
        self.pipeline = Pipeline(self.store, self.coordinator, vendors, self.psp, self.delivery, self.metrics,
                                 distributed=bool(settings.redis_url), clock=clock,
                                 max_attempts=settings.turn_max_attempts, streams=streams)
        self.pipeline.turns.base_url = settings.base_url
        self.timers = TimerWorker(self.store, self.pipeline, clock)
        self.payments = Settler(self.store, self.psp, self.pipeline.ingest, clock, vendors)
        self.inbox = Inbox(self)
        self.campaigns = Campaigns(self)
        self.pipeline.turn_listeners.append(self.campaigns.after_turn)
        self.pipeline.turns.consent = self.campaigns.intercept
        self.pipeline.turn_listeners.append(self.inbox.after_turn)
        self.http: aiohttp.ClientSession | None = None
        self._background: list[asyncio.Task[None]] = []
        self._spawned: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.store.start()
        await self.inbox.start()
        await self.feed.start()
        await self.campaigns.start()
        await numbers.apply_stored(self)  # imported WhatsApp numbers, before anything is sent or received
        for vendor in self.vendors.values():
            channels = vendor.config.channels
            if vendor.config.delivery.fallback and not (channels.get("meta") and channels.get("wasender")):
                log.warning("vendor=%s: fallback to %s needs both a meta and a wasender channel; it is off",
                            vendor.id, vendor.config.delivery.fallback)
        for vendor in self.vendors.values():
            # the vendor file owns names and prices; stock is the store's (sales, `palabre stock`)
            await self.store.sync_products(vendor.products())
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        recovered = await self.pipeline.recover()
        if recovered:
            log.warning("recovered %d unprocessed events", recovered)
        await self.pipeline.start()
        await self.delivery.sweep()
        fire_due, sweep, poll = self.timers.fire_due, self.delivery.sweep, self.payments.poll
        if self.settings.redis_url:
            # One process at a time sweeps (the others skip that round): timers fire and the outbox
            # drains once cluster-wide, and the store is not polled by every process.
            def fire_due() -> Awaitable[None]:
                return only_one(self.coordinator, "timers", self.timers.fire_due)

            def sweep() -> Awaitable[object]:
                return only_one(self.coordinator, "outbox", self.delivery.sweep)

            worker, streams = self.pipeline.worker, self.pipeline.streams
            if worker is not None and streams is not None:
                # Partitioned: each process sends the replies of the conversations it runs the turns of, so one
                # buyer's replies (retries and held ones too) leave one process, in order; a reply overdue by
                # OUTBOX_ORPHAN_AGE is taken by any process, so a lost one never waits for good.
                def sweep() -> Awaitable[object]:
                    return self.delivery.sweep(lambda e: streams.partition_of(e.conversation_id) in worker.leases
                                               or e.next_attempt_at < self.clock() - OUTBOX_ORPHAN_AGE)

            def poll() -> Awaitable[None]:
                return only_one(self.coordinator, "payments", self.payments.poll)
        self._background = [
            asyncio.create_task(every(self.settings.timer_interval, fire_due, "timer sweep")),
            asyncio.create_task(every(self.settings.outbox_interval, sweep, "outbox sweep")),
            # hosted payments whose webhook never came (bot/payments/settle.py)
            asyncio.create_task(every(PAYMENT_POLL_INTERVAL, poll, "payment poll")),
        ]
        if self.settings.redis_url:  # a numbers import on another process reaches this one's vendors
            self._background.append(asyncio.create_task(
                every(numbers.FOLLOW_INTERVAL, lambda: numbers.follow_imports(self), "numbers import follow-up")))
        # What start-up built (vendors, dialogs, templates, the NLU model: ~140 000 objects) lives as long
        # as the process. Frozen, the cyclic GC's full collections stop walking it: each one cost 60-70 ms,
        # ~50 µs per update of the bench's live sale (docs/decisions.md, bench/RESULTS.md 2026-12-06).
        gc.freeze()

    async def stop(self) -> None:
        """Stop everything; each step is bounded, so a part that hangs (a store or Redis that stopped
        answering) never keeps the process from closing its store and releasing its lock."""
        for task in self._background:
            task.cancel()
        if self._background:
            await asyncio.wait(self._background, timeout=STOP_STEP_SECONDS)
        await _bounded("campaigns", self.campaigns.stop())  # no new broadcast entries once the outbox drains
        if self._spawned:
            await asyncio.wait(set(self._spawned), timeout=5)
        await self.pipeline.idle(timeout=10)
        await _bounded("pipeline", self.pipeline.stop())  # turns still retrying stay unprocessed
        await self.delivery.idle(timeout=5)
        if self.http:
            await _bounded("http client", self.http.close())
        await _bounded("payment providers", self.psp.close())
        closables = [*self.senders.values(), *(v.rasa for v in self.vendors.values() if v.rasa)]
        for item in closables:
            close = getattr(item, "close", None)
            if close is not None:
                await _bounded(type(item).__name__, close())
        await _bounded("inbox", self.inbox.stop())
        await _bounded("dashboard feed", self.feed.stop())
        await _bounded("coordinator", self.coordinator.close())
        await _bounded("store", self.store.close(), timeout=STOP_STEP_SECONDS * 2)
        gc.unfreeze()  # a process that runs another runtime after this one (tests) may collect this one

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run background work that `stop` waits for (bounded) and never loses track of."""
        task = asyncio.create_task(coro)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    def gauges(self) -> dict[str, float]:
        worker = self.pipeline.worker
        busy = len(self.pipeline._queues) + (worker.busy if worker else 0)
        gauges: dict[str, float] = {"palabre_vendors": len(self.vendors), "palabre_conversations_busy": busy}
        if worker is not None:
            gauges["palabre_partitions_leased"] = len(worker.leases)
        return gauges


async def _bounded(what: str, step: Awaitable[object], timeout: float | None = None) -> None:
    try:
        await asyncio.wait_for(step, timeout or STOP_STEP_SECONDS)
    except TimeoutError:
        log.error("shutdown: %s did not stop within %.0f s; going on", what, timeout or STOP_STEP_SECONDS)
    except Exception:
        log.exception("shutdown: %s failed to stop; going on", what)


RUNTIME = web.AppKey("runtime", Runtime)
