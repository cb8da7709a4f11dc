"""The inbox's settings from the environment: agents' business hours and when a waiting buyer is escalated.

PALABRE_INBOX_HOURS          `mon-fri 08:00-19:00, sat 09:00-13:00` in each vendor's own time zone
                             (unset: agents are always there)
PALABRE_INBOX_WAIT_ALERT_MINUTES
                             a buyer left this long without an answer is reported to the vendor's
                             `notify` address (unset: no alert)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = {"fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
             "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")}
SPAN = re.compile(r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")


class InboxConfigError(ValueError):
    """A PALABRE_INBOX_* value cannot be read; the message quotes the expected form."""


@dataclass(frozen=True)
class Opening:
    day: int  # 0 = Monday
    start: time
    end: time


@dataclass(frozen=True)
class BusinessHours:
    openings: tuple[Opening, ...]

    @classmethod
    def parse(cls, text: str) -> BusinessHours:
        openings: list[Opening] = []
        for part in filter(None, (p.strip().lower() for p in text.split(","))):
            match = SPAN.match(part)
            if not match or match["first"] not in DAYS or (match["last"] and match["last"] not in DAYS):
                raise InboxConfigError(f"PALABRE_INBOX_HOURS: cannot read {part!r}; write it like "
                                       "'mon-fri 08:00-19:00, sat 09:00-13:00'")
            try:
                start, end = time.fromisoformat(match["start"].zfill(5)), time.fromisoformat(match["end"].zfill(5))
            except ValueError:
                raise InboxConfigError(f"PALABRE_INBOX_HOURS: {part!r} has a time that does not exist") from None
            if end <= start:
                raise InboxConfigError(f"PALABRE_INBOX_HOURS: {part!r} ends before it starts")
            first = DAYS.index(match["first"])
            last = DAYS.index(match["last"] or match["first"])
            if last < first:
                raise InboxConfigError(f"PALABRE_INBOX_HOURS: {part!r} runs backwards through the week")
            openings.extend(Opening(day, start, end) for day in range(first, last + 1))
        if not openings:
            raise InboxConfigError("PALABRE_INBOX_HOURS is empty; unset it to have agents always there")
        return cls(tuple(openings))

    def open_at(self, at: float, timezone: str) -> bool:
        local = datetime.fromtimestamp(at, _zone(timezone))
        return any(o.day == local.weekday() and o.start <= local.time() < o.end for o in self.openings)

    def describe(self, locale: str) -> str:
        """`lundi–vendredi 08:00–19:00, samedi 09:00–13:00`, for the out-of-hours message."""
        names = DAY_NAMES.get(locale, DAY_NAMES["fr"])
        groups: list[tuple[int, int, time, time]] = []
        for o in sorted(self.openings, key=lambda o: (o.day, o.start)):
            last = groups[-1] if groups else None
            if last and last[1] == o.day - 1 and (last[2], last[3]) == (o.start, o.end):
                groups[-1] = (last[0], o.day, o.start, o.end)
            else:
                groups.append((o.day, o.day, o.start, o.end))
        return ", ".join(
            f"{names[a]}{'–' + names[b] if b != a else ''} {s:%H:%M}–{e:%H:%M}" for a, b, s, e in groups)


def known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _zone(name: str) -> ZoneInfo:
    # An unknown zone was warned about at start-up (`known_zone`); UTC is the least surprising reading.
    return ZoneInfo(name) if known_zone(name) else ZoneInfo("UTC")


@dataclass(frozen=True)
class InboxSettings:
    hours: BusinessHours | None = None
    wait_alert_seconds: float | None = None
    sweep_seconds: float = field(default=30.0)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> InboxSettings:
        env = os.environ if env is None else env
        hours = env.get("PALABRE_INBOX_HOURS", "").strip()
        wait = env.get("PALABRE_INBOX_WAIT_ALERT_MINUTES", "").strip()
        try:
            minutes = float(wait) if wait else None
        except ValueError:
            raise InboxConfigError(f"PALABRE_INBOX_WAIT_ALERT_MINUTES must be a number of minutes, not {wait!r}") \
                from None
        if minutes is not None and not 0 < minutes < 100_000:
            raise InboxConfigError("PALABRE_INBOX_WAIT_ALERT_MINUTES must be above 0")
        return cls(hours=BusinessHours.parse(hours) if hours else None,
                   wait_alert_seconds=minutes * 60 if minutes is not None else None,
                   sweep_seconds=min(30.0, max(0.05, (minutes or 1) * 60 / 4)))
