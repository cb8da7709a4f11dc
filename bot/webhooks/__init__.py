"""Provider webhook endpoints, one module per provider: authenticate, parse, persist, then acknowledge."""

from __future__ import annotations

from aiohttp import web

from bot.webhooks import telegram

PROVIDERS = (telegram,)


def routes() -> list[web.RouteDef]:
    return [route for module in PROVIDERS for route in module.routes()]
