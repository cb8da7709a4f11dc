"""The server's event loop (PALABRE_LOOP) and webhook bodies read whole, however they are framed."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import pytest

from bot.runtime import server_loop
from bot.settings import Settings
from channels.telegram import SECRET_HEADER
from tests.channels.test_telegram import (  # noqa: F401 (bot_api is a fixture)
    SECRET,
    FakeBotApi,
    bot_api,
    message,
    telegram_vendor,
)
from tests.conftest import Server


@pytest.mark.parametrize(("choice", "module"), [("auto", "uvloop"), ("uvloop", "uvloop"), ("asyncio", "asyncio")])
def test_palabre_loop_picks_the_servers_event_loop(choice: str, module: str) -> None:
    settings = Settings.from_env({"PALABRE_LOOP": choice.upper()})
    loop = server_loop(settings.event_loop)
    try:
        assert type(loop).__module__.split(".")[0] == module
        assert loop.run_until_complete(asyncio.sleep(0, result="ran")) == "ran"
    finally:
        loop.close()


def test_an_unknown_palabre_loop_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="PALABRE_LOOP"):
        Settings.from_env({"PALABRE_LOOP": "trio"})


async def test_webhook_bodies_are_read_whole_whatever_their_framing(
    start_server, bot_api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """Content-Length, chunked, and gzip (aiohttp inflates it: its length is not the header's) all store the
    update; an empty body is a 400, never a 500."""
    server: Server = await start_server(telegram_vendor(tmp_path, bot_api.base, monkeypatch))
    url = f"{server.url}/webhooks/telegram/demo"
    headers = {"Content-Type": "application/json", SECRET_HEADER: SECRET}
    long_text = "Robe wax taille M " * 400  # larger than one read of the socket

    async def chunks(body: bytes):  # type: ignore[no-untyped-def]
        for i in range(0, len(body), 1000):
            yield body[i:i + 1000]

    bodies = {1: json.dumps(message(1, long_text)).encode(), 2: json.dumps(message(2, long_text)).encode(),
              3: json.dumps(message(3, long_text)).encode()}
    async with server.http.post(url, data=bodies[1], headers=headers) as r:
        assert r.status == 200 and await r.json() == {"ok": True}
    async with server.http.post(url, data=chunks(bodies[2]), headers=headers) as r:
        assert r.status == 200
    gzipped = {**headers, "Content-Encoding": "gzip"}
    async with server.http.post(url, data=gzip.compress(bodies[3]), headers=gzipped) as r:
        assert r.status == 200
    async with server.http.post(url, data=b"", headers=headers) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_json"
    await server.runtime.pipeline.idle()
    for update_id in (1, 2, 3):
        [inbound] = [m for m in await server.runtime.store.transcript("demo:telegram:5123456789")
                     if m.direction == "in" and m.event_id == f"tg:demo:{update_id}"]
        assert inbound.text == long_text


async def test_a_turn_retried_after_its_commit_is_not_run_a_second_time(start_server) -> None:
    """An event's first run skips the processed-check (it was just stored as new); a retry must not: a turn
    that failed after committing (here a listener) answers from the store instead of moving the dialog again."""
    server: Server = await start_server()
    failed: list[str] = []

    async def fails_once(event, write) -> None:  # type: ignore[no-untyped-def]
        if not failed:
            failed.append(event.conversation_key)
            raise RuntimeError("listener broke after the commit")

    server.runtime.pipeline.turn_listeners.insert(0, fails_once)
    server.runtime.pipeline.backoff.delay = lambda attempt: 0.01  # type: ignore[method-assign]
    first = await server.say("+221770000042", "ROBE1")
    assert failed
    conv = await server.runtime.store.get_conversation(failed[0])
    assert conv is not None and conv.version == 1  # one turn, though it ran into a failure
    assert first["replies"] and server.runtime.metrics.counters["palabre_turns_total"] == 1
