"""Typed slots: how a buyer's answer becomes a value (text, int, amount, phone, date, time, choice,
product) and how it is validated (regex, min/max, choices) before a form keeps it."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any, Literal

import phonenumbers
import regex
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# A vendor's pattern runs on a buyer's text: both untrusted, so the match is bounded in time and size.
REGEX_TIMEOUT = 0.05
MAX_MATCHED = 500

SlotType = Literal["text", "int", "amount", "phone", "date", "time", "choice", "product"]

_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")
_AMOUNT = re.compile(r"(-?\d[\d .,\u202f\xa0]*)\s*(k|mille|m|million|millions)?\b", re.IGNORECASE)
_TIME = re.compile(r"\b([01]?\d|2[0-3])\s*(?:h|:|heures?)\s*([0-5]\d)?\b", re.IGNORECASE)
_DATE = re.compile(r"\b(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2,4}))?\b")
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_RELATIVE = {"aujourd'hui": 0, "aujourdhui": 0, "today": 0, "demain": 1, "tomorrow": 1,
             "apres-demain": 2, "après-demain": 2}
_WORD_NUMBERS = {"un": 1, "une": 1, "one": 1, "deux": 2, "two": 2, "trois": 3, "three": 3, "quatre": 4,
                 "four": 4, "cinq": 5, "five": 5, "six": 6, "sept": 7, "seven": 7, "huit": 8, "eight": 8,
                 "neuf": 9, "nine": 9, "dix": 10, "ten": 10, "onze": 11, "eleven": 11, "douze": 12, "twelve": 12,
                 "quinze": 15, "fifteen": 15, "vingt": 20, "twenty": 20, "trente": 30, "thirty": 30,
                 # Wolof, typed with or without its letters' marks
                 "benn": 1, "ñaar": 2, "naar": 2, "ñett": 3, "nett": 3, "ñeent": 4, "neent": 4, "juróom": 5,
                 "juroom": 5, "fukk": 10}


_WORD = re.compile(r"[^\W\d_]{2,}")


class SlotSpec(BaseModel):
    """A slot: its type, where its value may come from, how it is validated and how it is asked for."""

    model_config = ConfigDict(extra="forbid")

    type: SlotType = "text"
    entity: str | None = None  # NLU entity that fills it; defaults to the slot's own name
    ask: str | None = None  # message key asking for it
    invalid: str | None = None  # message key when an answer does not fit; else `ask` again
    # message key asking again after a question answered in between; else `ask` (which may need what an
    # action computed when the form was entered: places left, the free slots)
    reask: str | None = None
    max_attempts: int = Field(default=3, ge=1, le=10)
    regex: str | None = None
    min: float | None = None
    max: float | None = None
    choices: list[str] = Field(default_factory=list)
    # a choice slot's answer in words that names none of its choices ("pour mon commerce de tissus") is this one
    other: str | None = None
    validator: str | None = None  # a registered action: sees the value in turn.variables["value"]
    initial: Any = None

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            if len(value) > 200:
                raise ValueError("a regex is at most 200 characters")
            try:
                regex.compile(value)
            except regex.error as exc:
                raise ValueError(f"invalid regex: {exc}") from None
        return value

    @model_validator(mode="after")
    def _choices(self) -> SlotSpec:
        if self.type == "choice" and not self.choices:
            raise ValueError("a 'choice' slot needs `choices`")
        if self.other is not None and self.other not in self.choices:
            raise ValueError(f"`other` must be one of the choices, not {self.other!r}")
        return self


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


def _number(text: str) -> float | None:
    word = _fold(text)
    if word in _WORD_NUMBERS:
        return float(_WORD_NUMBERS[word])
    m = _NUMBER.search(text)
    return float(m.group().replace(",", ".")) if m else None


def _amount(text: str) -> float | None:
    m = _AMOUNT.search(text)
    if not m:
        return None
    digits = re.sub(r"[ .\u202f\xa0]", "", m.group(1).strip()).replace(",", ".")
    try:
        value = float(digits)
    except ValueError:
        return None
    unit = (m.group(2) or "").lower()
    if unit in ("k", "mille"):
        value *= 1000
    elif unit.startswith("m"):
        value *= 1_000_000
    return value


def _phone(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _date(text: str, today: dt.date) -> str | None:
    folded = _fold(text)
    for word, days in _RELATIVE.items():
        if word in folded:
            return (today + dt.timedelta(days=days)).isoformat()
    m = _ISO.search(text)
    try:
        if m:
            return dt.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        m = _DATE.search(text)
        if m:
            year = int(m[3]) if m[3] else today.year
            year = year + 2000 if year < 100 else year
            day = dt.date(year, int(m[2]), int(m[1]))
            if not m[3] and day < today:
                day = day.replace(year=year + 1)  # "25/01" in December means next January
            return day.isoformat()
    except ValueError:
        return None
    return None


def _time(text: str) -> str | None:
    m = _TIME.search(text)
    return f"{int(m[1]):02d}:{int(m[2] or 0):02d}" if m else None


def extract(spec: SlotSpec, text: str, payload: str | None, entity: Any, *, now: float,
            region: str = "SN") -> Any:
    """The value the buyer gave for this slot, or None when the answer holds none."""
    if spec.type == "choice":
        candidates = [c for c in (payload, entity, text) if c]
        by_fold = {_fold(c): c for c in spec.choices}
        for c in candidates:
            if _fold(str(c)) in by_fold:
                return by_fold[_fold(str(c))]
            if str(c).strip().isdigit() and 1 <= int(str(c).strip()) <= len(spec.choices):
                return spec.choices[int(str(c).strip()) - 1]
        if spec.other is not None and payload is None and len(_WORD.findall(text or "")) >= 2:
            return spec.other  # words, not a stray number or "oui": the transcript keeps what they said
        return None
    if entity not in (None, ""):
        text = str(entity)
    elif payload and not text:
        text = payload
    text = (text or "").strip()
    if not text:
        return None
    if spec.type == "text":
        return None if text.endswith("?") else text  # a question asked back is not the answer
    if spec.type == "product":
        return text.upper().replace(" ", "")
    if spec.type == "int":
        n = _number(text)
        return int(n) if n is not None and n == int(n) else None
    if spec.type == "amount":
        a = _amount(text)
        return int(a) if a is not None and a == int(a) else a
    if spec.type == "phone":
        return _phone(text, region)
    if spec.type == "date":
        return _date(text, dt.datetime.fromtimestamp(now, dt.UTC).date())
    if spec.type == "time":
        return _time(text)
    return None


def valid(spec: SlotSpec, value: Any) -> bool:
    """Whether a value passes the slot's declared checks (the validator action runs after)."""
    if value is None:
        return False
    if spec.regex is not None:
        text = str(value)
        try:
            if len(text) > MAX_MATCHED or not regex.fullmatch(spec.regex, text, timeout=REGEX_TIMEOUT):
                return False
        except TimeoutError:
            return False
    measure = len(value) if spec.type == "text" else value
    if isinstance(measure, (int, float)):
        if spec.min is not None and measure < spec.min:
            return False
        if spec.max is not None and measure > spec.max:
            return False
    return not (spec.choices and spec.type != "choice" and value not in spec.choices)
