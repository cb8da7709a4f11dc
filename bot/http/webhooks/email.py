"""E-mail webhook endpoint (SendGrid Inbound Parse): path-token check, mail → Event, persist, then 200."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.http import ApiError, read_body, secure_equal
from bot.http.webhooks.ignored import unless_not_a_message
from bot.http.webhooks.intake import accept, channel_config, parse_events
from bot.runtime import RUNTIME
from channels import email as email_channel

log = logging.getLogger("palabre.webhooks.email")


async def email_webhook(request: web.Request) -> web.Response:
    return await handle_email(request, request.match_info["vendor"], request.match_info.get("token"))


async def handle_email(request: web.Request, vendor_id: str, token: str | None) -> web.Response:
    """Inbound Parse: the token in the URL path (401 when wrong or missing), one mail per POST, 200 once durable.

    The path holds the token, so nothing here logs the path: only the vendor.
    """
    rt = request.app[RUNTIME]
    config: email_channel.Config = channel_config(rt, vendor_id, "email", "e-mail")
    if not secure_equal(token, config.inbound_token):
        log.warning("email webhook: missing or wrong token for vendor=%s", vendor_id)
        raise ApiError(401, "invalid_token", "the token in the Inbound Parse URL is missing or wrong")
    # Its own limit, larger than the app's: ordinary mails with attachments exceed 1 MB.
    raw = await read_body(request, max(rt.settings.max_body_bytes, email_channel.MAX_INBOUND_BYTES),
                          what="the e-mail")
    content_type = request.headers.get("Content-Type", "")
    events = await parse_events(
        "email", vendor_id, lambda: unless_not_a_message(
            rt, "email", vendor_id, lambda: email_channel.parse_inbound(raw, content_type, vendor_id, config)),
        "invalid_mail", "not an Inbound Parse e-mail", explained=email_channel.InboundError)
    return await accept(rt, events)


def routes() -> list[web.RouteDef]:
    # The bare URL exists only to answer 401 (rather than 404) when the token is left out.
    return [web.post("/webhooks/email/{vendor}/{token}", email_webhook),
            web.post("/webhooks/email/{vendor}", email_webhook)]
