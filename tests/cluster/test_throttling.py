"""A provider pacing us with 429 + retry_after, more often than a reply's attempts: the reply still arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.bot.test_outbox_order import BUYER, say
from tests.channels.test_telegram import telegram_vendor
from tests.conftest import Server, eventually, free_port, plain, serving

THROTTLES = 12  # more than the default PALABRE_OUTBOX_MAX_ATTEMPTS (8)


class PacingBotApi:
    """Answers sendMessage with 429 (retry_after 0.1 s) `THROTTLES` times, then accepts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.throttled = 0
        self.accepted: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if request.match_info["method"] != "sendMessage":
            return web.json_response({"ok": True, "result": True})
        if self.throttled < THROTTLES:
            self.throttled += 1
            return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests",
                                      "parameters": {"retry_after": 0.1}}, status=429)
        self.accepted.append(plain(body["text"]))
        return web.json_response({"ok": True, "result": {"message_id": len(self.accepted)}})


@pytest.fixture
async def bot_api() -> AsyncIterator[PacingBotApi]:
    api = PacingBotApi()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", api.handle)
    async with serving(app, api.port):
        yield api


async def test_a_reply_throttled_more_often_than_its_attempts_is_delivered_not_given_up(
    start_server, bot_api: PacingBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    server: Server = await start_server(telegram_vendor(tmp_path, bot_api.base, monkeypatch))
    await say(server, 1, BUYER, "bonjour")
    await eventually(lambda: bot_api.accepted, lambda: (bot_api.throttled, bot_api.accepted), timeout=20)
    assert bot_api.throttled == THROTTLES and len(bot_api.accepted) == 1
    assert "Bienvenue" in bot_api.accepted[0]
