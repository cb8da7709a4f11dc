"""Importing vendors' WhatsApp numbers from a CSV: the report, the store, the CLI, and a running server using them."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from bot import numbers
from bot.http.webhooks.wasender import vendor_for_number
from bot.runtime import Runtime, load_vendors
from bot.settings import Settings
from channels.wasender import SIGNATURE_HEADER
from storage import ChannelAccount
from storage.embedded import EmbeddedStore
from tests.bot.conftest import YAML_KEY, YAML_PHONE, YAML_SECRET, FakeWasender, vendors_folder
from tests.conftest import ROOT, Server

HEADER = "vendorId,businessName,phoneNumber,wasenderInstanceId,wasenderWebhookSecret,wasenderApiKey"
ADMIN = "admin-token-for-tests-93"
DEMO_SECRET, DEMO_KEY = "demo-webhook-secret-5521", "demo-session-key-5521"
KAAY_SECRET, KAAY_KEY = "kaay-webhook-secret-8830", "kaay-session-key-8830"
BUYER = "+221771234567"


def csv(*rows: str, header: str = HEADER) -> bytes:
    return "\n".join([header, *rows, ""]).encode()


GOOD_AND_BAD = csv(
    f"demo,Boutique Awa,77 000 11 22,inst-demo-01,{DEMO_SECRET},{DEMO_KEY}",                    # 2
    f"kaay,Kaay Shop,+225 07 01 02 03 04,inst-kaay-01,{KAAY_SECRET},{KAAY_KEY}",                # 3
    "ghost,Nobody,+221770001133,inst-ghost,ghost-webhook-secret-1,ghost-key-1",                  # 4
    "awa,Awa,12345,inst-awa-01,awa-webhook-secret-0001,awa-key-0001",                            # 5
    "demo,Boutique Awa,+221770001199,inst-demo-02,demo-other-secret-77,demo-other-key-77",       # 6
    "bintou,Bintou,221770001122,inst-bintou,bintou-webhook-secret-1,bintou-key-1",               # 7
    "yamlws,YAML shop,+221770001155,inst-yaml-02,yamlws-webhook-secret-9,yamlws-key-9",          # 8
    f"awa,Awa,{YAML_PHONE},inst-awa-02,awa-webhook-secret-0002,awa-key-0002",                    # 9
    "bintou,Bintou,+221770001166,inst-bintou-2,bintou-webhook-secret-2,",                         # 10
    "bintou,Bintou,+221770001166,inst-bintou-3,short,bintou-key-3",                               # 11
)
SECRETS = (DEMO_SECRET, DEMO_KEY, KAAY_SECRET, KAAY_KEY, "ghost-webhook-secret-1", "awa-webhook-secret-0001",
           "demo-other-secret-77", "demo-other-key-77", "bintou-webhook-secret-1", "bintou-key-1", "awa-key-0002",
           "yamlws-webhook-secret-9", "yamlws-key-9", "bintou-webhook-secret-2", YAML_KEY, YAML_SECRET)
EXPECTED = {"imported": 2, "updated": 0, "rejected": [
    {"line": 4, "vendorId": "ghost", "reason": "unknown vendor"},
    {"line": 5, "vendorId": "awa", "reason": "invalid phone number"},
    {"line": 6, "vendorId": "demo", "reason": "duplicate vendor (also on line 2)"},
    {"line": 7, "vendorId": "bintou", "reason": "duplicate phone number (also on line 2)"},
    {"line": 8, "vendorId": "yamlws",
     "reason": "the vendor's YAML has a channels.wasender block, which wins over imported numbers"},
    {"line": 9, "vendorId": "awa", "reason": "phone number already used by vendor 'yamlws'"},
    {"line": 10, "vendorId": "bintou", "reason": "missing wasenderApiKey"},
    {"line": 11, "vendorId": "bintou", "reason": "wasenderWebhookSecret: String should have at least 8 characters"},
]}


def no_secret_in(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, leaked


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    s = EmbeddedStore(tmp_path / "data")
    await s.start()
    yield s
    await s.close()


async def test_good_and_bad_rows_give_a_report_with_reasons_and_only_good_rows_are_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: EmbeddedStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    vendors = load_vendors(str(vendors_folder(tmp_path, monkeypatch, "http://127.0.0.1:9")))
    report = await numbers.import_numbers(GOOD_AND_BAD, vendors, store)
    assert report.as_json() == EXPECTED
    accounts = {a.vendor_id: a for a in await store.channel_accounts("wasender")}
    assert set(accounts) == {"demo", "kaay"}
    assert accounts["demo"].label == "Boutique Awa"
    assert accounts["demo"].settings == {"phone_number": "+221770001122", "instance_id": "inst-demo-01",
                                         "api_key": DEMO_KEY, "webhook_secret": DEMO_SECRET}
    assert accounts["kaay"].settings["phone_number"] == "+2250701020304"
    no_secret_in(json.dumps(report.as_json()) + repr(report) + "\n".join(numbers.report_lines(report.as_json())))
    no_secret_in(caplog.text)
    assert "imported 2, updated 0, rejected 8" in numbers.report_lines(report.as_json())[0]


async def test_a_second_import_updates_moves_numbers_and_respects_stored_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: EmbeddedStore
) -> None:
    vendors = load_vendors(str(vendors_folder(tmp_path, monkeypatch, "http://127.0.0.1:9")))
    first = await numbers.import_numbers(csv(
        f"demo,Boutique Awa,+221770001122,inst-demo-01,{DEMO_SECRET},{DEMO_KEY}",
        f"kaay,Kaay Shop,+221770002233,inst-kaay-01,{KAAY_SECRET},{KAAY_KEY}"), vendors, store)
    assert (first.imported, first.updated, first.rejected) == (2, 0, [])
    # demo gets a new number and key, awa takes demo's old number in the same file, bintou wants kaay's.
    second = await numbers.import_numbers(csv(
        "demo,Boutique Awa SN,+221770009999,inst-demo-01,demo-rotated-secret-1,demo-rotated-key-1",
        "awa,Awa,+221770001122,inst-awa-01,awa-webhook-secret-0001,awa-key-0001",
        "bintou,Bintou,+221770002233,inst-bintou-1,bintou-webhook-secret-1,bintou-key-1"), vendors, store)
    assert second.as_json() == {"imported": 1, "updated": 1, "rejected": [
        {"line": 4, "vendorId": "bintou", "reason": "phone number already used by vendor 'kaay'"}]}
    accounts = {a.vendor_id: a for a in await store.channel_accounts("wasender")}
    assert accounts["demo"].settings["api_key"] == "demo-rotated-key-1" and accounts["demo"].label == "Boutique Awa SN"
    assert accounts["awa"].settings["phone_number"] == "+221770001122"
    assert accounts["kaay"].settings["api_key"] == KAAY_KEY and "bintou" not in accounts


def test_spreadsheet_exports_are_read_and_unusable_files_are_refused() -> None:
    # Excel in French: semicolons, a BOM, CRLF, other column names and order, extra columns, blank lines.
    excel = ("\ufeffWasenderApiKey;vendorid;notes;phoneNumber;businessName;wasenderInstanceId;wasenderWebhookSecret\r\n"
             "\r\n"
             "k-1234567;demo;\"VIP; paie en fin de mois\";77 000 11 22;Boutique Awa;12345;s-12345678\r\n")
    (row,) = numbers.read_rows(excel.encode())
    assert row == (3, {"wasenderApiKey": "k-1234567", "vendorId": "demo", "phoneNumber": "77 000 11 22",
                       "businessName": "Boutique Awa", "wasenderInstanceId": "12345",
                       "wasenderWebhookSecret": "s-12345678"})
    assert numbers.normalise_phone("77 000 11 22") == numbers.normalise_phone("00221770001122") == "+221770001122"
    assert numbers.normalise_phone("221770001122") == "+221770001122"
    assert numbers.normalise_phone("+225 07 01 02 03 04") == "+2250701020304"
    assert numbers.normalise_phone("12345") is None and numbers.normalise_phone("") is None
    bad = {
        b"": "empty",
        b"vendorId,phoneNumber\ndemo,+221770001122\n": "missing column(s) businessName, wasenderInstanceId",
        b"PK\x03\x04\x00\x00binary": "binary",
        HEADER.encode() + b"\ndemo,Boutique \xe9,77,1,s,k\n": "UTF-8",
        csv('demo,"Boutique "Awa",77,1,s,k'): "line 2: not valid CSV",
        csv(*["ghost,x,77,1,s,k"] * (numbers.MAX_ROWS + 1)): f"more than {numbers.MAX_ROWS} rows",
    }
    for data, message in bad.items():
        with pytest.raises(numbers.CsvInvalid, match=re.escape(message)):
            numbers.read_rows(data)


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "import-numbers", *args, cwd=ROOT,
        env={**os.environ, **(env or {})}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_cli_prints_the_report_and_its_exit_code_says_how_it_went(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = vendors_folder(tmp_path, monkeypatch, "http://127.0.0.1:9")
    data_dir = tmp_path / "data"
    where = ("--vendors", str(folder), "--data-dir", str(data_dir))
    env = {"WS_YAML_KEY": YAML_KEY, "WS_YAML_SECRET": YAML_SECRET}
    mixed, good, bad = tmp_path / "mixed.csv", tmp_path / "good.csv", tmp_path / "bad.csv"
    mixed.write_bytes(GOOD_AND_BAD)
    good.write_bytes(csv(f"demo,Boutique Awa,77 000 11 22,inst-demo-01,{DEMO_SECRET},{DEMO_KEY}",
                         "awa,Awa,+221770004455,inst-awa-01,awa-webhook-secret-0001,awa-key-0001"))
    bad.write_bytes(b"name,phone\nAwa,+221770001122\n")

    code, out, err = await run_cli(str(mixed), *where, env=env)
    assert code == 1, err
    lines = out.splitlines()
    assert lines[0] == "imported 2, updated 0, rejected 8"
    assert "  line 4 (ghost): unknown vendor" in lines and "  line 5 (awa): invalid phone number" in lines
    assert len(lines) == 9
    no_secret_in(out + err)

    code, out, err = await run_cli(str(good), *where, env=env)
    assert (code, out.splitlines()) == (0, ["imported 1, updated 1, rejected 0"]), err
    no_secret_in(out + err)

    code, out, err = await run_cli(str(bad), *where, env=env)
    assert code == 2 and "missing column(s) vendorId" in err and out == ""
    code, _, err = await run_cli(str(tmp_path / "nowhere.csv"), *where, env=env)
    assert code == 2 and "cannot read" in err

    store = EmbeddedStore(data_dir)
    await store.start()
    try:
        assert {a.vendor_id for a in await store.channel_accounts("wasender")} == {"demo", "kaay", "awa"}
        # the embedded store belongs to one process at a time: a running server holds it
        code, out, err = await run_cli(str(good), *where, env=env)
        assert code == 1 and "stop the server or use --url" in err and out == ""
    finally:
        await store.close()


async def test_a_long_import_shows_its_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = vendors_folder(tmp_path, monkeypatch, "http://127.0.0.1:9", ids=("demo",))
    big = tmp_path / "big.csv"
    big.write_bytes(csv(*(f"shop{i},Shop,+2217700{i:05d},{i},secret-{i:08d},key-{i}" for i in range(2500))))
    code, out, err = await run_cli(str(big), "--vendors", str(folder), "--data-dir", str(tmp_path / "d"),
                                   env={"WS_YAML_KEY": YAML_KEY, "WS_YAML_SECRET": YAML_SECRET})
    assert code == 1 and out.splitlines()[0] == "imported 0, updated 0, rejected 2500"
    assert [line for line in err.splitlines() if line.startswith("checked")] == [
        "checked 1000/2500 rows", "checked 2000/2500 rows"]


def message(key_id: str, text: str, **envelope: Any) -> dict[str, Any]:
    return {"event": "messages.received", **envelope, "data": {"messages": {
        "key": {"id": key_id, "fromMe": False, "remoteJid": "221771234567@s.whatsapp.net",
                "cleanedSenderPn": "221771234567"},
        "pushName": "Aminata", "messageTimestamp": 1781000000, "message": {"conversation": text}}}}


async def post(server: Server, body: Any, secret: str | None, path: str = "/webhooks/wasender/demo") -> int:
    headers = {SIGNATURE_HEADER: secret} if secret is not None else {}
    async with server.http.post(f"{server.url}{path}", json=body, headers=headers) as r:
        return r.status


async def admin_import(server: Server, data: bytes) -> dict[str, Any]:
    async with server.http.post(f"{server.url}/api/admin/numbers/import", data=data,
                                headers={"Content-Type": "text/csv", "Authorization": f"Bearer {ADMIN}"}) as r:
        body = await r.json()
        assert r.status == 200, body
        return body


async def replies(server: Server, api: FakeWasender, n: int) -> list[tuple[str | None, dict[str, Any]]]:
    deadline = asyncio.get_running_loop().time() + 10
    while len(api.sent()) < n:
        assert asyncio.get_running_loop().time() < deadline, api.sends
        await asyncio.sleep(0.02)
    await server.runtime.pipeline.idle()
    await server.runtime.delivery.idle()
    return api.sent()


async def test_a_running_server_uses_an_imported_number_at_once(
    start_server, wasender_api: FakeWasender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server: Server = await start_server(vendors_folder(tmp_path, monkeypatch, wasender_api.base),
                                        admin_token=ADMIN, wasender_api_base_url=wasender_api.base)
    rt = server.runtime
    wasender_api.api_keys |= {DEMO_KEY, "demo-rotated-key-1"}
    assert await post(server, message("3EB0N1", "bonjour"), DEMO_SECRET) == 404  # demo has no number yet
    assert await vendor_for_number(rt, "+221770001122") is None  # …and that answer is now cached

    report = await admin_import(server, csv(
        f"demo,Boutique Awa,77 000 11 22,inst-demo-01,{DEMO_SECRET},{DEMO_KEY}"))
    assert report == {"imported": 1, "updated": 0, "rejected": []}
    assert await vendor_for_number(rt, "+221770001122") == "demo"
    assert await vendor_for_number(rt, "221770001122@s.whatsapp.net") == "demo"
    assert await vendor_for_number(rt, "inst-demo-01") == "demo"

    assert await post(server, message("3EB0N2", "bonjour"), "not-the-secret-at-all") == 401
    assert await post(server, message("3EB0N3", "bonjour"), DEMO_SECRET) == 200
    ((auth, body),) = await replies(server, wasender_api, 1)
    assert auth == f"Bearer {DEMO_KEY}" and body["to"] == BUYER
    # the shared URL finds the vendor by the imported instance id, then checks the imported secret
    shared = message("3EB0N4", "ROBE1", sessionId="inst-demo-01")
    assert await post(server, shared, "not-the-secret-at-all", path="/webhooks/wasender") == 401
    before = len(wasender_api.sent())
    assert await post(server, shared, DEMO_SECRET, path="/webhooks/wasender") == 200
    await replies(server, wasender_api, before + 1)
    assert await rt.store.is_processed("ws:demo:3EB0N4")

    # a new number and key replace the old ones at once: the old number no longer names demo
    report = await admin_import(server, csv(
        "demo,Boutique Awa,+221770009999,inst-demo-09,demo-rotated-secret-1,demo-rotated-key-1"))
    assert report == {"imported": 0, "updated": 1, "rejected": []}
    assert await vendor_for_number(rt, "+221770001122") is None
    assert await vendor_for_number(rt, "inst-demo-01") is None
    assert await vendor_for_number(rt, "+221770009999") == "demo"
    assert await post(server, message("3EB0N5", "annuler"), DEMO_SECRET) == 401
    before = len(wasender_api.sent())
    assert await post(server, message("3EB0N6", "annuler"), "demo-rotated-secret-1") == 200
    sent = await replies(server, wasender_api, before + 1)
    assert {auth for auth, _ in sent[before:]} == {"Bearer demo-rotated-key-1"}
    assert rt.delivery.senders is rt.senders

    # two vendors swap numbers in one file, the taker listed first
    report = await admin_import(server, csv(
        "awa,Awa,+221770009999,inst-awa-01,awa-webhook-secret-0001,awa-key-0001",
        "demo,Boutique Awa,+221770008888,inst-demo-09,demo-rotated-secret-1,demo-rotated-key-1"))
    assert report == {"imported": 1, "updated": 1, "rejected": []}
    assert await vendor_for_number(rt, "+221770009999") == "awa"
    assert await vendor_for_number(rt, "+221770008888") == "demo"
    assert rt.vendors["awa"].config.channels["wasender"].api_key == "awa-key-0001"
    no_secret_in(caplog.text)
    assert "demo-rotated-secret-1" not in caplog.text and "demo-rotated-key-1" not in caplog.text


async def test_stored_numbers_are_used_from_the_start_and_a_yaml_block_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    folder = vendors_folder(tmp_path, monkeypatch, "http://127.0.0.1:9")
    data_dir = tmp_path / "data"
    store = EmbeddedStore(data_dir)
    await store.start()
    for vendor_id, phone in (("demo", "+221770001122"), ("yamlws", "+221770001155"), ("gone", "+221770001177")):
        await store.save_channel_account(ChannelAccount(
            provider="wasender", vendor_id=vendor_id, label=f"{vendor_id} shop",
            settings={"phone_number": phone, "instance_id": f"inst-{vendor_id}", "api_key": f"{vendor_id}-key-123",
                      "webhook_secret": f"{vendor_id}-secret-123"}))
    await store.close()

    caplog.set_level(logging.INFO, logger="palabre")
    settings = Settings.from_env({}, data_dir=str(data_dir), vendors_dir=str(folder),
                                 wasender_api_base_url="http://127.0.0.1:9")
    rt = Runtime(settings, load_vendors(str(folder)), store=EmbeddedStore(data_dir))
    await rt.start()
    try:
        demo = rt.vendors["demo"].config.channels["wasender"]
        assert (demo.phone_number, demo.api_key, demo.api_base_url) == ("+221770001122", "demo-key-123",
                                                                        "http://127.0.0.1:9")
        assert "wasender:demo" in rt.senders and rt.delivery.senders is rt.senders
        assert rt.vendors["yamlws"].config.channels["wasender"].phone_number == YAML_PHONE
        assert numbers.imported_vendors(rt) == {"demo": "demo shop"}
        assert await vendor_for_number(rt, "inst-demo") == "demo"
        await numbers.apply_stored(rt)  # applying again changes nothing and says nothing new
    finally:
        await rt.stop()
    wins = [r.getMessage() for r in caplog.records if "wins over" in r.getMessage()]
    assert len(wins) == 1 and "yamlws" in wins[0]
    assert "demo-key-123" not in caplog.text and "demo-secret-123" not in caplog.text
