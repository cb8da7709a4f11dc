"""Transient faults lose no buyer message: Redis stopped under a running server, a locked store, poison events."""

from __future__ import annotations

import asyncio
import errno
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.pipeline import APOLOGY, HOLD_ON, is_transient
from channels import Contact, Event
from channels.telegram import SECRET_HEADER, parse_update
from storage.coordination import InProcessCoordinator, LockTimeout
from storage.embedded import EmbeddedStore
from tests.bot.test_dead_letters import dead_letters, palabre
from tests.channels.test_telegram import SECRET, FakeBotApi, bot_api, message, telegram_vendor  # noqa: F401
from tests.conftest import Server, ServerFactory, eventually, vendor_dir
from tests.redis_server import RedisProcess

BUYER = "+221771234567"


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def outs(transcript: list[dict[str, Any]]) -> list[str]:
    return [m["text"] or "" for m in transcript if m["direction"] == "out"]


async def test_a_message_sent_while_redis_is_down_is_answered_once_redis_is_back(
    start_server: ServerFactory, redis_process: RedisProcess
) -> None:
    server: Server = await start_server(redis_url=redis_process.url)
    warm = await server.say("+221770000001", "ROBE1")  # the server works through Redis
    assert "Réservé" in warm["replies"][0]["text"]

    redis_process.stop()
    async with server.http.post(f"{server.url}/simulator/demo/messages?wait=false",
                                json={"from": BUYER, "text": "ROBE1"}) as r:
        assert r.status == 202, await r.text()  # durable in the store: acknowledged
    # While Redis is down the buyer is told to wait, once, and nothing is lost or apologised for.
    await eventually(async_has(server, BUYER, HOLD_ON["fr"]), "the hold-on message", timeout=8)
    await asyncio.sleep(1.0)
    assert outs(await server.transcript(BUYER)) == [HOLD_ON["fr"]]

    redis_process.start()  # same port, same Palabre process
    await eventually(async_has(server, BUYER, "Réservé"), "the offer after Redis came back", timeout=10)
    await asyncio.sleep(0.5)  # a duplicate would show up now
    texts = outs(await server.transcript(BUYER))
    assert sum("Réservé" in t for t in texts) == 1 and texts.count(HOLD_ON["fr"]) == 1
    assert APOLOGY["fr"] not in texts
    assert [m["text"] for m in await server.transcript(BUYER) if m["direction"] == "in"] == ["ROBE1"]


def async_has(server: Server, buyer: str, text: str) -> Any:
    async def check() -> bool:
        return any(text in t for t in outs(await server.transcript(buyer)))

    return check


async def test_a_reservation_that_expires_while_redis_is_down_expires_once_redis_is_back(
    start_server: ServerFactory, redis_process: RedisProcess, tmp_path: Path
) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, reservation_minutes=0.05, stock=1),
                                        redis_url=redis_process.url)  # 3-second reservations
    assert "Réservé" in (await server.say(BUYER, "ROBE1"))["replies"][0]["text"]
    redis_process.stop()
    await asyncio.sleep(4)  # the expiry timer falls due and its system turn fails on the lock
    assert not any("a expiré" in t for t in outs(await server.transcript(BUYER)))
    redis_process.start()
    await eventually(async_has(server, BUYER, "a expiré"), "the expiry after Redis came back", timeout=10)
    await asyncio.sleep(0.5)
    assert sum("a expiré" in t for t in outs(await server.transcript(BUYER))) == 1
    other = await server.say("+221770000002", "ROBE1")
    assert "Réservé" in other["replies"][0]["text"]  # the unit came back to stock


async def test_webhook_answers_503_only_while_the_event_cannot_be_made_durable(
    start_server: ServerFactory, bot_api: FakeBotApi, tmp_path: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(telegram_vendor(tmp_path, bot_api.base, monkeypatch))
    database = Path(server.runtime.settings.data_dir) / "palabre.sqlite3"
    headers = {"Content-Type": "application/json", SECRET_HEADER: SECRET}
    # Another program (a backup, an sqlite3 shell) holds the database's write lock.
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        async with server.http.post(f"{server.url}/webhooks/telegram/demo", data=json.dumps(message(41, "ROBE1")),
                                    headers=headers) as r:
            assert r.status == 503, await r.text()  # not acknowledged: Telegram delivers it again
            assert (await r.json())["error"]["code"] == "unavailable"
        async with server.http.post(f"{server.url}/simulator/demo/messages?wait=false",
                                    json={"from": BUYER, "text": "ROBE1"}) as r:
            assert r.status == 503
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    # Telegram's redelivery is accepted and answered.
    async with server.http.post(f"{server.url}/webhooks/telegram/demo", data=json.dumps(message(41, "ROBE1")),
                                headers=headers) as r:
        assert r.status == 200
    await eventually(lambda: any("Réservé" in b["text"] for b in bot_api.sent(5123456789)), "the offer")


def test_telegram_date_1e400_is_refused_by_the_adapter() -> None:
    for date in ("1e400", "-1e400", "1e300", "-5"):
        raw = json.dumps(message(7, "ROBE1")).replace('"date": 1781000000', f'"date": {date}')
        with pytest.raises(ValueError, match="date"):
            parse_update(json.loads(raw), "demo")
    with pytest.raises(ValueError):
        parse_update({**message(7, "ROBE1"), "update_id": 7.5}, "demo")
    assert parse_update(message(7, "ROBE1"), "demo")[0].received_at == 1781000000.0


async def test_telegram_update_dated_1e400_gets_400_and_nothing_is_stored(
    start_server: ServerFactory, bot_api: FakeBotApi, tmp_path: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(telegram_vendor(tmp_path, bot_api.base, monkeypatch))
    for date in ("1e400", "1e300"):
        raw = json.dumps(message(8, "ROBE1")).replace('"date": 1781000000', f'"date": {date}')
        async with server.http.post(f"{server.url}/webhooks/telegram/demo", data=raw,
                                    headers={"Content-Type": "application/json", SECRET_HEADER: SECRET}) as r:
            assert r.status == 400, await r.text()
            assert "error" in await r.json()
    assert await server.runtime.store.unprocessed_events() == []
    assert not await server.runtime.store.is_processed("tg:demo:8")


async def test_start_up_survives_a_stored_event_that_cannot_be_loaded(tmp_path: Path) -> None:
    # What an older Palabre stored for a Telegram update dated 1e400: an event that no longer loads.
    data_dir = tmp_path / "old-data"
    old = EmbeddedStore(data_dir)
    await old.start()
    poison = Event(id="tg:demo:1", kind="message", channel="telegram", provider="telegram", vendor_id="demo",
                   contact=Contact(address="5123456789"), text="ROBE1", received_at=float("inf"))
    fine = Event(id="sim:demo:waiting", kind="message", channel="web", provider="simulator", vendor_id="demo",
                 contact=Contact(address=BUYER), text="ROBE1")
    await old.add_events([poison, fine])
    await old.close()

    async with palabre(data_dir) as server:
        # Started: the poison is set aside, and the event stored beside it is answered.
        await eventually(async_has(server, BUYER, "Réservé"), "the offer to the event stored beside the poison")
        letters = await dead_letters(server)
        assert [(d["event_id"], d["vendor"]) for d in letters] == [("tg:demo:1", "demo")]
        assert letters[0]["error"].startswith("cannot be loaded")


async def test_failures_are_told_apart_transient_from_permanent(redis_process: RedisProcess,
                                                                 tmp_path: Path) -> None:
    client = aioredis.Redis.from_url(redis_process.url)
    redis_process.stop()
    try:
        with pytest.raises(Exception) as down:
            await client.get("k")
    finally:
        await client.aclose()
    assert is_transient(down.value)

    coordinator = InProcessCoordinator()
    async with coordinator.lock("conv"):
        with pytest.raises(LockTimeout) as waited:
            async with coordinator.lock("conv", wait=0.01):
                pass
    assert is_transient(waited.value)

    db = tmp_path / "x.sqlite3"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(db, timeout=0.01)
    with pytest.raises(sqlite3.OperationalError) as locked:
        other.execute("INSERT INTO t VALUES (1)")
    holder.close()
    other.close()
    assert is_transient(locked.value)

    assert is_transient(OSError(errno.ENOSPC, "No space left on device"))
    missing = tmp_path / "no-such-template.txt"
    with pytest.raises(OSError) as not_found:
        missing.read_text()
    bugs = (RuntimeError("boom"), KeyError("product"), ZeroDivisionError(), sqlite3.OperationalError("no such table"),
            not_found.value)
    for bug in bugs:
        assert not is_transient(bug)
