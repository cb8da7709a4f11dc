"""Replies held behind one waiting for a retry are sent once it is, not left pending under a spent claim."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from bot.delivery.outbox import Delivery
from channels.meta.config import Config
from channels.meta.send import MetaSender
from channels.telegram import TelegramSender
from storage import OutboxEntry
from storage.embedded import EmbeddedStore
from tests.bot.test_delivery import (  # noqa: F401 (fake and store are fixtures)
    VENDOR,
    FakeTime,
    fake,
    make_delivery,
    queue,
    store,
)
from tests.conftest import free_port, plain, serving

CHAT = "4242"
PHONE = "+221770001234"
SWEEPS = 5  # the outbox sweep comes round every second; a held reply is due again after one


@dataclass
class ProviderApi:
    """A Telegram Bot API and a Meta Graph API on 127.0.0.1 that refuse the first `refuse` sends with a 429
    ("retry after" `retry_after` seconds), then accept; `accepted` holds the texts in arrival order."""

    retry_after: int = 1
    refuse: int = 1
    port: int = field(default_factory=free_port)
    accepted: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        async def telegram(request: web.Request) -> web.Response:
            body = await request.json()
            if self.refuse:
                self.refuse -= 1
                return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests",
                                          "parameters": {"retry_after": self.retry_after}}, status=429)
            self.accepted.append(plain(body["text"]))
            return web.json_response({"ok": True, "result": {"message_id": len(self.accepted)}})

        async def graph(request: web.Request) -> web.Response:
            body = await request.json()
            if self.refuse:
                self.refuse -= 1
                return web.json_response({"error": {"code": 130429, "message": "Rate limit hit"}}, status=429,
                                         headers={"Retry-After": str(self.retry_after)})
            self.accepted.append(plain(body["text"]["body"]))
            return web.json_response({"messages": [{"id": f"wamid.{len(self.accepted)}"}]})

        app = web.Application()
        app.router.add_post("/bot{token}/sendMessage", telegram)
        app.router.add_post("/{version}/{number}/messages", graph)
        return app


@pytest.fixture
async def api() -> AsyncIterator[ProviderApi]:
    provider = ProviderApi()
    async with serving(provider.app(), provider.port):
        yield provider


@asynccontextmanager
async def through_telegram(outbox: EmbeddedStore, clock: FakeTime, api: ProviderApi) -> AsyncIterator[Delivery]:
    """An outbox worker sending the vendor's Telegram replies to `api`."""
    telegram = TelegramSender("123:abc", api.url)
    try:
        yield make_delivery(outbox, {f"telegram:{VENDOR}": telegram}, clock)
    finally:
        await telegram.close()


async def written(outbox: EmbeddedStore, clock: FakeTime, text: str) -> OutboxEntry:
    """One reply to the buyer, written to the outbox as a turn writes it."""
    [entry] = await queue(outbox, clock, provider="telegram", channel="telegram", to=CHAT, text=text)
    return entry


async def sweep_until_sent(delivery: Delivery, outbox: EmbeddedStore, clock: FakeTime) -> None:
    """What the runtime does: sweep the outbox every second, here at most `SWEEPS` times."""
    for _ in range(SWEEPS):
        if not await outbox.pending_outbox(clock() + 3600):
            return
        clock.advance(1.0)
        await delivery.sweep()
        await clock.drive(delivery)


async def test_a_reply_written_after_the_earlier_ones_retry_came_due_is_still_sent_after_it(
        store: EmbeddedStore, fake: FakeTime, api: ProviderApi) -> None:  # noqa: F811 (fixtures)
    async with through_telegram(store, fake, api) as delivery:
        first = await written(store, fake, "Bienvenue")
        delivery.submit([first])
        await fake.drive(delivery)  # refused: "retry after 1 s", and the buyer's next replies wait behind it
        assert api.accepted == []
        # The retry is due, but the outbox sweep has not come round yet when the buyer's next reply is written
        # (a busy process): it is held behind the first one, whose retry time has already passed.
        fake.advance(1.5)
        delivery.submit([await written(store, fake, "Merci")])
        await fake.drive(delivery)

        await sweep_until_sent(delivery, store, fake)

    assert api.accepted == ["Bienvenue #0", "Merci #0"]  # each once, in the order they were written
    assert await store.pending_outbox(fake() + 3600) == []


async def test_a_reply_told_to_retry_after_0_s_is_sent_on_the_next_sweep(
        store: EmbeddedStore, fake: FakeTime, api: ProviderApi) -> None:  # noqa: F811 (fixtures)
    api.retry_after = 0  # Meta's 429 with "Retry-After: 0", at an instant the clock has not moved since the write
    meta = MetaSender(Config(phone_number_id="1099", access_token="t", app_secret="s", verify_token="v",
                             api_base_url=api.url))
    delivery = make_delivery(store, {f"meta:{VENDOR}": meta}, fake)
    try:
        [entry] = await queue(store, fake, to=PHONE, text="Votre robe est réservée")
        delivery.submit([entry])
        await fake.drive(delivery)
        assert api.accepted == []

        await sweep_until_sent(delivery, store, fake)
    finally:
        await meta.close()

    assert api.accepted == ["Votre robe est réservée #0"]
    assert await store.pending_outbox(fake() + 3600) == []


async def test_a_sweep_that_read_the_store_before_a_retry_was_written_does_not_let_the_next_reply_overtake_it(
        store: EmbeddedStore, fake: FakeTime, api: ProviderApi) -> None:  # noqa: F811 (fixtures)
    async with through_telegram(store, fake, api) as delivery:
        first = await written(store, fake, "Bienvenue")
        await written(store, fake, "Merci")
        stale = await store.pending_outbox(fake())  # a sweep reads both replies...
        delivery.submit([first])
        await fake.drive(delivery)  # ...while the first one meets a 429 and waits a second for its retry
        assert api.accepted == []
        delivery.submit(stale)  # ...then submits what it read: the first one's handled version, and the second
        await fake.drive(delivery)

        await sweep_until_sent(delivery, store, fake)

    assert api.accepted == ["Bienvenue #0", "Merci #0"]
