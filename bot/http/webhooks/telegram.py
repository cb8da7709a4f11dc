"""Telegram webhook endpoint: secret-token check, Update → Event, persist, then 200."""

from __future__ import annotations

from aiohttp import web

from bot.http import ApiError, header, parse_json
from bot.http.webhooks.intake import accept, channel_config, parse_events, read_raw
from bot.runtime import RUNTIME
from channels import telegram


async def telegram_webhook(request: web.Request) -> web.Response:
    return await handle_telegram(request, request.match_info["vendor"])


async def handle_telegram(request: web.Request, vendor_id: str) -> web.Response:
    """Telegram: secret-token header (401 when wrong), one Update per POST, 200 once it is durable."""
    rt = request.app[RUNTIME]
    config = channel_config(rt, vendor_id, "telegram", "Telegram")
    if not telegram.verify(config.webhook_secret, header(request, telegram.SECRET_HEADER)):
        raise ApiError(401, "invalid_secret", "the secret token header is missing or wrong")
    update = parse_json(await read_raw(request))
    if not isinstance(update, dict):
        raise ApiError(400, "invalid_update", "the body is not a Telegram Update")
    events = await parse_events("telegram", vendor_id, lambda: telegram.parse_update(update, vendor_id),
                          "invalid_update", "the body is not a Telegram Update")
    return await accept(rt, events)


def routes() -> list[web.RouteDef]:
    return [web.post("/webhooks/telegram/{vendor}", telegram_webhook)]
