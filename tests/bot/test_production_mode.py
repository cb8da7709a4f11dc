"""Production mode serves no development tool by accident; development stays the newcomer's default."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app import create_app
from bot.modes import StartupRefused
from bot.runtime import Runtime, load_vendors
from bot.settings import Settings
from tests.conftest import EXAMPLES, ROOT, Server, free_port, vendor_dir

TOKEN = "simulator-token-for-tests-0c1d"
BUYER = "+221770000001"
HOSTILE_NAME = "<img src=x onerror=alert(1)>"


def no_vendors(tmp_path: Path) -> Path:
    d = tmp_path / "no-vendors"
    d.mkdir(exist_ok=True)
    return d


async def answer(server: Server, method: str, path: str, **kwargs) -> tuple[int, dict]:
    async with server.http.request(method, f"{server.url}{path}", **kwargs) as r:
        return r.status, await r.json()


async def test_production_serves_neither_the_simulator_nor_the_sandbox_psp(start_server, tmp_path: Path) -> None:
    server: Server = await start_server(no_vendors(tmp_path), environment="production")
    for method, path in (("GET", "/simulator/demo"), ("POST", "/simulator/demo/messages"),
                         ("GET", "/simulator/demo/messages?contact=%2B221770000001"), ("GET", "/pay/sandbox/pay_1"),
                         ("POST", "/pay/sandbox/pay_1"), ("POST", "/webhooks/payments/sandbox/demo")):
        status, body = await answer(server, method, path, json={"from": BUYER, "text": "ROBE1"})
        # not_found: the route does not exist; a served simulator would say unknown_vendor.
        assert (status, body["error"]["code"]) == (404, "not_found"), (method, path)
    async with server.http.get(f"{server.url}/healthz") as r:
        assert r.status == 200


async def test_production_with_a_simulator_token_serves_the_simulator_only_to_its_holder(
    start_server, tmp_path: Path
) -> None:
    server: Server = await start_server(no_vendors(tmp_path), environment="production", simulator_token=TOKEN)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        status, body = await answer(server, "POST", "/simulator/demo/messages", headers=headers,
                                    json={"from": BUYER, "text": "ROBE1"})
        assert (status, body["error"]["code"]) == (401, "unauthorized"), headers
        assert "PALABRE_SIMULATOR_TOKEN" in body["error"]["message"]
    # Past the token, the request reaches the simulator (which has no such vendor here).
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, body = await answer(server, "POST", "/simulator/demo/messages", headers=auth,
                                json={"from": BUYER, "text": "ROBE1"})
    assert (status, body["error"]["code"]) == (404, "unknown_vendor")
    assert (await answer(server, "GET", "/simulator/demo?token=wrong"))[0] == 401
    assert (await answer(server, "GET", f"/simulator/demo?token={TOKEN}"))[1]["error"]["code"] == "unknown_vendor"
    status, body = await answer(server, "GET", "/pay/sandbox/pay_1")
    assert (status, body["error"]["code"]) == (404, "not_found")


async def test_a_simulator_token_guards_every_simulator_route_and_the_page_passes_it_on(start_server) -> None:
    server: Server = await start_server(simulator_token=TOKEN)
    message = {"from": BUYER, "text": "ROBE1"}
    assert (await answer(server, "POST", "/simulator/demo/messages", json=message))[0] == 401
    assert (await answer(server, "GET", f"/simulator/demo/messages?contact={BUYER}"))[0] == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, body = await answer(server, "POST", "/simulator/demo/messages", json=message, headers=auth)
    assert status == 200 and body["replies"]
    async with server.http.get(f"{server.url}/simulator/demo", params={"token": TOKEN}) as r:
        assert r.status == 200 and "Authorization" in await r.text()


def test_production_refuses_a_vendor_whose_psp_is_the_sandbox(tmp_path: Path) -> None:
    settings = Settings.from_env({"PALABRE_ENV": "production"}, data_dir=str(tmp_path / "data"))
    with pytest.raises(StartupRefused) as refused:
        create_app(Runtime(settings, load_vendors(str(EXAMPLES))))
    assert "demo" in str(refused.value) and "sandbox" in str(refused.value) and refused.value.code != 0


def test_palabre_run_in_production_with_the_sandbox_psp_exits_with_a_clear_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PALABRE_") and k not in ("MONGODB_URI", "REDIS_URL")}
    env["PALABRE_ENV"] = "production"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(free_port()),
         "--data-dir", str(tmp_path / "data")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "psp is 'sandbox'" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_palabre_env_accepts_only_the_two_modes() -> None:
    assert Settings.from_env({}).environment == "development"  # unset: the newcomer path
    assert Settings.from_env({"PALABRE_ENV": "Production"}).production
    with pytest.raises(ValueError, match="development, production"):
        Settings.from_env({"PALABRE_ENV": "prod"})


def test_development_mode_on_a_public_address_warns_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    vendors = load_vendors(str(EXAMPLES))
    with caplog.at_level(logging.WARNING, logger="palabre"):
        create_app(Runtime(Settings.from_env({}, host="127.0.0.1", data_dir=str(tmp_path / "a")), vendors))
        assert "DEVELOPMENT MODE" not in caplog.text
        create_app(Runtime(Settings.from_env({}, host="0.0.0.0", data_dir=str(tmp_path / "b")), vendors))
    assert "DEVELOPMENT MODE on 0.0.0.0" in caplog.text and "PALABRE_ENV=production" in caplog.text


async def test_the_simulator_page_escapes_the_vendor_name(start_server, tmp_path: Path) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, name=HOSTILE_NAME))
    async with server.http.get(f"{server.url}/simulator/demo") as r:
        page = await r.text()
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_hostile_vendor_name_creates_no_element_in_chromium(tmp_path: Path) -> None:
    from tests.bot.test_fuzz_http import ThreadServer
    from tests.bot.test_simulator_page import _watch, chromium

    server = ThreadServer(vendor_dir(tmp_path, name=HOSTILE_NAME), tmp_path / "data")
    server.start()
    try:
        with chromium() as browser:
            page = browser.new_page()
            problems: list[str] = []
            _watch(page, problems)
            page.goto(f"http://127.0.0.1:{server.port}/simulator/demo")
            assert page.locator("header strong").inner_text() == HOSTILE_NAME
            assert page.locator("img").count() == 0
            assert HOSTILE_NAME in page.title()
            page.close()
            assert not problems, problems
    finally:
        server.stop()
