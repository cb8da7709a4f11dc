"""Locales: which languages Palabre speaks and how money and times are written in each (babel)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from babel import Locale
from babel.dates import format_time
from babel.numbers import format_currency

SUPPORTED = ("fr", "en")
DEFAULT = "fr"
# West-African French is the product's default audience: Senegal's conventions.
_BABEL = {"fr": "fr_SN", "en": "en"}


def normalise(locale: str | None) -> str:
    """The supported language closest to `locale` (e.g. 'fr_CI' -> 'fr'); French otherwise."""
    if not locale:
        return DEFAULT
    lang = locale.replace("-", "_").split("_")[0].lower()
    return lang if lang in SUPPORTED else DEFAULT


@lru_cache(maxsize=64)
def babel_locale(locale: str) -> Locale:
    return Locale.parse(_BABEL.get(normalise(locale), locale))


@lru_cache(maxsize=4096)
def money(amount: int, currency: str = "XOF", locale: str = DEFAULT) -> str:
    """'15 000 F CFA' in French, '15,000 F CFA' in English; XOF has no minor unit."""
    return format_currency(amount, currency, format="#,##0 ¤", locale=babel_locale(locale), currency_digits=True)


def clock(ts: float, locale: str = DEFAULT, tz: str = "Africa/Dakar") -> str:
    """A time of day as the buyer reads it ('14:05')."""
    from babel.dates import get_timezone

    return format_time(datetime.fromtimestamp(ts, get_timezone(tz)), "HH:mm", locale=babel_locale(locale))


__all__ = ["DEFAULT", "SUPPORTED", "babel_locale", "clock", "money", "normalise"]
