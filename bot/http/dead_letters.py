"""The dead-letter admin routes under /api/admin/dead-letters (admin bearer token): list and replay."""

from __future__ import annotations

from aiohttp import web

from bot.http import ApiError, read_json
from bot.http.admin import admin_runtime
from bot.pipeline.dead_letters import public, revive_all

REPLAY_BODY = 'send {"event_id": "<id>"}, or {"all": true} optionally with "vendor"'


async def list_dead_letters(request: web.Request) -> web.Response:
    """GET ?vendor=V: the dead letters, oldest first, with their errors and masked conversations."""
    rt = admin_runtime(request)
    vendor = request.query.get("vendor") or None
    letters = await rt.store.dead_letters(vendor)
    return web.json_response({"dead_letters": [public(letter) for letter in letters]})


async def replay(request: web.Request) -> web.Response:
    """POST {"event_id": ID} or {"all": true, "vendor": V}: queue dead letters again, at once."""
    rt = admin_runtime(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", REPLAY_BODY)
    event_id, everything, vendor = body.get("event_id"), body.get("all"), body.get("vendor")
    if vendor is not None and not isinstance(vendor, str):
        raise ApiError(400, "invalid_body", '"vendor" is a vendor id')
    if isinstance(event_id, str) and event_id and everything is None:
        try:
            event = await rt.pipeline.replay(event_id)
        except ValueError as exc:
            raise ApiError(409, "not_replayable", str(exc)[:300]) from None
        if event is None:
            raise ApiError(404, "not_found", "no dead letter with this event id")
        return web.json_response({"replayed": [event_id], "failed": []})
    if everything is True and event_id is None:
        replayed, failed = await revive_all(rt.store, vendor, rt.pipeline.replay)
        return web.json_response({"replayed": replayed, "failed": failed})
    raise ApiError(400, "invalid_body", REPLAY_BODY)


def routes() -> list[web.RouteDef]:
    """Register before the admin API's catch-all route."""
    return [
        web.get("/api/admin/dead-letters", list_dead_letters),
        web.post("/api/admin/dead-letters/replay", replay),
    ]
