"""Every route, fuzzed in body, headers and path against a real server on 127.0.0.1: no answer is ever ≥ 500.

Hypothesis drives a plain socket client, byte for byte, so headers can hold what no HTTP library would
send (non-UTF-8, non-ASCII, odd schemes). Each test runs PALABRE_FUZZ_EXAMPLES examples (the nightly
size is 10 000), 150 by default for CI. Valid credentials are one of the choices, so the code behind
authentication is fuzzed too, and so is the unauthenticated path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import create_app
from bot.payments import SIGNATURE_HEADER as SANDBOX_HEADER
from bot.payments import sign as sandbox_sign
from bot.runtime import Runtime, load_vendors
from bot.settings import Settings
from tests.bot.test_bad_input import ADMIN_TOKEN, CHANNEL_SECRETS, every_channel_vendor
from tests.conftest import FIXTURES, free_port

# The server's own thread draws backoff jitter from `random` while hypothesis runs; it is not a strategy.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
EXAMPLES = int(os.environ.get("PALABRE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=EXAMPLES <= 200,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CH = FIXTURES / "channels"
BUYER = "+221771234567"


class ThreadServer:
    """A Palabre server on 127.0.0.1 in its own thread and event loop, so a sync hypothesis test can call it."""

    def __init__(self, vendors_dir: Path, data_dir: Path) -> None:
        self.port = free_port()
        self.settings = Settings.from_env({}, port=self.port, data_dir=str(data_dir), vendors_dir=str(vendors_dir),
                                          admin_token=ADMIN_TOKEN, timer_interval=0.2, outbox_interval=0.5,
                                          max_body_bytes=64 * 1024)
        self.runtime = Runtime(self.settings, load_vendors(str(vendors_dir)))
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self._thread.start()

        async def up() -> None:
            self._runner = web.AppRunner(create_app(self.runtime), access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

        self.run(up())

    def stop(self) -> None:
        if self._runner is not None:
            self.run(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def call(port: int, method: str, path: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> int:
    """One request, written byte for byte; the status of the answer."""
    head = [method.encode() + b" " + path + b" HTTP/1.1", f"Host: 127.0.0.1:{port}".encode(), b"Connection: close",
            f"Content-Length: {len(body)}".encode(), *(k + b": " + v for k, v in headers)]
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := s.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1."), (method, path, headers, body[:200], answer[:200])
    return int(answer.split(b" ", 2)[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    tmp = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as mp:
        vendors = every_channel_vendor(tmp, mp, "http://127.0.0.1:9")  # providers unreachable: sends just fail
        srv = ThreadServer(vendors, tmp / "data")
        srv.start()
        try:
            yield srv
        finally:
            srv.stop()


# ------------------------------------------------------------------------------------------ strategies

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
header_bytes = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
odd_values = st.sampled_from([b"\xff\xfe", "é".encode(), b"sha256=\xc3\xa9", "sha256=é".encode(), b"Bearer \xff",
                              b"Bearer", b"bearer  x", b"", b" ", b"\x00", b"\t", b"sha256=", b"=" * 40])


def _mutate(value: Any, data: st.DataObject) -> Any:
    """The value with one random node (maybe the root) replaced by arbitrary JSON."""
    if data.draw(st.integers(0, 3)) == 0 or not isinstance(value, dict | list) or not value:
        return data.draw(json_values)
    if isinstance(value, dict):
        key = data.draw(st.sampled_from(sorted(value)))
        return {**value, key: _mutate(value[key], data)}
    i = data.draw(st.integers(0, len(value) - 1))
    return [*value[:i], _mutate(value[i], data), *value[i + 1:]]


def fixture_payloads(folder: str) -> list[Any]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((CH / folder).glob("*.json"))
            if p.name != "meta.json"]


def json_body(data: st.DataObject, fixtures: list[Any]) -> bytes:
    kind = data.draw(st.sampled_from(["fixture", "mutated", "random", "bytes", "deep", "truncated"]))
    base = data.draw(st.sampled_from(fixtures)) if fixtures else {}
    if kind == "fixture":
        return json.dumps(base).encode()
    if kind == "mutated":
        return json.dumps(_mutate(base, data)).encode()
    if kind == "random":
        return json.dumps(data.draw(json_values)).encode()
    if kind == "deep":
        n = data.draw(st.integers(60, 5000))
        return data.draw(st.sampled_from([b"[" * n + b"]" * n, b'{"a":' * n + b"1" + b"}" * n, b"[" * n]))
    if kind == "truncated":
        raw = json.dumps(base).encode()
        return raw[: data.draw(st.integers(0, len(raw)))]
    return data.draw(st.binary(max_size=300))


def form_body(data: st.DataObject, fixtures: list[bytes]) -> bytes:
    base = data.draw(st.sampled_from(fixtures))
    kind = data.draw(st.sampled_from(["fixture", "mutated", "random", "bytes"]))
    if kind == "fixture":
        return base
    if kind == "mutated":
        fields = parse_qsl(base.decode(), keep_blank_values=True)
        i = data.draw(st.integers(0, len(fields) - 1))
        value = data.draw(st.text(max_size=40) | st.sampled_from(["", "+", "whatsapp:", "1e400", "-1", "99999999"]))
        fields[i] = (fields[i][0], value)
        return "&".join(f"{quote(k)}={quote(v)}" for k, v in fields).encode()
    if kind == "random":
        return data.draw(st.binary(max_size=200))
    return data.draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")


def path_segment(data: st.DataObject, good: str) -> bytes:
    """The right value, or a wrong one: percent-encoded text, raw non-ASCII bytes, or an odd but legal token."""
    kind = data.draw(st.sampled_from(["good", "text", "raw", "odd"]))
    if kind == "good":
        return good.encode()
    if kind == "text":
        return quote(data.draw(st.text(max_size=30)), safe="").encode() or b"x"
    if kind == "raw":
        raw = data.draw(st.binary(min_size=1, max_size=20))
        return bytes(b for b in raw if b > 0x20 and b not in b"?#%/\x7f") or b"\xff"
    return data.draw(st.sampled_from([b"%FF", b"%ED%A0%80", b"%00", b"..", b"%2F", b"a" * 300]))


def headers_for(data: st.DataObject, content_type: bytes, auth_name: bytes | None, good_auth: bytes | None
                ) -> list[tuple[bytes, bytes]]:
    """Content-Type and the credential header, each right, absent or mangled, plus maybe a junk header."""
    headers: list[tuple[bytes, bytes]] = []
    ctype = data.draw(st.sampled_from(["good", "absent", "other", "junk"]))
    if ctype == "good":
        headers.append((b"Content-Type", content_type))
    elif ctype == "other":
        headers.append((b"Content-Type", data.draw(st.sampled_from(
            [b"application/json", b"text/plain", b"multipart/form-data", b"application/x-www-form-urlencoded",
             b"application/json; charset=latin-1", b"multipart/form-data; boundary=", b"text/csv"]))))
    elif ctype == "junk":
        headers.append((b"Content-Type", data.draw(header_bytes)))
    if auth_name is not None:
        auth = data.draw(st.sampled_from(["good", "absent", "odd", "junk"]))
        if auth == "good" and good_auth is not None:
            headers.append((auth_name, good_auth))
        elif auth == "odd":
            headers.append((auth_name, data.draw(odd_values)))
        elif auth == "junk":
            headers.append((auth_name, data.draw(header_bytes)))
    if data.draw(st.booleans()):
        headers.append((b"X-" + data.draw(st.sampled_from([b"Forwarded-Host", b"Junk", b"Hub-Signature-256"])),
                        data.draw(header_bytes)))
    return headers


SEEN: dict[str, set[int]] = {}  # test name -> statuses answered, to check the fuzz reached past refusals


def assert_no_5xx(server: ThreadServer, method: str, path: bytes, headers: list[tuple[bytes, bytes]],
                  body: bytes = b"") -> None:
    status = call(server.port, method, path, headers, body)
    SEEN.setdefault(os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0], set()).add(status)
    assert status < 500, (status, method, path, headers, body[:300])


# ------------------------------------------------------------------------------------------ one test per route


@FUZZ
@given(data=st.data())
def test_fuzzed_simulator_requests_never_get_a_5xx(server: ThreadServer, data: st.DataObject) -> None:
    fixtures = [{"from": BUYER, "text": "ROBE1"}, {"from": BUYER, "payload": "pay"}, {"from": "x", "text": "y"}]
    vendor = path_segment(data, "demo")
    route = data.draw(st.sampled_from(["post", "transcript", "page"]))
    if route == "post":
        body = json_body(data, fixtures)
        assert_no_5xx(server, "POST", b"/simulator/" + vendor + b"/messages?wait=false",
                      headers_for(data, b"application/json", b"Authorization", None), body)
    elif route == "transcript":
        contact = path_segment(data, quote(BUYER))
        assert_no_5xx(server, "GET", b"/simulator/" + vendor + b"/messages?contact=" + contact,
                      headers_for(data, b"text/plain", b"Authorization", None))
    else:
        assert_no_5xx(server, "GET", b"/simulator/" + vendor, headers_for(data, b"text/html", None, None))


@FUZZ
@given(data=st.data())
def test_fuzzed_telegram_webhooks_never_get_a_5xx(server: ThreadServer, data: st.DataObject) -> None:
    body = json_body(data, fixture_payloads("telegram"))
    secret = CHANNEL_SECRETS["TG_SECRET_ALL"].encode()
    assert_no_5xx(server, "POST", b"/webhooks/telegram/" + path_segment(data, "demo"),
                  headers_for(data, b"application/json", b"X-Telegram-Bot-Api-Secret-Token", secret), body)


def meta_signature(body: bytes) -> bytes:
    key = CHANNEL_SECRETS["WA_APP_SECRET_ALL"].encode()
    return b"sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest().encode()


@FUZZ
@given(data=st.data())
def test_fuzzed_meta_webhooks_never_get_a_5xx(server: ThreadServer, data: st.DataObject) -> None:
    vendor = path_segment(data, "demo")
    url = data.draw(st.sampled_from([b"/webhooks/meta/" + vendor, b"/webhooks/meta"]))  # per vendor, or shared
    if data.draw(st.booleans()):
        body = json_body(data, fixture_payloads("meta_whatsapp"))
        assert_no_5xx(server, "POST", url,
                      headers_for(data, b"application/json", b"X-Hub-Signature-256", meta_signature(body)), body)
        return
    token = path_segment(data, CHANNEL_SECRETS["WA_VERIFY_ALL"])
    mode = path_segment(data, "subscribe")
    challenge = path_segment(data, "1158201444")
    query = b"?hub.mode=" + mode + b"&hub.verify_token=" + token + b"&hub.challenge=" + challenge
    assert_no_5xx(server, "GET", url + query, headers_for(data, b"text/plain", None, None))


@FUZZ
@given(data=st.data())
def test_fuzzed_wasender_webhooks_never_get_a_5xx(server: ThreadServer, data: st.DataObject) -> None:
    body = json_body(data, fixture_payloads("wasender"))
    path = data.draw(st.sampled_from([b"/webhooks/wasender", b"/webhooks/wasender/demo",
                                      b"/webhooks/wasender/demo/status", b"/webhooks/wasender/demo/connection"]))
    if path != b"/webhooks/wasender" and data.draw(st.booleans()):
        path = b"/webhooks/wasender/" + path_segment(data, "demo")
    secret = CHANNEL_SECRETS["WS_SECRET_ALL"].encode()
    assert_no_5xx(server, "POST", path, headers_for(data, b"application/json", b"X-Webhook-Signature", secret), body)


@FUZZ
@given(data=st.data())
def test_fuzzed_twilio_webhooks_never_get_a_5xx(server: ThreadServer, data: st.DataObject) -> None:
    from channels.twilio import signature

    forms = [p.read_bytes().strip() for p in sorted((CH / "twilio_sms").glob("*.form"))]
    body = form_body(data, forms)
    vendor = path_segment(data, "demo")
    query = data.draw(st.sampled_from([b"", b"?outbound_id=abc", b"?outbound_id=%FF"]))
    path = b"/webhooks/twilio/" + vendor + query
    url = f"http://127.0.0.1:{server.port}" + path.decode("latin-1")
    params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    good = signature(CHANNEL_SECRETS["TW_TOKEN_ALL"], url, params).encode()
    assert_no_5xx(server, "POST", path,
                  headers_for(data, b"application/x-www-form-urlencoded", b"X-Twilio-Signature", good), body)


@FUZZ
@given(data=st.data())
def test_fuzzed_email_webhooks_never_get_a_5xx(server: ThreadServer, data: st.DataObject) -> None:
    raw = (CH / "sendgrid_email" / "inbound_reply_plain.multipart").read_bytes()
    kind = data.draw(st.sampled_from(["fixture", "truncated", "flipped", "bytes"]))
    if kind == "truncated":
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    elif kind == "flipped":
        i = data.draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([data.draw(st.integers(0, 255))]) + raw[i + 1:]
    elif kind == "bytes":
        raw = data.draw(st.binary(max_size=400))
    token = data.draw(st.sampled_from([b"", b"/" + path_segment(data, CHANNEL_SECRETS["SG_INBOUND_ALL"])]))
    path = b"/webhooks/email/" + path_segment(data, "demo") + token
    assert_no_5xx(server, "POST", path, headers_for(data, b"multipart/form-data; boundary=xYzZY", None, None), raw)


@FUZZ
@given(data=st.data())
def test_fuzzed_admin_requests_never_get_a_5xx(server: ThreadServer, data: st.DataObject) -> None:
    good = f"Bearer {ADMIN_TOKEN}".encode()
    route = data.draw(st.sampled_from(["numbers", "webhook", "import", "unknown"]))
    vendor = path_segment(data, "demo")
    if route == "numbers":
        assert_no_5xx(server, "GET", b"/api/admin/vendors/" + vendor + b"/numbers",
                      headers_for(data, b"application/json", b"Authorization", good))
    elif route == "webhook":
        body = json_body(data, [{"session_id": 37637}, {"session_id": "abc"}])
        assert_no_5xx(server, "POST", b"/api/admin/vendors/" + vendor + b"/numbers/webhook",
                      headers_for(data, b"application/json", b"Authorization", good), body)
    elif route == "import":
        # Only numbers of a vendor that does not exist, so a lucky row cannot re-route the other tests' vendor.
        rows = data.draw(st.lists(st.tuples(st.sampled_from(["ghost", "", "demo\x00"]), st.text(max_size=20)),
                                  max_size=4))
        body = ("vendor,phone_number,api_key,webhook_secret\n" + "".join(f"{v},{p},k,s\n" for v, p in rows)).encode()
        body = data.draw(st.sampled_from([body, body[: len(body) // 2], b"\xff\xfe" + body]))
        assert_no_5xx(server, "POST", b"/api/admin/numbers/import",
                      headers_for(data, b"text/csv", b"Authorization", good), body)
    else:
        assert_no_5xx(server, data.draw(st.sampled_from(["GET", "POST", "DELETE"])), b"/api/admin/" + vendor,
                      headers_for(data, b"application/json", b"Authorization", good))


@pytest.fixture(scope="module")
def payment_id(server: ThreadServer) -> str:
    """A pending sandbox payment, made the way a buyer makes one."""
    for body in ({"from": BUYER, "text": "ROBE1"}, {"from": BUYER, "payload": "pay"},
                 {"from": BUYER, "payload": "wave"}):
        raw = json.dumps(body).encode()
        assert call(server.port, "POST", b"/simulator/demo/messages", [(b"Content-Type", b"application/json")],
                    raw) == 200
    payments = server.run(server.runtime.store.transcript(f"demo:web:{BUYER}"))
    link = next(w for m in payments for w in (m.text or "").split() if "/pay/sandbox/" in w)
    return link.rsplit("/", 1)[1]


@FUZZ
@given(data=st.data())
def test_fuzzed_checkout_requests_never_get_a_5xx(server: ThreadServer, payment_id: str, data: st.DataObject) -> None:
    pid = path_segment(data, payment_id)
    if data.draw(st.booleans()):
        form = data.draw(st.sampled_from([b"outcome=failed", b"outcome=maybe", b"outcome=%FF", b""]))
        body = data.draw(st.sampled_from([form, form + data.draw(st.binary(max_size=50)),
                                          b"--xx\r\nContent-Disposition: form-data\r\n\r\nfailed\r\n--xx--\r\n"]))
        ctype = data.draw(st.sampled_from([b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=xx",
                                           b"application/x-www-form-urlencoded; charset=nope"]))
        assert_no_5xx(server, "POST", b"/pay/sandbox/" + pid, headers_for(data, ctype, None, None), body)
        return
    # The payment is pending until a fuzzed form fails it: both states are answered 200 when signed.
    body = json_body(data, [{"id": payment_id, "status": status, "amount": 15000}
                            for status in ("pending", "failed", "paid")])
    good = sandbox_sign(server.runtime.psp.sandbox.secret, body).encode()
    assert_no_5xx(server, "POST", b"/webhooks/payments/" + path_segment(data, "sandbox") + b"/demo",
                  headers_for(data, b"application/json", SANDBOX_HEADER.encode(), good), body)


def test_the_fuzz_reaches_past_authentication(server: ThreadServer) -> None:
    """The good-credential branch is real: a fixture with the right secret is accepted, not refused."""
    body = json.dumps(fixture_payloads("telegram")[0]).encode()
    secret = CHANNEL_SECRETS["TG_SECRET_ALL"].encode()
    headers = [(b"Content-Type", b"application/json"), (b"X-Telegram-Bot-Api-Secret-Token", secret)]
    assert call(server.port, "POST", b"/webhooks/telegram/demo", headers, body) == 200
    body = json.dumps(fixture_payloads("meta_whatsapp")[0]).encode()
    headers = [(b"Content-Type", b"application/json"), (b"X-Hub-Signature-256", meta_signature(body))]
    assert call(server.port, "POST", b"/webhooks/meta/demo", headers, body) == 200


def test_every_fuzzed_route_was_also_answered_with_a_success() -> None:
    """Each fuzz test above got 2xx answers too, so its examples reached the code behind authentication."""
    fuzzed = {name: statuses for name, statuses in SEEN.items() if "test_fuzzed_" in name}
    if not fuzzed:
        pytest.skip("run with the fuzz tests of this module")
    assert len(fuzzed) == 8, sorted(fuzzed)
    print({name.rsplit("::", 1)[1]: sorted(statuses) for name, statuses in fuzzed.items()})
    assert all(any(200 <= s < 300 for s in statuses) for statuses in fuzzed.values()), fuzzed
