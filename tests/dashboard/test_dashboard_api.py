"""The dashboard's JSON, buyer cards and live updates on a real server: figures after a real sale, auth per
role, a vendor's users kept to their vendor, bad input answered with JSON errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.inbox.users import add_user
from tests.conftest import ServerFactory, vendor_dir
from tests.dashboard.conftest import Inbox, next_event
from tests.dashboard.sale import buy, reserve

ALICE, BOB = "+221770000011", "+221770000022"
BOARD, CARD, EVENTS = "/api/dashboard/demo", "/api/dashboard/demo/buyer", "/api/dashboard/demo/events"

# Written by hand from PRODUCT.md's roles, not read from the matrix: the figures are analytics, a buyer card
# is order data, full addresses are contact data.
SEES_FIGURES = {"super_admin": True, "admin": True, "manager": True, "operator": True, "analyst": True,
                "cashier": False, "support": False, "logistics": False}
SEES_ADDRESSES = {"super_admin", "admin", "manager"}


def stock_of(board: dict[str, Any], code: str) -> dict[str, Any]:
    return next(s for s in board["stock"] if s["code"] == code)


async def test_a_sale_moves_the_figures_stock_and_recent_payments(inbox: Inbox) -> None:
    before = await inbox.ok("GET", BOARD, "analyst")
    assert before["totals"] | {"revenue_text": None} == {
        "orders": 0, "paid": 0, "in_progress": 0, "expired": 0, "cancelled": 0, "refund_due": 0, "refunded": 0,
        "revenue": 0,
        "revenue_text": None, "conversion": None}
    assert stock_of(before, "ROBE1") | {"left_ratio": 1.0} == {
        "code": "ROBE1", "name": "Robe Wax Ankara", "price": 15000, "stock": 3, "held": 0, "sold": 0, "supply": 3,
        "left_ratio": 1.0, "low": True, "sold_out": False}

    await buy(inbox.server, ALICE)
    await reserve(inbox.server, BOB, "SAC2")
    board = await inbox.ok("GET", BOARD, "analyst")
    totals = board["totals"]
    assert (totals["orders"], totals["paid"], totals["in_progress"], totals["revenue"]) == (2, 1, 1, 15000)
    assert totals["revenue_text"].replace("\u202f", " ").replace("\xa0", " ") == "15 000 F CFA"
    assert totals["conversion"] == 0.5
    robe, sac = stock_of(board, "ROBE1"), stock_of(board, "SAC2")
    assert (robe["stock"], robe["sold"], robe["held"], robe["supply"], robe["left_ratio"]) == (2, 1, 0, 3, 0.667)
    assert (sac["stock"], sac["sold"], sac["held"], sac["supply"]) == (4, 0, 1, 5)
    assert {"code": "ROBE1", "name": "Robe Wax Ankara", "stock": 2, "kind": "low"} in board["alerts"]
    [payment] = board["payments"]
    assert (payment["product_code"], payment["total"], payment["method"], payment["status"]) == \
        ("ROBE1", 15000, "Wave", "paid")
    assert payment["receipt"].startswith("LP-") and payment["buyer"] == "+22177****011"  # analyst: masked
    assert [o["product_code"] for o in board["orders"]] == ["SAC2", "ROBE1"]  # newest first
    assert sum(board["chart"]["orders"]) == 2 and sum(board["chart"]["paid"]) == 1
    assert board["velocity"]["stockouts"]["ROBE1"]["text"].startswith("rupture dans ~2 commande(s)")


async def test_selling_the_last_unit_raises_a_sold_out_alert(inbox: Inbox) -> None:
    for i in range(3):
        await buy(inbox.server, f"+2217700001{i:02d}")
    board = await inbox.ok("GET", BOARD, "admin")
    robe = stock_of(board, "ROBE1")
    assert (robe["stock"], robe["sold_out"], robe["low"], robe["left_ratio"]) == (0, True, False, 0.0)
    assert {"code": "ROBE1", "name": "Robe Wax Ankara", "stock": 0, "kind": "sold_out"} in board["alerts"]
    assert board["velocity"]["stockouts"]["ROBE1"]["text"] == "épuisé"


@pytest.mark.parametrize("role", sorted(SEES_FIGURES))
async def test_each_role_gets_the_figures_or_403_and_addresses_only_with_contact_rights(inbox: Inbox,
                                                                                         role: str) -> None:
    await buy(inbox.server, ALICE)
    status, body = await inbox.call("GET", BOARD, role)
    if not SEES_FIGURES[role]:
        assert (status, body["error"]["code"]) == (403, "forbidden")
    else:
        assert status == 200
        shown = body["payments"][0]["buyer"]
        assert shown == (ALICE if role in SEES_ADDRESSES else "+22177****011")
    # a buyer card is order data: every role of the demo vendor opens it from an order
    status, card = await inbox.call("GET", CARD, role, params={"order": (await _first_order(inbox))})
    assert status == 200, card
    assert card["buyer"]["address"] == (ALICE if role in SEES_ADDRESSES else "+22177****011")


async def _first_order(inbox: Inbox) -> str:
    return (await inbox.ok("GET", BOARD, "admin"))["orders"][0]["id"]


@pytest.mark.parametrize("path", [BOARD, EVENTS, f"{CARD}?order=x", "/api/dashboard/demo/nowhere"])
async def test_no_token_or_a_wrong_one_is_401(inbox: Inbox, path: str) -> None:
    for token in (None, "plb_not-a-real-token"):
        status, body = await inbox.call("GET", path, None, token=token)
        assert (status, body["error"]["code"]) == (401, "unauthorized")


async def test_a_user_of_another_vendor_gets_403_and_an_unknown_vendor_404(inbox: Inbox) -> None:
    elsewhere = await add_user(inbox.server.runtime.inbox.store, "elsewhere", "admin", ["other-shop"])
    for path in (BOARD, EVENTS, f"{CARD}?order=x"):
        status, body = await inbox.call("GET", path, token=elsewhere)
        assert (status, body["error"]["code"]) == (403, "forbidden"), path
    for path in ("/api/dashboard/nobody", "/api/dashboard/nobody/events", "/api/dashboard/nobody/buyer?order=x"):
        status, body = await inbox.call("GET", path, "super_admin")
        assert (status, body["error"]["code"]) == (404, "unknown_vendor"), path
    status, body = await inbox.call("GET", "/dashboard/nobody", None)
    assert (status, body["error"]["code"]) == (404, "unknown_vendor")


@pytest.mark.parametrize(("query", "status", "code"), [
    ({"since": "yesterday"}, 400, "invalid_since"),
    ({"since": "nan"}, 400, "invalid_since"),
    ({"since": "1e400"}, 400, "invalid_since"),
    ({"since": "1000"}, 400, "invalid_since"),  # 1970: further back than a month
])
async def test_a_bad_period_is_a_400(inbox: Inbox, query: dict[str, str], status: int, code: str) -> None:
    got, body = await inbox.call("GET", BOARD, "admin", params=query)
    assert (got, body["error"]["code"]) == (status, code)


@pytest.mark.parametrize(("query", "status", "code"), [
    ({}, 400, "missing_buyer"),
    ({"order": "no-such-order"}, 404, "unknown_order"),
    ({"conversation": "demo:web:+221779999999"}, 404, "unknown_conversation"),
])
async def test_a_buyer_card_for_nothing_is_a_json_error(inbox: Inbox, query: dict[str, str], status: int,
                                                        code: str) -> None:
    got, body = await inbox.call("GET", CARD, "support", params=query)
    assert (got, body["error"]["code"]) == (status, code)


async def test_the_buyer_card_shows_history_score_factors_and_total_from_an_order_or_a_conversation(
        inbox: Inbox) -> None:
    await buy(inbox.server, ALICE)
    await buy(inbox.server, ALICE, "SAC2")
    await reserve(inbox.server, BOB)
    order = (await inbox.ok("GET", BOARD, "admin"))["orders"][-1]["id"]  # Alice's first
    by_order = await inbox.ok("GET", CARD, "manager", params={"order": order})
    by_conversation = await inbox.ok("GET", CARD, "manager", params={"conversation": f"demo:web:{ALICE}"})
    assert by_order == by_conversation
    assert by_order["buyer"]["address"] == ALICE
    assert (by_order["orders"], by_order["payments"], by_order["total_spent"]) == (2, 2, 27500)
    assert by_order["total_spent_text"].replace("\u202f", " ").replace("\xa0", " ") == "27 500 F CFA"
    # 50 + 2 payments × 5 + fast payer (paid within seconds) = 70
    assert by_order["score"] == 70
    assert [(f["code"], f["points"]) for f in by_order["factors"]] == [("start", 50), ("payments", 10),
                                                                         ("fast_payer", 10)]
    assert [h["product_code"] for h in by_order["history"]] == ["SAC2", "ROBE1"]
    assert by_order["tier"] == "bronze" and by_order["tags"] == []


async def test_the_stream_sends_a_new_snapshot_when_a_sale_changes_revenue_and_stock(inbox: Inbox) -> None:
    headers = {"Authorization": f"Bearer {inbox.tokens['analyst']}"}
    async with inbox.server.http.get(f"{inbox.url}{EVENTS}", headers=headers) as stream:
        assert stream.status == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
        kind, first = await next_event(stream)
        assert (kind, first["totals"]["revenue"], stock_of(first, "ROBE1")["stock"]) == ("snapshot", 0, 3)
        await buy(inbox.server, ALICE)
        seen = first
        for _ in range(20):  # the reservation and the payment may arrive as one snapshot or several
            kind, seen = await next_event(stream)
            assert kind == "snapshot"
            if seen["totals"]["revenue"] == 15000:
                break
        assert (seen["totals"]["paid"], stock_of(seen, "ROBE1")["stock"]) == (1, 2)


async def test_a_vendor_with_sales_velocity_off_gets_no_forecasts(start_server: ServerFactory,
                                                                  tmp_path: Path) -> None:
    settings = {"reservation_minutes": 10, "reminder_percent": 70, "max_quantity": 5, "sales_velocity": False}
    server = await start_server(vendor_dir(tmp_path, settings=settings))
    token = await add_user(server.runtime.inbox.store, "owner", "admin", ["demo"])
    await buy(server, ALICE)
    async with server.http.get(f"{server.url}{BOARD}", headers={"Authorization": f"Bearer {token}"}) as r:
        board = await r.json()
    assert r.status == 200 and board["velocity"] is None
    assert board["velocity_off"] == "prévisions désactivées pour ce vendeur (réglage sales_velocity)"
    assert board["totals"]["revenue"] == 15000


async def test_the_page_and_the_explanations_speak_the_vendors_language(start_server: ServerFactory,
                                                                       tmp_path: Path) -> None:
    french = await start_server()
    async with french.http.get(f"{french.url}/dashboard/demo") as r:
        page = await r.text()
    assert r.status == 200 and '<html lang="fr">' in page and '"title": "Tableau de bord"' in page
    assert 'name="viewport"' in page
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//|url\(|@import|fetch\([\"'`]https?:", page)  # all local
    english = await start_server(vendor_dir(tmp_path, locale="en"))
    async with english.http.get(f"{english.url}/dashboard/demo") as r:
        page = await r.text()
    assert r.status == 200 and '<html lang="en">' in page and '"title": "Dashboard"' in page
    token = await add_user(english.runtime.inbox.store, "owner", "admin", ["demo"])
    await reserve(english, ALICE)
    async with english.http.get(f"{english.url}{BOARD}", headers={"Authorization": f"Bearer {token}"}) as r:
        board = await r.json()
    assert board["velocity"]["stockouts"]["ROBE1"]["text"].startswith("out of stock in ~2 order(s)")
    assert board["orders"][0]["status_label"] == "reserved"
