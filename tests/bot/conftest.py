"""Fixtures for the number import and admin tests: a local Wasender and a folder of vendors."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from tests.conftest import EXAMPLES, free_port

ACCESS_TOKEN = "pat-account-token-0451"  # the fake's personal access token (account level)
YAML_KEY = "yaml-session-key-7781"
YAML_SECRET = "yaml-webhook-secret-7781"
YAML_PHONE = "+221780009988"


class FakeWasender:
    """A local Wasender: send-message for the session keys it knows, and the session update endpoint."""

    def __init__(self) -> None:
        self.api_keys: set[str] = {YAML_KEY}
        self.sends: list[tuple[str | None, dict[str, Any]]] = []  # (Authorization, body)
        self.session_calls: list[dict[str, Any]] = []
        self.session_answer: tuple[int, Any] | None = None  # a canned answer instead of the normal one
        self.session_secret = "wasender-own-webhook-secret"
        self.next_id = 100000
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._runner: web.AppRunner | None = None

    async def send_message(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization")
        body = await request.json()
        self.sends.append((auth, body))
        if auth not in {f"Bearer {k}" for k in self.api_keys}:
            return web.json_response({"success": False, "message": "Unauthenticated."}, status=401)
        self.next_id += 1
        return web.json_response({"success": True, "data": {"msgId": self.next_id, "jid": body["to"],
                                                            "status": "in_progress"}})

    async def update_session(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization")
        body = await request.json()
        self.session_calls.append({"method": request.method, "path": request.path, "auth": auth, "body": body})
        if self.session_answer is not None:
            status, payload = self.session_answer
            if isinstance(payload, str):
                return web.Response(text=payload, status=status, content_type="text/html")
            return web.json_response(payload, status=status)
        if auth != f"Bearer {ACCESS_TOKEN}":
            return web.json_response({"message": "Unauthenticated."}, status=401)
        # Wasender answers with the whole session, its API key and webhook secret included.
        return web.json_response({"success": True, "data": {
            "id": int(request.match_info["session"]), "name": "Boutique", "phone_number": "+221770001122",
            "status": "connected", "account_protection": True, "log_messages": True,
            "webhook_url": body.get("webhook_url"), "webhook_enabled": body.get("webhook_enabled"),
            "webhook_events": body.get("webhook_events"), "api_key": "session-api-key-returned-by-wasender",
            "webhook_secret": self.session_secret, "created_at": "2025-04-01T12:00:00Z",
            "updated_at": "2025-05-08T15:30:00Z"}})

    def sent(self) -> list[tuple[str | None, dict[str, Any]]]:
        """Sends that Wasender accepted."""
        return [(auth, body) for auth, body in self.sends if auth in {f"Bearer {k}" for k in self.api_keys}]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/send-message", self.send_message)
        app.router.add_put("/api/whatsapp-sessions/{session}", self.update_session)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture
async def wasender_api() -> AsyncIterator[FakeWasender]:
    api = FakeWasender()
    await api.start()
    yield api
    await api.stop()


def vendors_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api_base: str,
                   ids: tuple[str, ...] = ("demo", "kaay", "awa", "bintou")) -> Path:
    """Vendors without a Wasender block (`ids`), plus `yamlws` whose YAML has one; the fake has no send limit."""
    monkeypatch.setenv("WS_YAML_KEY", YAML_KEY)
    monkeypatch.setenv("WS_YAML_SECRET", YAML_SECRET)
    demo = yaml.safe_load((EXAMPLES / "demo.yaml").read_text(encoding="utf-8"))
    folder = tmp_path / f"vendors-{len(list(tmp_path.glob('vendors-*')))}"
    folder.mkdir()
    # Palabre paces Wasender at 1 send per 5 s by default; the local fake has no such limit.
    fast = {"limits": {"wasender": {"sending": {"per_second": 100, "burst": 20}}}}
    for vendor_id in ids:
        data = {**demo, "id": vendor_id, "name": f"Boutique {vendor_id}", "delivery": fast}
        (folder / f"{vendor_id}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    data = {**demo, "id": "yamlws", "name": "Boutique YAML", "delivery": fast,
            "channels": {"wasender": {"phone_number": YAML_PHONE, "instance_id": "inst-yaml-01",
                                      "api_key": "${WS_YAML_KEY}", "webhook_secret": "${WS_YAML_SECRET}",
                                      "api_base_url": api_base}}}
    (folder / "yamlws.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a `python -m bot …` child serving the demo vendor alone, on a free port."""
    folder = tmp_path / "vendors"
    folder.mkdir()
    shutil.copy(EXAMPLES / "demo.yaml", folder)
    return {**os.environ, "PALABRE_PORT": str(free_port()), "PALABRE_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1",
            "PALABRE_DATA_DIR": str(tmp_path / "data"), "PALABRE_VENDORS_DIR": str(folder)}
