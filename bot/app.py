"""The aiohttp application factory: routes, error middleware, body limit, runtime lifecycle."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator

from aiohttp import web

from bot import live, modes, reload
from bot.buyers import api as buyers_api
from bot.campaigns import api as campaigns_api
from bot.dashboard import api as dashboard_api
from bot.http import BODY_LIMIT, ApiError, admin, assets, checkout, json_errors, simulator, webhooks
from bot.http import catalogue as catalogue_admin
from bot.http import dead_letters as dead_letters_api
from bot.http import refunds as refunds_api
from bot.inbox import api as inbox_api
from bot.quotes import http as quotes_http
from bot.runtime import RUNTIME, Runtime

# The cyclic collector's young generation for a server: collected past this many new container objects
# instead of CPython's 700. A busy tick (dozens of webhooks parsed, their turns and sends in flight) holds
# thousands of young objects still in use, which die by reference counting anyway: at 700 a young collection
# ran every ~11 updates over them, 32–47 µs of CPU per update on the live-sale bench; 2–3 µs at 10 000
# (bench/RESULTS.md). Cyclic garbage is still collected, in larger and rarer collections.
GC_YOUNG_THRESHOLD = 10_000


def tune_collector() -> None:
    """Raise the young generation's threshold for a long-running server (the older ones keep theirs)."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(GC_YOUNG_THRESHOLD, young), middle, old)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    rt: Runtime = request.app[RUNTIME]
    try:
        await rt.store.get_conversation("__readyz__")
        await rt.coordinator.cache_get("__readyz__")
    except Exception:
        raise ApiError(503, "not_ready", "storage or coordination is unreachable") from None
    fault = rt.store.fault()
    if fault is not None:
        raise ApiError(503, "not_ready", f"storage is failing: {fault}")
    return web.json_response({"status": "ready", "vendors": sorted(rt.vendors)})


async def metrics(request: web.Request) -> web.Response:
    rt: Runtime = request.app[RUNTIME]
    text = rt.metrics.render(rt.gauges(), counters=rt.store.counters())
    return web.Response(text=text, content_type="text/plain")


def create_app(runtime: Runtime) -> web.Application:
    """The app for this runtime; raises `modes.StartupRefused` for a configuration production must not serve."""
    settings = runtime.settings
    modes.check_startup(settings, runtime.vendors)
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[json_errors])
    app[RUNTIME] = runtime
    app[BODY_LIMIT] = settings.max_body_bytes

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await runtime.start()
        yield
        await runtime.stop()

    app.cleanup_ctx.append(lifecycle)
    app[reload.RELOADS] = reloads = reload.VendorReloads(runtime)
    app.cleanup_ctx.append(reloads.running)  # with Redis: a reload accepted by another process reaches this one
    app.on_shutdown.append(inbox_api.hang_up)
    app.on_shutdown.append(dashboard_api.hang_up)
    app.add_routes([
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/metrics", metrics),
        *assets.routes(),  # the pages' shared scripts (bot/static/*.js)
        # Development tools are absent in production (404), not merely refused: see bot/modes.py.
        *(simulator.routes() if modes.serves_simulator(settings) else []),
        *webhooks.routes(),
        *quotes_http.routes(),
        *checkout.routes(sandbox=modes.serves_sandbox_psp(settings)),
        *dead_letters_api.routes(),  # before the admin API's catch-all
        *refunds_api.routes(),  # before the admin API's catch-all
        *buyers_api.routes(),  # before the admin API's catch-all too
        *catalogue_admin.routes(),  # before the admin API's catch-all
        *admin.routes(),
        *inbox_api.routes(),
        *campaigns_api.routes(),
        *dashboard_api.routes(),
    ])
    live.install(app)  # the vendor's desk: their own number's commands, live sessions, /api/vendors/{v}/live
    return app
