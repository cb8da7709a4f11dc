"""A vendor runs the live from their own Telegram chat, through the real webhook and a local Bot API."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.bot.test_outbox_order import ThrottlingBotApi, bot_api, say  # noqa: F401 - the fixture
from tests.channels.test_telegram import telegram_vendor
from tests.conftest import Server, eventually
from tests.live.test_vendor_number import buy

VENDOR_CHAT = 7000000001


async def test_live_on_payment_note_and_live_off_on_the_vendors_telegram(
    start_server, bot_api: ThrottlingBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    folder = telegram_vendor(tmp_path, bot_api.base, monkeypatch)
    data = yaml.safe_load((folder / "demo.yaml").read_text(encoding="utf-8"))
    data["notify"] = {"channel": "telegram", "provider": "telegram", "address": str(VENDOR_CHAT)}
    (folder / "demo.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    server: Server = await start_server(folder)

    await say(server, 1, VENDOR_CHAT, "LIVE ON")
    await eventually(lambda: any("Live démarré" in t for t in bot_api.texts(VENDOR_CHAT)), lambda: bot_api.accepted)
    await buy(server, "+221770000001")  # a buyer on the web simulator; the vendor hears on Telegram
    await eventually(lambda: any("Paiement reçu" in t for t in bot_api.texts(VENDOR_CHAT)), lambda: bot_api.accepted)
    note = next(t for t in bot_api.texts(VENDOR_CHAT) if "Paiement reçu" in t)
    assert "Live : 1 commande(s) payée(s), 15 000 F CFA" in note
    await say(server, 2, VENDOR_CHAT, "LIVE OFF")
    await eventually(lambda: any("Bilan du live" in t for t in bot_api.texts(VENDOR_CHAT)), lambda: bot_api.accepted)
    summary = next(t for t in bot_api.texts(VENDOR_CHAT) if "Bilan du live" in t)
    assert "Chiffre d'affaires : 15 000 F CFA" in summary and "payées 1" in summary
    assert (await server.runtime.store.get_product("demo", "ROBE1")).stock == 2  # "LIVE ON" reserved nothing
