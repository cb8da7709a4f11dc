"""The dashboard and the vendor's live sessions: live on/off, the live's own totals, velocity's session from
LIVE ON, and the vendor's low-stock threshold on the dashboard."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.inbox.users import add_user
from tests.conftest import Server
from tests.dashboard.conftest import Inbox, next_event
from tests.dashboard.sale import buy, reserve
from tests.live.conftest import live_vendor

ALICE, BOB, CARO = "+221770000011", "+221770000022", "+221770000033"
BOARD = "/api/dashboard/demo"


async def test_an_open_live_shows_on_the_dashboard_with_its_own_totals_and_starts_the_session(
        inbox: Inbox) -> None:
    assert (await inbox.ok("GET", BOARD, "analyst"))["live"] == {"on": False}
    await buy(inbox.server, ALICE, "SAC2")  # before the live: the day's figure, not the live's
    started = await inbox.ok("POST", "/api/vendors/demo/live/start", "admin")
    since = started["session"]["started_at"]
    await buy(inbox.server, BOB)
    await reserve(inbox.server, CARO)

    board = await inbox.ok("GET", BOARD, "analyst")
    live = board["live"]
    assert live | {"revenue_text": None} == {
        "on": True, "id": started["session"]["id"], "started_at": since, "orders": 2, "paid": 1, "in_progress": 1,
        "revenue": 15000, "revenue_text": None}
    assert live["revenue_text"].replace("\u202f", " ").replace("\xa0", " ") == "15 000 F CFA"
    assert (board["totals"]["orders"], board["totals"]["paid"], board["totals"]["revenue"]) == (3, 2, 27500)
    # velocity counts from LIVE ON, not from the first order of the day
    assert board["velocity"]["session"]["start"] == since
    assert board["velocity"]["pace"]["orders"] == 2

    await inbox.ok("POST", "/api/vendors/demo/live/stop", "admin")
    board = await inbox.ok("GET", BOARD, "analyst")
    assert board["live"] == {"on": False}
    assert board["velocity"]["session"]["start"] != since  # back to the run of orders


async def test_a_live_that_began_before_the_period_keeps_its_totals(inbox: Inbox) -> None:
    await inbox.ok("POST", "/api/vendors/demo/live/start", "admin")
    await buy(inbox.server, ALICE)
    later = inbox.server.runtime.clock()
    await asyncio.sleep(0.01)  # `since` may not be in the future
    status, board = await inbox.call("GET", BOARD, "analyst", params={"since": str(later)})
    assert status == 200, board
    assert board["totals"]["orders"] == 0  # nothing in the period asked for
    assert (board["live"]["orders"], board["live"]["paid"], board["live"]["revenue"]) == (1, 1, 15000)


async def test_live_start_wakes_the_dashboard_stream(inbox: Inbox) -> None:
    token = await add_user(inbox.server.runtime.inbox.store, "watcher", "analyst", ["demo"])
    async with inbox.server.http.get(f"{inbox.url}{BOARD}/events",
                                     headers={"Authorization": f"Bearer {token}"}) as stream:
        kind, first = await next_event(stream)
        assert (kind, first["live"]) == ("snapshot", {"on": False})
        await inbox.ok("POST", "/api/vendors/demo/live/start", "admin")
        kind, woken = await next_event(stream)  # no order moved: the live alone woke it
        assert (kind, woken["live"]["on"]) == ("snapshot", True)


async def test_the_dashboard_warns_at_the_vendors_threshold_plus_one(start_server, tmp_path: Path) -> None:
    server: Server = await start_server(live_vendor(tmp_path, adaptive={"low_stock_threshold": 4}))
    inbox = Inbox(server)
    inbox.tokens["admin"] = await add_user(server.runtime.inbox.store, "awa", "admin", ["demo"])
    board = await inbox.ok("GET", BOARD, "admin")
    assert board["low_stock_units"] == 5
    sac = next(s for s in board["stock"] if s["code"] == "SAC2")  # demo stock 5: low at 5 with threshold 4
    assert sac["low"] is True
    assert {"code": "SAC2", "name": sac["name"], "stock": 5, "kind": "low"} in board["alerts"]
