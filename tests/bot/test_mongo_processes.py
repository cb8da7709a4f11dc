"""Several `palabre run` processes on one MongoDB database: without Redis the second refuses to start."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import MONGO_KIND, ROOT, free_port, mongo_test_uri

pytestmark = pytest.mark.skipif(MONGO_KIND == "mongomock", reason="several processes need a MongoDB server")


class Palabre:
    """A `python -m bot run` process on a free port."""

    def __init__(self, tmp_path: Path, database: str, redis_url: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"palabre-{self.port}.log"
        env = {**os.environ, "MONGODB_URI": mongo_test_uri(), "PALABRE_MONGODB_DB": database,
               "PALABRE_LOG_LEVEL": "WARNING"}
        env.pop("REDIS_URL", None)  # .ci/run exports one for the whole suite
        if redis_url:
            env["REDIS_URL"] = redis_url
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(self.port),
                 "--data-dir", str(tmp_path / f"data-{self.port}")],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    async def ready(self, http: aiohttp.ClientSession, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.output()}"
            try:
                async with http.get(f"{self.url}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"not ready after {timeout} s:\n{self.output()}")

    async def exit_code(self, timeout: float = 30.0) -> int:
        return await asyncio.to_thread(self.proc.wait, timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[tuple[list[Palabre], str, aiohttp.ClientSession]]:
    started: list[Palabre] = []
    database = f"palabre_test_{uuid.uuid4().hex}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        try:
            yield started, database, http
        finally:
            for p in started:
                p.stop()


async def test_second_process_without_redis_refuses_to_start_naming_redis_url(processes, tmp_path: Path) -> None:
    started, database, http = processes
    first = Palabre(tmp_path, database)
    started.append(first)
    await first.ready(http)

    second = Palabre(tmp_path, database)
    started.append(second)
    assert await second.exit_code() != 0
    assert "REDIS_URL" in second.output() and "Traceback" not in second.output()
    async with http.get(f"{first.url}/readyz") as r:
        assert r.status == 200  # the first one serves on, undisturbed

    first.stop()
    third = Palabre(tmp_path, database)  # a stopped process released the database at once
    started.append(third)
    await third.ready(http)


async def test_processes_sharing_redis_share_the_database(processes, tmp_path: Path, redis_url: str) -> None:
    started, database, http = processes
    started.extend([Palabre(tmp_path, database, redis_url), Palabre(tmp_path, database, redis_url)])
    for p in started:
        await p.ready(http)
