"""Replies of one conversation leave the outbox in order, through a local Bot API that throttles."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.channels.test_telegram import SECRET, telegram_vendor
from tests.conftest import Server, eventually, free_port, plain, serving

BUYER, OTHER = 5123456789, 5987654321


class ThrottlingBotApi:
    """Answers sendMessage like Telegram; the first call for `throttled` chats gets a 429."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.accepted: list[tuple[int, str]] = []
        self.throttle_first: set[int] = set()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if request.match_info["method"] != "sendMessage":
            return web.json_response({"ok": True, "result": True})
        chat = int(body["chat_id"])
        if chat in self.throttle_first:
            self.throttle_first.discard(chat)
            return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests",
                                      "parameters": {"retry_after": 0.5}}, status=429)
        self.accepted.append((chat, plain(body["text"])))
        return web.json_response({"ok": True, "result": {"message_id": len(self.accepted)}})

    def texts(self, chat: int) -> list[str]:
        return [text for c, text in self.accepted if c == chat]


@pytest.fixture
async def bot_api() -> AsyncIterator[ThrottlingBotApi]:
    api = ThrottlingBotApi()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", api.handle)
    async with serving(app, api.port):
        yield api


async def say(server: Server, update_id: int, chat: int, text: str) -> None:
    update: dict[str, Any] = {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1781000000, "text": text,
        "from": {"id": chat, "is_bot": False, "first_name": "Awa"}, "chat": {"id": chat, "type": "private"}}}
    async with server.http.post(f"{server.url}/webhooks/telegram/demo", data=json.dumps(update),
                                headers={"Content-Type": "application/json",
                                         "X-Telegram-Bot-Api-Secret-Token": SECRET}) as r:
        assert r.status == 200


async def test_a_later_reply_never_overtakes_one_waiting_for_a_retry(
    start_server, bot_api: ThrottlingBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(telegram_vendor(tmp_path, bot_api.base, monkeypatch))
    bot_api.throttle_first = {BUYER}
    await say(server, 1, BUYER, "ROBE1")  # the offer meets a 429 and waits half a second
    await server.runtime.pipeline.idle()
    await say(server, 2, BUYER, "merci")
    await say(server, 3, OTHER, "ROBE1")
    await eventually(lambda: len(bot_api.texts(BUYER)) >= 2, lambda: bot_api.accepted)
    first, second = bot_api.texts(BUYER)[:2]
    assert "15 000 F CFA" in first, bot_api.accepted  # the offer first, as the buyer asked for it
    assert "15 000 F CFA" not in second
    # another buyer did not wait for this one's retry
    other_at = next(i for i, (chat, _) in enumerate(bot_api.accepted) if chat == OTHER)
    buyer_first_at = next(i for i, (chat, _) in enumerate(bot_api.accepted) if chat == BUYER)
    assert other_at < buyer_first_at
