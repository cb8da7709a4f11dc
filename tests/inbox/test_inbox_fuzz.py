"""The inbox routes fuzzed in body, token and path against a real server: no answer is ever ≥ 500."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.inbox.users import add_user
from tests.bot.test_fuzz_http import ThreadServer, call, header_bytes, json_values, odd_values, path_segment
from tests.conftest import EXAMPLES

EXAMPLES_PER_ROUTE = int(os.environ.get("PALABRE_FUZZ_EXAMPLES", "60"))
CONV = "demo:web:+221770000001"
ROUTES = [
    ("GET", "/api/inbox/conversations"), ("GET", "/api/inbox/conversations/{id}"),
    ("POST", "/api/inbox/conversations/{id}/claim"), ("POST", "/api/inbox/conversations/{id}/assign"),
    ("POST", "/api/inbox/conversations/{id}/messages"), ("POST", "/api/inbox/conversations/{id}/notes"),
    ("POST", "/api/inbox/conversations/{id}/snooze"), ("PUT", "/api/inbox/conversations/{id}/labels"),
    ("POST", "/api/inbox/conversations/{id}/release"), ("POST", "/api/inbox/conversations/{id}/resolve"),
    ("GET", "/api/inbox/canned"), ("POST", "/api/inbox/canned"), ("PUT", "/api/inbox/canned/{id}"),
    ("DELETE", "/api/inbox/canned/{id}"), ("GET", "/api/inbox/audit"), ("GET", "/api/openapi.json"),
]
GOOD_BODIES = [{"text": "Bonjour", "buttons": [{"title": "Oui"}]}, {"user": "admin-1"}, {"until": None},
               {"labels": ["vip"]}, {"vendor": "demo", "shortcut": "merci", "text": "Merci !"}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadServer, str]]:
    srv = ThreadServer(EXAMPLES, Path(tmp_path_factory.mktemp("inbox-fuzz")) / "data")
    srv.start()
    try:
        token = srv.run(add_user(srv.runtime.inbox.store, "admin-1", "admin", []))
        status = call(srv.port, "POST", b"/simulator/demo/messages", [(b"Content-Type", b"application/json")],
                      json.dumps({"from": "+221770000001", "text": "je veux parler à un conseiller"}).encode())
        assert status == 200
        yield srv, token
    finally:
        srv.stop()


@pytest.mark.parametrize(("method", "route"), ROUTES, ids=[f"{m} {r}" for m, r in ROUTES])
@settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_inbox_routes_never_answer_5xx(server: tuple[ThreadServer, str], method: str, route: str,
                                       data: st.DataObject) -> None:
    srv, token = server
    path = route.encode().replace(b"{id}", path_segment(data, quote(CONV, safe="")))
    if data.draw(st.booleans()):
        path += b"?status=" + data.draw(st.sampled_from([b"open", b"open,assigned", b"x", b"%ED%A0%80", b""])) + \
            b"&q=" + path_segment(data, "vip")
    auth = data.draw(st.sampled_from(["good", "absent", "odd", "junk"]))
    headers = [(b"Content-Type", data.draw(st.sampled_from([b"application/json", b"text/plain", b""])))]
    if auth == "good":
        headers.append((b"Authorization", f"Bearer {token}".encode()))
    elif auth == "odd":
        headers.append((b"Authorization", data.draw(odd_values)))
    elif auth == "junk":
        headers.append((b"Authorization", data.draw(header_bytes)))
    kind = data.draw(st.sampled_from(["good", "random", "bytes"]))
    body = json.dumps(data.draw(st.sampled_from(GOOD_BODIES))).encode() if kind == "good" else \
        json.dumps(data.draw(json_values)).encode() if kind == "random" else data.draw(st.binary(max_size=200))
    status = call(srv.port, method, path, headers, body if method != "GET" else b"")
    assert status < 500, (method, path, headers, body[:200], status)
