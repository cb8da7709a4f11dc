"""Every inbox route: 401 without a valid token, 403 for each role the product does not allow, and vendor scope."""

from __future__ import annotations

from typing import Any

import pytest

from bot.inbox.roles import ROLES
from bot.inbox.users import add_user, revoke_user
from tests.inbox.conftest import CONV, Inbox, conv_path

EVERYONE = set(ROLES)
READERS = {"super_admin", "admin", "manager", "operator", "support", "analyst"}
AGENTS = {"super_admin", "admin", "manager", "support"}
LEADS = {"super_admin", "admin", "manager"}

# (method, path, body, roles allowed) written from PRODUCT.md's roles, independently of bot/inbox/roles.py.
ENDPOINTS: list[tuple[str, str, Any, set[str]]] = [
    ("GET", "/api/inbox/me", None, EVERYONE),
    ("GET", "/api/openapi.json", None, EVERYONE),
    ("GET", "/api/inbox/conversations", None, READERS),
    ("GET", conv_path(), None, READERS),
    ("POST", conv_path(tail="/claim"), None, AGENTS),
    ("POST", conv_path(tail="/assign"), {"user": "support-1"}, LEADS),
    ("POST", conv_path(tail="/messages"), {"text": "Bonjour"}, AGENTS),
    ("POST", conv_path(tail="/notes"), {"text": "à rappeler"}, AGENTS),
    ("PUT", conv_path(tail="/labels"), {"labels": ["vip"]}, AGENTS),
    ("POST", conv_path(tail="/snooze"), {"until": None}, AGENTS),
    ("POST", conv_path(tail="/release"), None, AGENTS),
    ("POST", conv_path(tail="/resolve"), None, AGENTS),
    ("GET", "/api/inbox/canned", None, AGENTS),
    ("POST", "/api/inbox/canned", {"vendor": "demo", "shortcut": "merci", "text": "Merci !"}, LEADS),
    ("PUT", "/api/inbox/canned/nope", {"text": "Merci beaucoup !"}, LEADS),
    ("DELETE", "/api/inbox/canned/nope", None, LEADS),
    ("GET", "/api/inbox/audit", None, LEADS),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
async def test_each_role_is_refused_exactly_what_it_may_not_do(inbox: Inbox, method: str, path: str, body: Any,
                                                               allowed: set[str]) -> None:
    await inbox.handoff()
    for role in ROLES:
        status, answer = await inbox.call(method, path, role, json=body)
        if role in allowed:
            assert status not in (401, 403), (role, status, answer)
        else:
            assert status == 403, (role, status, answer)
            assert answer["error"]["code"] == "forbidden" and role in answer["error"]["message"]


@pytest.mark.parametrize(("method", "path", "body"), [(m, p, b) for m, p, b, _ in ENDPOINTS] + [
    ("GET", "/api/inbox/events", None), ("GET", "/api/inbox/nothing-here", None)],
    ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS] + ["GET /api/inbox/events", "GET unknown route"])
async def test_every_route_answers_401_without_a_valid_token(inbox: Inbox, method: str, path: str, body: Any) -> None:
    await inbox.handoff()
    for token in (None, "plb_not-a-real-token", "Basic abc"):
        status, answer = await inbox.call(method, path, None, token=token, json=body)
        assert status == 401, (token, status, answer)
        assert answer["error"]["code"] == "unauthorized"


async def test_events_is_refused_to_roles_without_conversations(inbox: Inbox) -> None:
    for role in ROLES:
        headers = {"Authorization": f"Bearer {inbox.tokens[role]}"}
        async with inbox.server.http.get(f"{inbox.url}/api/inbox/events", headers=headers) as r:
            assert r.status == (200 if role in READERS else 403), role
            if r.status == 200:
                assert r.content_type == "text/event-stream"


async def test_a_revoked_token_is_refused_at_once(inbox: Inbox) -> None:
    assert (await inbox.call("GET", "/api/inbox/me", "support"))[0] == 200
    await revoke_user(inbox.server.runtime.inbox.store, "support-1")
    status, answer = await inbox.call("GET", "/api/inbox/me", "support")
    assert status == 401 and answer["error"]["code"] == "unauthorized"


async def test_an_agent_of_another_vendor_sees_nothing_of_this_one(inbox: Inbox) -> None:
    await inbox.handoff()
    token = await add_user(inbox.server.runtime.inbox.store, "elsewhere", "support", ["other-shop"])
    status, listed = await inbox.call("GET", "/api/inbox/conversations", token=token)
    assert status == 200 and listed["conversations"] == []
    for method, tail in (("GET", ""), ("POST", "/claim"), ("POST", "/release")):
        status, answer = await inbox.call(method, conv_path(tail=tail), token=token)
        assert status == 404 and answer["error"]["code"] == "not_found", (tail, status)
    # A super_admin works on every vendor, whatever vendors were given.
    boss = await add_user(inbox.server.runtime.inbox.store, "boss", "super_admin", ["other-shop"])
    status, listed = await inbox.call("GET", "/api/inbox/conversations", token=boss)
    assert [c["id"] for c in listed["conversations"]] == [CONV]


async def test_me_tells_the_page_what_the_role_may_do(inbox: Inbox) -> None:
    me = await inbox.ok("GET", "/api/inbox/me", "analyst")
    assert me["name"] == "analyst-1" and me["role"] == "analyst" and me["vendors"] == ["demo"]
    assert me["permissions"]["conversations"] == ["read"] and "messages" not in me["permissions"]
