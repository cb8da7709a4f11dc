"""Adaptive commerce through a real server: prepayment for flagged buyers, a suggestion bought together,
plain text on SMS."""

from __future__ import annotations

import re
from pathlib import Path

import emoji
import pytest
import yaml

from channels import Contact
from storage import Order
from tests.bot.test_live_sale import stock
from tests.buyers.test_buyer_sale import BUYER, seed
from tests.channels import test_twilio as tw
from tests.channels.test_twilio import FakeTwilio, twilio_api  # noqa: F401 - fixture used by name
from tests.conftest import EXAMPLES, MONGO_ID, Server, eventually, plain, vendor_dir

OTHER = "+221770000002"
SETTINGS = {"reservation_minutes": 10, "reminder_percent": 70, "max_quantity": 5}


async def link_for(server: Server, contact: str) -> str:
    """PAYER then Wave: the sandbox payment link."""
    await server.say(contact, payload="pay")
    text = (await server.say(contact, payload="wave"))["replies"][0]["text"]
    match = re.search(r"https?://\S+", text)
    assert match, text
    return match.group(0)


async def pay(server: Server, link: str) -> None:
    async with server.http.post(link, data={"outcome": "paid"}) as r:
        assert r.status == 200, await r.text()


async def last_text(server: Server, contact: str, needle: str) -> str:
    """The buyer's latest message containing `needle`, once it arrived (at most 10 s)."""
    found: list[str] = []

    async def arrived() -> bool:
        found[:] = [plain(m["text"]) for m in await server.transcript(contact) if needle in plain(m["text"])]
        return bool(found)

    await eventually(arrived, f"a message with {needle!r} to {contact}")
    return found[-1]


async def flagged_buyer_server(start_server, tmp_path: Path, robe_stock: int, store: str = "embedded") -> Server:
    """The demo vendor asking prepayment of flagged buyers; BUYER let four reservations expire (flagged)."""
    server: Server = await start_server(vendor_dir(tmp_path, stock=robe_stock,
                                                   settings={**SETTINGS, "prepayment_for_flagged": True}),
                                        store=store)
    await seed(server, ["expired"] * 4)
    return server


@pytest.mark.parametrize("store", ["embedded", "mongo"], ids=["embedded", MONGO_ID])
async def test_a_flagged_buyer_pays_first_and_is_refunded_when_another_buyer_took_the_last_unit(
        start_server, tmp_path: Path, store: str) -> None:
    server = await flagged_buyer_server(start_server, tmp_path, robe_stock=1, store=store)
    offer = (await server.say(BUYER, "ROBE1"))["replies"][0]
    assert "le paiement se fait d'abord" in offer["text"] and "Réservé" not in offer["text"]
    assert [b["id"] for b in offer["buttons"]] == ["pay", "cancel"]
    link = await link_for(server, BUYER)
    assert await stock(server) == 1  # the payment link came first; nothing is held for the flagged buyer

    other = (await server.say(OTHER, "ROBE1"))["replies"][0]["text"]  # meanwhile, another buyer reserves it
    assert "Réservé 10 min" in plain(other) and await stock(server) == 0

    await pay(server, link)
    refund = await last_text(server, BUYER, "vendu entre-temps")
    assert "vous serez remboursé(e)" in refund and "Paiement reçu" in refund
    order = await server.runtime.store.get_order(
        (await server.runtime.store.get_conversation(f"demo:web:{BUYER}")).slots["last_order_id"])
    assert order is not None and order.status == "refund_due" and order.receipt in refund
    assert await stock(server) == 0  # never oversold: the other buyer keeps their unit and pays for it
    await pay(server, await link_for(server, OTHER))
    assert "Paiement reçu, merci" in await last_text(server, OTHER, "Paiement reçu")
    assert await stock(server) == 0
    vendor_side = [plain(m["text"]) for m in await server.transcript("+221770000099")]
    assert len(vendor_side) == 1 and "+22177****002" in vendor_side[0]  # only the real sale is announced


async def test_a_flagged_buyer_who_pays_while_stock_remains_gets_the_unit_at_payment(
        start_server, tmp_path: Path) -> None:
    server = await flagged_buyer_server(start_server, tmp_path, robe_stock=1)
    await server.say(BUYER, "ROBE1")
    link = await link_for(server, BUYER)
    assert await stock(server) == 1
    await pay(server, link)
    assert "Paiement reçu, merci" in await last_text(server, BUYER, "Paiement reçu")
    assert await stock(server) == 0  # taken at payment
    sold_out = (await server.say(OTHER, "ROBE1"))["replies"][0]["text"]
    assert "épuisé" in sold_out


async def test_without_the_setting_a_flagged_buyer_gets_a_short_hold(start_server) -> None:
    server: Server = await start_server()
    await seed(server, ["expired"] * 4)
    offer = plain((await server.say(BUYER, "ROBE1"))["replies"][0]["text"])
    assert "Réservé 5 min" in offer and await stock(server) == 2


async def test_after_paying_a_silver_buyer_is_offered_what_other_buyers_took_with_it(start_server) -> None:
    server: Server = await start_server()
    await seed(server, ["paid"] * 3)  # three SAC2 bought long ago: silver, and SAC2 is not suggested to them
    for who, codes in (("+221770000011", ("CHAUSSURE1", "SAC2")), ("+221770000012", ("CHAUSSURE1", "FOULARD1")),
                       ("+221770000013", ("FOULARD1", "CHAUSSURE1"))):
        for n, code in enumerate(codes, 1):
            await server.say(who, code)
            await pay(server, await link_for(server, who))
            await paid_messages(server, who, n)
    await server.say(BUYER, "CHAUSSURE1")
    await pay(server, await link_for(server, BUYER))
    confirmation = await last_text(server, BUYER, "Paiement reçu")
    # FOULARD1: two other buyers of the sandals took it; SAC2 one, and this buyer has it already
    assert "💡 Souvent pris avec Sandales tressées : Foulard en soie (FOULARD1), 5 000 F CFA." in confirmation
    assert "Fidèle" in confirmation  # a fourth purchase


async def paid_messages(server: Server, contact: str, n: int) -> None:
    async def arrived() -> bool:
        return sum("Paiement reçu" in (m["text"] or "") for m in await server.transcript(contact)) >= n

    await eventually(arrived, f"{n} confirmation(s) to {contact}")


async def test_a_vendor_who_switches_suggestions_off_gets_none(start_server, tmp_path: Path) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, settings={**SETTINGS, "adaptive": {"suggestion": False}}))
    await seed(server, ["paid"] * 3)
    await server.say(BUYER, "ROBE1")
    await pay(server, await link_for(server, BUYER))
    confirmation = await last_text(server, BUYER, "Paiement reçu")
    assert "💡" not in confirmation and "Fidèle" in confirmation


async def test_sms_replies_are_plain_text_in_the_transcript(
        start_server, twilio_api: FakeTwilio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    server: Server = await start_server(tw.twilio_vendors(tmp_path, twilio_api, monkeypatch))
    assert (await tw.post_form(server, tw.sms(1, "ROBE1")))[0] == 200
    await tw.wait_creates(twilio_api, 1)
    sent = [m for m in await server.runtime.store.transcript(f"demo:sms:{tw.BUYER}") if m.direction == "out"]
    offer = plain(sent[0].text)
    assert "Bienvenue chez Boutique Awa !" in offer and "Plus que 2 en stock !" in offer
    assert emoji.emoji_count(offer) == 0 and not offer.startswith(" ")
    web = (await server.say(BUYER, "ROBE1"))["replies"][0]["text"]  # the same wording on the web keeps them
    assert web.startswith("👋 Bienvenue") and "⚡" in web


async def test_the_first_buyer_of_the_live_gets_the_badge_and_the_next_does_not(start_server) -> None:
    server: Server = await start_server()
    await server.say(BUYER, "FOULARD1")  # paid before the live: not part of it
    await pay(server, await link_for(server, BUYER))
    assert "Premier acheteur du jour" in await last_text(server, BUYER, "Paiement reçu")
    assert "LIVE" in plain((await server.say("+221770000099", "LIVE ON"))["replies"][0]["text"]).upper()
    for who in (OTHER, BUYER):
        await server.say(who, "SAC2")
        await pay(server, await link_for(server, who))
        await paid_messages(server, who, 1 if who == OTHER else 2)
    first, second = (await last_text(server, OTHER, "Paiement reçu"), await last_text(server, BUYER, "(SAC2)"))
    assert "Premier acheteur du live" in first
    assert "Paiement reçu" in second and "Premier acheteur" not in second


async def test_in_the_shop_a_flagged_buyer_also_pays_before_anything_is_held(start_server, tmp_path: Path) -> None:
    data = yaml.safe_load((EXAMPLES / "epicerie.yaml").read_text(encoding="utf-8"))
    data["settings"]["prepayment_for_flagged"] = True
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "epicerie.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    server: Server = await start_server(folder)
    for i in range(4):  # four reservations let expire: flagged
        await server.runtime.store.save_order(Order(
            id=f"old{i}", vendor_id="epicerie", conversation_id=f"epicerie:web:{BUYER}", contact=Contact(address=BUYER),
            channel="web", product_code="RIZ5", product_name="Riz", quantity=1, unit_price=6500, status="expired",
            created_at=1_000_000.0 + i))
    await server.say(BUYER, "LAIT4", vendor="epicerie")
    offer = plain((await server.say(BUYER, payload="2", vendor="epicerie"))["replies"][0]["text"])
    assert "le paiement se fait d'abord" in offer and "Je vous le garde" not in offer
    assert (await server.runtime.store.get_product("epicerie", "LAIT4")).stock == 4
