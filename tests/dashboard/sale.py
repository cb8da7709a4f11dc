"""A sale driven through a real server's simulator endpoint and sandbox checkout, as a buyer does it."""

from __future__ import annotations

from tests.bot.test_live_sale import link_of, wait_for_text
from tests.conftest import Server


async def reserve(server: Server, buyer: str, code: str = "ROBE1") -> None:
    """The buyer types a product code: one unit reserved."""
    await server.say(buyer, code)


async def buy(server: Server, buyer: str, code: str = "ROBE1") -> None:
    """Code, PAYER, Wave, the sandbox link paid; returns once the buyer has their receipt."""
    await reserve(server, buyer, code)
    await server.say(buyer, payload="pay")
    link = link_of((await server.say(buyer, payload="wave"))["replies"][0])
    async with server.http.post(link, data={"outcome": "paid"}) as r:
        assert r.status == 200, await r.text()
    await wait_for_text(server, buyer, "Paiement reçu")
