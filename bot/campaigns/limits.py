"""Sending hours, daily limits and plan quotas: when a broadcast may send, and how much."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from storage.campaigns import CampaignSettings, CampaignStore

DAY = 86400.0


class QuotaExceeded(RuntimeError):
    """The organisation's plan does not allow this (clear message for the vendor)."""


def _minutes(hhmm: str) -> int:
    hours, _, minutes = hhmm.partition(":")
    return int(hours) * 60 + int(minutes or 0)


def valid_hours(hours: tuple[str, str]) -> bool:
    try:
        return all(0 <= _minutes(h) <= 24 * 60 for h in hours)
    except ValueError:
        return False


def wait_for_hours(settings: CampaignSettings, timezone: str, at: float) -> float:
    """Seconds until sending is allowed (0: now): inside `hours` in the vendor's time zone, or nights allowed."""
    if settings.night_allowed:
        return 0.0
    local = dt.datetime.fromtimestamp(at, ZoneInfo(timezone))
    now = local.hour * 60 + local.minute + local.second / 60
    start, end = (_minutes(h) for h in settings.hours)
    inside = start <= now < end if start <= end else (now >= start or now < end)
    if inside:
        return 0.0
    return ((start - now) % (24 * 60)) * 60


def day_key(vendor_id: str, channel: str, timezone: str, at: float) -> str:
    return f"day:{vendor_id}:{channel}:{dt.datetime.fromtimestamp(at, ZoneInfo(timezone)).date().isoformat()}"


def month_key(settings: CampaignSettings, at: float) -> str:
    month = dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m")
    return f"month:{settings.organisation or settings.vendor_id}:{month}"


async def check_quota(store: CampaignStore, settings: CampaignSettings, messages: int, at: float) -> None:
    """QuotaExceeded when `messages` more would pass the plan's monthly messages (checked before sending)."""
    limit = settings.plan.messages_per_month
    if limit is None:
        return
    used = await store.counter(month_key(settings, at))
    if used + messages > limit:
        raise QuotaExceeded(f"the plan allows {limit} messages a month: {used} sent, this campaign needs {messages}")
