"""Typed answers to buttons: "devis", "je commande" or, on SMS, "2" do what tapping the button does.

The buttons the last reply offered are kept in the conversation's slots; a short typed message that
names exactly one of them (its title, a word of it, or its number where buttons are numbered) becomes
that button's payload before the NLU reads it, as WhatsApp and SMS bots do.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from channels import Event, Reply

CHOICES_SLOT = "_choices"  # ids of the last reply's buttons and list rows
TITLES_SLOT = "_titles"  # their titles, in the same order
TYPES = "text:"  # a choice that types its words for the buyer
MAX_WORDS = 4  # longer messages are sentences: the NLU reads them
STEM = 5  # "commande" names "commander": words sharing their first letters (at least this many)
# Words around a choice that do not change it ("je commande", "ok pour le devis", "I'll pay").
FILLER = frozenset({
    "je", "j", "veux", "voudrais", "vais", "prends", "prendre", "choisis", "on", "nous", "c", "est", "ok", "oui",
    "d", "accord", "alors", "le", "la", "les", "l", "un", "une", "des", "du", "de", "pour", "avec", "svp", "stp",
    "merci", "please", "i", "ll", "want", "to", "the", "a", "an", "for", "my", "me",
})


def normalise(text: str) -> list[str]:
    """Lower-case words without accents, punctuation or emoji."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))
    return re.findall(r"[a-z0-9]+", bare)


def remember(slots: dict[str, Any], replies: list[Reply]) -> None:
    """Keep the choices of the last reply that offers any; forget them when this turn offers none."""
    offered = [r for r in replies if r.buttons or r.list_sections]
    if not offered:
        slots.pop(CHOICES_SLOT, None)
        slots.pop(TITLES_SLOT, None)
        return
    last = offered[-1]
    items = [(b.id, b.title) for b in last.buttons] + [
        (row.id, row.title) for section in last.list_sections for row in section.rows
    ]
    slots[CHOICES_SLOT] = [i for i, _ in items]
    slots[TITLES_SLOT] = [t for _, t in items]


def _names(words: list[str], title: list[str]) -> bool:
    """Every word typed is a word of the title, or shares its first letters with one."""
    def same(a: str, b: str) -> bool:
        n = min(len(a), len(b))
        return a == b or (n >= STEM and a[:n] == b[:n])

    return bool(words) and all(any(same(w, t) for t in title) for w in words)


def choice(slots: dict[str, Any], text: str | None, *, numbered: bool) -> str | None:
    """The id of the one offered choice `text` names, else None (the NLU reads it)."""
    ids = slots.get(CHOICES_SLOT) or []
    if not ids or not (text or "").strip():
        return None
    words = normalise(text or "")
    if numbered and len(words) == 1 and words[0].isdigit() and 1 <= int(words[0]) <= len(ids):
        return str(ids[int(words[0]) - 1])
    titles = slots.get(TITLES_SLOT) or []
    if len(titles) != len(ids):
        return None
    typed = " ".join((text or "").casefold().split())
    exact = [i for i, t in zip(ids, titles, strict=True)
             if " ".join(str(t).casefold().split()) == typed or (words and normalise(str(t)) == words)]
    if exact:  # the whole title, written as shown ("+", "mar. 09/06 15:00") or without accents and signs
        return str(exact[0]) if len(exact) == 1 else None
    if not words or len(words) > MAX_WORDS:
        return None
    meaningful = [w for w in words if w not in FILLER]
    named = [i for i, t in zip(ids, titles, strict=True) if _names(meaningful, normalise(str(t)))]
    return str(named[0]) if len(named) == 1 else None


def as_tap(slots: dict[str, Any], event: Event, *, numbered: bool) -> Event:
    """The typed message as the button tap it names (its text kept for the transcript), else as it is.

    A choice whose id is `text:WORDS` (a catalogue row: `text:RIZ5`) is the buyer typing WORDS instead.
    """
    if event.kind == "message":
        picked = choice(slots, event.text, numbered=numbered)
        if picked is None:
            return event
        event = event.model_copy(update={"kind": "postback", "payload": picked})
    payload = event.payload or ""
    if event.kind == "postback" and payload.startswith(TYPES):
        return event.model_copy(update={"kind": "message", "payload": None, "text": payload[len(TYPES):]})
    return event
