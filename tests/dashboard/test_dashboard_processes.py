"""Two `palabre run` processes on one MongoDB and one Redis: a sale made through one shows live on a dashboard
connected to the other."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.bot.test_live_sale import link_of
from tests.bot.test_mongo_processes import Palabre, processes
from tests.conftest import MONGO_KIND, ROOT, mongo_test_uri
from tests.dashboard.conftest import next_event

pytestmark = pytest.mark.skipif(MONGO_KIND == "mongomock", reason="two processes need a MongoDB server")
__all__ = ["processes"]
BUYER = "+221770000041"


def add_user(database: str, name: str, role: str) -> str:
    env = {**os.environ, "MONGODB_URI": mongo_test_uri(), "PALABRE_MONGODB_DB": database}
    done = subprocess.run([sys.executable, "-m", "bot", "users", "add", name, "--role", role, "--vendor", "demo"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def say(http: aiohttp.ClientSession, url: str, **body: str) -> dict:
    async with http.post(f"{url}/simulator/demo/messages", json={"from": BUYER, **body}) as r:
        assert r.status == 200
        return await r.json()


async def test_a_sale_in_one_process_shows_live_on_a_dashboard_connected_to_another(
        processes: tuple[list[Palabre], str, aiohttp.ClientSession], redis_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Without stream partitions each process runs the turns of the webhooks it receives: the sale surely
    # happens in the shop's process, never in the dashboard's.
    monkeypatch.setenv("PALABRE_PARTITIONS", "0")
    started, database, http = processes
    token = add_user(database, "owner", "admin")
    board = Palabre(tmp_path, database, redis_url)
    started.append(board)
    await board.ready(http)
    shop = Palabre(tmp_path, database, redis_url)
    started.append(shop)
    await shop.ready(http)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as stream_http, \
            stream_http.get(f"{board.url}/api/dashboard/demo/events", headers=headers) as stream:
        kind, first = await next_event(stream)
        assert (kind, first["totals"]["revenue"]) == ("snapshot", 0)
        await say(http, shop.url, text="ROBE1")
        await say(http, shop.url, payload="pay")
        link = link_of((await say(http, shop.url, payload="wave"))["replies"][0])
        async with http.post(link, data={"outcome": "paid"}) as r:
            assert r.status == 200
        seen = first
        for _ in range(20):
            kind, seen = await next_event(stream, timeout=15)
            if seen["totals"]["revenue"] == 15000:
                break
        robe = next(s for s in seen["stock"] if s["code"] == "ROBE1")
        assert (seen["totals"]["paid"], robe["stock"]) == (1, 2)
