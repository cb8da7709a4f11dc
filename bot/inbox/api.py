"""The inbox HTTP API under /api/inbox (bearer tokens, role permissions), its live updates and the /inbox page."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.http import ApiError
from bot.inbox import canned, views
from bot.inbox.openapi import document
from bot.inbox.requests import body_of, caller_of, inbox_of, text_field
from bot.inbox.roles import permissions
from bot.inbox.users import require
from bot.runtime import RUNTIME
from channels import Button
from storage.inbox import STATUSES, ThreadFilter

log = logging.getLogger("palabre.inbox")

PAGE = (Path(__file__).parent.parent / "static" / "inbox.html").read_text(encoding="utf-8")

PING_SECONDS = 15.0
CHECK_SECONDS = 1.0
MAX_LABELS = 20
MAX_BUTTONS = 3


def conv_id(request: web.Request) -> str:
    return request.match_info["id"]


# conversations
async def list_conversations(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    require(caller, "conversations", "read")
    inbox = inbox_of(request)
    q = request.query
    wanted = [s.strip() for s in (q.get("status") or "").split(",") if s.strip()]
    if any(s not in STATUSES for s in wanted):
        raise ApiError(400, "invalid_status", f"status is one of {', '.join(STATUSES)} (or several, comma-separated)")
    vendors = caller.vendors(sorted(inbox.rt.vendors))
    if q.get("vendor"):
        if not caller.sees(q["vendor"]):
            return web.json_response({"conversations": []})
        vendors = [q["vendor"]]
    # Snoozes run out on reading: a snoozed thread past its time is listed as open (or assigned).
    stored = sorted({*wanted, "snoozed"} if {"open", "assigned"} & set(wanted) else set(wanted))
    where = ThreadFilter(vendors=vendors, statuses=stored or None, channel=q.get("channel") or None,
                         assignee=q.get("assignee") or None)
    at = inbox.now()
    items = [views.summary(caller, t, at) for t in await inbox.store.list_threads(where)]
    if wanted:
        items = [item for item in items if item["status"] in wanted]
    needle = (q.get("q") or "").strip().lower()
    if needle:
        items = [item for item in items if needle in json.dumps(
            [item["contact"], item["last_message"], item["labels"]], ensure_ascii=False).lower()]
    return web.json_response({"conversations": items})


async def get_conversation(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    require(caller, "conversations", "read")
    inbox = inbox_of(request)
    thread = await inbox.thread_for(caller, conv_id(request))
    store = inbox.rt.store
    conv = await store.get_conversation(thread.id)
    orders = []
    if conv is not None and caller.can("orders", "read"):
        ids = dict.fromkeys(str(conv.slots[k]) for k in ("order_id", "last_order_id") if conv.slots.get(k))
        orders = [o for o in [await store.get_order(i) for i in ids] if o is not None]
    body = views.detail(caller, thread, conv, await store.transcript(thread.id), await inbox.store.notes(thread.id),
                        orders, inbox.now())
    return web.json_response(body)


async def claim(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    require(caller, "conversations", "update")
    inbox = inbox_of(request)
    thread = await inbox.claim(caller, conv_id(request))
    return web.json_response(views.summary(caller, thread, inbox.now()))


async def assign(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    require(caller, "assignments", "update")
    body = await body_of(request)
    user = body.get("user")
    if user is not None and (not isinstance(user, str) or not user):
        raise ApiError(400, "invalid_body", '"user" is an agent\'s name, or null to unassign')
    inbox = inbox_of(request)
    thread = await inbox.assign(caller, conv_id(request), user)
    return web.json_response(views.summary(caller, thread, inbox.now()))


async def post_message(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    require(caller, "messages", "create")
    body = await body_of(request)
    text = text_field(body, "text")
    raw = body.get("buttons") or []
    if not isinstance(raw, list) or len(raw) > MAX_BUTTONS or not all(
            isinstance(b, dict) and isinstance(b.get("title"), str) and b["title"].strip() for b in raw):
        raise ApiError(400, "invalid_buttons", f'"buttons" is a list of up to {MAX_BUTTONS} {{"title"}} objects')
    buttons = [Button(id=str(b.get("id") or b["title"])[:64], title=b["title"].strip()[:20]) for b in raw]
    message = await inbox_of(request).reply(caller, conv_id(request), text, buttons)
    return web.json_response(views.message(message), status=201)


async def post_note(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    require(caller, "notes", "create")
    text = text_field(await body_of(request), "text")
    note = await inbox_of(request).note(caller, conv_id(request), text)
    return web.json_response(views.note(note), status=201)


async def release(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    require(caller, "conversations", "update")
    inbox = inbox_of(request)
    thread = await inbox.release(caller, conv_id(request))
    return web.json_response(views.summary(caller, thread, inbox.now()))


async def resolve(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    require(caller, "conversations", "update")
    inbox = inbox_of(request)
    thread = await inbox.resolve(caller, conv_id(request))
    return web.json_response(views.summary(caller, thread, inbox.now()))


def parse_until(value: Any) -> float | None:
    """`until`: epoch seconds, an ISO 8601 time with its offset, or null (until the buyer writes)."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if when.tzinfo is not None:
                return when.timestamp()
    raise ApiError(400, "invalid_until", '"until" is epoch seconds or an ISO 8601 time with an offset '
                                         "(2026-12-06T18:00:00+00:00), or null")


async def snooze(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    require(caller, "conversations", "update")
    until = parse_until((await body_of(request)).get("until"))
    inbox = inbox_of(request)
    if until is not None and until <= inbox.now():
        raise ApiError(400, "invalid_until", '"until" is in the past')
    thread = await inbox.snooze(caller, conv_id(request), until)
    return web.json_response(views.summary(caller, thread, inbox.now()))


async def put_labels(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    require(caller, "conversations", "update")
    labels = (await body_of(request)).get("labels")
    if not isinstance(labels, list) or len(labels) > MAX_LABELS or not all(
            isinstance(x, str) and 0 < len(x.strip()) <= 40 for x in labels):
        raise ApiError(400, "invalid_labels", f'"labels" is a list of up to {MAX_LABELS} words of 1 to 40 characters')
    inbox = inbox_of(request)
    thread = await inbox.set_labels(caller, conv_id(request), labels)
    return web.json_response(views.summary(caller, thread, inbox.now()))


# who am I, audit, live updates, documentation
async def me(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    return web.json_response({"name": caller.name, "role": caller.role, "vendors": caller.agent.vendors or None,
                              "permissions": permissions(caller.role)})


async def audit(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    require(caller, "audit", "read")
    inbox = inbox_of(request)
    entries = await inbox.store.audit_log(caller.vendors(sorted(inbox.rt.vendors)))
    return web.json_response({"entries": [e.model_dump() for e in entries]})


async def events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: one `event:` per inbox change the caller may see, a comment every 15 s."""
    caller = await caller_of(request)
    require(caller, "conversations", "read")
    inbox = inbox_of(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    try:
        async with inbox.bus.subscribe() as queue:
            await response.write(b"event: ready\ndata: {}\n\n")
            quiet = 0.0
            while True:
                try:
                    update = await asyncio.wait_for(queue.get(), timeout=CHECK_SECONDS)
                except TimeoutError:
                    # aiohttp does not cancel a handler whose client left: look, and ping now and then.
                    if request.transport is None or request.transport.is_closing():
                        break
                    quiet += CHECK_SECONDS
                    if quiet >= PING_SECONDS:
                        quiet = 0.0
                        if await inbox.store.agent_by_token(caller.agent.token_hash) is None:
                            break  # revoked while listening
                        await response.write(b": ping\n\n")
                    continue
                if update.get("type") == "bye":
                    break
                if not caller.sees(str(update.get("vendor"))):
                    continue
                data = json.dumps({k: v for k, v in update.items() if k != "type"})
                await response.write(f"event: {update.get('type')}\ndata: {data}\n\n".encode())
    except (ConnectionResetError, ConnectionError):
        pass  # the page went away
    return response


async def hang_up(app: web.Application) -> None:
    """On shutdown: end the live-update streams, which would otherwise hold the server open."""
    app[RUNTIME].inbox.bus.hang_up()


async def openapi(request: web.Request) -> web.Response:
    await caller_of(request)
    return web.json_response(document(request.app[RUNTIME].settings.base_url))


async def page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html", headers={
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; script-src 'unsafe-inline' 'self'; "
                                   "style-src 'unsafe-inline' 'self'; frame-ancestors 'none'",
        "Referrer-Policy": "no-referrer"})


async def not_found(request: web.Request) -> web.Response:
    await caller_of(request)  # unauthenticated callers learn nothing about which routes exist
    raise ApiError(404, "not_found", "no such inbox route")


def routes() -> list[web.RouteDef]:
    conv = "/api/inbox/conversations/{id}"
    return [
        web.get("/inbox", page),
        web.get("/api/openapi.json", openapi),
        web.get("/api/inbox/me", me),
        web.get("/api/inbox/audit", audit),
        web.get("/api/inbox/events", events),
        web.get("/api/inbox/conversations", list_conversations),
        web.get(conv, get_conversation),
        web.post(f"{conv}/claim", claim),
        web.post(f"{conv}/assign", assign),
        web.post(f"{conv}/messages", post_message),
        web.post(f"{conv}/notes", post_note),
        web.post(f"{conv}/release", release),
        web.post(f"{conv}/resolve", resolve),
        web.post(f"{conv}/snooze", snooze),
        web.put(f"{conv}/labels", put_labels),
        *canned.routes(),
        web.route("*", "/api/inbox/{tail:.*}", not_found),
    ]
