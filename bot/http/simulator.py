"""Simulator HTTP endpoints: send a message and get the bot's replies; read a transcript; the chat page."""

from __future__ import annotations

import html
import json
from pathlib import Path

from aiohttp import web

from bot.http import ApiError, read_json, require_bearer, secure_equal
from bot.http.page_texts import texts
from bot.runtime import RUNTIME, Runtime
from bot.vendors import Vendor
from channels.simulator import SimulatorInputError, parse_message
from locales import normalise

PAGE = (Path(__file__).parent.parent / "static" / "simulator.html").read_text(encoding="utf-8")


def _vendor(request: web.Request, *, token_in_query: bool = False) -> tuple[Runtime, Vendor]:
    """The vendor of the URL, once the caller may use the simulator (see bot/modes.py).

    With PALABRE_SIMULATOR_TOKEN set, every call needs `Authorization: Bearer <token>`; the page, which a
    browser opens by its address, also takes `?token=` (`token_in_query`), and its script sends the header.
    """
    rt: Runtime = request.app[RUNTIME]
    expected = rt.settings.simulator_token
    if expected and not (token_in_query and secure_equal(request.query.get("token"), expected)):
        require_bearer(request, expected, "PALABRE_SIMULATOR_TOKEN")
    vendor = rt.vendors.get(request.match_info["vendor"])
    if vendor is None:
        raise ApiError(404, "unknown_vendor", f"no vendor '{request.match_info['vendor']}'")
    return rt, vendor


async def post_message(request: web.Request) -> web.Response:
    """Handle one buyer message; replies in the response, or 202 at once with `?wait=false`."""
    rt, vendor = _vendor(request)
    body = await read_json(request)
    try:
        event = parse_message(body, vendor.id)
    except SimulatorInputError as exc:
        raise ApiError(400, "invalid_message", str(exc)) from None
    if request.query.get("wait", "true").lower() in ("false", "0", "no"):
        # Acknowledge like a provider webhook: the event is durable, its reply comes later.
        (fresh,) = await rt.pipeline.ingest([event])
        return web.json_response({"event_id": event.id, "duplicate": not fresh}, status=202)
    try:
        replies = await rt.pipeline.ingest_and_wait(event)
    except TimeoutError:
        raise ApiError(503, "busy", "the message is saved; its reply is late — read the transcript") from None
    except Exception:
        raise ApiError(503, "unavailable", "the message could not be handled right now; retry") from None
    return web.json_response({"event_id": event.id, "replies": [r.public() for r in replies]})


async def get_messages(request: web.Request) -> web.Response:
    rt, vendor = _vendor(request)
    contact = request.query.get("contact", "").strip()
    if not contact:
        raise ApiError(400, "missing_contact", "give ?contact=+221770000001")
    messages = await rt.store.transcript(f"{vendor.id}:web:{contact}")
    out = []
    titles: dict[str, str] = {}  # the button a buyer tapped is shown by its title, as on a phone
    for m in messages:
        item = {"direction": m.direction, "text": m.text, "at": m.created_at, "status": m.status}
        if m.direction == "in" and m.payload:
            item["payload"] = m.payload
            item["text"] = m.text or titles.get(m.payload, m.payload)
        if m.reply is not None:
            titles.update({b.id: b.title for b in m.reply.buttons})
            titles.update({r.id: r.title for section in m.reply.list_sections for r in section.rows})
            item.update({k: v for k, v in m.reply.public().items() if k != "text"})
        out.append(item)
    return web.json_response({"contact": contact, "messages": out})


def _js_string(value: str) -> str:
    # A JSON string is a JS string; `<` escaped so that no value can close the <script> element.
    return json.dumps(value).replace("<", "\\u003c")


async def page(request: web.Request) -> web.Response:
    """The chat page; the vendor's name is escaped (vendor files are untrusted)."""
    _, vendor = _vendor(request, token_in_query=True)
    lang = normalise(vendor.config.locale)
    t = texts(lang)  # the page speaks the vendor's language, as its bot does
    example = vendor.config.catalogue[0].code
    doc = (PAGE.replace("{{VENDOR_ID_JS}}", _js_string(vendor.id))
           .replace("{{LANG}}", lang)
           .replace("{{T_SIMULATOR}}", html.escape(t["simulator"]))
           .replace("{{T_YOUR_NUMBER}}", html.escape(t["your_number"]))
           .replace("{{T_TYPE_HERE}}", html.escape(t["type_here"].format(code=example)))
           .replace("{{T_SEND}}", html.escape(t["send"]))
           .replace("{{VENDOR_NAME}}", html.escape(vendor.config.name)))
    return web.Response(text=doc, content_type="text/html")


def routes() -> list[web.RouteDef]:
    return [
        web.post("/simulator/{vendor}/messages", post_message),
        web.get("/simulator/{vendor}/messages", get_messages),
        web.get("/simulator/{vendor}", page),
    ]
