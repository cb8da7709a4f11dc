"""Provider webhook endpoints, one module per provider: authenticate, parse, persist, then acknowledge."""

from __future__ import annotations

from aiohttp import web

from bot.adapters import PROVIDERS, webhook_module


def routes() -> list[web.RouteDef]:
    out: list[web.RouteDef] = []
    for provider in PROVIDERS:
        try:
            module = webhook_module(provider)
        except ModuleNotFoundError as exc:
            if exc.name != f"bot.webhooks.{provider}":
                raise
            continue  # DEV-ONLY while adapters are being written: remove before landing
        out.extend(module.routes())
    return out
