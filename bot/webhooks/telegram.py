"""Telegram webhook endpoint: secret-token check, Update → Event, persist, then 200."""

from __future__ import annotations

import json

from aiohttp import web

from bot.errors import ApiError
from bot.runtime import RUNTIME
from channels import telegram


async def telegram_webhook(request: web.Request) -> web.Response:
    return await handle_telegram(request, request.match_info["vendor"])


async def handle_telegram(request: web.Request, vendor_id: str) -> web.Response:
    """Telegram: secret-token header (401 when wrong), one Update per POST, 200 once it is durable."""
    rt = request.app[RUNTIME]
    vendor = rt.vendors.get(vendor_id)
    config = vendor.config.channels.get("telegram") if vendor else None
    if config is None:
        raise ApiError(404, "unknown_vendor", f"no vendor '{vendor_id}' with a Telegram channel")
    if not telegram.verify(config.webhook_secret, request.headers.get(telegram.SECRET_HEADER)):
        raise ApiError(401, "invalid_secret", "the secret token header is missing or wrong")
    raw = await request.read()
    try:
        update = json.loads(raw)
        events = telegram.parse_update(update, vendor_id)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ApiError(400, "invalid_update", "the body is not a Telegram Update") from None
    if events:
        await rt.pipeline.ingest(events)
    return web.json_response({"ok": True})


def routes() -> list[web.RouteDef]:
    return [web.post("/webhooks/telegram/{vendor}", telegram_webhook)]
