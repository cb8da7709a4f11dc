"""One buyer on two channels (WhatsApp through Meta, SMS through Twilio, same number): notifications follow them."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.delivery.policy import NOT_SENDABLE
from storage import Message
from tests.channels import test_meta as meta
from tests.channels import test_twilio as tw
from tests.channels.test_meta import FakeGraphApi, graph  # noqa: F401 - fixture used by name
from tests.channels.test_twilio import FakeTwilio, twilio_api  # noqa: F401
from tests.conftest import MONGO_ID, Server, eventually, plain

BUYER = tw.BUYER  # the same person as meta.BUYER, which Meta sends without the "+"
WHATSAPP = f"demo:whatsapp:{BUYER}"
SMS = f"demo:sms:{BUYER}"
UNSUBSCRIBED = (400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}, {},
                False)


def both_channels(tmp_path: Path, api: FakeGraphApi, sms_api: FakeTwilio, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo vendor with its WhatsApp number at Meta and its SMS number at Twilio (both fakes)."""
    wa = yaml.safe_load((meta.meta_vendor(tmp_path, api.base, monkeypatch) / "demo.yaml").read_text("utf-8"))
    sms = yaml.safe_load((tw.twilio_vendors(tmp_path, sms_api, monkeypatch) / "demo.yaml").read_text("utf-8"))
    wa["channels"].update(sms["channels"])
    d = tmp_path / "both-vendors"
    d.mkdir()
    (d / "demo.yaml").write_text(yaml.safe_dump(wa, allow_unicode=True), encoding="utf-8")
    return d


async def wait_for(predicate: Any, what: str, timeout: float = 10.0) -> None:
    await eventually(predicate, what, timeout)


async def settle(server: Server) -> None:
    await server.runtime.pipeline.idle()
    await server.runtime.delivery.idle()


def confirmations(bodies: list[str]) -> list[str]:
    return [b for b in bodies if "Paiement re" in b]  # "reçu" on WhatsApp, folded to "recu" by SMS


def whatsapp_bodies(api: FakeGraphApi) -> list[str]:
    return [b.get("text", {}).get("body") or b.get("interactive", {}).get("body", {}).get("text", "")
            for b in api.sent()]


async def outbound(server: Server, conversation: str) -> list[Message]:
    return [m for m in await server.runtime.store.transcript(conversation) if m.direction == "out"]


async def sale_on_whatsapp(server: Server, api: FakeGraphApi) -> str:
    """ROBE1, PAYER, Wave on WhatsApp; returns the payment link."""
    for n, raw in enumerate((meta.text_message(1, "ROBE1"), meta.button_tap(2, "pay", "wamid.OUT1"),
                             meta.button_tap(3, "wave", "wamid.OUT2")), 1):
        assert await meta.post(server, raw) == 200

        async def answered(n: int = n) -> bool:
            return len(api.sent()) >= n

        await wait_for(answered, f"WhatsApp reply {n}")
    match = re.search(r"https?://\S+", whatsapp_bodies(api)[2])
    assert match, whatsapp_bodies(api)
    return match.group(0)


async def bonjour_by_sms(server: Server, api: FakeTwilio, sid: int = 1, sender: str = BUYER) -> None:
    before = len(api.creates)
    assert (await tw.post_form(server, tw.sms(sid, "bonjour", sender)))[0] == 200

    async def welcomed() -> bool:
        return len(api.creates) > before

    await wait_for(welcomed, "the SMS welcome")


async def pay(server: Server, link: str) -> None:
    async with server.http.post(link, data={"outcome": "paid"}) as r:
        assert r.status == 200, await r.text()


@pytest.mark.parametrize("store", ["embedded", pytest.param("mongo", id=MONGO_ID)])
async def test_the_payment_confirmation_goes_to_the_channel_the_buyer_last_wrote_on(
    start_server, graph: FakeGraphApi, twilio_api: FakeTwilio,  # noqa: F811
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str,
) -> None:
    server: Server = await start_server(both_channels(tmp_path, graph, twilio_api, monkeypatch), store=store)
    link = await sale_on_whatsapp(server, graph)
    await bonjour_by_sms(server, twilio_api)
    await pay(server, link)

    async def confirmed_by_sms() -> bool:
        return bool(confirmations(twilio_api.bodies()))

    await wait_for(confirmed_by_sms, "the confirmation by SMS")
    await settle(server)
    (text,) = confirmations(twilio_api.bodies())
    assert "ROBE1" in text and re.search(r"LP-\d{4}-\d{4}-[0-9A-F]{4}", text)
    assert confirmations(whatsapp_bodies(graph)) == [] and len(graph.sent()) == 3

    # the sale itself stays in the WhatsApp conversation: it is over, and the buyer can buy again there
    conv = await server.runtime.store.get_conversation(WHATSAPP)
    assert conv is not None and conv.state == "idle"
    order = await server.runtime.store.get_order(conv.slots["last_order_id"])
    assert order is not None and order.status == "paid" and order.receipt and order.receipt in text
    sms_side = await outbound(server, SMS)
    assert [m.status for m in sms_side] == ["sent", "sent"] and "Paiement reçu" in plain(sms_side[1].text)
    assert not confirmations([m.text or "" for m in await outbound(server, WHATSAPP)])


async def test_a_confirmation_refused_on_the_preferred_channel_falls_back_once_to_the_other(
    start_server, graph: FakeGraphApi, twilio_api: FakeTwilio,  # noqa: F811
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    server: Server = await start_server(both_channels(tmp_path, graph, twilio_api, monkeypatch))
    link = await sale_on_whatsapp(server, graph)
    await bonjour_by_sms(server, twilio_api)
    twilio_api.fail_with = [UNSUBSCRIBED]  # the buyer sent STOP to the SMS number meanwhile
    await pay(server, link)

    async def confirmed_on_whatsapp() -> bool:
        return bool(confirmations(whatsapp_bodies(graph)))

    await wait_for(confirmed_on_whatsapp, "the confirmation on WhatsApp")
    await asyncio.sleep(0.3)  # a few outbox sweeps: nothing more may go out
    await settle(server)
    assert len(confirmations(whatsapp_bodies(graph))) == 1 and len(graph.sent()) == 4
    assert len(twilio_api.creates) == 2  # the welcome, and the one refused attempt: never retried

    welcome, refused = await outbound(server, SMS)
    assert welcome.status == "sent" and refused.status == "failed" and confirmations([refused.text or ""])
    assert refused.error and "21610" in refused.error and refused.error.endswith("; sent via whatsapp instead")
    wa_side = await outbound(server, WHATSAPP)
    assert [m.status for m in wa_side] == ["sent"] * 4
    assert wa_side[-1].text == refused.text and wa_side[-1].provider_message_id == "wamid.OUT4"
    conv = await server.runtime.store.get_conversation(WHATSAPP)
    assert conv is not None and conv.state == "idle"


async def test_when_every_channel_refuses_each_is_tried_once(
    start_server, graph: FakeGraphApi, twilio_api: FakeTwilio,  # noqa: F811
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    server: Server = await start_server(both_channels(tmp_path, graph, twilio_api, monkeypatch))
    link = await sale_on_whatsapp(server, graph)
    await bonjour_by_sms(server, twilio_api)
    twilio_api.fail_with = [UNSUBSCRIBED]
    graph.fail_with = [(400, meta.graph_error(131026, "Message undeliverable"), {})]
    await pay(server, link)

    async def both_failed() -> bool:
        msgs = await outbound(server, SMS) + await outbound(server, WHATSAPP)
        return sum(1 for m in msgs if m.status == "failed") == 2

    await wait_for(both_failed, "both copies to fail")
    await asyncio.sleep(0.3)
    await settle(server)
    assert len(twilio_api.creates) == 2 and len(graph.calls) == 4  # one attempt on each channel, no ping-pong
    sms_error = (await outbound(server, SMS))[-1].error or ""
    wa_error = (await outbound(server, WHATSAPP))[-1].error or ""
    assert sms_error.endswith("; sent via whatsapp instead")
    assert "131026" in wa_error and "instead" not in wa_error


async def test_a_failed_payment_asks_again_where_the_buttons_can_be_answered(
    start_server, graph: FakeGraphApi, twilio_api: FakeTwilio,  # noqa: F811
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    server: Server = await start_server(both_channels(tmp_path, graph, twilio_api, monkeypatch))
    link = await sale_on_whatsapp(server, graph)
    await bonjour_by_sms(server, twilio_api)
    async with server.http.post(link, data={"outcome": "failed"}) as r:
        assert r.status == 200

    async def asked_again() -> bool:
        return len(graph.sent()) == 4

    await wait_for(asked_again, "the methods offered again")
    await settle(server)
    # The methods are buttons answered in the WhatsApp conversation, where the sale's state is: sent to SMS,
    # "1" would reach a conversation that knows nothing of this order.
    again = graph.sent()[3]
    assert "n'a pas abouti" in again["interactive"]["body"]["text"]
    assert [b["reply"]["id"] for b in again["interactive"]["action"]["buttons"]] == ["wave", "om", "card"]
    assert len(twilio_api.creates) == 1
    conv = await server.runtime.store.get_conversation(WHATSAPP)
    assert conv is not None and conv.state == "choosing_payment"
    assert await meta.post(server, meta.button_tap(4, "om", "wamid.OUT4")) == 200

    async def new_link() -> bool:
        return len(graph.sent()) == 5

    await wait_for(new_link, "a new payment link")
    assert "Orange Money" in whatsapp_bodies(graph)[4]


async def test_a_buyer_on_one_channel_gets_the_confirmation_there(
    start_server, graph: FakeGraphApi, twilio_api: FakeTwilio,  # noqa: F811
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    server: Server = await start_server(both_channels(tmp_path, graph, twilio_api, monkeypatch))
    link = await sale_on_whatsapp(server, graph)
    await bonjour_by_sms(server, twilio_api, sender="+221779999999")  # someone else, on SMS, more recently
    await pay(server, link)

    async def confirmed_on_whatsapp() -> bool:
        return bool(confirmations(whatsapp_bodies(graph)))

    await wait_for(confirmed_on_whatsapp, "the confirmation on WhatsApp")
    await settle(server)
    assert len(graph.sent()) == 4 and len(twilio_api.creates) == 1
    assert twilio_api.bodies(BUYER) == []
    wa_side = await outbound(server, WHATSAPP)
    assert [m.status for m in wa_side] == ["sent"] * 4 and "Paiement reçu" in plain(wa_side[-1].text)
    assert await server.runtime.store.transcript(SMS) == []


async def test_a_buyer_message_is_answered_on_its_own_channel_without_looking_for_others(
    start_server, graph: FakeGraphApi, twilio_api: FakeTwilio,  # noqa: F811
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    server: Server = await start_server(both_channels(tmp_path, graph, twilio_api, monkeypatch))
    store = server.runtime.store
    lookups: list[str] = []
    real_lookup = store.conversations_with

    async def counted(vendor_id: str, address: str) -> list[Any]:
        lookups.append(address)
        return await real_lookup(vendor_id, address)

    monkeypatch.setattr(store, "conversations_with", counted)
    await bonjour_by_sms(server, twilio_api)
    # A WhatsApp message Meta delivers late: written before the SMS, so SMS stays the preferred channel.
    late = meta.wire(meta.envelope(meta.with_contacts(
        meta.inbound("wamid.LATE", "text", {"body": "aide"}, timestamp=str(int(time.time()) - 600)))))
    assert await meta.post(server, late) == 200

    async def answered_on_whatsapp() -> bool:
        return len(graph.sent()) == 1

    await wait_for(answered_on_whatsapp, "the answer on WhatsApp")
    assert (await tw.post_form(server, tw.sms(2, "menu")))[0] == 200
    await wait_for(lambda: _creates(twilio_api, 2), "the SMS answer")
    await settle(server)
    assert "Comment acheter" in whatsapp_bodies(graph)[0]
    assert "ROBE1" in twilio_api.bodies()[1] and len(graph.sent()) == 1
    linked = await real_lookup("demo", BUYER)
    assert [c.id for c in linked] == [SMS, WHATSAPP]  # SMS is the preferred channel…
    (answer,) = await outbound(server, WHATSAPP)  # …and yet the WhatsApp message was answered on WhatsApp
    assert answer.status == "sent" and "Comment acheter" in (answer.text or "")
    assert lookups == []  # a buyer's own message costs no lookup of their other channels


async def _creates(api: FakeTwilio, n: int) -> bool:
    return len(api.creates) >= n


async def test_a_reply_outside_the_whatsapp_window_goes_by_sms_instead(
    start_server, graph: FakeGraphApi, twilio_api: FakeTwilio,  # noqa: F811
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    server: Server = await start_server(both_channels(tmp_path, graph, twilio_api, monkeypatch))
    await bonjour_by_sms(server, twilio_api)
    # Written on WhatsApp more than 24 hours ago (delivered late): Meta would refuse a free-form answer,
    # and the vendor has no template.
    stale = meta.wire(meta.envelope(meta.with_contacts(
        meta.inbound("wamid.OLD", "text", {"body": "aide"}, timestamp=str(int(time.time()) - 25 * 3600)))))
    assert await meta.post(server, stale) == 200
    await wait_for(lambda: _creates(twilio_api, 2), "the answer by SMS")
    await settle(server)
    assert graph.calls == [] and "Comment acheter" in twilio_api.bodies()[1]
    (unsendable,) = await outbound(server, WHATSAPP)
    assert unsendable.status == "failed"
    assert unsendable.error == f"{NOT_SENDABLE}; sent via sms instead"
    copy = (await outbound(server, SMS))[-1]
    assert copy.status == "sent" and copy.text == unsendable.text
