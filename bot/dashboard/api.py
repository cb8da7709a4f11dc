"""The vendor dashboard over HTTP: the /dashboard/{vendor} page, its JSON, its live updates (SSE) and buyer cards.

Auth is the inbox's (bearer tokens of `palabre users add`, bot/inbox/roles.py): the figures need
`analytics: read`, a buyer card `orders: read` (so support agents open it from a conversation); a user who
works for other vendors gets 403, an unknown vendor 404; buyers' addresses are masked unless the role may
read contacts.
"""

from __future__ import annotations

import asyncio
import html
import json
import math
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.dashboard.card import buyer_card
from bot.dashboard.feed import UPDATE
from bot.dashboard.snapshot import build, day_start
from bot.dashboard.texts import texts
from bot.http import ApiError
from bot.inbox.requests import caller_of
from bot.inbox.users import Caller, require
from bot.live.http import DESK
from bot.runtime import RUNTIME, Runtime
from bot.vendors import Vendor
from locales import normalise

PAGE = (Path(__file__).parent.parent / "static" / "dashboard.html").read_text(encoding="utf-8")
HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; script-src 'unsafe-inline' 'self'; "
                                      "style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
           "Referrer-Policy": "no-referrer"}
MAX_DAYS = 31  # how far back `since` may reach: a month of orders is what one snapshot may read
MIN_GAP_SECONDS = 0.5  # at most two snapshots a second per page, however fast the sale
CHECK_SECONDS = 1.0
PING_SECONDS = 15.0
STREAM_SECONDS = 3600.0  # a stream ends after an hour; the page reconnects (and a new day begins on time)


def _runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def _vendor(request: web.Request) -> Vendor:
    vendor_id = request.match_info["vendor"]
    vendor = _runtime(request).vendors.get(vendor_id)
    if vendor is None:
        raise ApiError(404, "unknown_vendor", f"no vendor '{vendor_id[:64]}'")
    return vendor


async def access(request: web.Request, resource: str) -> tuple[Caller, Vendor]:
    """401 without a valid token, 403 when the role may not read `resource`, 404 for an unknown vendor, 403
    for a vendor the caller does not work for."""
    caller = await caller_of(request)
    require(caller, resource, "read")
    vendor = _vendor(request)
    if not caller.sees(vendor.id):
        raise ApiError(403, "forbidden", "you do not work for this vendor")
    return caller, vendor


def _since(request: web.Request, vendor: Vendor, now: float) -> float:
    raw = request.query.get("since")
    if raw is None or raw == "":
        return day_start(now, vendor.config.timezone)
    try:
        since = float(raw)
    except ValueError:
        since = math.nan
    if not math.isfinite(since) or not now - MAX_DAYS * 86400 <= since <= now:
        raise ApiError(400, "invalid_since", f"since is epoch seconds within the last {MAX_DAYS} days")
    return since


async def _live(app: web.Application, vendor: Vendor) -> dict[str, Any] | None:
    """The vendor's open live (bot/live), or None; an app without the vendor's desk has no lives."""
    desk = app.get(DESK)
    session = await desk.live.current_session(vendor.id) if desk is not None else None
    return {"id": session.id, "started_at": session.started_at} if session is not None else None


async def _snapshot(request: web.Request, caller: Caller, vendor: Vendor, since: float) -> dict[str, Any]:
    rt = _runtime(request)
    now = rt.clock()
    live = await _live(request.app, vendor)
    # a live that began before the period (say before midnight) still shows its own totals
    orders = await rt.store.vendor_orders(vendor.id, min(since, live["started_at"]) if live else since)
    products = await rt.store.list_products(vendor.id)
    return build(vendor, orders, products, now, since, show_address=caller.can("contacts", "read"), live=live)


async def dashboard(request: web.Request) -> web.Response:
    caller, vendor = await access(request, "analytics")
    return web.json_response(await _snapshot(request, caller, vendor,
                                             _since(request, vendor, _runtime(request).clock())))


async def card(request: web.Request) -> web.Response:
    caller, vendor = await access(request, "orders")
    q = request.query
    body = await buyer_card(_runtime(request).store, vendor, order_id=q.get("order") or None,
                            conversation_id=q.get("conversation") or None,
                            show_address=caller.can("contacts", "read"))
    return web.json_response(body)


async def events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: `snapshot` (the whole dashboard JSON) on connect and after each change of the
    vendor's orders or stock, at most every `MIN_GAP_SECONDS`; a comment every 15 s."""
    caller, vendor = await access(request, "analytics")
    rt = _runtime(request)
    since = _since(request, vendor, rt.clock())
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)

    async def send() -> float:
        data = json.dumps(await _snapshot(request, caller, vendor, since), ensure_ascii=False)
        await response.write(f"event: snapshot\ndata: {data}\n\n".encode())
        return time.monotonic()

    try:
        async with rt.feed.bus.subscribe() as queue:
            started = sent = await send()
            changed, quiet = False, 0.0
            while time.monotonic() - started < STREAM_SECONDS:
                wait = max(0.0, MIN_GAP_SECONDS - (time.monotonic() - sent)) if changed else CHECK_SECONDS
                try:
                    update = await asyncio.wait_for(queue.get(), timeout=wait)
                except TimeoutError:
                    if changed:
                        sent, changed, quiet = await send(), False, 0.0
                        continue
                    # aiohttp does not cancel a handler whose client left: look, and ping now and then.
                    if request.transport is None or request.transport.is_closing():
                        break
                    quiet += CHECK_SECONDS
                    if quiet >= PING_SECONDS:
                        quiet = 0.0
                        if await rt.inbox.store.agent_by_token(caller.agent.token_hash) is None:
                            break  # revoked while watching
                        await response.write(b": ping\n\n")
                    continue
                if update.get("type") == "bye":
                    break
                if update.get("type") == UPDATE and update.get("vendor") == vendor.id:
                    changed = True
    except (ConnectionResetError, ConnectionError):
        pass  # the page went away
    return response


async def hang_up(app: web.Application) -> None:
    """On shutdown: end the dashboards' streams, which would otherwise hold the server open."""
    app[RUNTIME].feed.bus.hang_up()


def _script_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


async def page(request: web.Request) -> web.Response:
    vendor = _vendor(request)
    locale = normalise(vendor.config.locale)
    words = texts(locale)
    doc = (PAGE.replace("{{LANG}}", locale)
           .replace("{{TITLE}}", html.escape(f"{words['title']} — {vendor.config.name}"))
           .replace("{{CONFIG_JSON}}", _script_json({"vendor": vendor.id, "name": vendor.config.name,
                                                     "locale": locale, "texts": words})))
    return web.Response(text=doc, content_type="text/html", headers=HEADERS)


async def not_found(request: web.Request) -> web.Response:
    await caller_of(request)  # unauthenticated callers learn nothing about which routes exist
    raise ApiError(404, "not_found", "no such dashboard route")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/dashboard/{vendor}", page),
        web.get("/api/dashboard/{vendor}", dashboard),
        web.get("/api/dashboard/{vendor}/events", events),
        web.get("/api/dashboard/{vendor}/buyer", card),
        web.route("*", "/api/dashboard/{tail:.*}", not_found),
    ]
