"""Every demo vendor of examples/vendors/ (the folder `make run` serves) does its job end to end in the
simulator: a paid order, a paid ticket, a booked slot, a PDF quote, an application with a loan officer."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import EXAMPLES, Server, ServerFactory, eventually, plain
from tests.dialogs.test_b2b_quotes import pdf_text

DEMOS = sorted([*EXAMPLES.glob("*.yaml"), *EXAMPLES.glob("*.yml")])
LINK = re.compile(r"https?://\S+")


@dataclass
class Buyer:
    """One buyer in the simulator: types, taps only buttons a reply offered (a phone keeps older ones),
    pays by the link."""

    server: Server
    vendor: str
    address: str = "+221770000001"
    replies: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    async def send(self, text: str | None = None, payload: str | None = None) -> str:
        self.replies = (await self.server.say(self.address, text, payload, vendor=self.vendor))["replies"]
        self.seen |= self.offered()
        return plain(" ".join(r["text"] for r in self.replies))

    def offered(self) -> set[str]:
        ids = {b["id"] for r in self.replies for b in r.get("buttons", ())}
        return ids | {row["id"] for r in self.replies for s in r.get("list", ()) for row in s["rows"]}

    async def tap(self, button: str) -> str:
        assert button in self.seen, f"no button '{button}' offered; the last replies: {self.replies}"
        return await self.send(payload=button)

    async def pay(self, text: str) -> None:
        links = [u for u in LINK.findall(text) if "/pay/" in u]
        assert links, f"no payment link in {text!r}"
        async with self.server.http.post(links[0], data={"outcome": "paid"}) as r:
            assert r.status == 200, await r.text()

    async def pushed(self, fragment: str) -> str:
        """The text of the first message the bot pushed later that contains `fragment`."""
        found: list[str] = []

        async def arrived() -> bool:
            transcript = await self.server.transcript(self.address, vendor=self.vendor)
            found[:] = [plain(m["text"] or "") for m in transcript if fragment in plain(m["text"] or "")]
            return bool(found)

        await eventually(arrived, f"a message with {fragment!r}")
        return found[0]

    async def paid_orders(self) -> list[Any]:
        orders = await self.server.runtime.store.vendor_orders(self.vendor)
        return [o for o in orders if o.status == "paid"]


def first_in_stock(cfg: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in cfg["catalogue"] if p["stock"] > 0)


async def live_seller(b: Buyer, cfg: dict[str, Any]) -> None:
    product = first_in_stock(cfg)
    assert product["name"] in await b.send(product["code"])
    await b.tap("pay")
    await b.pay(await b.tap("wave"))
    assert "Paiement reçu" in await b.pushed("Reçu : LP-")
    [order] = await b.paid_orders()
    assert (order.product_code, order.quantity, order.total) == (product["code"], 1, product["price"])


async def shop(b: Buyer, cfg: dict[str, Any]) -> None:
    product = first_in_stock(cfg)
    assert product["name"] in await b.send(product["code"])
    await b.tap("2")
    await b.tap("pay")
    await b.pay(await b.tap("wave"))
    await b.pushed("Paiement reçu")
    [order] = await b.paid_orders()
    assert (order.product_code, order.quantity, order.total) == (product["code"], 2, 2 * product["price"])


async def events(b: Buyer, cfg: dict[str, Any]) -> None:
    product = first_in_stock(cfg)
    assert "places restantes" in await b.send(product["code"])
    assert "Acompte à payer maintenant" in await b.tap("1")
    await b.tap("pay")
    await b.pay(await b.tap("wave"))
    ticket = await b.pushed("Billet : LP-")
    assert "C'est réservé" in ticket and "Solde à payer sur place" in ticket
    [order] = await b.paid_orders()
    deposit = cfg.get("settings", {}).get("deposit_percent", 50)
    assert order.total == -(-product["price"] * deposit // 100)  # the deposit, rounded up


async def services(b: Buyer, cfg: dict[str, Any]) -> None:
    service = cfg["catalogue"][0]
    text = await b.send(service["code"])
    assert service["name"] in text and "slot1" in b.offered()
    first = next(btn["title"] for r in b.replies for btn in r.get("buttons", ()) if btn["id"] == "slot1")
    booked = await b.tap("slot1")
    assert f"C'est réservé : {service['name']}, {first}" in booked and "Référence : RDV-" in booked
    # the slot is taken: the next buyer is not offered it
    other = Buyer(b.server, b.vendor, "+221770000002")
    await other.send(service["code"])
    titles = [btn["title"] for r in other.replies for btn in r.get("buttons", ())]
    assert first not in titles, titles


async def b2b(b: Buyer, cfg: dict[str, Any]) -> None:
    product = first_in_stock(cfg)
    await b.send(product["code"])
    await b.send("2")
    quote = await b.tap("quote")
    reference = re.search(r"DEV-\d{8}-\w+", quote)
    pdfs = [u for u in LINK.findall(quote) if u.endswith(".pdf")]
    assert reference and pdfs, quote
    async with b.server.http.get(pdfs[0]) as r:
        assert r.status == 200 and r.content_type == "application/pdf"
        text = pdf_text(await r.read())
    assert cfg["name"] in text and reference.group(0) in text and product["code"] in text


async def microfinance(b: Buyer, cfg: dict[str, Any]) -> None:
    assert cfg["name"] in await b.send("bonjour")
    assert "152 500" in await b.tap("balance")  # the operator's action, plugged in as `make run` does
    await b.tap("loan")
    await b.send("600 000")
    await b.send("12")
    await b.tap("equipment")
    assert "600 000 F CFA sur 12 mois" in await b.send("150 000")
    assert "agent de crédit" in await b.tap("affirm")
    conversation = await b.server.runtime.store.get_conversation(f"{b.vendor}:web:{b.address}")
    assert conversation is not None and conversation.handoff


FLOWS: dict[str, Callable[[Buyer, dict[str, Any]], Awaitable[None]]] = {
    "live_seller": live_seller, "shop": shop, "events": events, "services": services, "b2b": b2b,
    "microfinance": microfinance,
}


def test_examples_hold_one_demo_vendor_per_segment() -> None:
    segments = [yaml.safe_load(f.read_text(encoding="utf-8"))["segment"] for f in DEMOS]
    assert sorted(segments) == sorted(FLOWS)


@pytest.mark.parametrize("vendor_file", DEMOS, ids=[f.stem for f in DEMOS])
async def test_each_demo_vendor_does_its_job_end_to_end_in_the_simulator(
    vendor_file: Path, start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = yaml.safe_load(vendor_file.read_text(encoding="utf-8"))
    assert cfg.get("segment", "live_seller") in FLOWS, f"{vendor_file.name}: no main flow for its segment here"
    monkeypatch.setenv("PALABRE_ACTIONS", "examples.actions.microfinance")  # as `make run` does
    server = await start_server(EXAMPLES)  # the whole folder, as `make run` serves it
    await FLOWS[cfg.get("segment", "live_seller")](Buyer(server, cfg["id"]), cfg)


# the segments whose `menu` is a list built from the catalogue (the live seller's wording is its own)
LISTED = [f for f in DEMOS if yaml.safe_load(f.read_text(encoding="utf-8"))["segment"] in
          ("shop", "events", "services", "b2b")]


@pytest.mark.parametrize("vendor_file", LISTED, ids=[f.stem for f in LISTED])
async def test_menu_lists_the_vendors_products_and_a_row_tapped_names_that_product(
    vendor_file: Path, start_server: ServerFactory
) -> None:
    cfg = yaml.safe_load(vendor_file.read_text(encoding="utf-8"))
    server = await start_server(EXAMPLES)
    buyer = Buyer(server, cfg["id"])
    await buyer.send("menu")
    rows = [row for r in buyer.replies for s in r.get("list", ()) for row in s["rows"]]
    shown = [(row["title"], plain(row.get("description") or "")) for row in rows]
    assert [t for t, _ in shown] == [p["name"] for p in cfg["catalogue"]][:10]
    for (_, description), product in zip(shown, cfg["catalogue"], strict=False):
        assert product["code"] in description and plain(f"{product['price']:,}".replace(",", " ")) in description
    last = cfg["catalogue"][-1]
    assert last["name"] in await buyer.tap(f"text:{last['code']}")
