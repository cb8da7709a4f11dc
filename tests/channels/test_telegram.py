"""Telegram: every fixture parsed, the secret token checked, and the live sale played against a local Bot API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from channels import Button, Reply
from channels.base import PermanentSendError, SendError
from channels.telegram import SECRET_HEADER, TelegramSender, parse_update, render
from tests.conftest import EXAMPLES, FIXTURES, Server, eventually, free_port, plain, serving

TG = FIXTURES / "channels" / "telegram"
META = json.loads((TG / "meta.json").read_text())
SECRET = META["signature"]["secret_token"]


@pytest.mark.parametrize("name", sorted(META["fixtures"]))
def test_every_fixture_parses_into_the_expected_event(name: str) -> None:
    expected = META["fixtures"][name]["expected"]
    events = parse_update(json.loads((TG / name).read_bytes()), "kaay")
    assert len(events) == 1
    e = events[0]
    assert e.contact.address == expected["sender"] and e.channel == "telegram" and e.vendor_id == "kaay"
    kind = expected["kind"]
    if kind == "text":
        assert (e.kind, e.text, e.provider_message_id) == ("message", expected["text"],
                                                           expected["provider_message_id"])
        assert e.id == f"tg:kaay:{expected['dedupe_key']}"
    elif kind == "command":
        assert e.text == expected["args"] and e.data["command"] == expected["command"]
    elif kind in ("button_reply", "list_reply"):
        assert e.kind == "postback" and e.payload == expected["payload_id"]
        if "callback_query_id" in expected:
            assert e.data["ack_id"] == expected["callback_query_id"]
            assert e.reply_to == expected["in_reply_to"]
    elif kind == "image":
        assert e.media is not None and e.media.provider_media_id == expected["file_id"]
        assert e.text == expected["caption"]
    elif kind == "location":
        assert e.location is not None and (e.location.latitude, e.location.longitude) == (
            expected["latitude"], expected["longitude"])
    elif kind == "status":
        assert e.kind == "status" and e.status == "failed" and e.error_code == "blocked"
    else:
        pytest.fail(f"fixture kind {kind} not covered")


def test_buttons_render_as_an_inline_keyboard() -> None:
    (body,) = render("5123456789", Reply(text="Robe", buttons=[Button(id="pay", title="PAYER"),
                                                               Button(id="cancel", title="ANNULER")]))
    assert body["chat_id"] == 5123456789
    assert body["reply_markup"] == {"inline_keyboard": [[{"text": "PAYER", "callback_data": "pay"},
                                                         {"text": "ANNULER", "callback_data": "cancel"}]]}
    first, last = render("1", Reply(text="x" * 5000, buttons=[Button(id=f"b{i}", title="Orange Money")
                                                              for i in range(4)]))
    assert "reply_markup" not in first and len(last["reply_markup"]["inline_keyboard"]) == 4
    assert first["text"] + last["text"] == "x" * 5000


class FakeBotApi:
    """A local Bot API: records every call, answers like Telegram, can be told to fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_with: list[tuple[int, dict[str, Any]]] = []
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.json()
        self.calls.append((method, body))
        if self.fail_with:
            status, payload = self.fail_with.pop(0)
            return web.json_response(payload, status=status)
        if method.startswith("send"):
            return web.json_response({"ok": True, "result": {"message_id": len(self.calls)}})
        return web.json_response({"ok": True, "result": True})

    def sent(self, chat_id: int) -> list[dict[str, Any]]:
        return [b for m, b in self.calls if m == "sendMessage" and b["chat_id"] == chat_id]


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", api.handle)
    async with serving(app, api.port):
        yield api


async def test_sender_maps_provider_errors(bot_api: FakeBotApi) -> None:
    sender = TelegramSender("123:abc", bot_api.base)
    try:
        bot_api.fail_with = [(429, {"ok": False, "error_code": 429, "description": "Too Many Requests",
                                    "parameters": {"retry_after": 7}})]
        with pytest.raises(SendError) as err:
            await sender.send("42", Reply(text="hi"), idempotency_key="k")
        assert not err.value.permanent and err.value.retry_after == 7
        bot_api.fail_with = [(403, {"ok": False, "error_code": 403, "description": "bot was blocked by the user"})]
        with pytest.raises(PermanentSendError, match="blocked"):
            await sender.send("42", Reply(text="hi"), idempotency_key="k")
        bot_api.fail_with = [(502, {})]
        with pytest.raises(SendError):
            await sender.send("42", Reply(text="hi"), idempotency_key="k")
        assert await sender.send("42", Reply(text="hi"), idempotency_key="k") == "42:4"
    finally:
        await sender.close()


def telegram_vendor(tmp_path: Path, api_base: str, monkeypatch: pytest.MonkeyPatch, example: str = "demo") -> Path:
    """An example vendor (served as `demo`) on Telegram, its Bot API at `api_base`."""
    monkeypatch.setenv("TG_TOKEN_DEMO", "123:abc")
    monkeypatch.setenv("TG_SECRET_DEMO", SECRET)
    data = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text(encoding="utf-8"))
    data["id"] = "demo"
    data["channels"] = {"telegram": {"bot_token": "${TG_TOKEN_DEMO}", "webhook_secret": "${TG_SECRET_DEMO}",
                                     "api_base_url": api_base}}
    d = tmp_path / "tg-vendors"
    d.mkdir()
    (d / "demo.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return d


async def post_update(server: Server, update: dict[str, Any], secret: str | None = SECRET) -> int:
    headers = {"Content-Type": "application/json", **({SECRET_HEADER: secret} if secret else {})}
    async with server.http.post(f"{server.url}/webhooks/telegram/demo", data=json.dumps(update),
                                headers=headers) as r:
        return r.status


async def wait_calls(api: FakeBotApi, n: int, timeout: float = 10.0) -> None:
    await eventually(lambda: len(api.calls) >= n, lambda: api.calls, timeout)


def message(update_id: int, text: str, chat: int = 5123456789) -> dict[str, Any]:
    return {"update_id": update_id, "message": {"message_id": update_id, "date": 1781000000, "text": text,
            "from": {"id": chat, "is_bot": False, "first_name": "Moussa"}, "chat": {"id": chat, "type": "private"}}}


def callback(update_id: int, data: str, chat: int = 5123456789) -> dict[str, Any]:
    return {"update_id": update_id, "callback_query": {
        "id": f"cq{update_id}", "from": {"id": chat, "is_bot": False, "first_name": "Moussa"},
        "message": {"message_id": 1, "date": 1781000000, "chat": {"id": chat, "type": "private"}, "text": "x"},
        "chat_instance": "1", "data": data}}


async def test_wrong_or_missing_secret_is_401_and_nothing_is_stored(
    start_server, bot_api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(telegram_vendor(tmp_path, bot_api.base, monkeypatch))
    assert await post_update(server, message(1, "ROBE1"), secret=None) == 401
    assert await post_update(server, message(1, "ROBE1"), secret="wrong") == 401
    assert await server.runtime.store.unprocessed_events() == []
    assert not await server.runtime.store.is_processed("tg:demo:1")
    async with server.http.post(f"{server.url}/webhooks/telegram/demo", data=b"not json",
                                headers={SECRET_HEADER: SECRET}) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_json"
    async with server.http.post(f"{server.url}/webhooks/telegram/nobody", data=b"{}",
                                headers={SECRET_HEADER: SECRET}) as r:
        assert r.status == 404


async def test_live_sale_on_telegram_with_inline_keyboards_and_callback_answers(
    start_server, bot_api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(telegram_vendor(tmp_path, bot_api.base, monkeypatch))
    chat = 5123456789
    assert await post_update(server, message(10, "ROBE1")) == 200
    await wait_calls(bot_api, 1)
    offer = bot_api.sent(chat)[0]
    assert "15 000 F CFA" in plain(offer["text"])
    assert offer["reply_markup"]["inline_keyboard"][0] == [{"text": "PAYER", "callback_data": "pay"},
                                                           {"text": "ANNULER", "callback_data": "cancel"}]
    assert await post_update(server, callback(11, "pay")) == 200
    await wait_calls(bot_api, 3)
    assert await post_update(server, callback(12, "wave")) == 200
    await wait_calls(bot_api, 5)
    assert await post_update(server, callback(12, "wave")) == 200  # Telegram retries the same update
    await server.runtime.pipeline.idle()
    await server.runtime.delivery.idle()
    methods = [m for m, _ in bot_api.calls]
    assert methods == ["sendMessage", "answerCallbackQuery", "sendMessage", "answerCallbackQuery", "sendMessage"]
    assert [b["callback_query_id"] for m, b in bot_api.calls if m == "answerCallbackQuery"] == ["cq11", "cq12"]
    link_text = bot_api.sent(chat)[-1]["text"]
    assert "Wave" in link_text and f"{server.url}/pay/sandbox/" in link_text
    # the transcript records the provider's message ids and the delivery status
    transcript = await server.runtime.store.transcript(f"demo:telegram:{chat}")
    outs = [m for m in transcript if m.direction == "out"]
    assert [m.status for m in outs] == ["sent", "sent", "sent"]
    assert all(m.provider_message_id and m.provider_message_id.startswith(f"{chat}:") for m in outs)


async def test_a_failed_send_is_retried_until_it_goes_through(
    start_server, bot_api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(telegram_vendor(tmp_path, bot_api.base, monkeypatch))
    bot_api.fail_with = [(500, {}), (429, {"ok": False, "parameters": {"retry_after": 0.2}})]
    assert await post_update(server, message(20, "ROBE1")) == 200
    await wait_calls(bot_api, 3)
    assert [m for m, _ in bot_api.calls] == ["sendMessage"] * 3
    for _ in range(100):
        outs = [m for m in await server.runtime.store.transcript("demo:telegram:5123456789") if m.direction == "out"]
        if outs and outs[0].status == "sent":
            break
        await asyncio.sleep(0.05)
    assert outs[0].status == "sent"
    assert len(bot_api.sent(5123456789)) == 3  # two failures, one success: the buyer saw it once


async def test_blocked_bot_marks_the_message_failed(
    start_server, bot_api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(telegram_vendor(tmp_path, bot_api.base, monkeypatch))
    bot_api.fail_with = [(403, {"ok": False, "description": "Forbidden: bot was blocked by the user"})]
    await post_update(server, message(30, "ROBE1"))
    await wait_calls(bot_api, 1)
    for _ in range(100):
        outs = [m for m in await server.runtime.store.transcript("demo:telegram:5123456789") if m.direction == "out"]
        if outs and outs[0].status == "failed":
            break
        await asyncio.sleep(0.05)
    assert outs[0].status == "failed" and "blocked" in (outs[0].error or "")
    await asyncio.sleep(0.3)
    assert len(bot_api.calls) == 1  # a permanent error is not retried


async def test_telegram_text_over_4096_characters_is_cut(bot_api: FakeBotApi) -> None:
    """Regression (issue 8 §6): a reply longer than Telegram's 4096 characters lost its end."""
    shape = json.loads((TG / "outbound" / "sendMessage_inline_keyboard.json").read_text(encoding="utf-8"))
    text = "\n".join(f"{i}. Robe wax Ankara taille M, 15 000 F CFA, livraison Dakar et Thiès" for i in range(120))
    sender = TelegramSender("123:abc", bot_api.base)
    try:
        reply = Reply(text=text, buttons=[Button(id="pay", title="PAYER")])
        bot_api.fail_with = [(200, {"ok": True, "result": {"message_id": 1}}), (502, {})]
        with pytest.raises(SendError):
            await sender.send("5123456789", reply, idempotency_key="long")
        assert await sender.send("5123456789", reply, idempotency_key="long") == "5123456789:1"
    finally:
        await sender.close()
    bodies = bot_api.sent(5123456789)
    assert len(bodies) == 4 and bodies[1] == bodies[2]  # the second piece retried, the first not repeated
    pieces = [bodies[0], *bodies[2:]]
    assert all(len(b["text"]) <= 4096 and set(b) <= set(shape) for b in pieces)
    assert "\n".join(b["text"] for b in pieces) == text
    assert "reply_markup" in pieces[-1] and all("reply_markup" not in b for b in pieces[:-1])


async def test_the_sent_message_id_is_the_results_own_whatever_the_answers_key_order(bot_api: FakeBotApi) -> None:
    """The id is read without parsing the echoed message when it comes first, as Telegram writes it; any other
    order, spacing or a nested message_id (the message replied to) still gives the result's own id."""
    sender = TelegramSender("123:abc", bot_api.base)
    chat = {"id": 42, "type": "private", "first_name": "Awa"}
    try:
        bot_api.fail_with = [
            (200, {"ok": True, "result": {"message_id": 901, "chat": chat, "text": "hi"}}),
            (200, {"ok": True, "result": {"chat": chat, "reply_to_message": {"message_id": 5}, "message_id": 902}}),
            (200, {"result": {"message_id": 903, "chat": chat}, "ok": True}),
        ]
        assert [await sender.send("42", Reply(text="hi"), idempotency_key=f"k{i}") for i in range(3)] == \
            ["42:901", "42:902", "42:903"]
        bot_api.fail_with = [(200, {"ok": False, "result": {"message_id": 904}, "description": "Bad Request"})]
        with pytest.raises(PermanentSendError):
            await sender.send("42", Reply(text="hi"), idempotency_key="k3")
    finally:
        await sender.close()


async def test_a_location_shared_for_the_delivery_address_is_taken_with_a_map_link(
    start_server, bot_api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a pin is how many buyers answer "Quelle est l'adresse de livraison ?"; it was "Cette adresse est un peu courte"
    server: Server = await start_server(telegram_vendor(tmp_path, bot_api.base, monkeypatch, "epicerie"))
    chat = 5123456789
    await post_update(server, message(20, "RIZ5"))
    await post_update(server, callback(21, "2"))
    await post_update(server, callback(22, "delivery"))
    pin = json.loads((TG / "location.json").read_text(encoding="utf-8"))
    pin["update_id"] = pin["message"]["message_id"] = 23
    assert await post_update(server, pin) == 200
    await server.runtime.pipeline.idle()
    await server.runtime.delivery.idle()
    noted = plain(bot_api.sent(chat)[-1]["text"])
    assert "C'est noté : livraison à https://maps.google.com/?q=14.671400,-17.434700" in noted
    conv = await server.runtime.store.get_conversation(f"demo:telegram:{chat}")
    assert conv.state == "offered" and conv.slots["address"].endswith("?q=14.671400,-17.434700")


async def test_a_voice_note_is_told_that_only_written_messages_are_read(
    start_server, bot_api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # it got "Je n'ai pas compris « »": the buyer could not tell what went wrong
    server: Server = await start_server(telegram_vendor(tmp_path, bot_api.base, monkeypatch))
    chat = 5123456789
    voice = message(30, "")
    del voice["message"]["text"]
    voice["message"]["voice"] = {"file_id": "AwACAgQAAxkBAAIB", "duration": 4, "mime_type": "audio/ogg"}
    assert await post_update(server, voice) == 200
    await wait_calls(bot_api, 1)
    answer = plain(bot_api.sent(chat)[-1]["text"])
    assert "Je ne lis que les messages écrits" in answer and "« »" not in answer
