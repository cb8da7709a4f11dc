"""One live-seller sale on every channel: the buyer gets the same conversation, shown as each channel allows."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from bot.buyers import plain_text
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


def normalised(text: str | None) -> str:
    """A reply's text without what differs between two runs: the payment link and clock times."""
    text = re.sub(r"https?://\S+", "<link>", text or "")
    return re.sub(r"\b\d{2}:\d{2}\b", "<time>", text)


async def settled_transcript(server: Server, conversation_id: str, replies: int) -> list[tuple[str, list[str]]]:
    """The bot's replies (normalised text, button ids) once `replies` of them are stored and delivered."""
    for _ in range(200):
        await server.runtime.pipeline.idle()
        out = [m for m in await server.runtime.store.transcript(conversation_id) if m.direction == "out"]
        if len(out) >= replies and all(m.status in ("sent", "delivered", "read") for m in out):
            return [(normalised(m.text), [b.id for b in m.reply.buttons] if m.reply else []) for m in out]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{conversation_id}: {[(m.text, m.status) for m in out]}")


async def step(server: Server, conversation_id: str, n: int, send) -> None:  # type: ignore[no-untyped-def]
    await send()
    await settled_transcript(server, conversation_id, n)


async def sale_on_simulator(start_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list:
    server: Server = await start_server(EXAMPLES)
    for body in ({"text": "ROBE1"}, {"payload": "pay"}, {"payload": "wave"}):
        await server.say("+221771234567", **body)
    return await settled_transcript(server, "demo:web:+221771234567", 3)


async def test_the_sale_reads_the_same_on_every_channel(
    start_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    bot_api, graph, fake, twilio_api, sendgrid,  # noqa: F811
) -> None:
    transcripts: dict[str, list] = {"simulator": await sale_on_simulator(start_server, tmp_path, monkeypatch)}

    server: Server = await start_server(tg.telegram_vendor(tmp_path, bot_api.base, monkeypatch))
    conv = "demo:telegram:5123456789"
    for n, update in enumerate((tg.message(1, "ROBE1"), tg.callback(2, "pay"), tg.callback(3, "wave")), 1):
        await step(server, conv, n, lambda u=update: tg.post_update(server, u))
    transcripts["telegram"] = await settled_transcript(server, conv, 3)
    assert [m for m, _ in bot_api.calls].count("answerCallbackQuery") == 2

    server = await start_server(meta.meta_vendor(tmp_path, graph.base, monkeypatch))
    conv = f"demo:whatsapp:+{meta.BUYER}"
    inbound = (meta.text_message(1, "ROBE1"), meta.button_tap(2, "pay", "wamid.x"),
               meta.button_tap(3, "wave", "wamid.y"))
    for n, raw in enumerate(inbound, 1):
        await step(server, conv, n, lambda r=raw: meta.post(server, r))
    transcripts["whatsapp-meta"] = await settled_transcript(server, conv, 3)

    server = await start_server(ws.wasender_vendor(tmp_path, fake.base, monkeypatch))
    conv = f"demo:whatsapp:{ws.BUYER}"
    for n, text in enumerate(("ROBE1", "1", "1"), 1):  # numbered choices: PAYER, then Wave
        body = {"event": "messages.received", "data": {"messages": ws.record(f"IN{n}", text)}}
        await step(server, conv, n, lambda b=body: ws.post(server, b))
    transcripts["whatsapp-wasender"] = await settled_transcript(server, conv, 3)

    server = await start_server(tw.twilio_vendors(tmp_path, twilio_api, monkeypatch))
    conv = f"demo:sms:{tw.BUYER}"
    for n, text in enumerate(("ROBE1", "1", "1"), 1):
        await step(server, conv, n, lambda t=text, i=n: tw.post_form(server, tw.sms(i, t)))
    transcripts["sms"] = await settled_transcript(server, conv, 3)

    server = await start_server(em.email_vendor(tmp_path, sendgrid.base, monkeypatch))
    conv = f"demo:email:{em.BUYER}"
    for n, text in enumerate(("ROBE1", "1", "1"), 1):
        body, content_type = em.inbound_mail(text, f"<m{n}@buyer.example>")
        await step(server, conv, n, lambda b=body, c=content_type: em.post_mail(server, b, c))
    transcripts["email"] = await settled_transcript(server, conv, 3)

    reference = transcripts["simulator"]
    assert [buttons for _, buttons in reference] == [["pay", "cancel"], ["wave", "om", "card"], []]
    assert "<link>" in reference[2][0] and "Wave" in reference[2][0]
    for channel, transcript in transcripts.items():
        # SMS is plain text (bot/buyers, settings.adaptive.plain_channels): the same words without emojis
        expected = [(plain_text(t), b) for t, b in reference] if channel == "sms" else reference
        assert transcript == expected, (channel, json.dumps(transcript, ensure_ascii=False))
