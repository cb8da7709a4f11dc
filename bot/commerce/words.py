"""What the buyer's own words say beyond the intent: a quantity typed as a bare or final number, a payment made."""

from __future__ import annotations

import re

from dialogs import Registry, Turn


def _quantity(turn: Turn, pattern: re.Pattern[str]) -> bool:
    """The number the whole typed message matches, as the `quantity` slot, when a product is under discussion."""
    match = pattern.fullmatch(turn.event.text or "")
    if match is None or turn.event.payload or not turn.slots.get("product") or int(match.group(1)) < 1:
        return False
    turn.slots["quantity"] = int(match.group(1))
    return True


_NUMBER_ALONE = re.compile(r"\s*(\d{1,3})\s*(?:svp|stp|please|pls|merci)?\s*[.!]*\s*", re.IGNORECASE)


async def number_for_product(turn: Turn) -> bool:
    """"2" typed after "c combien le lait ?": that many of the product the conversation is on (the `quantity` slot).

    The parser reads a number alone as no quantity (a size, an order number); the dialog knows what was just
    asked about. A button's number typed on SMS became its payload before this (dialogs/choices.py).
    """
    return _quantity(turn, _NUMBER_ALONE)


_NUMBER_LAST = re.compile(r"\D*?\s(\d{1,6})\s*(?:svp|stp|please|pls|merci)?\s*[.!]*\s*", re.IGNORECASE)


async def number_at_end(turn: Turn) -> bool:
    """"dama bëgg 40", "il m'en faut 200" after the iron's price: a message ending in a number is that many of the
    product the conversation is on. For bulk sellers (b2b): past 20 the parser reads such a number as no quantity
    (a shoe size), and the rules path reads "dama bëgg 40" as out of scope."""
    return _quantity(turn, _NUMBER_LAST)


# "j'ai payé par wave il y a 10 min", "c'est déjà payé", "fey naa", "I've paid": a payment said to be made, which
# reads `payment` with the method named, as asking to pay with it does
_PAID = re.compile(
    r"\b(?:j'?ai (?:d[ée]j[àa] |bien )?(?:pay[ée]r?|r[ée]gl[ée]|envoy[ée] (?:l'argent|le paiement|les sous))"
    r"|(?:c'?est|c) (?:d[ée]j[àa] |bien )?pay[ée]|d[ée]j[àa] pay[ée]|paiement (?:effectu[ée]|fait|envoy[ée])"
    r"|i(?: have|'ve| already)? (?:already )?(?:paid|sent the money)|already paid|(?:fey|yónnee|yonnee) naa)\b",
    re.IGNORECASE)


async def says_paid(turn: Turn) -> bool:
    """A message saying the order was paid already (not asking to pay)."""
    return bool(_PAID.search(turn.event.text or ""))


def register(registry: Registry) -> Registry:
    for fn in (number_for_product, number_at_end, says_paid):
        registry.add(fn.__name__, fn)
    return registry
