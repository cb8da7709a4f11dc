"""Canned replies: saved answers per vendor (or shared), listed, created, changed and deleted over the API."""

from __future__ import annotations

import re
import time
import uuid

from aiohttp import web

from bot.http import ApiError
from bot.inbox import views
from bot.inbox.requests import body_of, caller_of, inbox_of, text_field
from bot.inbox.users import Caller, require
from storage.inbox import CannedReply

SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def _shortcut(value: object) -> str:
    text = value.strip().lstrip("/").lower() if isinstance(value, str) else ""
    if not SHORTCUT.match(text):
        raise ApiError(400, "invalid_shortcut", '"shortcut" is 1 to 32 lower-case letters, digits, _ or - '
                                                '(typed as /shortcut in the reply box)')
    return text


def _vendor(caller: Caller, value: object, known: dict) -> str | None:
    if value is None:
        if caller.vendors(sorted(known)) is not None:
            raise ApiError(403, "forbidden", "only an agent of every vendor may save a shared reply: give \"vendor\"")
        return None
    if not isinstance(value, str) or value not in known or not caller.sees(value):
        raise ApiError(400, "unknown_vendor", '"vendor" is one of the vendors you work for')
    return value


async def _taken(request: web.Request, vendor: str | None, shortcut: str, but: str | None = None) -> None:
    for other in await inbox_of(request).store.list_canned([vendor] if vendor else None):
        if other.shortcut == shortcut and other.vendor_id == vendor and other.id != but:
            raise ApiError(409, "shortcut_taken", f"/{shortcut} is already a canned reply")


async def _owned(request: web.Request, caller: Caller) -> CannedReply:
    item = await inbox_of(request).store.get_canned(request.match_info["canned_id"])
    if item is None or (item.vendor_id is not None and not caller.sees(item.vendor_id)):
        raise ApiError(404, "not_found", "no such canned reply")
    if item.vendor_id is None and caller.vendors(sorted(inbox_of(request).rt.vendors)) is not None:
        raise ApiError(403, "forbidden", "a shared reply is changed by an agent of every vendor")
    return item


async def list_canned(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    require(caller, "canned", "read")
    inbox = inbox_of(request)
    vendor = request.query.get("vendor")
    vendors = [vendor] if vendor and caller.sees(vendor) else caller.vendors(sorted(inbox.rt.vendors))
    items = await inbox.store.list_canned(vendors)
    return web.json_response({"canned": [views.canned(c) for c in items]})


async def create_canned(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    require(caller, "canned", "create")
    body = await body_of(request)
    inbox = inbox_of(request)
    item = CannedReply(id=uuid.uuid4().hex, vendor_id=_vendor(caller, body.get("vendor"), inbox.rt.vendors),
                       shortcut=_shortcut(body.get("shortcut")), text=text_field(body, "text"))
    await _taken(request, item.vendor_id, item.shortcut)
    await inbox.store.save_canned(item)
    return web.json_response(views.canned(item), status=201)


async def update_canned(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    require(caller, "canned", "update")
    item = await _owned(request, caller)
    body = await body_of(request)
    changes: dict[str, object] = {"updated_at": time.time()}
    if "shortcut" in body:
        changes["shortcut"] = _shortcut(body["shortcut"])
    if "text" in body:
        changes["text"] = text_field(body, "text")
    item = item.model_copy(update=changes)
    await _taken(request, item.vendor_id, item.shortcut, but=item.id)
    await inbox_of(request).store.save_canned(item)
    return web.json_response(views.canned(item))


async def delete_canned(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    require(caller, "canned", "delete")
    item = await _owned(request, caller)
    await inbox_of(request).store.delete_canned(item.id)
    return web.json_response({"deleted": item.id})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/inbox/canned", list_canned),
        web.post("/api/inbox/canned", create_canned),
        web.put("/api/inbox/canned/{canned_id}", update_canned),
        web.delete("/api/inbox/canned/{canned_id}", delete_canned),
    ]
