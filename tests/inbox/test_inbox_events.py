"""Live updates over Server-Sent Events: in one process, and across two processes sharing Redis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from bot.inbox.users import add_user
from tests.conftest import ROOT, ServerFactory, free_port
from tests.inbox.conftest import BUYER, CONV, Inbox, conv_path, next_event


async def test_handoff_message_and_assignment_arrive_live(inbox: Inbox) -> None:
    headers = {"Authorization": f"Bearer {inbox.tokens['support']}"}
    async with inbox.server.http.get(f"{inbox.url}/api/inbox/events", headers=headers) as stream:
        assert stream.status == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
        assert (await next_event(stream))[0] == "ready"
        await inbox.handoff()
        kind, data = await next_event(stream)
        assert (kind, data["conversation"], data["status"]) == ("handoff", CONV, "open")
        await inbox.ok("POST", conv_path(tail="/claim"))
        kind, data = await next_event(stream)
        assert (kind, data["assignee"], data["status"]) == ("assignment", "support-1", "assigned")
        await inbox.server.say(BUYER, "vous êtes là ?")
        kind, data = await next_event(stream)
        assert (kind, data["conversation"]) == ("message", CONV)


async def test_an_agent_of_another_vendor_gets_no_updates_about_this_one(inbox: Inbox) -> None:
    token = await add_user(inbox.server.runtime.inbox.store, "elsewhere", "support", ["other-shop"])
    mine = {"Authorization": f"Bearer {inbox.tokens['support']}"}
    theirs = {"Authorization": f"Bearer {token}"}
    http = inbox.server.http
    async with http.get(f"{inbox.url}/api/inbox/events", headers=theirs) as other, \
            http.get(f"{inbox.url}/api/inbox/events", headers=mine) as own:
        await next_event(other)
        await next_event(own)
        await inbox.handoff()
        assert (await next_event(own))[0] == "handoff"
        with pytest.raises(TimeoutError):
            await next_event(other, timeout=0.5)


@contextmanager
def palabre_process(data_dir: Path, redis_url: str) -> Iterator[str]:
    """`python -m bot run` in its own process, sharing `redis_url`; yields its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PALABRE_") and k != "MONGODB_URI"}
    env["REDIS_URL"] = redis_url
    log = data_dir.parent / f"server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port),
                                 "--data-dir", str(data_dir)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


async def _healthy(http: aiohttp.ClientSession, url: str) -> None:
    for _ in range(200):
        try:
            async with http.get(f"{url}/healthz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    pytest.fail(f"{url} did not start within 20 s")


async def test_a_handoff_in_one_process_reaches_an_agent_connected_to_another(
        start_server: ServerFactory, redis_url: str, tmp_path: Path) -> None:
    agent_side = await start_server(redis_url=redis_url)
    token = await add_user(agent_side.runtime.inbox.store, "awa", "support", ["demo"])
    headers = {"Authorization": f"Bearer {token}"}
    with palabre_process(tmp_path / "buyer-side", redis_url) as buyer_side:
        await _healthy(agent_side.http, buyer_side)
        async with agent_side.http.get(f"{agent_side.url}/api/inbox/events", headers=headers) as stream:
            assert (await next_event(stream))[0] == "ready"
            async with agent_side.http.post(f"{buyer_side}/simulator/demo/messages",
                                            json={"from": BUYER, "text": "je veux parler à un conseiller"}) as r:
                assert r.status == 200
            kind, data = await next_event(stream)
            assert (kind, data["conversation"], data["vendor"]) == ("handoff", CONV, "demo")
            assert data["origin"] != os.getpid()  # published by the other process
