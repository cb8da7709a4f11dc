"""The live-seller sale end to end over the simulator HTTP API: offer, pay, confirmation, notification."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.conftest import MONGO_ID, Server, plain, vendor_dir

BUYER = "+221770000001"
VENDOR_PHONE = "+221770000099"


def link_of(reply: dict) -> str:
    match = re.search(r"https?://\S+", reply["text"])
    assert match, reply
    return match.group(0)


async def stock(server: Server, code: str = "ROBE1") -> int:
    product = await server.runtime.store.get_product("demo", code)
    assert product is not None
    return product.stock


async def test_buyer_buys_robe1_in_three_messages_and_gets_a_receipt(start_server) -> None:
    server: Server = await start_server()
    offer = (await server.say(BUYER, "ROBE1"))["replies"]
    assert len(offer) == 1
    text = plain(offer[0]["text"])
    assert "ROBE1" in text and "Robe Wax Ankara" in text and "15 000 F CFA" in text
    assert "Réservé 10 min pour vous" in text
    assert "Plus que 2 en stock" in text
    assert [(b["id"], b["title"]) for b in offer[0]["buttons"]] == [("pay", "PAYER"), ("cancel", "ANNULER")]
    assert await stock(server) == 2

    methods = (await server.say(BUYER, payload="pay"))["replies"]
    assert [b["id"] for b in methods[0]["buttons"]] == ["wave", "om", "card"]
    assert [b["title"] for b in methods[0]["buttons"]] == ["Wave", "Orange Money", "Carte"]

    link_reply = (await server.say(BUYER, payload="wave"))["replies"][0]
    assert "Wave" in link_reply["text"]
    link = link_of(link_reply)
    assert link.startswith(f"{server.url}/pay/sandbox/")

    async with server.http.get(link, headers={"Accept": "text/html"}) as r:
        page = plain(await r.text())
        assert r.status == 200 and "15 000 F CFA" in page and "Robe Wax Ankara" in page
    async with server.http.post(link, data={"outcome": "paid"}) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["status"] == "paid"

    transcript = await wait_for_text(server, BUYER, "Paiement reçu")
    confirmation = transcript[-1]["text"]
    assert re.search(r"LP-\d{4}-\d{4}-[0-9A-F]{4}", confirmation)
    assert [m["direction"] for m in transcript] == ["in", "out", "in", "out", "in", "out", "out"]
    vendor_side = await server.transcript(VENDOR_PHONE)
    assert len(vendor_side) == 1
    assert "Robe Wax Ankara" in vendor_side[0]["text"] and "+22177****001" in vendor_side[0]["text"]
    assert BUYER not in vendor_side[0]["text"]
    assert await stock(server) == 2  # sold: the unit does not come back
    order = await server.runtime.store.get_order(
        (await server.runtime.store.get_conversation(f"demo:web:{BUYER}")).slots["last_order_id"]
    )
    assert order is not None and order.status == "paid" and order.receipt in confirmation


async def wait_for_text(server: Server, contact: str, needle: str, timeout: float = 10.0) -> list[dict]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        transcript = await server.transcript(contact)
        if any(needle in (m["text"] or "") for m in transcript):
            return transcript
        assert asyncio.get_running_loop().time() < deadline, f"no '{needle}' in {transcript}"
        await asyncio.sleep(0.05)


async def test_cancel_releases_the_stock(start_server) -> None:
    server: Server = await start_server()
    await server.say(BUYER, "robe 1")
    assert await stock(server) == 2
    replies = (await server.say(BUYER, payload="cancel"))["replies"]
    assert "annulée" in replies[0]["text"]
    assert await stock(server) == 3


async def test_failed_payment_offers_the_methods_again(start_server) -> None:
    server: Server = await start_server()
    await server.say(BUYER, "ROBE1")
    await server.say(BUYER, payload="pay")
    link = link_of((await server.say(BUYER, payload="om"))["replies"][0])
    async with server.http.post(link, data={"outcome": "failed"}) as r:
        assert r.status == 200
    transcript = await wait_for_text(server, BUYER, "n'a pas abouti")
    assert [b["id"] for b in transcript[-1]["buttons"]] == ["wave", "om", "card"]
    assert await stock(server) == 2  # still reserved for this buyer


async def test_sold_out_product_gets_a_polite_reply(start_server, tmp_path: Path) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, stock=1))
    assert "ROBE1" in (await server.say("+221770000001", "ROBE1"))["replies"][0]["text"]
    reply = (await server.say("+221770000002", "ROBE1"))["replies"][0]
    assert "épuisé" in reply["text"] and not reply.get("buttons")


async def test_a_second_code_while_reserved_is_refused_kindly(start_server) -> None:
    server: Server = await start_server()
    await server.say(BUYER, "ROBE1")
    reply = (await server.say(BUYER, "SAC2"))["replies"][0]
    assert "déjà une réservation" in reply["text"]
    assert (await stock(server, "SAC2")) == 5


async def test_reminder_then_expiry_release_the_stock(start_server, tmp_path: Path) -> None:
    # 0.02 min = 1.2 s reservation: the reminder at 70 % and the expiry both fire from durable timers.
    server: Server = await start_server(vendor_dir(tmp_path, reservation_minutes=0.02))
    await server.say(BUYER, "ROBE1")
    assert await stock(server) == 2
    transcript = await wait_for_text(server, BUYER, "a expiré")
    texts = [m["text"] for m in transcript if m["direction"] == "out"]
    assert sum("expire à" in t for t in texts) == 1  # exactly one reminder, before the expiry
    assert texts.index(next(t for t in texts if "expire à" in t)) < texts.index(texts[-1])
    assert await stock(server) == 3
    # the buyer can start again after the expiry
    assert "ROBE1" in (await server.say(BUYER, "ROBE1"))["replies"][0]["text"]


async def test_english_vendor_speaks_english(start_server, tmp_path: Path) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, locale="en"))
    offer = (await server.say(BUYER, "ROBE1"))["replies"][0]
    assert "15,000 F CFA" in plain(offer["text"]) and "Reserved 10 min" in offer["text"]
    assert [b["title"] for b in offer["buttons"]] == ["PAY", "CANCEL"]


async def test_greeting_help_menu_and_thanks(start_server) -> None:
    server: Server = await start_server()
    assert "Bienvenue chez Boutique Awa" in (await server.say(BUYER, "bjr"))["replies"][0]["text"]
    assert "Comment acheter" in (await server.say(BUYER, "aide"))["replies"][0]["text"]
    menu = (await server.say(BUYER, "menu"))["replies"][0]
    rows = {row["id"]: plain(f"{row['title']} {row['description']}") for row in menu["list"][0]["rows"]}
    assert "Les articles du live" in menu["text"] and rows["text:SAC2"] == "Sac en cuir SAC2 — 12 500 F CFA"
    # the vendor's own wording overrides the segment's
    assert "Awa vous remercie" in (await server.say(BUYER, "merci"))["replies"][0]["text"]


@pytest.mark.parametrize("store", ["embedded", "mongo"], ids=["embedded", MONGO_ID])
@pytest.mark.parametrize("with_redis", [False, True], ids=["no-redis", "redis"])
async def test_200_buyers_at_once_against_stock_10(start_server, tmp_path: Path, store: str,
                                                   with_redis: bool, request: pytest.FixtureRequest) -> None:
    redis_url = request.getfixturevalue("redis_url") if with_redis else None
    server: Server = await start_server(vendor_dir(tmp_path, stock=10), store=store, redis_url=redis_url)
    buyers = [f"+2217710{i:05d}" for i in range(200)]
    results = await asyncio.gather(*(server.say(b, "ROBE1") for b in buyers))
    texts = [r["replies"][0]["text"] for r in results]
    assert all(len(r["replies"]) == 1 for r in results)
    offers = [t for t in texts if "Réservé" in t]
    sold_out = [t for t in texts if "épuisé" in t]
    assert (len(offers), len(sold_out)) == (10, 190)
    assert await stock(server) == 0


async def test_transcript_shows_tapped_buttons_by_their_title(start_server) -> None:
    server: Server = await start_server()
    await server.say(BUYER, "ROBE1")
    await server.say(BUYER, payload="pay")
    inbound = [m for m in await server.transcript(BUYER) if m["direction"] == "in"]
    assert [(m["text"], m.get("payload")) for m in inbound] == [("ROBE1", None), ("PAYER", "pay")]


async def test_price_question_complaint_and_payment_without_a_method(start_server) -> None:
    server: Server = await start_server()
    info = plain((await server.say(BUYER, "c combien la ROBE1 ?"))["replies"][0]["text"])
    assert "Robe Wax Ankara (ROBE1) — 15 000 F CFA, 3 en stock" in info
    assert await stock(server) == 3  # asking the price reserves nothing
    assert "désolé" in (await server.say(BUYER, "j'ai un problème avec ma commande, c'est pas normal"))[
        "replies"][0]["text"].lower()
    # The complaint handed BUYER's conversation to a human (the bot stays silent there): another buyer pays.
    other = "+221770000002"
    await server.say(other, "ROBE1")
    methods = (await server.say(other, "je veux payer"))["replies"][0]
    assert [b["id"] for b in methods["buttons"]] == ["wave", "om", "card"]
