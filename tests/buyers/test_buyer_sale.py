"""Trust in a real sale: the reservation and reminder follow the buyer's history on every channel,
the vendor's minimum score refuses politely, and the vendor reads the score's factors."""

from __future__ import annotations

from pathlib import Path

from channels import Contact
from storage import Order
from tests.conftest import Server, plain, vendor_dir

BUYER = "+221770000001"
ADMIN = "admin-token-for-buyer-tests-01"


async def seed(server: Server, statuses: list[str], *, paid_after: float = 60.0, price: int = 15_000) -> None:
    """Earlier orders of BUYER with the vendor, on WhatsApp (the sale below is on the web simulator)."""
    for i, status in enumerate(statuses):
        created = 1_000_000.0 + 3600 * i
        await server.runtime.store.save_order(Order(
            id=f"old{i}", vendor_id="demo", conversation_id=f"demo:whatsapp:{BUYER}", contact=Contact(address=BUYER),
            channel="whatsapp", product_code="SAC2", product_name="Sac", quantity=1, unit_price=price,
            status=status, created_at=created,  # type: ignore[arg-type]
            paid_at=created + paid_after if status == "paid" else None, payment_method="wave"))


async def offer_and_timers(server: Server) -> tuple[str, float, float]:
    """The offer's text, its reservation and its reminder delay (seconds)."""
    text = plain((await server.say(BUYER, "ROBE1"))["replies"][0]["text"])
    conv = await server.runtime.store.get_conversation(f"demo:web:{BUYER}")
    order = await server.runtime.store.get_order(conv.slots["order_id"])
    timers = {t.id: t.due_at for t in await server.runtime.store.due_timers(order.created_at + 10**6)}
    return text, order.reserved_until - order.created_at, timers[f"{order.id}:remind"] - order.created_at


async def test_a_new_buyer_gets_the_vendors_ten_minutes_and_the_reminder_at_seventy_percent(start_server) -> None:
    server: Server = await start_server()
    text, reservation, reminder = await offer_and_timers(server)
    assert "Réservé 10 min" in text and (reservation, reminder) == (600, 420)


async def test_a_trusted_buyer_gets_fifteen_minutes_and_the_reminder_at_eighty_percent(start_server) -> None:
    server: Server = await start_server()
    await seed(server, ["paid"] * 6)  # 50 + 25 + 10 (fast payer) = 85
    text, reservation, reminder = await offer_and_timers(server)
    assert "Réservé 15 min" in text and (reservation, reminder) == (900, 720)


async def test_a_buyer_who_lets_reservations_expire_gets_five_minutes_and_an_early_reminder(start_server) -> None:
    server: Server = await start_server()
    await seed(server, ["expired"] * 3)  # 50 − 30 = 20
    text, reservation, reminder = await offer_and_timers(server)
    assert "Réservé 5 min" in text and (reservation, reminder) == (300, 150)


async def test_the_vendors_minimum_score_refuses_politely_and_holds_no_stock(start_server, tmp_path: Path) -> None:
    settings = {"reservation_minutes": 10, "reminder_percent": 70, "max_quantity": 5, "min_trust_score_required": 45}
    server: Server = await start_server(vendor_dir(tmp_path, settings=settings))
    await seed(server, ["expired"])  # 40 < 45
    reply = (await server.say(BUYER, "ROBE1"))["replies"][0]
    assert "ne pouvons pas prendre cette commande" in reply["text"] and not reply.get("buttons")
    assert (await server.runtime.store.get_product("demo", "ROBE1")).stock == 3
    other = (await server.say("+221770000002", "ROBE1"))["replies"][0]  # a new buyer (50) is served
    assert "Réservé 10 min" in plain(other["text"])


async def test_the_vendor_sees_which_factors_moved_the_score(start_server) -> None:
    server: Server = await start_server(admin_token=ADMIN)
    await seed(server, ["paid", "paid", "expired"], paid_after=30.0)
    url = f"{server.url}/api/admin/vendors/demo/buyers/%2B221770000001"
    async with server.http.get(url) as r:
        assert r.status == 401 and "error" in await r.json()
    async with server.http.get(url, headers={"Authorization": f"Bearer {ADMIN}"}) as r:
        card = await r.json()
    assert r.status == 200, card
    assert (card["orders"], card["payments"], card["expired"], card["total_spent"]) == (3, 2, 1, 30_000)
    assert card["score"] == 60 and card["tier"] == "silver" and card["channels"] == ["whatsapp"]
    assert [(f["code"], f["points"]) for f in card["factors"]] == [
        ("start", 50), ("payments", 10), ("fast_payer", 10), ("expired", -10)]
    async with server.http.get(f"{server.url}/api/admin/vendors/demo/buyers/%2B221779999999",
                               headers={"Authorization": f"Bearer {ADMIN}"}) as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "unknown_buyer"
