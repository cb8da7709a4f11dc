"""The Bot API client on a raw 127.0.0.1 server: kept-alive connections, answer framings, drops and timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import ValidationError

from channels.base import SendError
from channels.replies import Reply
from channels.telegram import Config, TelegramSender
from channels.telegram_client import BotApiClient, ExchangeError
from storage.embedded import EmbeddedStore
from tests.bot.test_delivery import (  # noqa: F401 (fake and store are fixtures)
    VENDOR,
    FakeTime,
    fake,
    make_delivery,
    queue,
    store,
)
from tests.conftest import free_port

DROP = b""  # close the connection without answering
HANG = b"hang"  # read the request, never answer


def ok(message_id: int, framing: str = "length", keep_alive: bool = True) -> bytes:
    # Compact, in Telegram's own key order (its fast path), except the chunked one (read as any JSON)
    body = json.dumps({"ok": True, "result": {"message_id": message_id, "chat": {"id": 42, "type": "private"},
                                              "text": "ok, \"message_id\": 1,"}},
                      separators=(",", ":") if framing != "chunked" else None).encode()
    if framing == "chunked":
        half = len(body) // 2
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:half], body[half:]))
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" \
            + chunks + b"0\r\n\r\n"
    if framing == "close":  # HTTP/1.0 style: no length, the body ends with the connection
        return b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + body
    extra = b"" if keep_alive else b"Connection: close\r\n"
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body), extra, body)


@dataclass
class RawBotApi:
    """A Bot API on a plain socket, so each test decides byte by byte how it answers: `script` holds the
    next answers (DROP, HANG or raw bytes), and once it is empty every call gets an ok with a new id."""

    script: list[bytes] = field(default_factory=list)
    connections: int = 0
    requests: list[dict] = field(default_factory=list)
    close_idle_after: float | None = None
    server: asyncio.Server | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            for _ in range(100):
                try:
                    wait = self.close_idle_after if self.requests else None
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), wait)
                except (asyncio.IncompleteReadError, TimeoutError):
                    return
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                self.requests.append(json.loads(await reader.readexactly(length)))
                answer = self.script.pop(0) if self.script else ok(len(self.requests))
                if answer == DROP:
                    return
                if answer == HANG:
                    await asyncio.sleep(5)
                    return
                writer.write(answer)
                await writer.drain()
                if b"Connection: close" in answer or answer.startswith(b"HTTP/1.0"):
                    return
        finally:
            writer.close()


@pytest.fixture
async def api() -> AsyncIterator[RawBotApi]:
    raw = RawBotApi()
    raw.server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    try:
        yield raw
    finally:
        raw.server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(raw.server.wait_closed(), 2)


@contextlib.asynccontextmanager
async def sender_to(api: RawBotApi) -> AsyncIterator[TelegramSender]:
    sender = TelegramSender("123:abc", api.base)
    try:
        yield sender
    finally:
        await sender.close()


async def test_successive_and_concurrent_calls_reuse_kept_alive_connections(api: RawBotApi) -> None:
    async with sender_to(api) as sender:
        for i in range(5):
            assert await sender.send("42", Reply(text=f"bonjour {i}"), idempotency_key=f"k{i}") == f"42:{i + 1}"
        assert api.connections == 1  # one connection for five calls in a row
        await asyncio.gather(*(sender.send("42", Reply(text="x"), idempotency_key=f"c{i}") for i in range(3)))
        assert api.connections <= 3
        before = api.connections
        await sender.send("42", Reply(text="encore"), idempotency_key="last")
        assert api.connections == before  # the concurrent ones went back to the pool
    assert [r["text"] for r in api.requests[:5]] == [f"bonjour {i}" for i in range(5)]


async def test_chunked_close_delimited_and_connection_close_answers_are_read(api: RawBotApi) -> None:
    api.script = [ok(7, "chunked"), ok(8, "close"), ok(9, keep_alive=False)]
    async with sender_to(api) as sender:
        assert await sender.send("42", Reply(text="a"), idempotency_key="a") == "42:7"
        assert await sender.send("42", Reply(text="b"), idempotency_key="b") == "42:8"
        assert await sender.send("42", Reply(text="c"), idempotency_key="c") == "42:9"
        assert await sender.send("42", Reply(text="d"), idempotency_key="d") == "42:4"
    assert api.connections == 3  # the two answers that closed their connection made the next call open one


async def test_a_connection_the_server_closed_while_idle_is_not_used_again(api: RawBotApi) -> None:
    api.close_idle_after = 0.05
    async with sender_to(api) as sender:
        assert await sender.send("42", Reply(text="a"), idempotency_key="a") == "42:1"
        await asyncio.sleep(0.3)  # the server hangs up on the idle connection meanwhile
        assert await sender.send("42", Reply(text="b"), idempotency_key="b") == "42:2"
    assert api.connections == 2


async def test_a_dropped_or_garbled_exchange_is_a_retryable_send_error(api: RawBotApi) -> None:
    api.script = [DROP, b"SMTP ready\r\n\r\n"]
    async with sender_to(api) as sender:
        for _ in range(2):
            with pytest.raises(SendError) as err:
                await sender.send("42", Reply(text="a"), idempotency_key="a")
            assert not err.value.permanent
        assert await sender.send("42", Reply(text="a"), idempotency_key="a") == "42:3"


async def test_an_unanswered_call_times_out_and_its_connection_is_not_reused(api: RawBotApi) -> None:
    api.script = [HANG]
    client = BotApiClient(api.base + "/bot1:t/", timeout=0.2)
    try:
        with pytest.raises(TimeoutError):
            await client.post("sendMessage", b'{"chat_id":1,"text":"a"}')
        status, body = await client.post("sendMessage", b'{"chat_id":1,"text":"b"}')
    finally:
        await client.close()
    assert status == 200 and json.loads(body)["result"]["message_id"] == 2
    assert api.connections == 2  # the late answer of the first call could not be read as the second's


async def test_a_server_that_is_down_is_a_connection_error() -> None:
    client = BotApiClient("http://127.0.0.1:9/bot1:t/", timeout=2)  # the discard port: nobody listens
    with pytest.raises(OSError):
        await client.post("sendMessage", b"{}")
    assert issubclass(ExchangeError, OSError)


async def test_a_reply_whose_connection_dropped_mid_request_goes_out_once_through_the_outbox(
        store: EmbeddedStore, fake: FakeTime, api: RawBotApi) -> None:  # noqa: F811 (fixtures)
    api.script = [DROP]
    async with sender_to(api) as sender:
        delivery = make_delivery(store, {f"telegram:{VENDOR}": sender}, fake)
        [entry] = await queue(store, fake, provider="telegram", channel="telegram", to="4242", text="Merci")
        delivery.submit([entry])
        await fake.drive(delivery)
        for _ in range(30):  # the runtime's outbox sweep, once a (virtual) second
            if not await store.pending_outbox(fake() + 3600):
                break
            fake.advance(1.0)
            await delivery.sweep()
            await fake.drive(delivery)
    assert [r["text"] for r in api.requests] == ["Merci #0", "Merci #0"]  # dropped, then sent once
    assert await store.pending_outbox(fake() + 3600) == []


def test_an_api_base_url_that_is_not_http_is_refused_when_the_vendor_loads() -> None:
    with pytest.raises(ValidationError):
        Config(bot_token="1:t", webhook_secret="s", api_base_url="api.telegram.org")
    assert Config(bot_token="1:t", webhook_secret="s").api_base_url == "https://api.telegram.org"


async def test_https_calls_check_the_certificate(tmp_path: Path) -> None:
    """api.telegram.org is https: a certificate the client trusts is accepted, any other refused."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"ok": True, "result": {"message_id": 5, "text": body["text"]}})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_side).start()
    trusting = BotApiClient(f"https://localhost:{port}/bot1:t/", ssl_context=ssl.create_default_context(cafile=cert))
    default = BotApiClient(f"https://localhost:{port}/bot1:t/")
    try:
        status, body = await trusting.post("sendMessage", b'{"chat_id":1,"text":"Dieuredieuf"}')
        assert status == 200 and json.loads(body)["result"]["text"] == "Dieuredieuf"
        with pytest.raises(ssl.SSLCertVerificationError):
            await default.post("sendMessage", b'{"chat_id":1,"text":"x"}')
    finally:
        await trusting.close()
        await default.close()
        await runner.cleanup()
