"""A turn that keeps failing becomes a dead letter with one apology; operators list and replay it (CLI, API)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot import commerce
from bot.app import create_app
from bot.pipeline import APOLOGY
from bot.runtime import RUNTIME, Runtime
from bot.settings import Settings
from bot.vendors import VendorLoader
from dialogs import Registry, Turn
from tests.conftest import EXAMPLES, ROOT, Server, eventually, free_port

TOKEN = "admin-token-5521"
BUYER = "+221776543210"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Breakable:
    """The operator's registry with `reserve_product` replaced through the public Registry API by one that
    raises while `broken` (a bug in a custom action, say), and counts its calls."""

    def __init__(self) -> None:
        self.broken = True
        self.calls = 0
        self.registry = commerce.register(Registry())
        original = self.registry.get("reserve_product")

        async def reserve_product(turn: Turn) -> Any:
            self.calls += 1
            if self.broken:
                raise RuntimeError("reserve_product exploded")
            return await original(turn)

        self.registry.add("reserve_product", reserve_product)


@asynccontextmanager
async def palabre(data_dir: Path, registry: Registry | None = None, **options: Any) -> AsyncIterator[Server]:
    """A real Palabre server on 127.0.0.1 over `data_dir`, its vendors compiled with `registry`."""
    port = free_port()
    settings = Settings.from_env({}, port=port, data_dir=str(data_dir), vendors_dir=str(EXAMPLES),
                                 timer_interval=0.05, outbox_interval=0.1, admin_token=TOKEN, **options)
    vendors = VendorLoader(registry or commerce.register(Registry())).load_files([EXAMPLES / "demo.yaml"])
    runner = web.AppRunner(create_app(Runtime(settings, vendors)), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            yield Server(settings.base_url, runner.app[RUNTIME], http)
    finally:
        await runner.cleanup()


async def cli(*args: str) -> tuple[int, str, str]:
    """Run `python -m bot ARGS` in a real subprocess (the test's server keeps serving meanwhile)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "REDIS_URL", "PALABRE_ADMIN_TOKEN")}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, cwd=ROOT, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def outs(transcript: list[dict[str, Any]]) -> list[str]:
    return [m["text"] or "" for m in transcript if m["direction"] == "out"]


async def dead_letters(server: Server, **params: str) -> list[dict[str, Any]]:
    async with server.http.get(f"{server.url}/api/admin/dead-letters", params=params, headers=AUTH) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["dead_letters"]


async def test_a_failing_turn_is_dead_lettered_after_three_attempts_with_one_apology_and_replayed(
    tmp_path: Path
) -> None:
    action = Breakable()
    async with palabre(tmp_path / "data", action.registry) as server:
        answer = await server.say(BUYER, "ROBE1")
        assert [r["text"] for r in answer["replies"]] == [APOLOGY["fr"]]
        assert action.calls == 3  # PALABRE_TURN_MAX_ATTEMPTS' default
        assert outs(await server.transcript(BUYER)) == [APOLOGY["fr"]]
        again = await server.say(BUYER, "ROBE1", id="m-2")  # a later message fails alone, apologised once too
        assert [r["text"] for r in again["replies"]] == [APOLOGY["fr"]]

        async with server.http.get(f"{server.url}/api/admin/dead-letters") as r:
            assert r.status == 401
        async with server.http.get(f"{server.url}/api/admin/dead-letters",
                                   headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401
        letters = await dead_letters(server)
        assert [d["attempts"] for d in letters] == [3, 3]
        assert all("RuntimeError: reserve_product exploded" in d["error"] for d in letters)
        assert all(BUYER not in str(d) and d["conversation"].startswith("demo:web:+22177") for d in letters)
        assert await dead_letters(server, vendor="nobody") == []

        action.broken = False  # the operator ships the fix
        first = letters[0]["event_id"]
        async with server.http.post(f"{server.url}/api/admin/dead-letters/replay", json={"event_id": first}) as r:
            assert r.status == 401
        async with server.http.post(f"{server.url}/api/admin/dead-letters/replay", json={"event_id": first},
                                    headers=AUTH) as r:
            assert r.status == 200 and (await r.json())["replayed"] == [first]
        await eventually(lambda: _offers(server), "the offer after the replay")
        async with server.http.post(f"{server.url}/api/admin/dead-letters/replay", json={"event_id": first},
                                    headers=AUTH) as r:
            assert r.status == 404  # already replayed
        async with server.http.post(f"{server.url}/api/admin/dead-letters/replay", json={"all": True},
                                    headers=AUTH) as r:
            assert r.status == 200 and (await r.json())["replayed"] == [letters[1]["event_id"]]
        await eventually(lambda: _offers(server, 2), "the second offer")
        await asyncio.sleep(0.3)
        texts = outs(await server.transcript(BUYER))
        assert texts.count(APOLOGY["fr"]) == 2 and len(texts) == 4  # two apologies, then one answer each
        assert await dead_letters(server) == []


async def _offers(server: Server, n: int = 1) -> bool:
    texts = outs(await server.transcript(BUYER))
    return len([t for t in texts if t != APOLOGY["fr"]]) >= n


async def test_cli_lists_and_replays_dead_letters_through_a_running_server(tmp_path: Path) -> None:
    action = Breakable()
    async with palabre(tmp_path / "data", action.registry) as server:
        await server.say(BUYER, "ROBE1", id="poison-1")
        event_id = "sim:demo:poison-1"
        code, out, err = await cli("dead-letters", "--url", server.url, "--token", TOKEN)
        assert code == 0, err
        assert event_id in out and "reserve_product exploded" in out and BUYER not in out
        code, out, err = await cli("dead-letters", "--url", server.url)
        assert code == 1 and "admin token" in err
        code, out, err = await cli("replay", "--url", server.url, "--token", "wrong", event_id)
        assert code == 1 and "401" in err

        action.broken = False
        code, out, err = await cli("replay", "--url", server.url, "--token", TOKEN, event_id)
        assert code == 0, err
        await eventually(lambda: _offers(server), "the offer after `palabre replay`")
        code, out, err = await cli("replay", "--url", server.url, "--token", TOKEN, event_id)
        assert code == 1 and "no dead letter" in err


async def test_cli_replays_offline_and_the_next_start_answers(tmp_path: Path) -> None:
    action = Breakable()
    data = tmp_path / "data"
    async with palabre(data, action.registry) as server:
        await server.say(BUYER, "ROBE1", id="poison-2")
        code, out, err = await cli("dead-letters", "--data-dir", str(data))
        assert code == 1 and "--url" in err  # the running server owns the folder
    code, out, err = await cli("dead-letters", "--data-dir", str(data), "--vendor", "demo")
    assert code == 0 and "sim:demo:poison-2" in out, err
    code, out, err = await cli("replay", "--data-dir", str(data))
    assert code == 2  # neither an id nor --all
    code, out, err = await cli("replay", "--data-dir", str(data), "--all")
    assert code == 0 and "sim:demo:poison-2" in out, err
    async with palabre(data) as server:  # fixed code, restarted
        await eventually(lambda: _offers(server), "the offer at the next start")
        assert await dead_letters(server) == []


async def test_cli_on_a_folder_with_no_store_says_so_instead_of_listing_none(tmp_path: Path) -> None:
    # A mistyped --data-dir got a new, empty store and "0 dead letter(s)": all well, seemingly.
    missing = tmp_path / "dat"
    for args in (("dead-letters",), ("replay", "--all")):
        code, out, err = await cli(*args, "--data-dir", str(missing))
        assert code == 1 and f"no Palabre store in {missing}" in err, (args, out, err)
    assert not missing.exists()
