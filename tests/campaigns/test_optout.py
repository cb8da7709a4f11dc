"""STOP / ARRET / désabonner and START on every channel: recorded on the contact, confirmed once, no dialog reply."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.campaigns.optout import handle, keyword
from tests.channels import test_email as em
from tests.channels import test_meta as meta
from tests.channels import test_telegram as tg
from tests.channels import test_twilio as tw
from tests.channels import test_wasender as ws
from tests.channels.test_email import sendgrid  # noqa: F401 - fixtures used by name
from tests.channels.test_meta import graph  # noqa: F401
from tests.channels.test_telegram import bot_api  # noqa: F401
from tests.channels.test_twilio import twilio_api  # noqa: F401
from tests.channels.test_wasender import fake  # noqa: F401
from tests.conftest import EXAMPLES, Server

Send = Callable[[int, str], Awaitable[object]]


@pytest.mark.parametrize(("text", "word"), [
    ("STOP", "stop"), ("stop.", "stop"), ("Arrêt", "stop"), ("ARRET", "stop"), ("désabonner", "stop"),
    ("Je veux me désabonner", "stop"), ("START", "start"), ("start!", "start"),
    ("stop la commande ROBE1", None), ("ROBE1", None), ("", None), ("s" * 100, None),
])
def test_only_a_message_that_is_a_keyword_changes_consent(text: str, word: str | None) -> None:
    assert keyword(text) == word


async def replies(server: Server, conversation_id: str, expected: int) -> list[str]:
    """The bot's replies once `expected` are stored, plus a moment for any extra one to show up."""
    out: list[str] = []
    for _ in range(100):
        await server.runtime.pipeline.idle()
        out = [m.text or "" for m in await server.runtime.store.transcript(conversation_id) if m.direction == "out"]
        if len(out) >= expected:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    await server.runtime.pipeline.idle()
    return [m.text or "" for m in await server.runtime.store.transcript(conversation_id) if m.direction == "out"]


async def check_channel(server: Server, conversation_id: str, address: str, send: Send) -> None:
    store = server.runtime.campaigns.store
    await send(1, "STOP")
    await send(2, "stop")  # confirmed once: the second STOP gets no answer
    out = await replies(server, conversation_id, 1)
    assert len(out) == 1 and "ne recevrez plus" in out[0], (conversation_id, out)
    contact = await store.find_contact("demo", address)
    assert contact is not None and contact.consent == "opted_out"
    await send(3, "START")
    out = await replies(server, conversation_id, 2)
    assert len(out) == 2 and "à nouveau" in out[1], (conversation_id, out)
    contact = await store.find_contact("demo", address)
    assert contact is not None and contact.consent == "opted_in"


async def test_stop_and_start_work_on_every_channel(
    start_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    bot_api, graph, fake, twilio_api, sendgrid,  # noqa: F811
) -> None:
    server: Server = await start_server(EXAMPLES)
    await check_channel(server, "demo:web:+221771234567", "+221771234567",
                        lambda n, text: server.say("+221771234567", text))

    server = await start_server(tg.telegram_vendor(tmp_path, bot_api.base, monkeypatch))
    await check_channel(server, "demo:telegram:5123456789", "5123456789",
                        lambda n, text: tg.post_update(server, tg.message(n, text)))

    server = await start_server(meta.meta_vendor(tmp_path, graph.base, monkeypatch))
    await check_channel(server, f"demo:whatsapp:+{meta.BUYER}", f"+{meta.BUYER}",
                        lambda n, text: meta.post(server, meta.text_message(n, text)))

    server = await start_server(ws.wasender_vendor(tmp_path, fake.base, monkeypatch))
    await check_channel(server, f"demo:whatsapp:{ws.BUYER}", ws.BUYER, lambda n, text: ws.post(
        server, {"event": "messages.received", "data": {"messages": ws.record(f"IN{n}", text)}}))

    server = await start_server(tw.twilio_vendors(tmp_path, twilio_api, monkeypatch))
    await check_channel(server, f"demo:sms:{tw.BUYER}", tw.BUYER,
                        lambda n, text: tw.post_form(server, tw.sms(n, text)))

    server = await start_server(em.email_vendor(tmp_path, sendgrid.base, monkeypatch))
    await check_channel(server, f"demo:email:{em.BUYER}", em.BUYER,
                        lambda n, text: em.post_mail(server, *em.inbound_mail(text, f"<m{n}@buyer.example>")))


async def test_an_ordinary_message_still_reaches_the_dialog(start_server) -> None:  # type: ignore[no-untyped-def]
    server: Server = await start_server(EXAMPLES)
    answer = await server.say("+221771234567", "ROBE1")
    assert answer["replies"] and "ne recevrez plus" not in str(answer["replies"])


async def test_a_replayed_stop_turn_confirms_again_but_a_new_stop_does_not(tmp_path: Path) -> None:
    from channels import Contact, Event
    from storage.campaigns_sqlite import SqliteCampaignStore

    store = SqliteCampaignStore(tmp_path)
    await store.start()
    try:
        def stop(event_id: str) -> Event:
            return Event(id=event_id, channel="sms", provider="twilio", vendor_id="demo",
                         contact=Contact(address="+221771234567"), text="STOP")
        first = await handle(store, stop("e1"), "fr")
        assert first and await handle(store, stop("e1"), "fr") == first  # its turn retried: same confirmation
        assert await handle(store, stop("e2"), "fr") == []
    finally:
        await store.close()


async def test_telegram_start_command_gets_the_welcome_and_is_not_taken_as_consent_to_promotions(
    start_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bot_api,  # noqa: F811
) -> None:
    # Every Telegram buyer's first message is /start: it opens the conversation, it is not the START keyword.
    server: Server = await start_server(tg.telegram_vendor(tmp_path, bot_api.base, monkeypatch))
    assert await tg.post_update(server, tg.message(1, "/start")) == 200
    out = await replies(server, "demo:telegram:5123456789", 1)
    assert len(out) == 1 and "à nouveau" not in out[0], out
    assert await server.runtime.campaigns.store.find_contact("demo", "5123456789") is None
