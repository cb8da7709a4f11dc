"""Two processes' outboxes on one store and one Redis, each a `Delivery` with its own coordinator connection,
sending through one local Telegram Bot API: a reply one process sent is never put back by the other."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.delivery.outbox import Delivery
from bot.metrics import Metrics
from channels import Reply, telegram
from storage import Message, OutboxEntry, TurnWrite
from storage.coordination import RedisCoordinator
from storage.embedded import EmbeddedStore
from tests.conftest import eventually, free_port, plain, serving

CHAT = "5550001"
CONVERSATION = f"shop:telegram:{CHAT}"


class SlowFirstBotApi:
    """Holds the first reply's request until the second one has been accepted, then answers it 429."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.accepted: list[str] = []
        self.second_sent = asyncio.Event()
        self.throttled = False

    async def handle(self, request: web.Request) -> web.Response:
        text = plain((await request.json()).get("text"))
        if text == "first" and not self.throttled:
            self.throttled = True
            async with asyncio.timeout(10):
                await self.second_sent.wait()
            return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests",
                                      "parameters": {"retry_after": 0.2}}, status=429)
        self.accepted.append(text)
        if text == "second":
            self.second_sent.set()
        return web.json_response({"ok": True, "result": {"message_id": len(self.accepted)}})


@pytest.fixture
async def bot_api() -> AsyncIterator[SlowFirstBotApi]:
    api = SlowFirstBotApi()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", api.handle)
    async with serving(app, api.port):
        yield api


def entry(n: int, text: str) -> OutboxEntry:
    return OutboxEntry(id=f"e{n}", message_id=f"e{n}", conversation_id=CONVERSATION, vendor_id="shop",
                       channel="telegram", provider="telegram", recipient=CHAT, reply=Reply(text=text),
                       created_at=time.time() + n * 0.001, next_attempt_at=time.time())


async def test_a_reply_sent_by_one_process_is_not_put_back_and_sent_again_by_another_holding_it(
    tmp_path: Path, own_redis: str, bot_api: SlowFirstBotApi,
) -> None:
    store = EmbeddedStore(tmp_path / "data")
    await store.start()
    first, second = entry(1, "first"), entry(2, "second")
    await store.commit_turn(TurnWrite(event_id="ev1", outbox=[first, second], messages=[
        Message(id=e.id, conversation_id=CONVERSATION, direction="out", text=e.reply.text, reply=e.reply,
                event_id="ev1") for e in (first, second)]))
    sender = telegram.make_sender(telegram.Config(bot_token="1:t", webhook_secret="s", api_base_url=bot_api.base))
    coordinators = [RedisCoordinator(own_redis), RedisCoordinator(own_redis)]
    one, other = (Delivery(store, {"telegram": sender}, Metrics(), coordinator=c) for c in coordinators)
    try:
        # One process holds both replies and is stuck on the first; the other's sweep sends the second meanwhile.
        one.submit([first, second])
        await asyncio.sleep(0.2)
        other.submit([second])
        await eventually(lambda: bot_api.throttled and not one.in_flight, "the first reply to be throttled")
        await asyncio.sleep(0.3)  # past retry_after: the first reply is due again
        for _ in range(5):
            await one.sweep()
            await other.sweep()
            await one.idle()
            await other.idle()
        await eventually(lambda: "first" in bot_api.accepted, lambda: bot_api.accepted)
    finally:
        for c in coordinators:
            await c.close()
        await sender.close()
        await store.close()
    assert bot_api.accepted.count("second") == 1, bot_api.accepted
