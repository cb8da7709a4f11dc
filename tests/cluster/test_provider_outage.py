"""Two `python -m bot run` processes on one Redis send through a Telegram Bot API that answers 429 (with
retry_after) and then 5xx for 10 s: afterwards every reply arrives exactly once, in order per buyer, and
the sends never outrun the configured pace (measured from the fake server's clock)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web

from tests.cluster.support import palabre_env
from tests.cluster.test_partitions import (
    SECRET,
    TOKEN,
    Palabre,
    post,
    update,
)
from tests.cluster.test_partitions import write_vendor as shop
from tests.conftest import MONGO_KIND, free_port, plain, serving

pytestmark = pytest.mark.skipif(
    MONGO_KIND == "mongomock",
    reason="processes sharing a store need a MongoDB-wire server: set MONGODB_URI (.ci/run starts FerretDB)",
)

BUYERS = 20
FIRST_CHAT = 400_000_000
MESSAGES = ("bonjour", "SAC2", "merci")
OUTAGE = 10.0
PARTITIONS = 64  # the default PALABRE_PARTITIONS
PACE = 8.0  # the vendor's Telegram sending limit, per second (burst 1)


@dataclass
class FlakyBotApi:
    """A Telegram Bot API that, from its first sendMessage on, answers 429 for `OUTAGE / 2` seconds, then
    500/502 until `OUTAGE` has passed, then accepts. Every request is timed on this server's clock."""

    port: int = field(default_factory=free_port)
    attempts: list[tuple[float, int]] = field(default_factory=list)  # (time, chat) of every sendMessage
    log: dict[int, list[str]] = field(default_factory=dict)  # chat -> "time status text", for failure messages
    accepted: dict[int, list[str]] = field(default_factory=dict)  # chat -> texts, in arrival order
    refused: int = 0
    started: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        async def call(request: web.Request) -> web.Response:
            body = await request.json()
            if request.match_info["method"] != "sendMessage":
                return web.json_response({"ok": True, "result": True})
            now = time.monotonic()
            chat = int(body["chat_id"])
            self.attempts.append((now, chat))
            self.started = self.started if self.started is not None else now
            elapsed = now - self.started
            self.log.setdefault(chat, []).append(
                f"{elapsed:6.2f} {'refused' if elapsed < OUTAGE else 'accepted'} {plain(body.get('text'))[:24]!r}")
            if elapsed < OUTAGE:
                self.refused += 1
                if elapsed < OUTAGE / 2:
                    return web.json_response({"ok": False, "error_code": 429, "parameters": {"retry_after": 1},
                                              "description": "Too Many Requests: retry after 1"}, status=429)
                if self.refused % 2:
                    return web.Response(status=502, text="<html>Bad Gateway</html>", content_type="text/html")
                return web.json_response({"ok": False, "error_code": 500, "description": "Internal Server Error"},
                                         status=500)
            self.accepted.setdefault(chat, []).append(plain(body.get("text")))
            return web.json_response({"ok": True, "result": {"message_id": len(self.attempts), "chat": {"id": chat}}})

        app = web.Application()
        app.router.add_post("/bot{token}/{method}", call)
        return app


def write_vendor(directory: Path, api: FlakyBotApi) -> None:
    """The cluster tests' Telegram shop, with stock for everyone and the pace this test measures."""
    shop(directory, api)  # type: ignore[arg-type]  # it reads only the fake API's url
    path = directory / "shop.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for product in data["catalogue"]:
        product["stock"] = 1000  # every buyer gets the offer: this test is about delivery, not stock
    data["delivery"] = {"limits": {"telegram": {"sending": {"per_second": PACE, "burst": 1}}}}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.fixture
async def cluster(
    tmp_path: Path, own_redis: str,
) -> AsyncIterator[tuple[list[Palabre], FlakyBotApi]]:
    api = FlakyBotApi()
    write_vendor(tmp_path / "vendors", api)
    env = palabre_env(tmp_path, own_redis, CLUSTER_TG_TOKEN=TOKEN, CLUSTER_TG_SECRET=SECRET)
    processes = [Palabre(tmp_path, env) for _ in range(2)]
    async with serving(api.app(), api.port):
        try:
            yield processes, api
        finally:
            for p in processes:
                p.stop()


async def balanced(http: aiohttp.ClientSession, processes: list[Palabre], timeout: float = 30.0) -> None:
    """Wait until the processes share the partitions evenly: this test is about a provider, not a rebalance
    (a conversation's replies are sent by the process that leases its partition)."""
    deadline = time.monotonic() + timeout
    leased: list[int] = []
    while time.monotonic() < deadline:
        leased = []
        for p in processes:
            async with http.get(f"{p.url}/metrics") as r:
                text = await r.text()
            leased += [int(float(line.split()[-1])) for line in text.splitlines()
                       if line.startswith("palabre_partitions_leased")]
        if len(leased) == len(processes) and sum(leased) == PARTITIONS and max(leased) - min(leased) <= 1:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"partitions never balanced: {leased}")


def most_in_a_second(times: list[float]) -> int:
    """The largest number of the sorted `times` that fall within any one second."""
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_a_provider_refusing_for_10_s_gets_every_reply_once_in_order_at_the_configured_pace(
    cluster: tuple[list[Palabre], FlakyBotApi],
) -> None:
    processes, api = cluster
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        for p in processes:
            p.start()
        for p in processes:
            await p.ready(http)
        await balanced(http, processes)

        async def buyer(i: int) -> None:
            # Each message to the other process than the last: one buyer's turns cross processes.
            for n, text in enumerate(MESSAGES):
                update_id = 30_000 + i * 10 + n
                for attempt in range(10):
                    if await post(http, processes[(i + n + attempt) % 2].url, update(update_id, FIRST_CHAT + i, text)):
                        break
                    await asyncio.sleep(0.2)
                await asyncio.sleep(0.3)

        async with asyncio.timeout(60):
            await asyncio.gather(*(buyer(i) for i in range(BUYERS)))

        def delivered() -> int:
            return sum(len(api.accepted.get(FIRST_CHAT + i, [])) for i in range(BUYERS))

        deadline = time.monotonic() + 90
        while delivered() < BUYERS * len(MESSAGES) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)  # a second copy of anything would show up by now

    logs = "\n".join(p.logs() for p in processes)
    assert api.refused >= BUYERS, f"the outage refused only {api.refused} sends: the test proves nothing"
    for i in range(BUYERS):
        got = api.accepted.get(FIRST_CHAT + i, [])
        assert len(got) == len(MESSAGES), (f"buyer {i} got {len(got)} replies: {got}; {len(api.attempts)} sends, "
                                           f"{delivered()} accepted in all; {api.log.get(FIRST_CHAT + i)}\n"
                                           f"{logs[-3000:]}")
        assert "Bienvenue" in got[0] and "SAC2" in got[1] and "plaisir" in got[2], (i, api.log[FIRST_CHAT + i])
    times = sorted(t for t, _ in api.attempts)
    # A token bucket of rate r and burst b lets through at most b + r sends in any second; one more is the
    # slack for network jitter between the Redis clock that grants tokens and this server's clock.
    assert most_in_a_second(times) <= 1 + PACE + 1, f"{most_in_a_second(times)} sends within one second"
    for i in range(BUYERS):
        own = [t for t, chat in api.attempts if chat == FIRST_CHAT + i]
        # The default per-buyer limit on Telegram: 1 per second, burst 3.
        assert most_in_a_second(own) <= 3 + 1 + 1, (i, own)
