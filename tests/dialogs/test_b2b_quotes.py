"""B2B quotes: the PDF travels as a WhatsApp document, is served by an unguessable link, and reads in
whole F CFA; a guessed link finds nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from pypdf import PdfReader

from tests.channels.test_meta import (
    PNID,
    SECRET,
    VERIFY_TOKEN,
    FakeGraphApi,
    button_tap,
    graph,
    post,
    text_message,
)
from tests.conftest import ROOT, Server, ServerFactory, eventually, plain

__all__ = ["graph"]  # the local Graph API fixture, used by name

GROSSISTE = ROOT / "examples" / "vendors" / "grossiste.yaml"


def whatsapp_wholesaler(tmp_path: Path, api_base: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WA_TOKEN_DEMO", "EAAG-token")
    monkeypatch.setenv("WA_APP_SECRET_DEMO", SECRET)
    monkeypatch.setenv("WA_VERIFY_DEMO", VERIFY_TOKEN)
    data = yaml.safe_load(GROSSISTE.read_text(encoding="utf-8"))
    data["id"] = "demo"  # the Meta test helpers post to /webhooks/meta/demo
    data["channels"] = {"meta": {"phone_number_id": int(PNID), "access_token": "${WA_TOKEN_DEMO}",
                                 "app_secret": "${WA_APP_SECRET_DEMO}", "verify_token": "${WA_VERIFY_DEMO}",
                                 "api_base_url": api_base}}
    folder = tmp_path / "b2b-vendors"
    folder.mkdir()
    (folder / "demo.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


def pdf_text(body: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(body)).pages)


async def test_a_quote_on_whatsapp_is_sent_as_a_pdf_document_that_reads_in_whole_francs(
    start_server: ServerFactory, graph: FakeGraphApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(whatsapp_wholesaler(tmp_path, graph.base, monkeypatch))
    assert await post(server, text_message(1, "CIM50")) == 200
    await eventually(lambda: len(graph.sent()) >= 1)
    assert await post(server, text_message(2, "100")) == 200
    await eventually(lambda: len(graph.sent()) >= 2)
    assert await post(server, button_tap(3, "quote", "wamid.OUT2")) == 200
    await eventually(lambda: len(graph.sent()) >= 3)
    sent = graph.sent()[2]
    # the header of the reply buttons ([COMMANDER] [ANNULER]) carries the PDF as a document
    assert sent["type"] == "interactive", sent
    document = sent["interactive"]["header"]["document"]
    assert document["filename"].startswith("DEV-") and document["filename"].endswith(".pdf")
    assert "450 000 F CFA" in plain(sent["interactive"]["body"]["text"])
    link = document["link"]
    assert link.startswith(f"{server.url}/quotes/") and link.endswith(".pdf")
    async with server.http.get(link) as r:
        assert r.status == 200 and r.content_type == "application/pdf"
        assert document["filename"] in r.headers["Content-Disposition"]
        text = pdf_text(await r.read())
    assert "Diop Matériaux" in text and document["filename"].removesuffix(".pdf") in text
    assert "Ciment 50 kg (CIM50) 100 4 500 F CFA 450 000 F CFA" in text
    assert "Total 450 000 F CFA" in text
    assert ",00" not in text and ".00" not in text  # XOF has no minor unit


async def test_each_quote_gets_its_own_unguessable_link_and_a_guessed_one_is_a_json_404(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "vendors"
    folder.mkdir()
    (folder / "grossiste.yaml").write_text(GROSSISTE.read_text(encoding="utf-8"), encoding="utf-8")
    server = await start_server(folder)
    links = []
    for buyer in ("+221770000201", "+221770000202"):
        await server.say(buyer, "FER12", vendor="grossiste")
        await server.say(buyer, "3", vendor="grossiste")
        answer = await server.say(buyer, payload="quote", vendor="grossiste")
        (quote,) = [r for r in answer["replies"] if r.get("media_url")]
        assert quote["media_url"] in quote["text"]  # channels that send no files show the link
        links.append(quote["media_url"])
    assert links[0] != links[1]
    doc_ids = [link.rsplit("/", 1)[1].removesuffix(".pdf") for link in links]
    assert all(len(d) >= 32 for d in doc_ids)
    for guess in (doc_ids[0][:-1] + ("A" if doc_ids[0][-1] != "A" else "B"), "0" * 32, "..%2F..%2Fetc"):
        async with server.http.get(f"{server.url}/quotes/{guess}.pdf") as r:
            assert r.status == 404
            assert (await r.json())["error"]["code"] == "not_found"


async def test_an_order_from_a_quote_pays_the_quoted_price_after_the_vendor_raised_it(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "vendors"
    folder.mkdir()
    data = yaml.safe_load(GROSSISTE.read_text(encoding="utf-8"))
    (folder / "grossiste.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    server = await start_server(folder, admin_token="admin-token-1234")
    quoted, other = "+221770000211", "+221770000212"

    async def say(buyer: str, text: str | None = None, payload: str | None = None) -> str:
        answer = await server.say(buyer, text, payload, vendor="grossiste")
        return plain(" ".join(r["text"] for r in answer["replies"]))

    await say(quoted, "CIM50")
    await say(quoted, "100")
    assert "450 000 F CFA" in await say(quoted, payload="quote")
    await say(quoted, payload="cancel")
    next(p for p in data["catalogue"] if p["code"] == "CIM50")["price"] = 5000
    (folder / "grossiste.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    async with server.http.post(f"{server.url}/api/admin/vendors/reload",
                                headers={"Authorization": "Bearer admin-token-1234"}) as r:
        assert r.status == 200, await r.text()

    for buyer, total in ((quoted, "450 000 F CFA"), (other, "500 000 F CFA")):
        await say(buyer, "CIM50")
        assert f"= {total}" in await say(buyer, "100")
        assert f"= {total}" in await say(buyer, payload="order")
        await say(buyer, payload="pay")
        link = next(u for u in (await say(buyer, payload="wave")).split() if "/pay/" in u)
        async with server.http.post(link, data={"outcome": "paid"}) as r:
            assert r.status == 200
    orders = {o.contact.address: o for o in await server.runtime.store.vendor_orders("grossiste")}

    async def both_paid() -> bool:
        orders.update({o.contact.address: o for o in await server.runtime.store.vendor_orders("grossiste")})
        return all(orders[b].status == "paid" for b in (quoted, other))

    await eventually(both_paid)
    assert (orders[quoted].total, orders[other].total) == (450_000, 500_000)
