"""Vendor files reloaded while the server runs (SIGHUP or `POST /api/admin/vendors/reload`): all or
nothing — a folder with one file that fails `palabre check` is refused and the running vendors stay."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.runtime import RUNTIME, Runtime, load_vendors
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
    # what a reload cannot change in a running process: the senders and payment providers are built at start
    restart_needed: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"vendors": self.vendors, "added": self.added, "removed": self.removed,
                "restart_needed": self.restart_needed}


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
    # the same dict object: the pipeline, the simulator and the admin API all read this one
    rt.vendors.clear()
    rt.vendors.update(fresh)
    for vendor in old.values():
        if vendor.rasa is not None:
            await vendor.rasa.close()
    log.info("vendors reloaded: %s (added %s, removed %s, restart needed for %s)", ", ".join(report.vendors),
             report.added or "-", report.removed or "-", report.restart_needed or "-")
    return report


async def _reload_logged(rt: Runtime) -> None:
    try:
        await reload_vendors(rt)
    except ReloadRefused as exc:
        log.error("vendor reload refused, the running vendors are kept:\n%s", exc)


async def on_sighup(app: web.Application) -> None:
    """`kill -HUP <pid>` reloads the vendor files, as nginx and most daemons do."""
    rt: Runtime = app[RUNTIME]
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, lambda: rt.spawn(_reload_logged(rt)))
    except (NotImplementedError, AttributeError, RuntimeError):  # Windows has no SIGHUP
        log.info("no SIGHUP here: reload vendors with POST /api/admin/vendors/reload")
