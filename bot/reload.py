"""Vendor files reloaded while the server runs (SIGHUP or `POST /api/admin/vendors/reload`): all or
nothing — a folder with one file that fails `palabre check` is refused and the running vendors stay.
With Redis, a reload that one process accepted is announced on a pub/sub channel of the deployment
and every other process reloads its own folder too."""

from __future__ import annotations

import asyncio
import logging
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.inbox.events import RedisEventBus
from bot.runtime import RUNTIME, Runtime, cluster_name, load_vendors
from bot.vendors import Vendor
from dialogs import DialogError, YamlInvalid

log = logging.getLogger("palabre.reload")


class ReloadRefused(Exception):
    """The vendor folder does not load; the vendors already running are kept."""


@dataclass
class ReloadReport:
    vendors: list[str]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)  # "vendor:CODE" dropped from a file: no longer on sale
    # what a reload cannot change in a running process: the senders and payment providers are built at start
    restart_needed: list[str] = field(default_factory=list)
    announced: bool = False  # told the other processes of the deployment (Redis) to reload too

    def as_json(self) -> dict[str, Any]:
        return {"vendors": self.vendors, "added": self.added, "removed": self.removed, "withdrawn": self.withdrawn,
                "restart_needed": self.restart_needed, "announced": self.announced}


def _wiring(vendor: Vendor) -> tuple[Any, ...]:
    cfg = vendor.config
    return (cfg.channels.model_dump(), cfg.psp.model_dump(), cfg.delivery.model_dump())


async def reload_vendors(rt: Runtime) -> ReloadReport:
    """Load the vendor folder again and swap it in; products take the files' names and prices."""
    directory = rt.settings.vendors_dir
    try:
        # training each vendor's NLU takes a moment: off the event loop, so turns keep flowing
        fresh = await asyncio.to_thread(load_vendors, directory)
    except (YamlInvalid, DialogError) as exc:
        raise ReloadRefused(str(exc)) from None
    if not fresh:
        raise ReloadRefused(f"no vendor file in {directory}")
    old = dict(rt.vendors)
    report = ReloadReport(vendors=sorted(fresh), added=sorted(set(fresh) - set(old)),
                          removed=sorted(set(old) - set(fresh)))
    report.restart_needed = sorted(
        v for v in fresh
        if (v in old and _wiring(fresh[v]) != _wiring(old[v])) or (v not in old and fresh[v].config.channels.items())
    )
    for vendor in fresh.values():
        await rt.store.sync_products(vendor.products())
        before = old.get(vendor.id)
        kept = {p.code for p in vendor.config.catalogue}
        for code in sorted({p.code for p in before.config.catalogue} - kept if before else ()):
            # no longer listed nor sold; its orders keep their own code, name and price and go on as they were
            await rt.store.set_stock(vendor.id, code, 0)
            report.withdrawn.append(f"{vendor.id}:{code}")
    # the same dict object: the pipeline, the simulator and the admin API all read this one
    rt.vendors.clear()
    rt.vendors.update(fresh)
    for vendor in old.values():
        if vendor.rasa is not None:
            await vendor.rasa.close()
    log.info("vendors reloaded: %s (added %s, removed %s, restart needed for %s)", ", ".join(report.vendors),
             report.added or "-", report.removed or "-", report.restart_needed or "-")
    return report


async def _reload_logged(rt: Runtime) -> ReloadReport | None:
    try:
        return await reload_vendors(rt)
    except ReloadRefused as exc:
        log.error("vendor reload refused, the running vendors are kept:\n%s", exc)
        return None


class VendorReloads:
    """Reloads of every process of the deployment: with Redis, one that a process accepted is announced
    and the others reload their own folder (each refuses a bad one on its own and keeps its vendors)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.origin = uuid.uuid4().hex  # this process: it does not reload twice on its own announcement
        url = rt.settings.redis_url
        self._bus = RedisEventBus(url, f"palabre:{cluster_name(rt.settings)}:vendors") if url else None
        self._listener: asyncio.Task[None] | None = None

    async def reload(self) -> ReloadReport:
        """Reload here (ReloadRefused if the folder does not load), then have every other process reload."""
        report = await reload_vendors(self.rt)
        if self._bus is not None:
            await self._bus.publish({"type": "reload", "origin": self.origin})
            report.announced = True
        return report

    async def running(self, _: web.Application) -> AsyncIterator[None]:
        """Listen for other processes' reloads while the app runs (an aiohttp cleanup context)."""
        if self._bus is None:
            yield
            return
        async with self._bus.subscribe() as queue:
            await self._bus.start()
            self._listener = asyncio.create_task(self._listen(queue))
            try:
                yield
            finally:
                self._listener.cancel()
                await asyncio.gather(self._listener, return_exceptions=True)
        await self._bus.close()

    async def _listen(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            update = await queue.get()
            if update.get("type") == "bye":
                return
            if update.get("type") == "reload" and update.get("origin") != self.origin:
                log.info("vendor reload announced by another process")
                await _reload_logged(self.rt)


RELOADS = web.AppKey("vendor_reloads", VendorReloads)


async def on_sighup(app: web.Application) -> None:
    """`kill -HUP <pid>` reloads the vendor files, as nginx and most daemons do (every process with Redis)."""
    rt: Runtime = app[RUNTIME]
    reloads = app.get(RELOADS)

    async def reload() -> None:
        if reloads is None:
            await _reload_logged(rt)
            return
        try:
            await reloads.reload()
        except ReloadRefused as exc:
            log.error("vendor reload refused, the running vendors are kept:\n%s", exc)

    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, lambda: rt.spawn(reload()))
    except (NotImplementedError, AttributeError, RuntimeError):  # Windows has no SIGHUP
        log.info("no SIGHUP here: reload vendors with POST /api/admin/vendors/reload")
