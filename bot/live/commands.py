"""What a vendor types on their own number: LIVE ON/OFF, STOCK, PRIX, AJOUT, RETIRER, AIDE — parsed, not run."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from bot.http.catalogue import parse_stock

Verb = Literal["live_on", "live_off", "stock", "price", "add", "remove", "help"]
CODE = re.compile(r"^[A-Z][A-Z0-9_-]{0,31}$")  # what a vendor file accepts (bot/vendors.py ProductSpec)
MAX_PRICE = 100_000_000
MAX_NAME = 120
VERBS: dict[str, Verb] = {
    "STOCK": "stock", "PRIX": "price", "PRICE": "price", "AJOUT": "add", "AJOUTER": "add", "ADD": "add",
    "RETIRER": "remove", "REMOVE": "remove", "AIDE": "help", "HELP": "help", "MENU": "help", "COMMANDES": "help",
}
LIVE = {"ON": "live_on", "START": "live_on", "DEBUT": "live_on", "OFF": "live_off", "STOP": "live_off",
        "FIN": "live_off"}
EXAMPLES = {"stock": "STOCK ROBE1 10", "price": "PRIX ROBE1 12000", "add": "AJOUT JUPE3 Jupe plissée 9000 4",
            "remove": "RETIRER ROBE1", "live": "LIVE ON"}


@dataclass(frozen=True)
class Command:
    verb: Verb
    code: str = ""
    name: str = ""
    price: int | None = None
    stock: int | None = None


class CommandError(ValueError):
    """The vendor's message is not a command that can run: `problem` says why, `argument` what to show."""

    def __init__(self, problem: str, argument: str) -> None:
        super().__init__(f"{problem}: {argument}")
        self.problem, self.argument = problem, argument


def _fold(word: str) -> str:
    """Upper case without accents: "début" and "DEBUT" are one word."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def product_code(word: str) -> str:
    code = word.strip().upper()
    if not CODE.match(code):
        raise CommandError("bad_code", word[:40])
    return code


def price_of(word: str) -> int:
    """A price in whole francs: "12000", "12.000", "12 000F" (one word), "12000FCFA"."""
    text = re.sub(r"(?i)(f\s*cfa|fcfa|cfa|f)$", "", word.strip())
    if re.fullmatch(r"\d{1,3}([.,\u202f\xa0]\d{3})+", text):
        text = re.sub(r"\D", "", text)
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_PRICE:
        raise CommandError("bad_number", word[:40])
    if int(text) == 0:  # a typo would put the item on sale for nothing, with a 0 F CFA payment link
        raise CommandError("zero_price", word[:40])
    return int(text)


def stock_of(word: str) -> int:
    try:
        return parse_stock(word)
    except ValueError:
        raise CommandError("bad_number", word[:40]) from None


def parse_command(text: str) -> Command:
    """The command in `text`; CommandError for anything else (the vendor gets a clear reply, never a buyer turn)."""
    words = text.split()
    if not words:
        return Command("help")
    head = _fold(words[0])
    if head == "LIVE":
        verb = LIVE.get(_fold(words[1])) if len(words) == 2 else None
        if verb is None:
            raise CommandError("usage", "LIVE ON / LIVE OFF")
        return Command(verb)  # type: ignore[arg-type]
    verb = VERBS.get(head)
    if verb is None:
        raise CommandError("unknown_command", text.strip()[:40])
    if verb == "help":
        return Command("help")
    wanted = {"stock": 3, "price": 3, "remove": 2}.get(verb)
    if (wanted is not None and len(words) != wanted) or (verb == "add" and len(words) < 5):
        raise CommandError("usage", EXAMPLES[verb])
    code = product_code(words[1])
    if verb == "stock":
        return Command("stock", code, stock=stock_of(words[2]))
    if verb == "price":
        return Command("price", code, price=price_of(words[2]))
    if verb == "remove":
        return Command("remove", code)
    name = " ".join(words[2:-2])[:MAX_NAME]
    return Command("add", code, name=name, price=price_of(words[-2]), stock=stock_of(words[-1]))
