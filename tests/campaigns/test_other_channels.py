"""The same campaign template on Telegram: its text with the contact's values; `--at` times; template texts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.campaigns.cli import parse_time
from bot.campaigns.templates import render
from storage.campaigns import CampaignContact, CampaignTemplate, TemplateVariable
from tests.campaigns.conftest import AUTH, TEMPLATE, TOKEN
from tests.channels import test_telegram as tg
from tests.channels.test_telegram import FakeBotApi, bot_api  # noqa: F401 - fixture used by name
from tests.conftest import ServerFactory, eventually


async def test_a_telegram_broadcast_sends_the_telegram_text_to_contacts_with_a_chat_id(
        start_server: ServerFactory, tmp_path: Path, bot_api: FakeBotApi,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    server = await start_server(tg.telegram_vendor(tmp_path, bot_api.base, monkeypatch), admin_token=TOKEN)
    api = f"{server.url}/api/vendors/demo"
    rows = (b"telegram,phone,name,tags,opt_in,ville\n5123456789,,Awa,promo,oui,Ziguinchor\n"
            b",+221771234567,Moussa,promo,oui,\n")
    async with server.http.post(f"{api}/contacts/import", data=rows, headers=AUTH) as r:
        assert (await r.json())["created"] == 2
    async with server.http.put(f"{api}/templates/promo", json=TEMPLATE, headers=AUTH) as r:
        assert r.status == 200
    async with server.http.put(f"{api}/campaign-settings", json={"night_allowed": True}, headers=AUTH) as r:
        assert r.status == 200
    async with server.http.post(f"{api}/campaigns", json={"id": "tg", "template": "promo", "tag": "promo",
                                                          "channel": "telegram", "start": True}, headers=AUTH) as r:
        assert r.status == 201

    async def done() -> bool:
        async with server.http.get(f"{api}/campaigns/tg/report", headers=AUTH) as r:
            report = await r.json()
        return report["campaign"]["status"] == "completed"
    await eventually(done, "the Telegram campaign to complete")
    await eventually(lambda: len(bot_api.sent(5123456789)) == 1, "the Telegram message")
    assert bot_api.sent(5123456789)[0]["text"] == "Bonjour Awa, -20 % à Ziguinchor !"
    async with server.http.get(f"{api}/campaigns/tg/report", headers=AUTH) as r:
        counts = (await r.json())["counts"]
    assert counts["skipped"] == 1  # Moussa has no Telegram chat


def test_sms_and_email_take_their_own_text_with_defaults_for_missing_values() -> None:
    template = CampaignTemplate(vendor_id="v", name="t", sms="Bonjour {{1}} de {{2}}", email="Cher {{1}}",
                                email_subject="Offre pour {{1}}",
                                variables=[TemplateVariable(field="name", default="client"),
                                           TemplateVariable(field="attributes.ville", default="Dakar")])
    nobody = CampaignContact(id="c", vendor_id="v", phone="+221771234567")
    assert render(template, nobody, "sms", "twilio").text == "Bonjour client de Dakar"  # type: ignore[union-attr]
    mail = render(template, nobody.model_copy(update={"name": "Awa"}), "email", "email")
    assert mail is not None and (mail.text, mail.data["subject"]) == ("Cher Awa", "Offre pour Awa")
    assert render(template, nobody, "whatsapp", "meta") is None  # no approved template: Meta would refuse text


def test_broadcast_times_are_the_vendors_local_time_unless_an_offset_is_given() -> None:
    now = 1_800_000_000.0
    assert parse_time("+30m", "Africa/Dakar", now) == now + 1800
    assert parse_time("+2h", "Africa/Dakar", now) == now + 7200
    paris = parse_time("2026-12-24T09:00", "Europe/Paris", now)
    assert dt.datetime.fromtimestamp(paris, dt.UTC).hour == 8
    assert dt.datetime.fromtimestamp(parse_time("2026-12-24T09:00+00:00", "Europe/Paris", now), dt.UTC).hour == 9
    with pytest.raises(SystemExit):
        parse_time("demain", "Africa/Dakar", now)
