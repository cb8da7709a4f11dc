"""A Palabre server whose clock the test moves (reservations expire, days pass), and a vendor for lives."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from bot.app import create_app
from bot.runtime import Runtime, load_vendors
from bot.settings import Settings
from tests.conftest import EXAMPLES, Server, free_port, make_store

ADMIN = "admin-token-for-live-tests-0001"


class Clock:
    """Wall time plus an offset the test moves forward: timers fall due without waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def travel(self, seconds: float) -> None:
        self.offset += seconds


def live_vendor(tmp_path: Path, catalogue: list[dict[str, Any]] | None = None, **settings: Any) -> Path:
    """The demo vendor with its own catalogue and settings, in a folder of its own."""
    data = yaml.safe_load((EXAMPLES / "demo.yaml").read_text(encoding="utf-8"))
    if catalogue is not None:
        data["catalogue"] = catalogue
    data["settings"].update(settings)
    folder = tmp_path / f"live-vendors-{len(list(tmp_path.glob('live-vendors-*')))}"
    folder.mkdir()
    (folder / "demo.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


ClockedFactory = Callable[..., Awaitable[tuple[Server, Clock]]]


@pytest.fixture
async def clocked_server(tmp_path: Path) -> AsyncIterator[ClockedFactory]:
    """clocked_server(vendors_dir, store='embedded'|'mongo', data_dir=None) -> (server, clock); a second call
    with the same `data_dir` is a restart on the same files."""
    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(vendors_dir: Path, store: str = "embedded", data_dir: Path | None = None,
                    clock: Clock | None = None) -> tuple[Server, Clock]:
        clock = clock or Clock()
        port = free_port()
        data_dir = data_dir or tmp_path / f"data-{port}"
        settings = Settings.from_env({}, port=port, data_dir=str(data_dir), vendors_dir=str(vendors_dir),
                                     timer_interval=0.05, outbox_interval=0.1, admin_token=ADMIN)
        runtime = Runtime(settings, load_vendors(str(vendors_dir)), store=make_store(store, data_dir), clock=clock)
        runner = web.AppRunner(create_app(runtime), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        sessions.append(http)
        return Server(settings.base_url, runtime, http), clock

    async def stop_all() -> None:
        for s in sessions:
            await s.close()
        for r in reversed(runners):
            await r.cleanup()
        sessions.clear()
        runners.clear()

    start.stop_all = stop_all  # type: ignore[attr-defined]
    yield start
    await stop_all()
