"""The simulator and sandbox checkout pages speak as the bot does: the vendor's locale, or the buyer's language."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import Server, ServerFactory, plain, vendor_dir


async def test_simulator_and_checkout_pages_speak_the_vendors_locale(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    server = await start_server(vendor_dir(tmp_path, locale="en"))
    async with server.http.get(f"{server.url}/simulator/demo") as r:
        page = await r.text()
    assert '<html lang="en">' in page
    assert "Your number" in page and ">Send</button>" in page and 'placeholder="Type a message, e.g. ROBE1"' in page
    assert "Envoyer" not in page and "Votre numéro" not in page

    await server.say("+221770000601", "ROBE1")
    await server.say("+221770000601", payload="pay")
    answer = await server.say("+221770000601", payload="wave")
    link = re.search(r"https?://\S+/pay/sandbox/\S+", " ".join(r["text"] for r in answer["replies"]))
    assert link is not None, answer
    async with server.http.get(link.group(0), headers={"Accept": "text/html"}) as r:
        checkout = plain(await r.text())
    assert '<html lang="en">' in checkout and "Sandbox payment" in checkout and "15,000 F CFA" in checkout
    assert ">Pay</button>" in checkout and ">Decline</button>" in checkout and "Payer" not in checkout
    async with server.http.post(link.group(0), data={"outcome": "paid"}, headers={"Accept": "text/html"}) as r:
        done = await r.text()
    assert "Payment received" in done and "Go back to the conversation" in done


async def test_a_french_vendor_keeps_french_pages(start_server: ServerFactory, tmp_path: Path) -> None:
    server = await start_server(vendor_dir(tmp_path))
    async with server.http.get(f"{server.url}/simulator/demo") as r:
        page = await r.text()
    assert '<html lang="fr">' in page and "Votre numéro" in page and ">Envoyer</button>" in page


async def _checkout_page(server: Server, number: str, words: list[str]) -> str:
    for text in words:
        answer = await server.say(number, text)
    link = re.search(r"https?://\S+/pay/sandbox/\S+", " ".join(r["text"] for r in answer["replies"]))
    assert link is not None, answer
    async with server.http.get(link.group(0), headers={"Accept": "text/html"}) as r:
        return plain(await r.text())


async def test_an_english_buyer_of_a_french_vendor_that_speaks_english_pays_on_an_english_page(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    server = await start_server(vendor_dir(tmp_path, languages=["en"]))
    english = await _checkout_page(server, "+221770000602", ["hello, I want the wax dress", "pay", "wave"])
    assert '<html lang="en">' in english and ">Pay</button>" in english and "Payer" not in english
    french = await _checkout_page(server, "+221770000603", ["bonjour je veux la robe wax", "payer", "wave"])
    assert '<html lang="fr">' in french and ">Payer</button>" in french
