"""The admin API: token checks, a vendor's numbers without secrets, registering its webhook with Wasender."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from bot import numbers
from channels.wasender import SIGNATURE_HEADER
from tests.bot.conftest import ACCESS_TOKEN, YAML_KEY, YAML_PHONE, YAML_SECRET, FakeWasender, vendors_folder
from tests.conftest import ROOT, Server

ADMIN = "admin-token-for-tests-93"
PUBLIC = "https://bot.kaay.test"
HEADER = "vendorId,businessName,phoneNumber,wasenderInstanceId,wasenderWebhookSecret,wasenderApiKey"
DEMO_SECRET, DEMO_KEY = "demo-webhook-secret-5521", "demo-session-key-5521"
DEMO_ROW = f"demo,Boutique Awa,77 000 11 22,37637,{DEMO_SECRET},{DEMO_KEY}"


async def call(server: Server, method: str, path: str, token: str | None = ADMIN, **kwargs: Any) -> tuple[int, Any]:
    headers = kwargs.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with server.http.request(method, f"{server.url}{path}", headers=headers, **kwargs) as r:
        return r.status, await r.json()


async def import_csv(server: Server, *rows: str) -> dict[str, Any]:
    status, body = await call(server, "POST", "/api/admin/numbers/import", data="\n".join([HEADER, *rows]).encode(),
                              headers={"Content-Type": "text/csv"})
    assert status == 200, body
    return body


async def admin_server(start_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: FakeWasender,
                       **settings: Any) -> Server:
    options = {"admin_token": ADMIN, "public_url": PUBLIC, "wasender_access_token": ACCESS_TOKEN,
               "wasender_api_base_url": api.base, **settings}
    server: Server = await start_server(vendors_folder(tmp_path, monkeypatch, api.base), **options)
    # Server.url is the public URL when one is set; the tests talk to the local socket.
    return Server(f"http://127.0.0.1:{server.runtime.settings.port}", server.runtime, server.http)


async def test_without_a_configured_token_every_admin_route_is_off(start_server) -> None:
    server: Server = await start_server()
    for method, path in (("GET", "/api/admin/vendors/demo/numbers"), ("POST", "/api/admin/numbers/import"),
                         ("POST", "/api/admin/vendors/demo/numbers/webhook"), ("GET", "/api/admin/whatever")):
        status, body = await call(server, method, path, token="anything")
        assert status == 403, path
        assert body["error"] == {"code": "admin_disabled", "message": "admin API disabled: set PALABRE_ADMIN_TOKEN"}


async def test_the_admin_token_is_checked(
    start_server, wasender_api: FakeWasender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    server = await admin_server(start_server, tmp_path, monkeypatch, wasender_api)
    caplog.set_level(logging.INFO)
    path = "/api/admin/vendors/demo/numbers"
    for token in (None, "", "wrong-token", ADMIN + "x", ADMIN[:-1]):
        status, body = await call(server, "GET", path, token=token)
        assert status == 401 and body["error"]["code"] == "unauthorized", token
    async with server.http.get(f"{server.url}{path}", headers={"Authorization": f"Basic {ADMIN}"}) as r:
        assert r.status == 401
    status, body = await call(server, "GET", "/api/admin/nothing-here", token=None)
    assert (status, body["error"]["message"]) == (401, "send the header Authorization: Bearer <PALABRE_ADMIN_TOKEN>")
    assert (await call(server, "GET", "/api/admin/nothing-here"))[0] == 404
    assert (await call(server, "GET", path))[0] == 200
    status, body = await call(server, "GET", "/api/admin/vendors/nobody/numbers")
    assert status == 404 and body["error"]["code"] == "unknown_vendor"
    assert ADMIN not in caplog.text


async def test_a_vendors_numbers_show_source_state_and_webhook_url_but_no_secret(
    start_server, wasender_api: FakeWasender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await admin_server(start_server, tmp_path, monkeypatch, wasender_api)
    assert await call(server, "GET", "/api/admin/vendors/demo/numbers") == (200, {"vendor": "demo", "numbers": []})
    await import_csv(server, DEMO_ROW)
    status, body = await call(server, "GET", "/api/admin/vendors/demo/numbers")
    assert status == 200 and body == {"vendor": "demo", "numbers": [{
        "provider": "wasender", "phone_number": "+221770001122", "instance_id": "37637",
        "business_name": "Boutique Awa", "source": "imported", "connection": None,
        "webhook_url": f"{PUBLIC}/webhooks/wasender/demo"}]}

    session = {"event": "session.status", "timestamp": 1781000000, "data": {"status": "need_scan"}}
    async with server.http.post(f"{server.url}/webhooks/wasender/demo", json=session,
                                headers={SIGNATURE_HEADER: DEMO_SECRET}) as r:
        assert r.status == 200
    (number,) = (await call(server, "GET", "/api/admin/vendors/demo/numbers"))[1]["numbers"]
    assert number["connection"]["status"] == "need_scan" and number["connection"]["at"] > 1.7e9

    async with server.http.get(f"{server.url}/api/admin/vendors/yamlws/numbers",
                               headers={"Authorization": f"Bearer {ADMIN}"}) as r:
        text = await r.text()
    (number,) = (await call(server, "GET", "/api/admin/vendors/yamlws/numbers"))[1]["numbers"]
    assert (number["source"], number["phone_number"], number["business_name"]) == ("yaml", YAML_PHONE, None)
    for secret in (DEMO_SECRET, DEMO_KEY, YAML_KEY, YAML_SECRET):
        assert secret not in text


async def test_registering_the_webhook_puts_it_on_the_wasender_session(
    start_server, wasender_api: FakeWasender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await admin_server(start_server, tmp_path, monkeypatch, wasender_api)
    await import_csv(server, DEMO_ROW)
    path = "/api/admin/vendors/demo/numbers/webhook"
    async with server.http.post(f"{server.url}{path}", headers={"Authorization": f"Bearer {ADMIN}"}) as r:
        status, text = r.status, await r.text()
    assert status == 200, text
    (put,) = wasender_api.session_calls
    assert put == {"method": "PUT", "path": "/api/whatsapp-sessions/37637", "auth": f"Bearer {ACCESS_TOKEN}",
                   "body": {"webhook_url": f"{PUBLIC}/webhooks/wasender/demo", "webhook_enabled": True,
                            "webhook_events": ["messages.upsert", "messages.update", "session.status"]}}
    status, body = await call(server, "POST", path)
    assert status == 200
    assert {k: v for k, v in body.items() if k != "advice"} == {
        "vendor": "demo", "session_id": 37637, "webhook_url": f"{PUBLIC}/webhooks/wasender/demo",
        "provider_status": 200, "registered": True, "webhook_enabled": True,
        "webhook_events": ["messages.upsert", "messages.update", "session.status"],
        "webhook_secret": "differs", "warning": None}
    assert "401" in body["advice"]  # Wasender's own secret is not the imported one: webhooks would be refused
    # Wasender answers with the session's API key and secret: neither is passed on, nor logged
    for secret in ("session-api-key-returned-by-wasender", wasender_api.session_secret, DEMO_SECRET, DEMO_KEY,
                   ACCESS_TOKEN):
        assert secret not in text and secret not in caplog.text

    wasender_api.session_secret = DEMO_SECRET
    status, body = await call(server, "POST", path)
    assert status == 200 and body["webhook_secret"] == "matches" and "advice" not in body
    wasender_api.session_answer = (200, {"success": True, "data": {"id": 37637}, "warning":
                                         "WhatsApp session updated but failed to sync webhook settings"})
    status, body = await call(server, "POST", path)
    assert status == 200 and body["warning"].startswith("WhatsApp session updated but failed")
    assert (body["registered"], body["webhook_secret"]) == (None, "not returned")

    # an instance id that is not Wasender's session number needs the number in the body
    yaml_path = "/api/admin/vendors/yamlws/numbers/webhook"
    status, body = await call(server, "POST", yaml_path)
    assert status == 409 and body["error"]["code"] == "session_id_needed" and "inst-yaml-01" not in str(body)
    wasender_api.session_answer = None
    status, body = await call(server, "POST", yaml_path, json={"session_id": 4242})
    assert status == 200 and wasender_api.session_calls[-1]["path"] == "/api/whatsapp-sessions/4242"
    status, body = await call(server, "POST", yaml_path, json={"session_id": "../4242"})
    assert status == 409
    status, body = await call(server, "POST", "/api/admin/vendors/kaay/numbers/webhook")
    assert status == 404 and body["error"]["code"] == "no_number"


async def test_wasender_errors_become_clear_502s(
    start_server, wasender_api: FakeWasender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await admin_server(start_server, tmp_path, monkeypatch, wasender_api)
    await import_csv(server, DEMO_ROW)
    path = "/api/admin/vendors/demo/numbers/webhook"
    cases = [
        ((401, {"message": "Unauthenticated."}), "provider_refused", "personal access token"),
        ((404, {"message": "Not found"}), "provider_error", "no session 37637"),
        ((422, {"message": "The given data was invalid.",
                "errors": {"webhook_url": ["The webhook url must be a valid URL."]}}),
         "provider_error", "The webhook url must be a valid URL."),
        ((429, {"message": "Too Many Requests"}), "provider_rate_limited", "429"),
        ((500, "<html>Server Error</html>"), "provider_error", "Wasender answered 500"),
        ((200, {"success": False, "message": "Session is not connected"}), "provider_error", "not connected"),
    ]
    for answer, code, words in cases:
        wasender_api.session_answer = answer
        status, body = await call(server, "POST", path)
        assert status == 502 and body["error"]["code"] == code and words in body["error"]["message"], body
    await wasender_api.stop()
    status, body = await call(server, "POST", path)
    assert status == 502 and body["error"]["code"] == "provider_unreachable"


async def test_registration_needs_a_public_https_url_and_an_access_token(
    start_server, wasender_api: FakeWasender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = "/api/admin/vendors/yamlws/numbers/webhook"
    local = await admin_server(start_server, tmp_path, monkeypatch, wasender_api, public_url=None)
    status, body = await call(local, "POST", path, json={"session_id": 1})
    assert status == 409 and "PALABRE_PUBLIC_URL" in body["error"]["message"]
    no_token = await admin_server(start_server, tmp_path, monkeypatch, wasender_api, wasender_access_token=None)
    status, body = await call(no_token, "POST", path, json={"session_id": 1})
    assert status == 409 and "PALABRE_WASENDER_ACCESS_TOKEN" in body["error"]["message"]
    assert f"{PUBLIC}/webhooks/wasender/yamlws" in body["error"]["message"]  # the URL to paste instead
    assert wasender_api.session_calls == []


async def test_the_import_endpoint_refuses_bad_files_clearly(
    start_server, wasender_api: FakeWasender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await admin_server(start_server, tmp_path, monkeypatch, wasender_api)
    path = "/api/admin/numbers/import"
    status, body = await call(server, "POST", path, json={"rows": []})
    assert status == 415 and "text/csv" in body["error"]["message"]
    status, body = await call(server, "POST", path, data=b"name,phone\nAwa,+221770001122\n",
                              headers={"Content-Type": "text/csv"})
    assert status == 400 and body["error"]["code"] == "invalid_csv" and "missing column(s)" in body["error"]["message"]
    monkeypatch.setattr(numbers, "MAX_BYTES", 2000)
    status, body = await call(server, "POST", path, data=HEADER.encode() + b"\n" + b"x" * 3000,
                              headers={"Content-Type": "text/csv"})
    assert status == 413 and body["error"]["code"] == "body_too_large"
    assert await server.runtime.store.channel_accounts("wasender") == []


async def test_the_cli_imports_through_a_running_server(
    start_server, wasender_api: FakeWasender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await admin_server(start_server, tmp_path, monkeypatch, wasender_api)
    file = tmp_path / "numbers.csv"
    file.write_text(f"{HEADER}\n{DEMO_ROW}\nghost,X,+221770001133,1,ghost-secret-123,ghost-key\n", encoding="utf-8")

    async def cli(*args: str, token: str | None) -> tuple[int, str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PALABRE_ADMIN_TOKEN"}
        if token is not None:
            env["PALABRE_ADMIN_TOKEN"] = token
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "import-numbers", str(file), "--url", server.url, *args, cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    code, out, err = await cli(token="wrong-token")
    assert code == 1 and "(401)" in err and out == ""
    code, out, err = await cli(token=None)
    assert code == 1 and "PALABRE_ADMIN_TOKEN" in err
    code, out, err = await cli("--token", ADMIN, token=None)
    assert code == 1 and out.splitlines() == ["imported 1, updated 0, rejected 1", "  line 3 (ghost): unknown vendor"]
    assert DEMO_SECRET not in out + err and DEMO_KEY not in out + err
    assert server.runtime.vendors["demo"].config.channels["wasender"].api_key == DEMO_KEY  # in use at once
    file.write_bytes(b"not,a,numbers,file\n")
    code, out, err = await cli(token=ADMIN)
    assert code == 2 and "missing column(s)" in err
