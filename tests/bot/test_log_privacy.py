"""Logs at DEBUG hold no configured secret and no full buyer address, on every channel and in every error path."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import aiohttp
import pytest
from aiohttp import web

from bot.http import json_errors
from bot.logs import quiet_libraries
from tests.channels import test_email as em
from tests.channels import test_meta as meta
from tests.channels import test_telegram as tg
from tests.channels import test_twilio as tw
from tests.channels import test_wasender as ws
from tests.channels.test_email import sendgrid  # noqa: F401 - fixtures used by name
from tests.channels.test_meta import graph  # noqa: F401
from tests.channels.test_telegram import bot_api  # noqa: F401
from tests.channels.test_twilio import twilio_api  # noqa: F401
from tests.channels.test_wasender import fake  # noqa: F401
from tests.conftest import FIXTURES, ROOT, Server, eventually, free_port, serving

CH = FIXTURES / "channels"
ADMIN_TOKEN = "admin-token-never-logged-5b2e"
SIMULATOR_TOKEN = "simulator-token-never-logged-71c3"
# Every secret the vendors below are configured with (from the channel tests that build them).
SECRETS = [tg.SECRET, "123:abc", meta.SECRET, meta.VERIFY_TOKEN, "EAAG-token", ws.SECRET, ws.API_KEY, tw.TOKEN,
           em.TOKEN, em.API_KEY, ADMIN_TOKEN, SIMULATOR_TOKEN]
# Buyers' full addresses, in each spelling a log line could use.
ADDRESSES = ["221771234567", "+221770000001", "221770000001", em.BUYER, "awa.traore@example.ml"]
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 only, whatever the env


def leaks(text: str, extra: list[str] = ()) -> list[str]:
    found = [s for s in [*SECRETS, *extra] if s and s in text]
    return found + [a for a in ADDRESSES if re.search(rf"(?<![\d*]){re.escape(a)}", text)]


async def settle(server: Server, conversation_id: str, replies: int) -> None:
    async def sent() -> bool:
        await server.runtime.pipeline.idle()
        out = [m for m in await server.runtime.store.transcript(conversation_id) if m.direction == "out"]
        return len(out) >= replies and all(m.status in ("sent", "delivered", "read", "failed") for m in out)

    await eventually(sent, f"{replies} replies sent in {conversation_id}", timeout=15)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        logging.getLogger(name).setLevel(logging.DEBUG)
    quiet_libraries(logging.DEBUG)  # what `palabre run` does at PALABRE_LOG_LEVEL=DEBUG
    return caplog


async def test_channel_flows_at_debug_log_no_secret_and_no_full_address(
    start_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, debug_logs: pytest.LogCaptureFixture,
    redis_url: str, bot_api, graph, fake, twilio_api, sendgrid,  # noqa: F811
) -> None:
    common = {"admin_token": ADMIN_TOKEN, "simulator_token": SIMULATOR_TOKEN, "redis_url": redis_url}

    server = await start_server(tg.telegram_vendor(tmp_path, bot_api.base, monkeypatch), **common)
    for name in sorted(p.name for p in (CH / "telegram").glob("*.json") if p.name != "meta.json"):
        await tg.post_update(server, json.loads((CH / "telegram" / name).read_text()))
    await tg.post_update(server, tg.message(90, "ROBE1"), secret="wrong-secret")
    await tg.post_update(server, tg.message(91, "ROBE1"))
    await settle(server, "demo:telegram:5123456789", 1)

    server = await start_server(meta.meta_vendor(tmp_path, graph.base, monkeypatch), **common)
    for name in sorted(p.name for p in (CH / "meta_whatsapp").glob("*.json") if p.name != "meta.json"):
        await meta.post(server, (CH / "meta_whatsapp" / name).read_bytes())
    await meta.post(server, meta.text_message(1, "ROBE1"))
    await meta.post(server, b'{"object": 1}', signature="sha256=" + "0" * 64)
    await settle(server, f"demo:whatsapp:+{meta.BUYER}", 1)

    server = await start_server(ws.wasender_vendor(tmp_path, fake.base, monkeypatch), **common)
    for name in sorted(p.name for p in (CH / "wasender").glob("*.json") if p.name != "meta.json"):
        await ws.post(server, (CH / "wasender" / name).read_bytes())
    await ws.post(server, {"event": "messages.received", "data": {"messages": ws.record("IN1", "ROBE1")}})
    await ws.post(server, {"event": "messages.received"}, secret="wrong")
    await ws.post(server, {"event": "x", "sessionId": ws.API_KEY}, path="/webhooks/wasender")
    await settle(server, f"demo:whatsapp:{ws.BUYER}", 1)

    server = await start_server(tw.twilio_vendors(tmp_path, twilio_api, monkeypatch), **common)
    for path in sorted((CH / "twilio_sms").glob("*.form")):
        await tw.post_form(server, parse_qsl(path.read_text().strip(), keep_blank_values=True))
    await tw.post_form(server, tw.sms(77, "ROBE1"))
    await tw.post_form(server, tw.sms(78, "ROBE1"), token="not-the-token")
    await settle(server, f"demo:sms:{tw.BUYER}", 1)

    server = await start_server(em.email_vendor(tmp_path, sendgrid.base, monkeypatch), **common)
    for name, fixture in em.META["fixtures"].items():
        ctype = fixture["request"]["headers"]["Content-Type"]
        await em.post_mail(server, (CH / "sendgrid_email" / name).read_bytes(), ctype)
    body, ctype = em.inbound_mail("ROBE1", "<m1@buyer.example>")
    await em.post_mail(server, body, ctype)
    await em.post_mail(server, body, ctype, token="wrong-token")
    await em.post_mail(server, b"not a form", ctype)
    await settle(server, f"demo:email:{em.BUYER}", 1)

    auth = {"Authorization": f"Bearer {SIMULATOR_TOKEN}"}
    for text in ("ROBE1", "n'importe quoi"):
        async with server.http.post(f"{server.url}/simulator/demo/messages", headers=auth,
                                    json={"from": "+221770000001", "text": text}) as r:
            assert r.status == 200
    async with server.http.get(f"{server.url}/api/admin/vendors/demo/numbers",
                               headers={"Authorization": "Bearer wrong"}) as r:
        assert r.status == 401

    # aiohttp.access lines come from the fake providers' servers (what a provider sees); Palabre's own
    # server runs without an access log, which test_palabre_run_logs_no_path_token_even_at_debug checks.
    ours = [r for r in debug_logs.records if r.name != "aiohttp.access"]
    formatter = logging.Formatter("%(name)s %(message)s")
    text = "\n".join(formatter.format(r) for r in ours)
    assert sum(r.levelno == logging.DEBUG for r in ours) > 0, "DEBUG lines were not captured"
    assert len(ours) > 20 and "+22177****567" in text  # addresses are logged, masked
    assert not leaks(text), leaks(text)


async def test_an_unhandled_error_logs_the_route_not_the_path_token_or_the_message(
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    token = "inbound-path-token-9f8e7d"
    phone = "+" + ADDRESSES[0]  # not spelled out here: the logged traceback quotes this file's source lines

    async def broken(request: web.Request) -> web.Response:
        raise ValueError(f"cannot handle {em.BUYER} from {phone}")

    app = web.Application(middlewares=[json_errors])
    app.router.add_post("/webhooks/email/{vendor}/{token}", broken)
    port = free_port()
    async with (serving(app, port), aiohttp.ClientSession() as http,
                http.post(f"http://127.0.0.1:{port}/webhooks/email/demo/{token}", data=b"x") as r):
        assert r.status == 500 and (await r.json())["error"]["code"] == "internal"
    formatter = logging.Formatter("%(name)s %(message)s")
    text = "\n".join(formatter.format(r) for r in debug_logs.records if r.name != "aiohttp.access")
    assert "unhandled ValueError on POST /webhooks/email/{vendor}/{token}" in text
    assert "broken" in text  # where it happened is kept
    assert not leaks(text, [token]), leaks(text, [token])


@contextlib.contextmanager
def palabre_run(tmp_path: Path, **env_extra: str) -> Iterator[tuple[int, Path]]:
    """The real `palabre run` at DEBUG on a free port, stopped on exit: (its port, its log file)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PALABRE_") and k not in ("MONGODB_URI", "REDIS_URL")}
    env.update(PALABRE_LOG_LEVEL="DEBUG", **env_extra)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port),
                                 "--data-dir", str(tmp_path / "data")], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with OPENER.open(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.1)
        yield port, log
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_palabre_run_logs_no_path_token_even_at_debug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real `palabre run`, at DEBUG: an inbound mail's URL carries the token, and no log line does."""
    vendors = em.email_vendor(tmp_path, "http://127.0.0.1:9", monkeypatch)
    with palabre_run(tmp_path, PALABRE_VENDORS_DIR=str(vendors), SG_KEY_DEMO=em.API_KEY,
                     SG_INBOUND_TOKEN_DEMO=em.TOKEN) as (port, log):
        body, ctype = em.inbound_mail("ROBE1", "<m1@buyer.example>")
        for token in (em.TOKEN, em.TOKEN + "-wrong"):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/email/demo/{token}", data=body,
                                             headers={"Content-Type": ctype}, method="POST")
            with contextlib.suppress(urllib.error.HTTPError):
                OPENER.open(request, timeout=10).close()
        time.sleep(1)  # the turn runs and its send fails (no provider at port 9): more lines to check
    text = log.read_text(errors="replace")
    assert "DEBUG" in text and "webhooks.email" in text, text[-2000:]
    assert not leaks(text), leaks(text)


def test_a_request_the_http_parser_refuses_is_logged_without_its_bytes(tmp_path: Path) -> None:
    """aiohttp logged a request its parser refuses at ERROR with a traceback quoting the raw header line."""
    malformed = [
        f"POST /webhooks/telegram/demo HTTP/1.1\r\nHost: x\r\nX-Telegram-Bot-Api-Secret-Token: {tg.SECRET}\x01\r\n"
        "Content-Length: 2\r\n\r\n{}",
        f"GET /api/admin/vendors/demo/buyers/%2B221770000001 HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {ADMIN_TOKEN}\x7f\r\n\r\n",
        "POST /webhooks/telegram/demo HTTP/1.1\r\nHost: x\r\nContent-Length: +221770000001\r\n\r\n{}",
    ]
    answers = []
    with palabre_run(tmp_path, PALABRE_VENDORS_DIR=str(ROOT / "examples" / "vendors"),
                     PALABRE_NLU_SECOND_OPINION="off") as (port, log):
        for raw in malformed:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                conn.sendall(raw.encode("latin-1"))
                answers.append(conn.recv(200))
        time.sleep(0.5)
    text = log.read_text(errors="replace")
    assert all(a.startswith(b"HTTP/1.0 400 ") or a.startswith(b"HTTP/1.1 400 ") for a in answers), answers
    assert text.count("malformed HTTP request from 127.0.0.1 refused with 400") == len(malformed), text[-3000:]
    assert "Traceback" not in text and "ERROR aiohttp.server" not in text, text[-3000:]
    assert not leaks(text), leaks(text)
