"""The one path every provider webhook reads its request through: vendor, body, guarded parse, durable ingest.

Authentication stays in each provider's module (each signs differently); everything around it is here,
so that a malformed request gets the same 4xx on every provider and no parser surprise becomes a 500.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from bot.http import ApiError, frames, read_body
from bot.runtime import RUNTIME, Runtime
from channels import Event

log = logging.getLogger("palabre.webhooks")
T = TypeVar("T")
OK_BODY = b'{"ok": true}'  # every accepted webhook's answer, serialised once


def channel_config(rt: Runtime, vendor_id: str, provider: str, label: str) -> Any:
    """The vendor's `channels.<provider>` block, or a 404 that names the channel (`label`)."""
    vendor = rt.vendors.get(vendor_id)
    config = vendor.config.channels.get(provider) if vendor else None
    if config is None:
        raise ApiError(404, "unknown_vendor", f"no vendor '{vendor_id[:64]}' with a {label} channel")
    return config


async def read_raw(request: web.Request, minimum: int = 0) -> bytes:
    """The raw body (signatures cover these bytes), up to the app's limit or `minimum`, whichever is larger."""
    rt: Runtime = request.app[RUNTIME]
    return await read_body(request, max(rt.settings.max_body_bytes, minimum))


async def parse_events(provider: str, vendor_id: str | None, parse: Callable[[], T | Awaitable[T]],
                       code: str, message: str, explained: type[Exception] | None = None) -> T:
    """Run a provider parser; any failure is this request's fault, answered 400 so it is not retried forever.

    An `explained` exception carries a message written for the caller, which the answer repeats; for any
    other, the log says where it was raised. Logs never hold an exception's message: it may quote the body.
    """
    try:
        result = parse()
        return await result if inspect.isawaitable(result) else result  # type: ignore[return-value]
    except ApiError:
        raise
    except Exception as exc:
        if explained is not None and isinstance(exc, explained):
            log.warning("%s webhook for vendor=%s: refused, %s", provider, vendor_id, type(exc).__name__)
            raise ApiError(400, code, f"{message}: {exc}") from None
        log.warning("%s webhook for vendor=%s: unreadable payload (%s)\n%s", provider, vendor_id,
                    type(exc).__name__, frames(exc))
        raise ApiError(400, code, message) from None


async def accept(rt: Runtime, events: list[Event]) -> web.Response:
    """Persist the events (durable before we acknowledge), then 200."""
    if events:
        await rt.pipeline.ingest(events)
    return web.Response(body=OK_BODY, content_type="application/json")
