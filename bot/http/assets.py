"""The scripts the pages share (bot/static/*.js), each served by name; no directory is exposed."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.http.errors import ApiError

STATIC = Path(__file__).parent.parent / "static"
SCRIPTS = {path.name: path for path in STATIC.glob("*.js")}
# Revalidated on each load (FileResponse answers 304 to a matching ETag), so an upgrade reaches open pages.
HEADERS = {"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-cache",
           "X-Content-Type-Options": "nosniff"}


async def script(request: web.Request) -> web.FileResponse:
    path = SCRIPTS.get(request.match_info["name"])
    if path is None:
        raise ApiError(404, "not_found", "no such static file")
    return web.FileResponse(path, headers=HEADERS)


def routes() -> list[web.RouteDef]:
    return [web.get("/static/{name}", script)]
