"""Malformed requests to every campaign route: a JSON error in the 4xx range, never a 500."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.campaigns.conftest import AUTH, TEMPLATE, TOKEN, FakeWhatsApp, meta_vendor_dir
from tests.conftest import ServerFactory

BODIES: list[bytes] = [
    b"", b"{", b"[]", b"null", b"1e400", b'"text"', b"\xff\xfe\x00", json.dumps({"a": [[[[[[]]]]]]}).encode(),
    json.dumps({"template": ["x"] * 50, "tag": 1}).encode(), json.dumps({"template": "promo", "tag": "t",
                                                                          "rate": 1e308}).encode(),
    json.dumps({"template": "promo", "tag": "t", "at": "demain"}).encode(),
    json.dumps({"template": "promo", "tag": "t", "id": "../../etc"}).encode(),
    json.dumps({"whatsapp": {"name": "Bad Name"}}).encode(), json.dumps({"variables": [{"field": "__class__"}],
                                                                         "sms": "{{1}}"}).encode(),
    json.dumps({"filter": {"tags_all": "vip"}}).encode(), json.dumps({"hours": ["25:99", "x"]}).encode(),
    json.dumps({"plan": {"messages_per_month": "many"}}).encode(), json.dumps({"daily_limit": [1]}).encode(),
    "phone\n+221771234567\u0000\n".encode(), b"PK\x03\x04" + b"\x00" * 50,
]
ROUTES = [
    ("POST", "/contacts/import"), ("POST", "/contacts/import?default_region=ZZ"), ("GET", "/contacts/export"),
    ("PUT", "/templates/promo"), ("PUT", "/templates/%FF"), ("PUT", "/templates/" + "a" * 300),
    ("DELETE", "/templates/nope"), ("PUT", "/segments/vip"), ("GET", "/segments"), ("PUT", "/campaign-settings"),
    ("POST", "/campaigns"), ("GET", "/campaigns/nope"), ("POST", "/campaigns/nope/start"),
    ("POST", "/campaigns/c1/explode"), ("POST", "/campaigns/c1/schedule"), ("GET", "/campaigns/c1/report?format=x"),
]


async def test_no_campaign_route_answers_a_malformed_request_with_a_5xx(
        start_server: ServerFactory, tmp_path: Path, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    server = await start_server(vendors_dir=meta_vendor_dir(tmp_path, whatsapp.base, monkeypatch), admin_token=TOKEN)
    base = f"{server.url}/api/vendors/demo"
    async with server.http.put(f"{base}/templates/promo", json=TEMPLATE, headers=AUTH) as r:
        assert r.status == 200
    async with server.http.post(f"{base}/campaigns", json={"id": "c1", "template": "promo", "tag": "t"},
                                headers=AUTH) as r:
        assert r.status == 201
    refused = 0
    for method, path in ROUTES:
        for body in BODIES:
            async with server.http.request(method, base + path, data=body, headers=AUTH) as r:
                assert r.status < 500, (method, path, body[:60], await r.text())
                if r.status >= 400:
                    error = (await r.json(content_type=None))["error"]
                    assert error["code"] and error["message"], (method, path)
                    refused += 1
    assert refused > len(ROUTES) * len(BODIES) // 2
    async with server.http.get(f"{base}/campaigns/c1", headers=AUTH) as r:
        assert (await r.json())["status"] in ("draft", "scheduled")  # still whole after all that
