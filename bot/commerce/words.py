"""What the buyer's own words say beyond the intent: a quantity as a bare or final number, a payment made, a
request to pay on terms or to move a booking."""

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


# "c possible de payer à 30 jours ?", "sur facture", "à crédit", "net 30", "can I pay on terms?"
_TERMS = re.compile(r"\b(?:\d+\s*(?:jours|jrs|j|days)|[àa] terme|sur facture|facture|[àa] cr[ée]dit|credit|net\s*\d+"
                    r"|on terms|invoice|[ée]ch[ée]ance)\b", re.IGNORECASE)


async def asks_for_terms(turn: Turn) -> bool:
    """A payment message that asks to pay later on an invoice ("c possible de payer à 30 jours ?")."""
    return bool(_TERMS.search(turn.event.text or ""))


# Moving a booking asked in words: "je veux changer mon rdv", "on peut décaler à jeudi ?", "dama bëgg soppi sama
# rendez-vous", "can I reschedule"
_MOVE = re.compile(r"\b(?:chang\w*|d[ée]pla[cç]\w*|d[ée]cal\w*|report\w*|modifi\w*|avancer"
                   r"|autre (?:heure|jour|date|cr[ée]neau|moment)|reschedul\w*|move|postpone"
                   r"|another (?:time|day|slot)|soppi\w*)\b", re.IGNORECASE)


async def asks_to_move(turn: Turn) -> bool:
    """A message that asks to move the booking (the [CHANGER] button in words)."""
    return bool(_MOVE.search(turn.event.text or ""))


def register(registry: Registry) -> Registry:
    for fn in (number_for_product, number_at_end, says_paid, asks_for_terms, asks_to_move):
        registry.add(fn.__name__, fn)
    return registry
