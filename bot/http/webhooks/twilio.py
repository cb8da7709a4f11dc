"""Twilio Messaging webhook endpoint: X-Twilio-Signature over the public URL, form → Event, persist, then TwiML."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.http import ApiError, header
from bot.http.webhooks.ignored import unless_not_a_message
from bot.http.webhooks.intake import accept, channel_config, parse_events, read_raw
from bot.runtime import RUNTIME
from channels import twilio

log = logging.getLogger("palabre.webhooks.twilio")


def public_url(request: web.Request, config: twilio.Config, public_base: str | None) -> str:
    """The URL Twilio called, as it signed it: behind a proxy the request URL we see is not that one.

    Order: the vendor's `webhook_url` (with the request's query string, which carries our
    `outbound_id` on status callbacks), else PALABRE_PUBLIC_URL + the path and query received,
    else the URL of the request itself.
    """
    path_qs = request.raw_path
    if config.webhook_url:
        url, hash_, fragment = config.webhook_url.partition("#")
        base, _, configured_query = url.partition("?")
        query = path_qs.partition("?")[2] or configured_query
        return base + (f"?{query}" if query else "") + hash_ + fragment
    if public_base:
        return public_base.rstrip("/") + path_qs
    return f"{request.scheme}://{header(request, 'Host') or request.host}{path_qs}"


async def twilio_webhook(request: web.Request) -> web.Response:
    """Incoming SMS/WhatsApp messages and status callbacks of one vendor (401 when the signature is wrong)."""
    vendor_id = request.match_info["vendor"]
    rt = request.app[RUNTIME]
    config: twilio.Config = channel_config(rt, vendor_id, "twilio", "Twilio")
    signature = header(request, twilio.SIGNATURE_HEADER)
    if not signature:
        log.warning("twilio webhook rejected vendor=%s: no signature header", vendor_id)
        raise ApiError(401, "invalid_signature", "the X-Twilio-Signature header is missing or wrong")
    raw = await read_raw(request)
    try:
        params = twilio.parse_form(raw)
    except ValueError:
        raise ApiError(400, "invalid_form", "the body is not a UTF-8 form") from None
    urls = twilio.url_candidates(public_url(request, config, rt.settings.public_url))
    if not twilio.verify(config.auth_token, urls, params, signature):
        log.warning("twilio webhook rejected vendor=%s: signature does not match %s", vendor_id, urls[0])
        raise ApiError(401, "invalid_signature", "the X-Twilio-Signature header is missing or wrong")
    outbound_id = request.query.get("outbound_id")
    events = await parse_events(
        "twilio", vendor_id, lambda: unless_not_a_message(
            rt, "twilio", vendor_id, lambda: twilio.parse_params(params, vendor_id, outbound_id=outbound_id)),
        "invalid_message", "not a Twilio messaging webhook", explained=ValueError)
    await accept(rt, events)
    if twilio.is_status_callback(params):
        return web.Response(status=200, text="")
    # Replies go out through the outbox and the REST API; a <Message> here would send a second, untracked one.
    return web.Response(status=200, text=twilio.EMPTY_TWIML, content_type="text/xml")


def routes() -> list[web.RouteDef]:
    return [web.post("/webhooks/twilio/{vendor}", twilio_webhook)]
