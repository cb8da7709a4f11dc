"""`GET /quotes/{id}.pdf`: a quote PDF by its unguessable id (the link sent to the buyer)."""

from __future__ import annotations

import re

from aiohttp import web

from bot.http import ApiError
from bot.runtime import RUNTIME, Runtime

DOCUMENT_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


async def quote_pdf(request: web.Request) -> web.Response:
    rt: Runtime = request.app[RUNTIME]
    doc_id = request.match_info["id"]
    document = await rt.store.get_document(doc_id) if DOCUMENT_ID.match(doc_id) else None
    if document is None or document.content_type != "application/pdf":
        raise ApiError(404, "not_found", "no such quote")
    return web.Response(body=document.body, content_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{document.filename}"',
        # a link in a chat can be forwarded: no shared cache keeps it, no search engine lists it
        "Cache-Control": "private, max-age=3600", "X-Robots-Tag": "noindex",
    })


def routes() -> list[web.RouteDef]:
    return [web.get("/quotes/{id}.pdf", quote_pdf)]
