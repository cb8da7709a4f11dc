"""Provider webhook endpoints, one module per provider: authenticate, parse, persist, then acknowledge."""

from __future__ import annotations

from aiohttp import web

from bot.adapters import PROVIDERS, webhook_module


def routes() -> list[web.RouteDef]:
    return [route for provider in PROVIDERS for route in webhook_module(provider).routes()]
