"""Clauses of a long message, so the request in it is found ("bonjour, ... mais le sac est arrivé déchiré").

Buyers on web chat and WhatsApp write several sentences in one message: a greeting, some context, then what
they want. Read whole, the n-grams of the context drown the request; each clause is therefore also read on
its own, and the clause that most clearly asks for something weighs as much as the whole message.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from intents.rules import RuleLayer

# Sentence ends, line breaks, commas and the connectors that open a new request. A full stop inside a number
# ("15.000") or an abbreviation without a following space does not split.
_BOUNDARY = re.compile(
    r"[.!?;:…]+(?=\s|$)|\n+|,(?=\s)|\s-\s"
    r"|\s(?=(?:mais|par contre|sinon|en plus|et puis|du coup|parce que|car|but|however|also|because|"
    r"waaye|te it)\s)",
    re.IGNORECASE,
)
# Shorter messages are read whole: "bonjour, le prix ?" has nothing to weigh.
MIN_TOKENS = 6
MAX_CLAUSES = 8
# The wrapping around a request in a long message.
SOCIAL = frozenset({"greet", "thanks", "goodbye"})


def clauses(text: str) -> list[str]:
    """The message's clauses with at least one word, in order (at most MAX_CLAUSES, the last ones merged);
    one clause, or none, means there is nothing to split."""
    if len(text.split()) < MIN_TOKENS:
        return []
    pieces = [piece.strip(" ,") for piece in _BOUNDARY.split(text)]
    pieces = [piece for piece in pieces if any(char.isalnum() for char in piece)]
    if len(pieces) > MAX_CLAUSES:
        pieces = [*pieces[: MAX_CLAUSES - 1], " ".join(pieces[MAX_CLAUSES - 1 :])]
    return pieces if len(pieces) > 1 else []


def without_social_edges(parts: list[str], rules: RuleLayer) -> list[str]:
    """The clauses without the leading and trailing ones the rules read as greet, thanks or goodbye
    (all of them when nothing else is left)."""
    def social(part: str) -> bool:
        decided = rules.decide(rules.analyse(part))
        return decided is not None and decided[0][0] in SOCIAL
    start, end = 0, len(parts)
    while start < end and social(parts[start]):
        start += 1
    while end > start and social(parts[end - 1]):
        end -= 1
    return parts[start:end] if start < end else parts


def request_part(text: str, rules: RuleLayer) -> str | None:
    """A long message without its greeting, thanks or farewell clauses, or None when it has none to drop:
    "Salaamaalekum. <request>. Merci" -> "<request>"."""
    parts = clauses(text)
    core = without_social_edges(parts, rules) if parts else parts
    return " ".join(core) if len(core) < len(parts) else None
