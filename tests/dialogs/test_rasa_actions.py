"""rasa-sdk actions: the microfinance example's actions on a real rasa-sdk action server on 127.0.0.1,
and what a buyer gets when that server fails, is slow or is not there."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web

from bot.actions import build_registry
from bot.cli.conversation_tests import run_files
from bot.vendors import VendorLoader
from tests.conftest import ROOT, free_port, serving

VENDOR = ROOT / "examples" / "vendors" / "kawral.yaml"
LOAN = [
    {"button": "balance", "bot": "Votre solde : 152 500 F CFA."},
    {"button": "loan"}, {"user": "600 000"}, {"user": "12"}, {"button": "stock"},
    {"user": "80 000", "bot": "dépasserait la moitié de vos revenus", "slots": {"income": None}},
    {"user": "150 000", "bot": "Revenu mensuel : 150 000 F CFA", "state": "confirming"},
]


@pytest.fixture(scope="module")
def action_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "examples.actions.microfinance", "-p", str(port), "--quiet"],
        cwd=ROOT, env={**os.environ, "SANIC_HOST": "127.0.0.1"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http:
            try:
                async with http.get(f"{url}/health") as r:
                    return r.status == 200
            except (aiohttp.ClientError, TimeoutError):
                return False

    deadline = time.monotonic() + 60
    try:
        while not asyncio.run(ready()):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                pytest.fail(f"the action server did not start: {tail}")
            time.sleep(0.2)
        yield f"{url}/webhook"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def script(tmp_path: Path, steps: list[dict[str, object]]) -> Path:
    f = tmp_path / "t.yaml"
    f.write_text(yaml.safe_dump({"vendor": str(VENDOR), "tests": [{"name": "t", "steps": steps}]},
                                allow_unicode=True), encoding="utf-8")
    return f


async def passes(tmp_path: Path, steps: list[dict[str, object]]) -> None:
    [result] = await run_files([script(tmp_path, steps)])
    assert result.ok, "\n".join(result.failures)


def remote(monkeypatch: pytest.MonkeyPatch, endpoint: str, timeout: str = "5") -> None:
    monkeypatch.setenv("PALABRE_ACTION_ENDPOINT", endpoint)
    monkeypatch.setenv("PALABRE_REMOTE_ACTIONS", "action_account_balance,validate_loan_form")
    monkeypatch.setenv("PALABRE_ACTION_TIMEOUT", timeout)
    monkeypatch.delenv("PALABRE_ACTIONS", raising=False)


async def test_actions_run_on_a_rasa_sdk_action_server(
    action_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote(monkeypatch, action_server)
    await passes(tmp_path, LOAN)


async def test_actions_run_in_process_with_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PALABRE_ACTION_ENDPOINT", raising=False)
    monkeypatch.setenv("PALABRE_ACTIONS", "examples.actions.microfinance")
    await passes(tmp_path, LOAN)


async def fake_server(handler: web.RequestHandler) -> tuple[web.Application, int]:
    app = web.Application()
    app.router.add_post("/webhook", handler)
    return app, free_port()


@pytest.mark.parametrize("failure", ["error", "slow", "garbage"])
async def test_a_failing_action_server_gets_a_polite_answer(
    failure: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if failure == "slow":
            await asyncio.sleep(3)
        if failure == "garbage":
            return web.Response(text="<html>bad gateway</html>", status=200)
        return web.json_response({"error": "boom", "action_name": "action_account_balance"}, status=500)

    app, port = await fake_server(handler)
    remote(monkeypatch, f"http://127.0.0.1:{port}/webhook", timeout="0.5")
    VendorLoader(build_registry()).load(VENDOR)  # the parser is trained once per process: not timed below
    async with serving(app, port):
        started = time.monotonic()
        await passes(tmp_path, [{"button": "balance", "bot": "Le solde n'est pas disponible pour le moment"}])
        assert time.monotonic() - started < 2.5, "the buyer waited for the slow server"


async def test_an_unreachable_action_server_gets_a_polite_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote(monkeypatch, f"http://127.0.0.1:{free_port()}/webhook")
    await passes(tmp_path, [{"button": "balance", "bot": "Le solde n'est pas disponible pour le moment"}])


def test_operator_actions_that_do_not_import_are_refused_at_start(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "check", str(VENDOR)], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "PALABRE_ACTIONS": "examples.actions.nope"})
    assert result.returncode == 1 and "PALABRE_ACTIONS: cannot import 'examples.actions.nope'" in result.stderr


def test_an_operator_python_module_registers_actions_a_dialog_can_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shop_rules.py").write_text(
        "def vip(turn):\n    return turn.event.contact.address.endswith('01')\n\n"
        "def register(registry):\n    registry.add('is_vip', vip)\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = build_registry({"PALABRE_ACTIONS": "shop_rules"})
    assert "is_vip" in registry and "reserve_product" in registry
    assert "shop_rules.vip" not in registry, "a dotted path is never a name a dialog can use"
