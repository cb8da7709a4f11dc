"""The aiohttp application factory: routes, error middleware, body limit, runtime lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bot import admin, checkout, simulator, webhooks
from bot.errors import ApiError, json_errors
from bot.runtime import RUNTIME, Runtime


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    rt: Runtime = request.app[RUNTIME]
    try:
        await rt.store.get_conversation("__readyz__")
        await rt.coordinator.cache_get("__readyz__")
    except Exception:
        raise ApiError(503, "not_ready", "storage or coordination is unreachable") from None
    return web.json_response({"status": "ready", "vendors": sorted(rt.vendors)})


async def metrics(request: web.Request) -> web.Response:
    rt: Runtime = request.app[RUNTIME]
    return web.Response(text=rt.metrics.render(rt.gauges()), content_type="text/plain")


def create_app(runtime: Runtime) -> web.Application:
    app = web.Application(client_max_size=runtime.settings.max_body_bytes, middlewares=[json_errors])
    app[RUNTIME] = runtime

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await runtime.start()
        yield
        await runtime.stop()

    app.cleanup_ctx.append(lifecycle)
    app.add_routes([
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/metrics", metrics),
        *simulator.routes(),
        *webhooks.routes(),
        web.get("/pay/sandbox/{payment_id}", checkout.checkout_page),
        web.post("/pay/sandbox/{payment_id}", checkout.checkout_submit),
        web.post("/webhooks/payments/{psp}/{vendor}", checkout.payment_webhook),
        *admin.routes(),
    ])
    return app
