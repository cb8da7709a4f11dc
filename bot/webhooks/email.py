"""E-mail webhook endpoint (SendGrid Inbound Parse): path-token check, mail → Event, persist, then 200."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.errors import ApiError
from bot.runtime import RUNTIME
from channels import email as email_channel

log = logging.getLogger("palabre.webhooks.email")


async def email_webhook(request: web.Request) -> web.Response:
    return await handle_email(request, request.match_info["vendor"], request.match_info.get("token"))


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, up to `limit` bytes.

    Read from the stream rather than with `request.read()`, whose app-wide limit (1 MB by default)
    would refuse ordinary mails with attachments; this route has its own, larger, limit.
    """
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "body_too_large", "the e-mail is larger than this endpoint accepts")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(65536):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", "the e-mail is larger than this endpoint accepts")
        chunks.append(chunk)
    return b"".join(chunks)


async def handle_email(request: web.Request, vendor_id: str, token: str | None) -> web.Response:
    """Inbound Parse: the token in the URL path (401 when wrong or missing), one mail per POST, 200 once durable."""
    rt = request.app[RUNTIME]
    vendor = rt.vendors.get(vendor_id)
    config = vendor.config.channels.get("email") if vendor else None
    if config is None:
        raise ApiError(404, "unknown_vendor", f"no vendor '{vendor_id}' with an e-mail channel")
    if not email_channel.verify(config, token):
        log.warning("email webhook: missing or wrong token for vendor=%s", vendor_id)
        raise ApiError(401, "invalid_token", "the token in the Inbound Parse URL is missing or wrong")
    raw = await _read_body(request, max(rt.settings.max_body_bytes, email_channel.MAX_INBOUND_BYTES))
    try:
        events = await email_channel.parse_inbound(raw, request.headers.get("Content-Type", ""), vendor_id, config)
    except email_channel.InboundError as exc:
        log.warning("email webhook: unreadable mail for vendor=%s: %s", vendor_id, exc)
        raise ApiError(400, "invalid_mail", f"not an Inbound Parse e-mail: {exc}") from None
    if events:
        await rt.pipeline.ingest(events)
    return web.json_response({"ok": True})


def routes() -> list[web.RouteDef]:
    # The bare URL exists only to answer 401 (rather than 404) when the token is left out.
    return [web.post("/webhooks/email/{vendor}/{token}", email_webhook),
            web.post("/webhooks/email/{vendor}", email_webhook)]
