"""Shared fixtures: a real redis-server, and real Palabre servers on 127.0.0.1 with real files."""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import socket
import unicodedata
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import mongomock_motor
import pytest
from aiohttp import web

from bot.app import create_app
from bot.runtime import Runtime, load_vendors
from bot.settings import Settings
from storage import Store
from tests.redis_server import start_redis

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "vendors"
FIXTURES = ROOT / "tests" / "fixtures"
MONGODB_URI = os.environ.get("MONGODB_URI")
# Every test parses with the rules and the n-gram classifier unless it asks for the encoder's second opinion
# (tests/intents, where CI keeps floors on both paths): the rules-only path must keep working on its own, and a
# test's answer must not depend on whether the venv has `palabre[nlu]`.
os.environ.setdefault("PALABRE_NLU_SECOND_OPINION", "off")


def _mongo_kind(uri: str | None) -> str:
    """What MONGODB_URI points at: 'ferretdb', 'real' (MongoDB), or 'mongomock' when it is unset.

    PALABRE_TEST_MONGO_KIND (set by .ci/run) wins; otherwise the server says so in `buildInfo`.
    """
    if not uri:
        return "mongomock"
    if os.environ.get("PALABRE_TEST_MONGO_KIND"):
        return os.environ["PALABRE_TEST_MONGO_KIND"]
    from pymongo import MongoClient

    with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        return "ferretdb" if "ferretdbVersion" in client.admin.command("buildInfo") else "real"


MONGO_KIND = _mongo_kind(MONGODB_URI)
MONGO_ID = f"mongo-{MONGO_KIND}"


def mongo_test_uri() -> str:
    """MONGODB_URI as the tests use it; on FerretDB, one connection per client.

    FerretDB v1 applies an update as a query then a write, so two updates of one document on two
    connections can lose one (docs/decisions.md, "FerretDB in CI"); one connection serialises them.
    """
    assert MONGODB_URI is not None
    if MONGO_KIND != "ferretdb" or "maxpoolsize=" in MONGODB_URI.lower():
        return MONGODB_URI
    return MONGODB_URI + ("&" if "?" in MONGODB_URI else "?") + "maxPoolSize=1"


def mongo_store() -> Store:
    """A MongoStore on a database of its own (a real server), or on a fresh mongomock client."""
    from storage.mongo import MongoStore

    if MONGODB_URI:
        return MongoStore(mongo_test_uri(), db_name=f"palabre_test_{uuid.uuid4().hex}")
    return MongoStore("", client=mongomock_motor.AsyncMongoMockClient())


@asynccontextmanager
async def serving(app: web.Application, port: int) -> AsyncIterator[None]:
    """Serve an aiohttp app (a fake provider) on 127.0.0.1:`port` for the duration of the block."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def plain(text: str | None) -> str:
    """Text with no-break and narrow no-break spaces as plain spaces (babel writes 15 000 F CFA)."""
    return unicodedata.normalize("NFKC", text or "").replace("\u202f", " ").replace("\xa0", " ")


async def eventually(check: Callable[[], Any], what: Callable[[], object] | str = "the condition",
                     timeout: float = 10.0) -> None:
    """Wait, at most `timeout` seconds, until `check()` (sync or async) is true; fail saying `what`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() >= deadline:
            pytest.fail(f"timed out waiting for {what() if callable(what) else what}")
        await asyncio.sleep(0.02)


@pytest.fixture(autouse=True)
def _no_shared_mongodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of the environment while a test runs: a server process it starts would otherwise open the shared
    "palabre" database. A test that wants MongoDB passes `mongo_test_uri()` on with a database of its own."""
    monkeypatch.delenv("MONGODB_URI", raising=False)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url, stop = start_redis()
    try:
        yield url
    finally:
        stop()


def make_store(kind: str, data_dir: Path) -> Store:
    if kind == "embedded":
        from storage.embedded import EmbeddedStore

        return EmbeddedStore(data_dir)
    return mongo_store()


@dataclass
class Server:
    """A running Palabre server and an HTTP client for it."""

    url: str
    runtime: Runtime
    http: aiohttp.ClientSession

    async def say(self, sender: str, text: str | None = None, payload: str | None = None,
                  vendor: str = "demo", **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"from": sender, **extra}
        if text is not None:
            body["text"] = text
        if payload is not None:
            body["payload"] = payload
        async with self.http.post(f"{self.url}/simulator/{vendor}/messages", json=body) as r:
            data = await r.json()
            assert r.status == 200, data
            return data

    async def transcript(self, contact: str, vendor: str = "demo") -> list[dict[str, Any]]:
        async with self.http.get(f"{self.url}/simulator/{vendor}/messages", params={"contact": contact}) as r:
            assert r.status == 200
            return (await r.json())["messages"]


ServerFactory = Callable[..., Awaitable[Server]]


@pytest.fixture
async def start_server(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """Start servers: start_server(vendors_dir=..., store='embedded'|'mongo', redis_url=..., **settings)."""
    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(vendors_dir: Path | str = EXAMPLES, store: str = "embedded", **overrides: Any) -> Server:
        port = free_port()
        data_dir = tmp_path / f"data-{port}"
        settings = Settings.from_env({}, port=port, data_dir=str(data_dir), vendors_dir=str(vendors_dir),
                                     timer_interval=0.05, outbox_interval=0.1, **overrides)
        runtime = Runtime(settings, load_vendors(str(vendors_dir)), store=make_store(store, data_dir))
        runner = web.AppRunner(create_app(runtime), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        sessions.append(http)
        return Server(settings.base_url, runtime, http)

    yield start
    for s in sessions:
        await s.close()
    for r in reversed(runners):
        await r.cleanup()


def vendor_dir(tmp_path: Path, **changes: Any) -> Path:
    """A copy of the demo vendor with some top-level or settings values changed."""
    import yaml

    data = yaml.safe_load((EXAMPLES / "demo.yaml").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if key in ("reservation_minutes", "reminder_percent", "max_quantity"):
            data["settings"][key] = value
        elif key == "stock":
            for product in data["catalogue"]:
                if product["code"] == "ROBE1":
                    product["stock"] = value
        else:
            data[key] = value
    d = tmp_path / f"vendors-{len(list(tmp_path.glob('vendors-*')))}"
    d.mkdir()
    (d / "demo.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return d


__all__ = ["EXAMPLES", "FIXTURES", "MONGO_ID", "MONGO_KIND", "Server", "free_port", "plain", "shutil", "vendor_dir"]
