"""Agents' business hours (the out-of-hours message) and the alert to the vendor's team when a buyer waits."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.inbox.config import DAYS, BusinessHours, InboxConfigError, InboxSettings
from bot.inbox.roles import ROLES
from bot.inbox.users import add_user
from tests.conftest import ServerFactory, eventually
from tests.inbox.conftest import BUYER, Inbox

DAKAR = "Africa/Dakar"


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(DAKAR)).timestamp()


def test_business_hours_are_read_in_the_vendors_time_zone() -> None:
    hours = BusinessHours.parse("mon-fri 08:00-19:00, sat 09:00-13:00")
    assert hours.open_at(_at("2026-12-07T08:00"), DAKAR)  # a Monday
    assert not hours.open_at(_at("2026-12-07T19:00"), DAKAR)
    assert hours.open_at(_at("2026-12-12T12:59"), DAKAR)  # Saturday
    assert not hours.open_at(_at("2026-12-13T10:00"), DAKAR)  # Sunday
    # Midnight in Dakar is 09:00 in Tokyo: the same moment is closed for one vendor and open for the other.
    assert not hours.open_at(_at("2026-12-07T00:00"), DAKAR)
    assert hours.open_at(_at("2026-12-07T00:00"), "Asia/Tokyo")
    assert hours.describe("fr") == "lundi–vendredi 08:00–19:00, samedi 09:00–13:00"
    assert hours.describe("en") == "Monday–Friday 08:00–19:00, Saturday 09:00–13:00"


@pytest.mark.parametrize("text", ["always", "mon 19:00-08:00", "fri-mon 08:00-12:00", "mon 25:00-26:00",
                                  "lun 08:00-12:00", " , "])
def test_unreadable_business_hours_are_refused_at_start(text: str) -> None:
    with pytest.raises(InboxConfigError, match="PALABRE_INBOX_HOURS"):
        InboxSettings.from_env({"PALABRE_INBOX_HOURS": text})


def test_a_bad_alert_delay_is_refused() -> None:
    with pytest.raises(InboxConfigError, match="PALABRE_INBOX_WAIT_ALERT_MINUTES"):
        InboxSettings.from_env({"PALABRE_INBOX_WAIT_ALERT_MINUTES": "soon"})
    assert InboxSettings.from_env({}).hours is None and InboxSettings.from_env({}).wait_alert_seconds is None


async def _inbox(start_server: ServerFactory) -> Inbox:
    server = await start_server()
    box = Inbox(server)
    for role in ROLES:
        box.tokens[role] = await add_user(server.runtime.inbox.store, f"{role}-1", role, ["demo"])
    return box


async def test_out_of_hours_the_buyer_is_told_when_agents_answer(start_server: ServerFactory,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    tomorrow = DAYS[(datetime.now(ZoneInfo(DAKAR)).weekday() + 1) % 7]
    monkeypatch.setenv("PALABRE_INBOX_HOURS", f"{tomorrow} 00:00-23:59")  # closed all of today
    inbox = await _inbox(start_server)
    await inbox.handoff()
    await eventually(lambda: _said(inbox, "Nos conseillers sont disponibles"), "the out-of-hours message")
    said = [m["text"] for m in await inbox.server.transcript(BUYER) if m["direction"] == "out"]
    assert any(f"{_french_day(tomorrow)} 00:00–23:59" in (t or "") for t in said), said
    assert (await inbox.ok("GET", "/api/inbox/conversations"))["conversations"]


def _french_day(day: str) -> str:
    return ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")[DAYS.index(day)]


async def test_during_business_hours_nothing_more_is_said(start_server: ServerFactory,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PALABRE_INBOX_HOURS", "mon-sun 00:00-23:59")
    inbox = await _inbox(start_server)
    now = datetime.now(ZoneInfo(DAKAR))
    if now.hour == 23 and now.minute == 59:
        pytest.skip("the one minute of the day outside 00:00-23:59")
    await inbox.handoff()
    texts = [m["text"] for m in await inbox.server.transcript(BUYER) if m["direction"] == "out"]
    assert len(texts) == 1 and "conseiller" in texts[0]


async def _said(inbox: Inbox, start: str, contact: str = BUYER) -> bool:
    return any((m["text"] or "").startswith(start) for m in await inbox.server.transcript(contact))


async def test_a_buyer_left_waiting_is_reported_to_the_vendors_team_once(start_server: ServerFactory,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PALABRE_INBOX_WAIT_ALERT_MINUTES", "0.005")  # 0.3 s
    inbox = await _inbox(start_server)
    team = "+221770000099"  # the demo vendor's `notify` address
    await inbox.handoff()
    await eventually(lambda: _said(inbox, "⏳", team), "the alert to the vendor's team")
    alerts = [m for m in await inbox.server.transcript(team) if (m["text"] or "").startswith("⏳")]
    assert len(alerts) == 1 and "/inbox" in alerts[0]["text"] and BUYER not in alerts[0]["text"]
    await asyncio.sleep(0.5)  # several sweeps later: still one alert
    assert len([m for m in await inbox.server.transcript(team) if (m["text"] or "").startswith("⏳")]) == 1
