"""`/api/vendors/{v}/live` and `/products` with the inbox users' tokens and roles: 401, 403, JSON errors on bad
input, and what each call changes for buyers and for the vendor's number."""

from __future__ import annotations

import pytest

from tests.conftest import eventually, plain
from tests.inbox.conftest import Inbox, inbox  # noqa: F401 - the fixture

API = "/api/vendors/demo"
VENDOR = "+221770000099"


async def vendor_lines(box: Inbox) -> list[str]:
    return [plain(m["text"]) for m in await box.server.transcript(VENDOR) if m["direction"] == "out"]


@pytest.mark.parametrize(("method", "path", "allowed", "refused"), [
    ("POST", "/live/start", "operator", "support"),
    ("POST", "/live/stop", "manager", "analyst"),
    ("GET", "/live", "analyst", "support"),
    ("GET", "/products", "support", "cashier"),
    ("POST", "/products", "manager", "support"),
    ("PATCH", "/products/ROBE1", "operator", "logistics"),
    ("DELETE", "/products/ROBE1", "operator", "manager"),
])
async def test_each_route_wants_a_token_and_a_role_that_may(inbox: Inbox, method: str, path: str,  # noqa: F811
                                                            allowed: str, refused: str) -> None:
    status, body = await inbox.call(method, API + path, role=None)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = await inbox.call(method, API + path, token="plb_not-a-token")
    assert status == 401
    status, body = await inbox.call(method, API + path, refused, json={})
    assert status == 403 and body["error"]["code"] == "forbidden", body
    status, body = await inbox.call(method, API + path, allowed, json={})
    assert status not in (401, 403), body


async def test_a_live_started_and_stopped_through_the_api_tells_the_vendor(inbox: Inbox) -> None:  # noqa: F811
    started = await inbox.ok("POST", f"{API}/live/start", "operator", headers={"Idempotency-Key": "k1"})
    assert started["started"] is True and started["session"]["started_by"] == "operator-1"
    again = await inbox.ok("POST", f"{API}/live/start", "operator", headers={"Idempotency-Key": "k2"})
    assert again["started"] is False and again["session"]["id"] == started["session"]["id"]
    status, body = await inbox.call("POST", f"{API}/live/start", "operator", headers={"Idempotency-Key": "k1"})
    assert status == 201 and body["session"]["id"] == started["session"]["id"]  # a retried request, not a new one
    current = await inbox.ok("GET", f"{API}/live", "analyst")
    assert current["current"]["id"] == started["session"]["id"]
    stopped = await inbox.ok("POST", f"{API}/live/stop", "operator")
    assert stopped["summary"]["orders"] == 0 and stopped["session"]["ended_by"] == "operator-1"
    status, body = await inbox.call("POST", f"{API}/live/stop", "operator")
    assert status == 409 and body["error"]["code"] == "not_live"

    async def told() -> bool:
        lines = await vendor_lines(inbox)
        return any("Live démarré" in t for t in lines) and any("Bilan du live" in t for t in lines)

    await eventually(told, "the vendor told of the start and the summary")


async def test_products_through_the_api(inbox: Inbox) -> None:  # noqa: F811
    created = await inbox.ok("POST", f"{API}/products", "manager",
                             json={"code": "jupe3", "name": "Jupe plissée", "price": 9000, "stock": 4})
    assert created == {"code": "JUPE3", "name": "Jupe plissée", "price": 9000, "stock": 4}
    changed = await inbox.ok("PATCH", f"{API}/products/ROBE1", "operator", json={"price": 12000, "stock": 8})
    assert (changed["price"], changed["stock"]) == (12000, 8)
    assert (await inbox.ok("DELETE", f"{API}/products/SAC2", "operator"))["removed"] is True
    listed = {p["code"]: p for p in (await inbox.ok("GET", f"{API}/products", "support"))["products"]}
    assert listed["ROBE1"]["source"] == "vendor" and listed["FOULARD1"]["source"] == "file"
    assert listed["SAC2"]["removed"] is True and listed["SAC2"]["stock"] == 0
    assert listed["JUPE3"]["price"] == 9000
    offer = plain((await inbox.server.say("+221770000005", "JUPE3"))["replies"][0]["text"])
    assert "Jupe plissée" in offer and "9 000 F CFA" in offer


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("POST", "/products", {"code": "ROBE1", "name": "Robe", "price": 1, "stock": 1}, 409, "exists"),
    ("POST", "/products", {"code": "JUPE3", "name": "Jupe", "price": -5, "stock": 1}, 400, "invalid_body"),
    ("POST", "/products", {"code": "JUPE3", "name": "Jupe", "price": "9000", "stock": 1}, 400, "invalid_body"),
    ("POST", "/products", {"code": "JUPE3", "name": "", "price": 9000, "stock": 1}, 400, "invalid_body"),
    ("POST", "/products", {"code": "9 X", "name": "Jupe", "price": 9000, "stock": 1}, 400, "invalid_body"),
    ("POST", "/products", {"code": "JUPE3", "name": "Jupe", "price": 9000, "stock": 1, "x": 1}, 400,
     "invalid_body"),
    ("POST", "/products", [1, 2], 400, "invalid_body"),
    ("PATCH", "/products/ROBE1", {}, 400, "invalid_body"),
    ("PATCH", "/products/ROBE1", {"stock": True}, 400, "invalid_body"),
    ("PATCH", "/products/NOPE9", {"stock": 3}, 404, "unknown_product"),
    ("PATCH", "/products/%E2%9C%93", {"stock": 3}, 400, "invalid_code"),
    ("DELETE", "/products/NOPE9", None, 404, "unknown_product"),
])
async def test_bad_input_gets_a_json_error(inbox: Inbox, method: str, path: str, body: object,  # noqa: F811
                                           status: int, code: str) -> None:
    got, answer = await inbox.call(method, API + path, "admin", json=body)
    assert (got, answer["error"]["code"]) == (status, code), answer


async def test_a_user_of_another_vendor_sees_no_such_vendor(inbox: Inbox) -> None:  # noqa: F811
    from bot.inbox.users import add_user

    token = await add_user(inbox.server.runtime.inbox.store, "op-elsewhere", "operator", ["other"],)
    status, body = await inbox.call("POST", f"{API}/live/start", token=token)
    assert status == 404 and body["error"]["code"] == "unknown_vendor"
    status, body = await inbox.call("POST", "/api/vendors/nobody/live/start", "admin")
    assert status == 404
