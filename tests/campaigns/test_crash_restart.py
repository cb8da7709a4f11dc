"""SIGKILL a real `python -m bot run` halfway through a broadcast, restart it: every contact is messaged once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.campaigns.conftest import AUTH, TEMPLATE, TOKEN, contacts_csv, meta_vendor_dir
from tests.conftest import ROOT, free_port, serving

CONTACTS = 120
SECRETS = {"WA_TOKEN_DEMO": "EAAG-token", "WA_APP_SECRET_DEMO": "app-secret", "WA_VERIFY_DEMO": "verify"}


class KillingWhatsApp:
    """Counts template messages per recipient; on the message past `kill_at` it kills the server mid-request.

    That request and every one arriving after it are never answered nor counted: they were cut by the
    crash. Requests answered earlier had time to be recorded (the kill waits a moment), as on a real
    server whose process dies between two sends.
    """

    def __init__(self, kill_at: int) -> None:
        self.port = free_port()
        self.per_recipient: Counter[str] = Counter()
        self.kill_at = kill_at
        self.victim: subprocess.Popen[bytes] | None = None
        self.killing = False

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not self.killing and self.victim is not None and sum(self.per_recipient.values()) >= self.kill_at:
            self.killing = True
            await asyncio.sleep(0.3)
            self.victim.send_signal(signal.SIGKILL)
        if self.killing:
            # Cut by the crash: never answered, never counted (aiohttp lets the handler run on; it must not
            # count later either).
            await asyncio.sleep(2)
            return web.json_response({}, status=503)
        self.per_recipient[body["to"]] += 1
        return web.json_response({"messaging_product": "whatsapp",
                                  "messages": [{"id": f"wamid.K{sum(self.per_recipient.values())}"}]})


def start(vendors: Path, data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **SECRETS, "PALABRE_ADMIN_TOKEN": TOKEN, "PALABRE_LOG_LEVEL": "WARNING",
           "PALABRE_OUTBOX_INTERVAL": "0.2"}
    env.pop("REDIS_URL", None)
    env.pop("MONGODB_URI", None)
    return subprocess.Popen([sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port),
                             "--vendors", str(vendors), "--data-dir", str(data)],
                            cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def up(http: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            async with http.get(f"{url}/healthz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"server did not start:\n{log.read_text()}")


async def test_sigkill_at_half_of_a_broadcast_then_restart_messages_every_contact_exactly_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    fake = KillingWhatsApp(kill_at=CONTACTS // 2)
    app = web.Application()
    app.router.add_post("/{version}/{pnid}/messages", fake.handle)
    vendors = meta_vendor_dir(tmp_path, f"http://127.0.0.1:{fake.port}")
    data, log, port = tmp_path / "data", tmp_path / "server.log", free_port()
    url = f"http://127.0.0.1:{port}"
    (tmp_path / "contacts.csv").write_bytes(contacts_csv(CONTACTS))
    imported = subprocess.run([sys.executable, "-m", "bot", "import-contacts", str(tmp_path / "contacts.csv"),
                               "--vendor", "demo", "--default-region", "SN", "--vendors", str(vendors),
                               "--data-dir", str(data)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert imported.returncode == 0, imported.stderr
    procs: list[subprocess.Popen[bytes]] = []
    try:
        async with serving(app, fake.port), aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            first = start(vendors, data, port, log)
            procs.append(first)
            fake.victim = first
            await up(http, url, first, log)
            async with http.put(f"{url}/api/vendors/demo/templates/promo", json=TEMPLATE, headers=AUTH) as r:
                assert r.status == 200
            # Sending hours are the vendor's days (08:00–21:00 by default): this test runs at any hour.
            async with http.put(f"{url}/api/vendors/demo/campaign-settings", json={"night_allowed": True},
                                headers=AUTH) as r:
                assert r.status == 200, await r.text()
            async with http.post(f"{url}/api/vendors/demo/campaigns", headers=AUTH, json={
                    "id": "noel", "template": "promo", "tag": "promo", "rate": 40, "start": True}) as r:
                assert r.status == 201, await r.text()
            assert await asyncio.to_thread(first.wait, 30) == -signal.SIGKILL
            before = sum(fake.per_recipient.values())
            assert CONTACTS // 3 <= before < CONTACTS  # killed about halfway

            await asyncio.sleep(2.5)  # the cut requests are over
            fake.victim, fake.killing = None, False
            second = start(vendors, data, port, log)
            procs.append(second)
            await up(http, url, second, log)
            deadline = time.monotonic() + 60
            status = None
            while time.monotonic() < deadline:
                async with http.get(f"{url}/api/vendors/demo/campaigns/noel/report", headers=AUTH) as r:
                    report = await r.json()
                status = report["campaign"]["status"]
                if status == "completed" and len(fake.per_recipient) == CONTACTS:
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # a duplicate would arrive now
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
    assert status == "completed", log.read_text()[-3000:]
    assert len(fake.per_recipient) == CONTACTS, "someone was never messaged"
    twice = {who: n for who, n in fake.per_recipient.items() if n != 1}
    assert not twice, f"messaged more than once: {twice}"
    assert report["counts"]["pending"] == 0
