"""What the vendor's own number receives: plain text on SMS (and the vendor's plain channels), and stock warnings
at the vendor's own threshold (one more than the buyers' "plus que N")."""

from __future__ import annotations

from pathlib import Path

import emoji
import pytest
import yaml

from tests.channels.test_twilio import FakeTwilio, post_form, sms, twilio_api, twilio_vendors  # noqa: F401
from tests.conftest import Server, eventually, plain
from tests.live.conftest import live_vendor
from tests.live.test_vendor_number import VENDOR, buy, vendor_notes, vendor_says

NAME = "Mbuubu ŋaaw"  # ŋ has no GSM-7 form: the SMS goes out as UCS-2, where an emoji would survive


def notes(all_notes: list[str]) -> list[str]:
    return [n for n in all_notes if "Paiement reçu" in n]


async def test_the_payment_note_and_stock_tip_warn_at_the_vendors_threshold_plus_one(start_server,
                                                                                    tmp_path: Path) -> None:
    quiet: Server = await start_server(live_vendor(tmp_path, adaptive={"low_stock_threshold": 0}))
    await buy(quiet, "+221770000001")  # ROBE1: 3 -> 2, a warning with the default threshold (2 + 1)
    await eventually(lambda: notes_of(quiet), "a payment note")
    assert "Plus que" not in notes(await vendor_notes(quiet))[0]  # threshold 0: warned at 1 unit

    early: Server = await start_server(live_vendor(tmp_path, adaptive={"low_stock_threshold": 4}))
    assert "Live démarré" in await vendor_says(early, "LIVE ON")
    await buy(early, "+221770000002", "SAC2")  # 5 -> 4: warned from 5 units
    await eventually(lambda: notes_of(early), "a payment note")
    assert "Plus que 4 SAC2 en stock" in notes(await vendor_notes(early))[0]
    summary = await vendor_says(early, "LIVE OFF")
    assert "Stock bas : SAC2" in summary


async def notes_of(server: Server) -> list[str]:
    return notes(await vendor_notes(server))


async def test_on_sms_the_vendor_gets_answers_payment_notes_and_summaries_without_emojis(
        start_server, twilio_api: FakeTwilio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    folder = twilio_vendors(tmp_path, twilio_api, monkeypatch)
    path = folder / "demo.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["notify"] = {"channel": "sms", "provider": "twilio", "address": VENDOR}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    server: Server = await start_server(folder)

    async def sent(n: int) -> list[str]:
        await eventually(lambda: len(twilio_api.bodies(VENDOR)) >= n, lambda: twilio_api.bodies(VENDOR))
        return twilio_api.bodies(VENDOR)

    assert (await post_form(server, sms(1, "LIVE ON", sender=VENDOR)))[0] == 200
    assert "Live démarré" in (await sent(1))[0]
    assert (await post_form(server, sms(2, f"AJOUT MBU1 {NAME} 9000 2", sender=VENDOR)))[0] == 200
    added = (await sent(2))[1]
    assert NAME in added and "Ajouté" in added
    await buy(server, "+221770000001", "MBU1")  # a buyer on the web simulator; the vendor hears by SMS
    note = next(b for b in await eventually_note(twilio_api) if "Paiement reçu" in b)
    assert NAME in note and "Live : 1 commande(s) payée(s)" in plain(note) and "Plus que 1 MBU1" in note
    assert (await post_form(server, sms(3, "LIVE OFF", sender=VENDOR)))[0] == 200
    await eventually(lambda: any("Bilan du live" in b for b in twilio_api.bodies(VENDOR)),
                     lambda: twilio_api.bodies(VENDOR))
    bodies = twilio_api.bodies(VENDOR)
    assert not [b for b in bodies if emoji.emoji_count(b)], bodies
    # the transcript an agent reads shows what was sent: plain too
    told = [m.text or "" for m in await server.runtime.store.transcript(f"demo:sms:{VENDOR}") if m.direction == "out"]
    assert len(told) == len(bodies) and not [t for t in told if emoji.emoji_count(t)], told


async def eventually_note(api: FakeTwilio) -> list[str]:
    await eventually(lambda: any("Paiement reçu" in b for b in api.bodies(VENDOR)), lambda: api.bodies(VENDOR))
    return api.bodies(VENDOR)


async def test_a_vendor_who_marks_their_channel_plain_gets_plain_answers_and_notes(start_server,
                                                                                   tmp_path: Path) -> None:
    server: Server = await start_server(live_vendor(tmp_path, adaptive={"plain_channels": ["sms", "web"]}))
    started = await vendor_says(server, "LIVE ON")
    assert "Live démarré" in started and not emoji.emoji_count(started)
    await buy(server, "+221770000001")
    await eventually(lambda: notes_of(server), "a payment note")
    (note,) = await notes_of(server)
    assert "Live : 1 commande(s) payée(s)" in note and "Plus que 2 ROBE1" in note and not emoji.emoji_count(note)
    summary = await vendor_says(server, "LIVE OFF")
    assert "Bilan du live" in summary and not emoji.emoji_count(summary)
