"""Canned replies, the OpenAPI document, and bad input to the inbox API (always a JSON 4xx, never a 500)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.inbox.api import routes
from tests.conftest import eventually
from tests.inbox.conftest import BUYER, Inbox, conv_path


async def test_canned_replies_crud_and_shortcut_expansion(inbox: Inbox) -> None:
    created = await inbox.ok("POST", "/api/inbox/canned", "manager",
                             json={"vendor": "demo", "shortcut": "/delai", "text": "Livraison sous 48 h à Dakar."})
    assert created["shortcut"] == "delai" and created["vendor"] == "demo"
    status, body = await inbox.call("POST", "/api/inbox/canned", "manager",
                                    json={"vendor": "demo", "shortcut": "delai", "text": "autre"})
    assert status == 409 and body["error"]["code"] == "shortcut_taken"
    listed = (await inbox.ok("GET", "/api/inbox/canned", "support"))["canned"]
    assert [c["shortcut"] for c in listed] == ["delai"]
    changed = await inbox.ok("PUT", f"/api/inbox/canned/{created['id']}", "manager",
                             json={"text": "Livraison sous 24 h à Dakar."})
    assert changed["text"] == "Livraison sous 24 h à Dakar."

    await inbox.handoff()
    sent = await inbox.ok("POST", conv_path(tail="/messages"), json={"text": "/delai"})
    assert sent["text"] == "Livraison sous 24 h à Dakar."
    await eventually(lambda: _buyer_got(inbox, "Livraison sous 24 h à Dakar."), "the canned reply at the buyer")
    sent = await inbox.ok("POST", conv_path(tail="/messages"), json={"text": "/inconnu"})
    assert sent["text"] == "/inconnu"  # no such shortcut: sent as typed

    await inbox.ok("DELETE", f"/api/inbox/canned/{created['id']}", "manager")
    assert (await inbox.ok("GET", "/api/inbox/canned", "support"))["canned"] == []
    status, body = await inbox.call("DELETE", f"/api/inbox/canned/{created['id']}", "manager")
    assert status == 404


async def _buyer_got(inbox: Inbox, text: str) -> bool:
    return any(m["text"] == text for m in await inbox.server.transcript(BUYER) if m["direction"] == "out")


async def test_a_shared_canned_reply_needs_an_agent_of_every_vendor(inbox: Inbox) -> None:
    status, _body = await inbox.call("POST", "/api/inbox/canned", "manager", json={"shortcut": "bonjour",
                                                                                   "text": "Bonjour !"})
    assert status == 403
    created = await inbox.ok("POST", "/api/inbox/canned", "super_admin", json={"shortcut": "bonjour",
                                                                               "text": "Bonjour !"})
    assert created["vendor"] is None
    assert [c["shortcut"] for c in (await inbox.ok("GET", "/api/inbox/canned"))["canned"]] == ["bonjour"]


async def test_the_openapi_document_describes_every_inbox_route(inbox: Inbox) -> None:
    doc = await inbox.ok("GET", "/api/openapi.json")
    assert doc["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    served = {(r.method, r.path) for r in routes() if r.path.startswith("/api/inbox/") and "{tail" not in r.path}
    assert len(served) == 17 and served <= documented, served - documented
    assert doc["paths"]["/api/inbox/conversations/{id}/claim"]["post"]["responses"].keys() >= {"200", "401", "403"}


BAD: list[tuple[str, str, Any, int, str]] = [
    ("POST", "/messages", {"text": ""}, 400, "invalid_body"),
    ("POST", "/messages", {"text": 42}, 400, "invalid_body"),
    ("POST", "/messages", {"text": "x" * 5000}, 400, "too_long"),
    ("POST", "/messages", {"text": "ok", "buttons": [{"title": ""}]}, 400, "invalid_buttons"),
    ("POST", "/messages", {"text": "ok", "buttons": "oui"}, 400, "invalid_buttons"),
    ("POST", "/messages", ["text"], 400, "invalid_body"),
    ("POST", "/notes", {}, 400, "invalid_body"),
    ("POST", "/snooze", {"until": "demain"}, 400, "invalid_until"),
    ("POST", "/snooze", {"until": "2026-12-06T18:00:00"}, 400, "invalid_until"),
    ("POST", "/snooze", {"until": 1}, 400, "invalid_until"),
    ("PUT", "/labels", {"labels": "vip"}, 400, "invalid_labels"),
    ("PUT", "/labels", {"labels": ["x" * 41]}, 400, "invalid_labels"),
]


@pytest.mark.parametrize(("method", "tail", "body", "status", "code"), BAD,
                         ids=[f"{m} {t} {b!r:.30}" for m, t, b, *_ in BAD])
async def test_bad_input_is_a_json_4xx(inbox: Inbox, method: str, tail: str, body: Any, status: int,
                                       code: str) -> None:
    await inbox.handoff()
    got, answer = await inbox.call(method, conv_path(tail=tail), "admin", json=body)
    assert (got, answer["error"]["code"]) == (status, code), answer


async def test_malformed_bodies_and_unknown_ids(inbox: Inbox) -> None:
    await inbox.handoff()
    status, answer = await inbox.call("POST", conv_path(tail="/notes"), "admin", data=b"{not json",
                                      headers={"Content-Type": "application/json"})
    assert status == 400 and answer["error"]["code"] == "invalid_json"
    status, answer = await inbox.call("POST", conv_path(tail="/notes"), "admin", data=b"text=hi",
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415
    status, answer = await inbox.call("GET", conv_path("demo:web:+221779999999"), "admin")
    assert status == 404 and answer["error"]["code"] == "not_found"
    status, answer = await inbox.call("GET", "/api/inbox/conversations", "admin", params={"status": "lost"})
    assert status == 400 and answer["error"]["code"] == "invalid_status"
    status, answer = await inbox.call("POST", "/api/inbox/canned", "admin",
                                      json={"vendor": "demo", "shortcut": "with space", "text": "x"})
    assert status == 400 and answer["error"]["code"] == "invalid_shortcut"
    status, answer = await inbox.call("POST", "/api/inbox/canned", "admin",
                                      json={"vendor": "ghost", "shortcut": "x", "text": "x"})
    assert status == 400 and answer["error"]["code"] == "unknown_vendor"


async def test_acting_on_a_resolved_conversation_is_a_conflict(inbox: Inbox) -> None:
    await inbox.handoff()
    await inbox.ok("POST", conv_path(tail="/release"))
    for tail, body in (("/claim", None), ("/resolve", None), ("/messages", {"text": "encore là ?"})):
        status, answer = await inbox.call("POST", conv_path(tail=tail), json=body)
        assert status == 409, (tail, status, answer)
