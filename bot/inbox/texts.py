"""What the inbox itself says to buyers (the satisfaction survey), per locale, and how a complaint is sorted."""

from __future__ import annotations

import re
import unicodedata

from channels import Button, Reply

CSAT_QUESTION = {
    "fr": "Votre demande est traitée. Comment évaluez-vous notre aide, de 1 (mauvais) à 5 (excellent) ?",
    "en": "Your request has been handled. How would you rate our help, from 1 (poor) to 5 (excellent)?",
}
CSAT_THANKS = {
    "fr": "Merci pour votre note ! L'assistant reste à votre disposition.",
    "en": "Thank you for your rating! The assistant is here if you need anything else.",
}
OUT_OF_HOURS = {
    "fr": "Nos conseillers sont disponibles {hours}. Votre message est bien noté : un conseiller vous répondra "
          "dès son retour.",
    "en": "Our agents are available {hours}. Your message has been noted: an agent will answer as soon as they "
          "are back.",
}
WAITING_ALERT = {
    "fr": "⏳ {who} attend un conseiller depuis {minutes} min ({channel}). Boîte de réception : {url}",
    "en": "⏳ {who} has been waiting for an agent for {minutes} min ({channel}). Inbox: {url}",
}
CSAT_PREFIX = "csat:"
SCORE = re.compile(r"^\s*([1-5])\s*(?:/\s*5)?\s*[.!]*\s*$")

# Complaint categories, from the words a buyer uses (accents and case ignored); first match wins.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("payment", ("paiement", "paye", "payer", "rembours", "argent", "wave", "orange money", "debit", "refund",
                 "payment", "money")),
    ("delivery", ("livr", "colis", "retard", "recu", "arrive", "delivery", "parcel", "late")),
    ("product", ("defaut", "casse", "abime", "taille", "qualite", "faux", "broken", "damaged", "size", "quality")),
)


def _t(table: dict[str, str], locale: str) -> str:
    return table.get(locale) or table["fr"]


def csat_question(locale: str) -> Reply:
    return Reply(text=_t(CSAT_QUESTION, locale),
                 buttons=[Button(id=f"{CSAT_PREFIX}{n}", title=str(n)) for n in range(1, 6)])


def csat_thanks(locale: str) -> Reply:
    return Reply(text=_t(CSAT_THANKS, locale))


def out_of_hours(locale: str, hours: str) -> Reply:
    return Reply(text=_t(OUT_OF_HOURS, locale).format(hours=hours))


def waiting_alert(locale: str, who: str, minutes: int, channel: str, url: str) -> Reply:
    return Reply(text=_t(WAITING_ALERT, locale).format(who=who, minutes=minutes, channel=channel, url=url))


def csat_score(text: str | None, payload: str | None) -> int | None:
    """The 1–5 score in a buyer's answer to the survey (a button or a lone digit), or None."""
    value = payload[len(CSAT_PREFIX):] if payload and payload.startswith(CSAT_PREFIX) else (text or "")
    match = SCORE.match(value)
    return int(match.group(1)) if match else None


def fold(text: str) -> str:
    """Lower case without accents, for matching words a buyer types."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def complaint_category(text: str | None) -> str:
    folded = fold(text or "")
    for category, words in CATEGORIES:
        if any(word in folded for word in words):
            return category
    return "other"
