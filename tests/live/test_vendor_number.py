"""The vendor's own number: LIVE ON/OFF, the payment note's live totals, catalogue commands; never a buyer turn."""

from __future__ import annotations

from tests.bot.test_live_sale import link_of
from tests.conftest import Server, eventually, plain

VENDOR = "+221770000099"
BUYER = "+221770000001"


async def vendor_says(server: Server, text: str) -> str:
    replies = (await server.say(VENDOR, text))["replies"]
    assert len(replies) == 1, replies
    return plain(replies[0]["text"])


async def buy(server: Server, buyer: str, code: str = "ROBE1") -> None:
    """A whole sale: code, PAYER, Wave, the sandbox checkout paid, then the confirmation waited for."""
    await server.say(buyer, code)
    await server.say(buyer, payload="pay")
    link = link_of((await server.say(buyer, payload="wave"))["replies"][0])
    async with server.http.post(link, data={"outcome": "paid"}) as r:
        assert r.status == 200, await r.text()

    async def confirmed() -> bool:
        return any("Paiement reçu" in (m["text"] or "") for m in await server.transcript(buyer))

    await eventually(confirmed, f"the confirmation to {buyer}")


async def vendor_notes(server: Server) -> list[str]:
    return [plain(m["text"]) for m in await server.transcript(VENDOR) if m["direction"] == "out"]


async def test_live_on_then_each_payment_note_carries_the_live_totals_and_low_stock(start_server) -> None:
    server: Server = await start_server()
    assert "Live démarré" in await vendor_says(server, "LIVE ON")
    assert "déjà en cours" in await vendor_says(server, "live on")
    await buy(server, BUYER)
    await eventually(lambda: vendor_notes(server), "a payment note")
    notes = [n for n in await vendor_notes(server) if "Paiement reçu" in n]
    assert len(notes) == 1
    assert "Live : 1 commande(s) payée(s), 15 000 F CFA" in notes[0]
    assert "Plus que 2 ROBE1 en stock" in notes[0]  # demo stock 3, one sold
    await buy(server, "+221770000002")

    async def two_notes() -> bool:
        return len([n for n in await vendor_notes(server) if "Paiement reçu" in n]) == 2

    await eventually(two_notes, "the second payment note")
    second = [n for n in await vendor_notes(server) if "Paiement reçu" in n][1]
    assert "Live : 2 commande(s) payée(s), 30 000 F CFA" in second and "Plus que 1 ROBE1" in second


async def test_without_a_live_the_payment_note_has_no_totals(start_server) -> None:
    server: Server = await start_server()
    await buy(server, BUYER, "FOULARD1")  # stock 20: no warning either
    await eventually(lambda: vendor_notes(server), "a payment note")
    (note,) = await vendor_notes(server)
    assert "Paiement reçu" in note and "Live" not in note and "⚠️" not in note


async def test_the_vendors_messages_are_commands_never_a_sale(start_server) -> None:
    server: Server = await start_server()
    answer = await vendor_says(server, "ROBE1")
    assert "Commande inconnue" in answer and "AIDE" in answer
    assert (await server.runtime.store.get_product("demo", "ROBE1")).stock == 3  # nothing reserved
    assert "LIVE ON" in await vendor_says(server, "aide")
    assert "Aucun live en cours" in await vendor_says(server, "LIVE OFF")


async def test_stock_price_add_and_remove_from_the_vendors_number(start_server) -> None:
    server: Server = await start_server()
    store = server.runtime.store
    assert await vendor_says(server, "STOCK ROBE1 10") == "✅ Stock de Robe Wax Ankara (ROBE1) : 10."
    assert (await store.get_product("demo", "ROBE1")).stock == 10
    answer = await vendor_says(server, "PRIX ROBE1 12000")
    assert "12 000 F CFA" in answer and "avant : 15 000 F CFA" in answer
    offer = plain((await server.say(BUYER, "ROBE1"))["replies"][0]["text"])
    assert "12 000 F CFA" in offer  # buyers see the new price at once
    answer = await vendor_says(server, "AJOUT JUPE3 Jupe plissée 9000 4")
    assert answer == "✅ Ajouté : Jupe plissée (JUPE3) — 9 000 F CFA, stock 4."
    offer = plain((await server.say("+221770000002", "JUPE3"))["replies"][0]["text"])
    assert "Jupe plissée" in offer and "9 000 F CFA" in offer  # the buyers' NLU knows the new code
    assert "retiré de la vente" in await vendor_says(server, "RETIRER SAC2")
    assert (await store.get_product("demo", "SAC2")).stock == 0
    refused = (await server.say("+221770000003", "SAC2"))["replies"][0]
    assert not refused.get("buttons") and (await store.get_product("demo", "SAC2")).stock == 0
    replies = (await server.say("+221770000004", "menu"))["replies"]
    menu = {row["id"] for r in replies for section in r.get("list", []) for row in section["rows"]}
    assert "text:JUPE3" in menu and "text:SAC2" not in menu  # off the menu, the new one on it


async def test_a_wrong_command_gets_a_clear_error(start_server) -> None:
    server: Server = await start_server()
    cases = {
        "STOCK ROBE9 4": "Je ne trouve pas l'article ROBE9",
        "STOCK ROBE1 dix": "« dix » n'est pas un nombre valide",
        "PRIX ROBE1": "Il manque quelque chose. Exemple : PRIX ROBE1 12000",
        "AJOUT ROBE1 Robe 1000 2": "L'article ROBE1 existe déjà",
        "AJOUT 9X Robe 1000 2": "« 9X » n'est pas un code valide",
        "LIVE MAYBE": "Exemple : LIVE ON / LIVE OFF",
    }
    for command, expected in cases.items():
        assert expected in await vendor_says(server, command), command
    await vendor_says(server, "RETIRER SAC2")
    assert "est retiré de la vente" in await vendor_says(server, "STOCK SAC2 3")
    assert (await server.runtime.store.get_product("demo", "SAC2")).stock == 0
    assert "Ajouté : Sac neuf (SAC2)" in await vendor_says(server, "AJOUT SAC2 Sac neuf 13000 2")
    assert (await server.runtime.store.get_product("demo", "SAC2")).stock == 2
