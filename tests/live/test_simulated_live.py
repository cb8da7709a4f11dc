"""A simulated live: an earlier live with some buyers, then 300 buyers through the real server — some pay,
some let the reservation run out, some cancel, some come back from the earlier live — and LIVE OFF's summary,
every figure of which is recomputed here from the orders in the store."""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from storage import Order
from tests.bot.test_live_sale import link_of
from tests.conftest import Server, eventually, plain
from tests.live.conftest import ADMIN, Clock, ClockedFactory, live_vendor

VENDOR = "+221770000099"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
CATALOGUE = [
    {"code": "ROBE1", "name": "Robe Wax Ankara", "price": 15000, "stock": 70},
    {"code": "SAC2", "name": "Sac en cuir", "price": 12500, "stock": 60},
    {"code": "BOUBOU3", "name": "Grand boubou brodé", "price": 35000, "stock": 12},  # sells out
    {"code": "CHAUSSURE1", "name": "Sandales tressées", "price": 8000, "stock": 100},
    {"code": "FOULARD1", "name": "Foulard en soie", "price": 5000, "stock": 200},
]
WANTED = ["ROBE1", "SAC2", "BOUBOU3", "ROBE1", "CHAUSSURE1", "BOUBOU3", "SAC2"]  # what buyer i types: WANTED[i % 7]
BATCH = 25  # buyers at once


def buyer(i: int) -> str:
    return f"+2217710{i:05d}"


def behaviour(i: int) -> str:
    """6 in 10 pay, 3 let the reservation run out, 1 cancels."""
    return "pay" if i % 10 < 6 else "expire" if i % 10 < 9 else "cancel"


async def shop(server: Server, i: int, code: str) -> str:
    """Buyer i types `code` and behaves; what happened: 'pay', 'expire', 'cancel' or 'sold_out'."""
    offer = (await server.say(buyer(i), code))["replies"][0]
    if not offer.get("buttons"):
        assert "épuisé" in offer["text"], offer
        return "sold_out"
    what = behaviour(i)
    if what == "cancel":
        await server.say(buyer(i), payload="cancel")
        return what
    methods = await server.say(buyer(i), payload="pay")
    if what == "pay":
        assert [b["id"] for b in methods["replies"][0]["buttons"]] == ["wave", "om", "card"]
        link = link_of((await server.say(buyer(i), payload="wave"))["replies"][0])
        async with server.http.post(link, data={"outcome": "paid"}) as r:
            assert r.status == 200, await r.text()
    return what


async def crowd(server: Server, buyers: range) -> dict[int, str]:
    outcome: dict[int, str] = {}
    ids = list(buyers)
    for start in range(0, len(ids), BATCH):
        batch = ids[start:start + BATCH]
        results = await asyncio.gather(*(shop(server, i, WANTED[i % len(WANTED)]) for i in batch))
        outcome.update(zip(batch, results, strict=True))
    return outcome


async def settle(server: Server, clock: Clock, since: float) -> list[Order]:
    """Let every reservation left unpaid run out (time travel past the longest, 15 min), then wait until
    no order of the live is open any more; the orders, oldest first."""

    async def orders() -> list[Order]:
        return await server.runtime.store.vendor_orders("demo", since=since)

    async def all_paid_or_closed() -> bool:
        return all(o.status in ("paid", "expired", "cancelled") for o in await orders())

    async def payers_paid() -> bool:
        return all(o.status != "awaiting_payment" or o.payment_method != "wave" for o in await orders())

    await eventually(payers_paid, "the payers' confirmations", timeout=60)
    clock.travel(16 * 60)
    await eventually(all_paid_or_closed, "every reservation to expire", timeout=60)
    return await orders()


async def live_window(server: Server) -> tuple[float, float]:
    async with server.http.get(f"{server.url}/api/vendors/demo/live", headers=AUTH) as r:
        body = await r.json()
    session = body["sessions"][0]
    return session["started_at"], session["ended_at"]


def recompute(orders: list[Order], start: float, end: float, stock: dict[str, int]) -> dict[str, Any]:
    """The summary's figures, from the orders alone (all of the vendor's, whenever made)."""
    live = [o for o in orders if start <= o.created_at <= end]
    paid = [o for o in live if o.status == "paid"]
    units: Counter[str] = Counter()
    revenue: defaultdict[str, int] = defaultdict(int)
    for o in paid:
        units[o.product_code] += o.quantity
        revenue[o.product_code] += o.unit_price * o.quantity
    best = sorted(units, key=lambda c: (-units[c], -revenue[c], c))[0]
    buyers = {o.contact.address for o in live}
    returning = {o.contact.address for o in orders if o.status == "paid" and o.created_at < start} & buyers
    sold_out = sorted({o.product_code for o in live if stock[o.product_code] == 0})
    return {
        "orders": len(live), "paid": len(paid), "expired": sum(o.status == "expired" for o in live),
        "cancelled": sum(o.status == "cancelled" for o in live),
        "revenue": sum(o.unit_price * o.quantity for o in paid),
        "conversion": round(100 * len(paid) / len(live)),
        "best": (best, units[best]), "buyers": len(buyers), "returning": len(returning),
        "new": len(buyers - returning), "sold_out": sold_out,
        "minutes": round((end - start) / 60),
    }


def money(amount: int) -> str:
    return f"{amount:,}".replace(",", " ") + " F CFA"


async def test_a_live_of_300_buyers_ends_with_a_summary_every_figure_of_which_the_orders_confirm(
    clocked_server: ClockedFactory, tmp_path: Path
) -> None:
    server, clock = await clocked_server(live_vendor(tmp_path, CATALOGUE))
    products = server.runtime.store

    # an earlier live: 40 buyers, some of whom will come back
    assert "Live démarré" in plain((await server.say(VENDOR, "LIVE ON"))["replies"][0]["text"])
    earlier_start = clock()
    earlier = await crowd(server, range(40))
    await settle(server, clock, earlier_start - 1)
    assert "Bilan du live" in plain((await server.say(VENDOR, "LIVE OFF"))["replies"][0]["text"])
    for code, n in (("BOUBOU3", 12), ("ROBE1", 70), ("SAC2", 60)):  # restocked for the big live
        await products.set_stock("demo", code, n)

    clock.travel(24 * 3600)
    assert "Live démarré" in plain((await server.say(VENDOR, "LIVE ON"))["replies"][0]["text"])
    # buyers 20..319: the first 20 of them were in the earlier live
    outcome = await crowd(server, range(20, 320))
    await settle(server, clock, 0)
    # the boubou's released units go to latecomers who pay, until it is sold out
    for i in (i for i in range(320, 400) if behaviour(i) == "pay"):
        outcome[i] = await shop(server, i, "BOUBOU3")
        if outcome[i] == "sold_out":
            break
    orders = await settle(server, clock, 0)
    clock.travel(60)
    summary_text = plain((await server.say(VENDOR, "LIVE OFF"))["replies"][0]["text"])
    start, end = await live_window(server)

    stock = {p.code: p.stock for p in await products.list_products("demo")}
    expected = recompute(orders, start, end, stock)
    # the scenario happened as planned: some of each, the boubou sold out, buyers came back
    counts = Counter(outcome.values())
    assert counts["pay"] == expected["paid"] and counts["expire"] == expected["expired"] > 0
    assert counts["cancel"] == expected["cancelled"] > 0 and counts["sold_out"] > 0
    assert expected["sold_out"] == ["BOUBOU3"]
    came_back = {buyer(i) for i in range(20, 40) if earlier[i] == "pay" and outcome[i] != "sold_out"}
    assert expected["returning"] == len(came_back) > 0
    assert expected["buyers"] == sum(1 for i in outcome if outcome[i] != "sold_out")

    lines = summary_text.splitlines()
    assert lines[0].startswith(f"📊 Bilan du live ({expected['minutes']} min")
    assert lines[1] == f"Chiffre d'affaires : {money(expected['revenue'])}"
    assert lines[2] == (f"Commandes : {expected['orders']} — payées {expected['paid']}, expirées {expected['expired']}"
                        f", annulées {expected['cancelled']}")
    assert lines[3] == f"Conversion : {expected['conversion']} %"
    code, units = expected["best"]
    assert re.match(rf"Meilleure vente : .+ \({code}\) — {units} vendu\(s\)$", lines[4]), lines[4]
    assert lines[5] == (f"Acheteurs : {expected['buyers']} — {expected['new']} nouveau(x), "
                        f"{expected['returning']} fidèle(s)")
    assert lines[6].startswith(f"💡 Épuisé : {', '.join(expected['sold_out'])}.")

    async with server.http.get(f"{server.url}/api/vendors/demo/live", headers=AUTH) as r:
        kept = (await r.json())["sessions"][0]["summary"]
    assert (kept["orders"], kept["paid"], kept["expired"], kept["cancelled"], kept["revenue"], kept["conversion"],
            kept["buyers"], kept["new_buyers"], kept["returning_buyers"]) == (
        expected["orders"], expected["paid"], expected["expired"], expected["cancelled"], expected["revenue"],
        expected["conversion"], expected["buyers"], expected["new"], expected["returning"])
    assert (kept["best_seller"]["code"], kept["best_seller"]["units"]) == expected["best"]
