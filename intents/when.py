"""Dates, times and amounts as buyers type them: "demain 10h", "mardi à 14h", "ëllëg", "15 000 F".

Values are kept symbolic so a parse needs no clock: a date is today | tomorrow | day_after_tomorrow |
yesterday | monday..sunday | MM-DD, a time is HH:MM (or morning | afternoon | evening when no clock time
is given). `resolve` turns them into a datetime once the caller knows "now".
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

WEEKDAYS: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_RELATIVE = {
    "day_after_tomorrow": ("apres-demain", "apres demain", "apresdemain", "day after tomorrow"),
    "tomorrow": ("demain", "dem1", "2main", "tomorrow", "tmrw", "elleg", "ellek", "eleg"),
    "today": ("aujourd'hui", "aujourd hui", "aujourdhui", "auj", "ojourdhui", "today", "tey"),
    "yesterday": ("hier", "yesterday", "demb"),
}
_WEEKDAY_WORDS = {
    "monday": ("lundi", "monday", "altine", "alteine"),
    "tuesday": ("mardi", "tuesday", "talaata", "talata"),
    "wednesday": ("mercredi", "wednesday", "allarba", "alarba", "larba"),
    "thursday": ("jeudi", "thursday", "alxames", "alxamis", "alkhamis"),
    "friday": ("vendredi", "friday", "ajjuma", "aljuma", "juma"),
    "saturday": ("samedi", "saturday", "gaawu"),
    "sunday": ("dimanche", "sunday", "dibeer"),
}
_MONTHS = {
    "janvier": 1, "janv": 1, "january": 1, "fevrier": 2, "fev": 2, "february": 2, "mars": 3, "march": 3,
    "avril": 4, "april": 4, "mai": 5, "may": 5, "juin": 6, "june": 6, "juillet": 7, "july": 7,
    "aout": 8, "august": 8, "septembre": 9, "sept": 9, "september": 9, "octobre": 10, "oct": 10,
    "october": 10, "novembre": 11, "nov": 11, "november": 11, "decembre": 12, "dec": 12, "december": 12,
}
_PERIODS = {
    "morning": ("matin", "matinee", "morning"),
    "afternoon": ("apres-midi", "apres midi", "aprem", "afternoon", "ngoon"),
    "evening": ("soir", "ce soir", "evening", "tonight", "guddi"),
}
_FIXED_TIMES = {"midi": "12:00", "noon": "12:00", "minuit": "00:00", "midnight": "00:00"}


def _squash(text: str) -> str:
    return re.sub(r"[ '\-]", "", text)


def _alternation(words: list[str]) -> str:
    """Longest first; a space, hyphen or apostrophe in a word may be typed as any of them, or left out."""
    return "|".join(r"[ '\-]?".join(re.escape(part) for part in re.split(r"[ '\-]", word))
                    for word in sorted(words, key=len, reverse=True))


_DAY_WORDS = {_squash(word): value for value, words in {**_RELATIVE, **_WEEKDAY_WORDS}.items() for word in words}
_DAY = re.compile(
    r"(?<!\w)(?:" + _alternation([w for words in (*_RELATIVE.values(), *_WEEKDAY_WORDS.values()) for w in words])
    + r")(?!\w)"
)
_DAY_MONTH = re.compile(
    r"(?<!\w)(3[01]|[12]\d|0?[1-9])(?:er)? (" + _alternation(list(_MONTHS)) + r")(?!\w)"
)
_NUMERIC_DATE = re.compile(r"(?<![\w/.])(3[01]|[12]\d|0?[1-9])[/.](1[0-2]|0?[1-9])(?:[/.](?:\d{4}|\d{2}))?(?![\w/])")
_CLOCK = re.compile(
    r"(?<![\w:])(?:"
    r"(?P<h1>[01]?\d|2[0-3]) ?(?:h|heures?|hr)(?: ?(?P<m1>[0-5]\d))?(?:mn|min)?"
    r"|(?P<h2>[01]?\d|2[0-3]):(?P<m2>[0-5]\d)"
    r"|(?P<h3>1[0-2]|0?[1-9])(?::(?P<m3>[0-5]\d))? ?(?P<ampm>am|pm)"
    r"|(?<!apres[ -])(?P<fixed>" + "|".join(_FIXED_TIMES) + r")"
    r")(?!\w)"
)
_PERIOD_WORDS = {_squash(word): value for value, words in _PERIODS.items() for word in words}
# "bonne soirée", "bon après-midi", "good evening" are greetings, not times.
_PERIOD = re.compile(
    r"(?<!\w)(?<!bon )(?<!bonne )(?<!good )(?:"
    + _alternation([word for words in _PERIODS.values() for word in words])
    + r")(?!\w)"
)

_AMOUNT = re.compile(
    r"(?<![\w.,])(?P<number>\d{1,3}(?:[ .,]\d{3})+|\d+)(?:[.,](?P<decimals>\d{1,2}))?"
    r"(?: ?(?P<multiplier>k|mille|mil))?"
    r"(?: ?(?P<currency>f ?cfa|fcfa|cfa|francs?|frs?|f|xof))?"
    r"(?![\w])(?![ .,]?\d)"
)
_MIN_AMOUNT = 25


def find_dates(text: str) -> list[tuple[int, int, str]]:
    """(start, end, value) of each date in normalised text."""
    found = []
    for match in _DAY.finditer(text):
        found.append((match.start(), match.end(), _DAY_WORDS[_squash(match.group())]))
    for match in _DAY_MONTH.finditer(text):
        found.append((match.start(), match.end(), f"{_MONTHS[match.group(2)]:02d}-{int(match.group(1)):02d}"))
    for match in _NUMERIC_DATE.finditer(text):
        found.append((match.start(), match.end(), f"{int(match.group(2)):02d}-{int(match.group(1)):02d}"))
    return found


def find_times(text: str) -> list[tuple[int, int, str]]:
    """(start, end, value) of each time; a part of the day only when no clock time is given."""
    found = []
    for match in _CLOCK.finditer(text):
        if match.group("fixed"):
            value = _FIXED_TIMES[match.group("fixed")]
        elif match.group("ampm"):
            hour = int(match.group("h3")) % 12 + (12 if match.group("ampm") == "pm" else 0)
            value = f"{hour:02d}:{int(match.group('m3') or 0):02d}"
        else:
            hour = match.group("h1") or match.group("h2")
            minutes = match.group("m1") or match.group("m2") or 0
            value = f"{int(hour):02d}:{int(minutes):02d}"
        found.append((match.start(), match.end(), value))
    if not found:
        for match in _PERIOD.finditer(text):
            found.append((match.start(), match.end(), _PERIOD_WORDS[_squash(match.group())]))
    return found


def find_amounts(text: str) -> list[tuple[int, int, int]]:
    """(start, end, F CFA) of each amount: a number with a currency, "k"/"mille", or grouped thousands."""
    found = []
    for match in _AMOUNT.finditer(text):
        number = match.group("number")
        grouped = not number.isdigit()
        if not (match.group("currency") or match.group("multiplier") or grouped):
            continue
        value = float(re.sub(r"[ .,]", "", number) + "." + (match.group("decimals") or "0"))
        if match.group("multiplier"):
            value *= 1000
        if value >= _MIN_AMOUNT:
            found.append((match.start(), match.end(), round(value)))
    return found


def resolve(date: str | None, time: str | None, now: datetime) -> datetime | None:
    """The datetime meant by a parsed date and/or time, relative to `now` (next occurrence for weekdays)."""
    if date is None and time is None:
        return None
    day = now.date()
    if date == "tomorrow":
        day += timedelta(days=1)
    elif date == "day_after_tomorrow":
        day += timedelta(days=2)
    elif date == "yesterday":
        day -= timedelta(days=1)
    elif date in WEEKDAYS:
        ahead = (WEEKDAYS.index(date) - now.weekday()) % 7
        day += timedelta(days=ahead or 7)
    elif date and re.fullmatch(r"\d{2}-\d{2}", date):
        month, day_of_month = (int(part) for part in date.split("-"))
        try:
            candidate = now.replace(month=month, day=day_of_month).date()
        except ValueError:
            return None
        day = candidate if candidate >= now.date() else candidate.replace(year=candidate.year + 1)
    hour, minute = {"morning": (9, 0), "afternoon": (15, 0), "evening": (19, 0)}.get(time or "", (None, None))
    if hour is None:
        if time and re.fullmatch(r"\d{2}:\d{2}", time):
            hour, minute = (int(part) for part in time.split(":"))
        else:
            hour, minute = now.hour, now.minute
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=now.tzinfo)


def entity_values(entities: list[dict[str, Any]], name: str) -> list[Any]:
    return [entity["value"] for entity in entities if entity["entity"] == name]
