"""State every process must share through Redis, each proved with two `python -m bot run` processes: the
Meta → Wasender circuit breaker, the 24-hour-window memory, and numbers imported on one process."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from channels.meta import SIGNATURE_HEADER as META_SIGNATURE
from channels.wasender import SIGNATURE_HEADER as WASENDER_SIGNATURE
from tests.channels.test_meta import PNID, SECRET, VERIFY_TOKEN, envelope, graph_error, inbound, sign, with_contacts
from tests.channels.test_wasender import API_KEY, FakeWasender
from tests.channels.test_wasender import SECRET as WASENDER_SECRET
from tests.cluster.support import palabre_env
from tests.cluster.test_partitions import Palabre
from tests.conftest import MONGO_KIND, ROOT, free_port, serving

pytestmark = pytest.mark.skipif(
    MONGO_KIND == "mongomock",
    reason="processes sharing a store need a MongoDB-wire server: set MONGODB_URI (.ci/run starts FerretDB)",
)

ADMIN = "cluster-admin-token-77"
BUYERS = ("221771110001", "221771110002")


@dataclass
class GraphApi:
    """A Graph API /messages endpoint whose answer to each message is chosen by `answer(body)`."""

    answer: Callable[[dict[str, Any]], tuple[int, dict[str, Any]] | None]
    port: int = field(default_factory=free_port)
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            body = await request.json()
            if "type" not in body:  # read receipts and typing indicators
                return web.json_response({"success": True})
            self.messages.append(body)
            refused = self.answer(body)
            if refused is not None:
                return web.json_response(refused[1], status=refused[0])
            return web.json_response({"messaging_product": "whatsapp", "contacts": [{"wa_id": body["to"]}],
                                      "messages": [{"id": f"wamid.OUT{len(self.messages)}"}]})

        app = web.Application()
        app.router.add_post("/{version}/{pnid}/messages", handle)
        return app

    def to(self, buyer: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["to"] == buyer and (kind is None or m["type"] == kind)]


def write_vendor(directory: Path, graph: GraphApi, wasender_base: str, reservation_minutes: float | None = None,
                 **extra: Any) -> None:
    demo = yaml.safe_load((ROOT / "examples" / "vendors" / "demo.yaml").read_text(encoding="utf-8"))
    if reservation_minutes is not None:
        demo["settings"]["reservation_minutes"] = reservation_minutes
    demo.update(id="shop", channels={"meta": {
        "phone_number_id": PNID, "access_token": "${CLUSTER_WA_TOKEN}", "app_secret": "${CLUSTER_WA_SECRET}",
        "verify_token": "${CLUSTER_WA_VERIFY}", "api_base_url": graph.base}}, **extra)
    demo.setdefault("delivery", {})["limits"] = {"wasender": {"sending": {"per_second": 100, "burst": 20}}}
    if wasender_base:
        demo["channels"]["wasender"] = {"phone_number": "+221770001122", "api_key": API_KEY,
                                        "webhook_secret": WASENDER_SECRET, "api_base_url": wasender_base}
    directory.mkdir(exist_ok=True)
    (directory / "shop.yaml").write_text(yaml.safe_dump(demo, allow_unicode=True), encoding="utf-8")


def processes(tmp_path: Path, redis_url: str, **extra: str) -> list[Palabre]:
    env = palabre_env(tmp_path, redis_url, CLUSTER_WA_TOKEN="EAAG-token", CLUSTER_WA_SECRET=SECRET,
                      CLUSTER_WA_VERIFY=VERIFY_TOKEN, PALABRE_ADMIN_TOKEN=ADMIN, **extra)
    return [Palabre(tmp_path, env) for _ in range(2)]


async def say(http: aiohttp.ClientSession, process: Palabre, buyer: str, wamid: str, text: str) -> None:
    raw = json.dumps(envelope(with_contacts(inbound(wamid, "text", {"body": text}, sender=buyer)))).encode()
    async with http.post(f"{process.url}/webhooks/meta/shop", data=raw,
                         headers={"Content-Type": "application/json", META_SIGNATURE: sign(raw)}) as r:
        assert r.status == 200, await r.text()


async def until(check: Callable[[], bool], what: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what()
        await asyncio.sleep(0.1)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def test_meta_seen_down_by_one_process_sends_every_process_to_wasender(
    tmp_path: Path, own_redis: str, http: aiohttp.ClientSession,
) -> None:
    graph = GraphApi(lambda body: (500, graph_error(1, "An unknown error occurred")))
    wasender = FakeWasender()
    wasender_app = web.Application()
    wasender_app.router.add_post("/api/send-message", wasender.handle)
    write_vendor(tmp_path / "vendors", graph, wasender.base,
                 delivery={"fallback": "wasender", "breaker": {"failures": 2, "probe_after": 600}, "retry_base": 0.2})
    first, second = processes(tmp_path, own_redis)
    async with serving(graph.app(), graph.port), serving(wasender_app, wasender.port):
        try:
            first.start()
            await first.ready(http)
            await say(http, first, BUYERS[0], "wamid.A1", "bonjour")
            await until(lambda: wasender.sent(f"+{BUYERS[0]}"), lambda: (graph.messages, wasender.calls))
            assert len(graph.to(BUYERS[0])) == 2  # two failures open the circuit; the retry goes to Wasender
            first.stop()

            # A process that never saw Meta fail: the open circuit is in Redis, so it goes to Wasender at once.
            second.start()
            await second.ready(http)
            await say(http, second, BUYERS[1], "wamid.B1", "bonjour")
            await until(lambda: wasender.sent(f"+{BUYERS[1]}"), lambda: (graph.messages, wasender.calls))
        finally:
            for p in (first, second):
                p.stop()
    assert graph.to(BUYERS[1]) == [], "the second process tried Meta although the circuit was open"


async def test_a_window_meta_closed_in_one_process_is_closed_in_the_next(
    tmp_path: Path, own_redis: str, http: aiohttp.ClientSession,
) -> None:
    # Meta says the buyer's window is closed (131047) although our record says it is open.
    graph = GraphApi(lambda body: None if body["type"] == "template" else (
        400, graph_error(131047, "Re-engagement message", "More than 24 hours have passed")))
    write_vendor(tmp_path / "vendors", graph, "", reservation_minutes=0.25,
                 delivery={"whatsapp_template": {"name": "suite_commande", "language": "fr"}})
    first, second = processes(tmp_path, own_redis)
    async with serving(graph.app(), graph.port):
        try:
            first.start()
            await first.ready(http)
            await say(http, first, BUYERS[0], "wamid.W1", "ROBE1")
            await until(lambda: graph.to(BUYERS[0], "template"), lambda: graph.messages)
            first.stop()

            # The reservation runs out with no new message from the buyer: the second process says so, and
            # knows from Redis that only the template can reach them.
            second.start()
            await second.ready(http)
            await until(lambda: len(graph.to(BUYERS[0], "template")) >= 2, lambda: graph.messages, timeout=60)
        finally:
            for p in (first, second):
                p.stop()
    assert len(graph.to(BUYERS[0], "text")) + len(graph.to(BUYERS[0], "interactive")) == 1, graph.to(BUYERS[0])


async def test_numbers_imported_on_one_process_reach_the_other_processes_vendors(
    tmp_path: Path, own_redis: str, http: aiohttp.ClientSession,
) -> None:
    wasender = FakeWasender()
    wasender_app = web.Application()
    wasender_app.router.add_post("/api/send-message", wasender.handle)
    graph = GraphApi(lambda body: None)
    write_vendor(tmp_path / "vendors", graph, "")
    both = processes(tmp_path, own_redis, PALABRE_WASENDER_API_BASE_URL=wasender.base)
    csv = ("vendorId,businessName,phoneNumber,wasenderInstanceId,wasenderWebhookSecret,wasenderApiKey\n"
           f"shop,Boutique Awa,+221 77 000 11 22,inst-shop-1,{WASENDER_SECRET},{API_KEY}\n").encode()
    admin = {"Authorization": f"Bearer {ADMIN}"}
    async with serving(wasender_app, wasender.port):
        try:
            for p in both:
                p.start()
            for p in both:
                await p.ready(http)
            async with http.post(f"{both[0].url}/api/admin/numbers/import", data=csv,
                                 headers={**admin, "Content-Type": "text/csv"}) as r:
                assert r.status == 200 and (await r.json())["imported"] == 1

            async def listed() -> list[str]:
                async with http.get(f"{both[1].url}/api/admin/vendors/shop/numbers", headers=admin) as r:
                    return [n.get("phone_number") for n in (await r.json()).get("numbers", [])]

            deadline = time.monotonic() + 5
            while "+221770001122" not in await listed():
                assert time.monotonic() < deadline, await listed()
                await asyncio.sleep(0.1)

            # The other process takes the new number's webhooks and answers through it.
            message = {"event": "messages.received", "data": {"messages": {
                "key": {"id": "WS1", "fromMe": False, "remoteJid": f"{BUYERS[0]}@s.whatsapp.net",
                        "cleanedSenderPn": BUYERS[0]},
                "pushName": "Aminata", "messageTimestamp": int(time.time()), "message": {"conversation": "bonjour"}}}}
            async with http.post(f"{both[1].url}/webhooks/wasender/shop", json=message,
                                 headers={WASENDER_SIGNATURE: WASENDER_SECRET}) as r:
                assert r.status == 200, await r.text()
            await until(lambda: wasender.sent(f"+{BUYERS[0]}"), lambda: wasender.calls)
        finally:
            for p in both:
                p.stop()
    assert set(wasender.auth) == {f"Bearer {API_KEY}"}
