"""Meta WhatsApp with many numbers (issue 8): a vendor's every number answered from itself, the shared
platform URL routing by phone_number_id, and replies to Meta's wa_id exactly as given."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from bot import commerce
from bot.vendors import VendorLoader
from channels import Reply
from channels.meta import SIGNATURE_HEADER, Config, MetaSender, parse_webhook, render
from dialogs import Registry, YamlInvalid
from tests.conftest import EXAMPLES, FIXTURES, Server, eventually, free_port, serving

WA = FIXTURES / "channels" / "meta_whatsapp"
SECRET = json.loads((WA / "meta.json").read_text())["signature"]["app_secret"]
PLATFORM_SECRET = "platform-app-secret-for-tests"
PLATFORM_VERIFY = "platform-verify-token"
FIRST, SECOND = "109876543210987", "109876543210988"  # two numbers of the same WhatsApp Business Account
BUYER = "221771234567"


def sign(raw: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def fresh(name: str) -> bytes:
    """A fixture with its timestamps moved to now (Meta's 24-hour window is counted from them)."""
    raw = (WA / name).read_bytes()
    payload = json.loads(raw)
    for entry in payload["entry"]:
        for change in entry["changes"]:
            for msg in change["value"].get("messages", []):
                raw = raw.replace(f'"timestamp":"{msg["timestamp"]}"'.encode(),
                                  f'"timestamp":"{int(time.time())}"'.encode())
    return raw


class FakeGraphApi:
    """A local Graph API: records which number each message was sent from."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_with: list[dict[str, Any]] = []
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append((request.match_info["pnid"], body))
        if self.fail_with:
            return web.json_response(self.fail_with.pop(0), status=400)
        return web.json_response({"messaging_product": "whatsapp", "messages": [{"id": f"wamid.OUT{len(self.calls)}"}]})

    def sent_from(self) -> list[tuple[str, str]]:
        """(sending phone_number_id, recipient) of every message."""
        return [(pnid, body.get("to") or body.get("recipient")) for pnid, body in self.calls if "type" in body]


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphApi]:
    api = FakeGraphApi()
    app = web.Application()
    app.router.add_post("/{version}/{pnid}/messages", api.handle)
    async with serving(app, api.port):
        yield api


def vendor_dir(tmp_path: Path, api_base: str, monkeypatch: pytest.MonkeyPatch, **meta: Any) -> Path:
    monkeypatch.setenv("WA_TOKEN_DEMO", "EAAG-token")
    monkeypatch.setenv("WA_APP_SECRET_DEMO", SECRET)
    monkeypatch.setenv("WA_VERIFY_DEMO", "demo-verify")
    data = yaml.safe_load((EXAMPLES / "demo.yaml").read_text(encoding="utf-8"))
    data["channels"] = {"meta": {"access_token": "${WA_TOKEN_DEMO}", "api_base_url": api_base, **meta}}
    d = tmp_path / "vendors"
    d.mkdir()
    (d / "demo.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return d


async def post(server: Server, path: str, raw: bytes, secret: str = SECRET) -> int:
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(raw, secret)}
    async with server.http.post(f"{server.url}{path}", data=raw, headers=headers) as r:
        return r.status


async def metric(server: Server, name: str) -> float:
    async with server.http.get(f"{server.url}/metrics") as r:
        for line in (await r.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


# parsing

def test_every_change_of_a_signed_batch_is_the_vendors_and_remembers_its_number() -> None:
    events = parse_webhook(json.loads((WA / "batch_two_numbers.json").read_bytes()), "kaay")
    assert [(e.contact.address, e.data["reply_data"]) for e in events] == [
        ("+221771234567", {"phone_number_id": FIRST}), ("+221784567890", {"phone_number_id": SECOND})]


def test_on_the_shared_url_a_change_goes_to_the_vendor_listing_its_number(caplog: pytest.LogCaptureFixture) -> None:
    payload = json.loads((WA / "batch_two_numbers.json").read_bytes())
    with caplog.at_level(logging.INFO, logger="palabre.channels.meta"):
        events = parse_webhook(payload, {SECOND: "awa"})
    assert [(e.vendor_id, e.contact.address) for e in events] == [("awa", "+221784567890")]
    assert f"phone_number_id={FIRST} ignored" in caplog.text


def test_config_lists_numbers_and_the_first_starts_conversations() -> None:
    cfg = Config.model_validate({"phone_number_ids": [int(SECOND), FIRST], "access_token": "t"})
    assert cfg.phone_number_ids == [SECOND, FIRST] and cfg.sender_id == SECOND and cfg.app_secret is None
    legacy = Config.model_validate({"phone_number_id": FIRST, "phone_number_ids": [SECOND, FIRST], "access_token": "t"})
    assert legacy.phone_number_ids == [FIRST, SECOND] and legacy.sender_id == FIRST
    for bad in ({"access_token": "t"}, {"phone_number_ids": ["12a"], "access_token": "t"}):
        with pytest.raises(ValueError):
            Config.model_validate(bad)


def test_a_short_test_wa_id_is_answered_as_meta_gave_it() -> None:
    (event,) = parse_webhook(json.loads((WA / "short_wa_id_text.json").read_bytes()), "kaay")
    assert event.contact.address == "+1234"
    assert render(event.contact.address, Reply(text="Bonjour"))[0]["to"] == "1234"
    assert render("US.13491208655302741918", Reply(text="Bonjour"))[0]["recipient"] == "US.13491208655302741918"


async def test_replies_go_out_from_the_number_the_buyer_wrote_to(graph: FakeGraphApi) -> None:
    sender = MetaSender(Config(phone_number_ids=[FIRST, SECOND], access_token="t", api_base_url=graph.base))
    try:
        await sender.send("+" + BUYER, Reply(text="a", data={"phone_number_id": SECOND}), idempotency_key="k1")
        await sender.send("+" + BUYER, Reply(text="b"), idempotency_key="k2")  # a notification: the first number
        await sender.send("+" + BUYER, Reply(text="c", data={"phone_number_id": "../x"}), idempotency_key="k3")
    finally:
        await sender.close()
    assert graph.sent_from() == [(SECOND, BUYER), (FIRST, BUYER), (FIRST, BUYER)]


# end to end: the per-vendor URL

async def test_meta_drops_messages_to_another_number_of_the_same_app(
    start_server, graph: FakeGraphApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (issue 8 §1): a message to the vendor's second number was dropped with a 200."""
    server: Server = await start_server(vendor_dir(tmp_path, graph.base, monkeypatch, phone_number_id=int(FIRST),
                                                   app_secret="${WA_APP_SECRET_DEMO}",
                                                   verify_token="${WA_VERIFY_DEMO}"))
    assert await post(server, "/webhooks/meta/demo", fresh("second_number_text.json")) == 200
    await eventually(lambda: graph.sent_from(), "a reply")
    assert graph.sent_from()[0] == (SECOND, BUYER)


async def test_a_number_added_to_the_account_is_answered_without_changing_the_yaml(
    start_server, graph: FakeGraphApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, graph.base, monkeypatch, phone_number_ids=[FIRST],
                                                   app_secret="${WA_APP_SECRET_DEMO}",
                                                   verify_token="${WA_VERIFY_DEMO}"))
    assert await post(server, "/webhooks/meta/demo", fresh("batch_two_numbers.json")) == 200
    await eventually(lambda: len(graph.sent_from()) >= 2, "two replies")
    assert sorted(graph.sent_from()) == [(FIRST, BUYER), (SECOND, "221784567890")]


async def test_meta_reply_to_a_short_wa_id_fails_permanently(
    start_server, graph: FakeGraphApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (issue 8 §2): a 4-digit test wa_id was refused as 'not a phone number'."""
    server: Server = await start_server(vendor_dir(tmp_path, graph.base, monkeypatch, phone_number_id=int(FIRST),
                                                   app_secret="${WA_APP_SECRET_DEMO}",
                                                   verify_token="${WA_VERIFY_DEMO}"))
    assert await post(server, "/webhooks/meta/demo", fresh("short_wa_id_text.json")) == 200
    await eventually(lambda: graph.sent_from(), "a reply")
    assert graph.sent_from()[0] == (FIRST, "1234")


async def test_a_vendor_without_its_own_secret_has_no_per_vendor_url(
    start_server, graph: FakeGraphApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, graph.base, monkeypatch, phone_number_ids=[FIRST]))
    assert await post(server, "/webhooks/meta/demo", fresh("second_number_text.json")) == 404
    async with server.http.get(f"{server.url}/webhooks/meta/demo?hub.mode=subscribe&hub.verify_token=x"
                               "&hub.challenge=1") as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "no_vendor_webhook"


# end to end: the shared URL

async def test_shared_url_routes_by_number_and_counts_unknown_numbers(
    start_server, graph: FakeGraphApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, graph.base, monkeypatch, phone_number_ids=[SECOND]),
                                        meta_app_secret=PLATFORM_SECRET, meta_verify_token=PLATFORM_VERIFY)
    query = f"hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={PLATFORM_VERIFY}"
    async with server.http.get(f"{server.url}/webhooks/meta?{query}") as r:
        assert r.status == 200 and await r.text() == "1158201444"
    async with server.http.get(f"{server.url}/webhooks/meta?{query.replace(PLATFORM_VERIFY, 'wrong')}") as r:
        assert r.status == 403
    raw = fresh("batch_two_numbers.json")
    assert await post(server, "/webhooks/meta", raw) == 401  # the vendor's secret is not the platform's
    assert await post(server, "/webhooks/meta", raw, PLATFORM_SECRET) == 200
    await eventually(lambda: graph.sent_from(), "a reply")
    await server.runtime.pipeline.idle()
    await server.runtime.delivery.idle()
    assert graph.sent_from() == [(SECOND, "221784567890")]  # the FIRST number is no vendor's: not answered
    assert await server.runtime.store.transcript(f"demo:whatsapp:+{BUYER}") == []
    assert await metric(server, "palabre_meta_unknown_number_total") == 1


async def test_shared_url_is_off_without_the_operator_settings(start_server, graph: FakeGraphApi, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, graph.base, monkeypatch, phone_number_ids=[SECOND]))
    assert await post(server, "/webhooks/meta", fresh("batch_two_numbers.json"), PLATFORM_SECRET) == 404


# issue 8 §7: failed sends are visible

async def test_permanent_send_failures_are_invisible_at_info_level(
    start_server, graph: FakeGraphApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Regression (issue 8 §7): a reply Meta refused for good left no log line and no per-provider count."""
    server: Server = await start_server(vendor_dir(tmp_path, graph.base, monkeypatch, phone_number_id=int(FIRST),
                                                   app_secret="${WA_APP_SECRET_DEMO}",
                                                   verify_token="${WA_VERIFY_DEMO}"))
    # Graph API's answer for a recipient it cannot deliver to (error 131026, "Message Undeliverable").
    graph.fail_with = [{"error": {"message": "(#131026) Message Undeliverable.", "type": "OAuthException",
                                  "code": 131026, "error_data": {"messaging_product": "whatsapp",
                                                                 "details": "Message Undeliverable."},
                                  "fbtrace_id": "AbCdEf"}}]
    with caplog.at_level(logging.INFO, logger="palabre.delivery"):
        assert await post(server, "/webhooks/meta/demo", fresh("short_wa_id_text.json").replace(
            b'"1234"', f'"{BUYER}"'.encode())) == 200
        await eventually(lambda: graph.calls, "a send")
        await server.runtime.pipeline.idle()
        await server.runtime.delivery.idle()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("send failed")]
    assert len(lines) == 1
    assert "provider=meta" in lines[0] and "code=131026" in lines[0] and "recipient=+22177****567" in lines[0]
    assert BUYER not in lines[0]
    assert await metric(server, 'palabre_replies_failed_total{provider="meta"}') == 1


def test_two_vendors_listing_one_number_is_a_yaml_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = vendor_dir(tmp_path, "http://127.0.0.1:9", monkeypatch, phone_number_ids=[FIRST, SECOND])
    other = yaml.safe_load((d / "demo.yaml").read_text(encoding="utf-8"))
    other["id"], other["channels"]["meta"]["phone_number_ids"] = "awa", [SECOND]
    (d / "awa.yaml").write_text(yaml.safe_dump(other, allow_unicode=True), encoding="utf-8")
    with pytest.raises(YamlInvalid) as err:
        VendorLoader(commerce.register(Registry())).load_dir(d)
    assert f"phone number id {SECOND} is already listed by vendor" in str(err.value)
