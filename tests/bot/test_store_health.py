"""A store that cannot checkpoint shows in /readyz and /metrics, and shutdown still frees its data directory."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import pytest

from bot.app import create_app
from bot.runtime import Runtime, load_vendors
from bot.settings import Settings
from storage.embedded import EmbeddedStore, StoreLocked
from tests.conftest import EXAMPLES, eventually, free_port, serving


def checkpoint_errors(metrics_text: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith("palabre_store_checkpoint_errors_total "):
            return float(line.split()[1])
    return 0.0


async def test_checkpoint_io_error_fails_readyz_and_close_releases_lock(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    settings = Settings.from_env({}, port=port, data_dir=str(data_dir), vendors_dir=str(EXAMPLES),
                                 timer_interval=0.05, outbox_interval=0.1)
    store = EmbeddedStore(data_dir, checkpoint_interval=0.02)
    runtime = Runtime(settings, load_vendors(str(EXAMPLES)), store=store)
    db, moved = data_dir / "palabre.sqlite3", data_dir / "moved.sqlite3"
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:

        async def ready() -> tuple[int, dict]:
            async with http.get(f"{base}/readyz") as r:
                return r.status, await r.json()

        async def errors() -> float:
            async with http.get(f"{base}/metrics") as r:
                return checkpoint_errors(await r.text())

        async with serving(create_app(runtime), port):
            assert (await ready())[0] == 200
            # A real I/O fault: the database's path now names a directory, so no checkpoint can open it.
            os.rename(db, moved)
            db.mkdir()

            async def not_ready() -> bool:
                return (await ready())[0] == 503

            await eventually(not_ready, "/readyz to fail while checkpoints fail", timeout=5)
            status, body = await ready()
            assert status == 503
            assert body["error"]["code"] == "not_ready"
            assert "checkpoint" in body["error"]["message"]
            first = await errors()
            assert first >= 1

            async def retried() -> bool:
                return await errors() > first

            await eventually(retried, "the checkpoint to be retried", timeout=5)
            db.rmdir()
            os.rename(moved, db)

            async def is_ready() -> bool:
                return (await ready())[0] == 200

            await eventually(is_ready, "/readyz to recover once checkpoints work again", timeout=5)
            # Fail again and shut down while the fault persists.
            os.rename(db, moved)
            db.mkdir()
            await eventually(not_ready, "/readyz to fail again", timeout=5)
    db.rmdir()
    os.rename(moved, db)
    again = EmbeddedStore(data_dir)
    try:
        await again.start()
    except StoreLocked:
        pytest.fail("shutdown after a checkpoint error left the data directory locked")
    await again.close()
