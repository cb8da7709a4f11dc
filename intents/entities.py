"""Rule-based extraction of the product, quantity and payment_method entities."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from intents.lexicon import PAYMENT_METHODS, Lexicon
from intents.matching import code_fragments, code_key, phrase_fragments, phrases_regex, trie_regex
from intents.normalize import Normalized, normalize

EXTRACTOR = "rules"


@dataclass(frozen=True)
class CatalogueItem:
    """A sellable product as the parser knows it: the code customers type and its display name."""

    code: str
    name: str


class EntityExtractor:
    """Finds entities in normalised text; every pattern is compiled once, here."""

    def __init__(self, catalogue: Iterable[CatalogueItem], lexicon: Lexicon) -> None:
        self._codes: dict[str, str] = {}
        sequences: list[list[str]] = []
        for item in catalogue:
            key, fragments = code_fragments(item.code)
            if not key:
                raise ValueError(f"catalogue item has an empty code: {item!r}")
            known = self._codes.setdefault(key, item.code)
            if known != item.code:
                raise ValueError(f"product codes {known!r} and {item.code!r} read the same once normalised")
            sequences.append(fragments)

        self._product: re.Pattern[str] | None = None
        if sequences:
            # "2xrobe1" and "robe1x2" glue a quantity to the code, so an "x" next to a digit is
            # accepted as a boundary where a letter otherwise would not be.
            self._product = re.compile(
                r"(?:(?<!\w)|(?<=\dx))(?:" + trie_regex(sequences) + r")(?:(?!\w)|(?=x ?\d))"
            )

        self._numbers = {normalize(word).text: value for word, value in lexicon.number_words.items()}
        # Longest first so "une" is not cut to "un"; the trailing `$` pins the number to the code.
        words = sorted(self._numbers, key=len, reverse=True)
        number = "|".join([r"\d{1,3}", *(re.escape(word) for word in words)])
        self._quantity_before = re.compile(rf"(?<!\w)({number}) ?(?:[x×*] ?)?$")
        self._quantity_after = re.compile(r" ?[x×*] ?(\d{1,3})(?!\w)")

        methods = [method for method in PAYMENT_METHODS if lexicon.payment_phrases.get(method)]
        self._payment: re.Pattern[str] | None = None
        if methods:
            alternation = "|".join(
                f"(?P<{method}>{phrases_regex(lexicon.payment_phrases[method])})" for method in methods
            )
            # When every payment word starts with a letter, one shared lookbehind rejects mid-word
            # positions once instead of once per method.
            words = [phrase for method in methods for phrase in lexicon.payment_phrases[method]]
            if all(phrase_fragments(phrase)[0] for phrase in words):
                alternation = r"(?<!\w)(?:" + alternation + ")"
            self._payment = re.compile(alternation)

    def extract(self, message: Normalized) -> list[dict[str, Any]]:
        """All entities in the message, ordered by where they start in the original text."""
        entities: list[dict[str, Any]] = []
        if self._product is not None:
            self._products_and_quantities(self._product, message, entities)
        if self._payment is not None:
            for match in self._payment.finditer(message.text):
                start, end = match.span()
                entities.append(_entity(message, "payment_method", match.lastgroup, start, end))
        entities.sort(key=lambda entity: entity["start"])
        return entities

    def _products_and_quantities(
        self, product: re.Pattern[str], message: Normalized, entities: list[dict[str, Any]]
    ) -> None:
        text = message.text
        # Text before `cursor` already belongs to an earlier product or its quantity, so the digits of
        # "robe 1" never become the quantity of the product after it.
        cursor = 0
        for match in product.finditer(text):
            start, end = match.span()
            if start < cursor:
                continue
            code = self._codes[code_key(match.group())]
            entities.append(_entity(message, "product", code, start, end))

            quantity = None
            before = self._quantity_before.search(text, cursor, start)
            if before is not None:
                quantity = (before.group(1), before.start(1), before.end(1))
            cursor = end
            after = self._quantity_after.match(text, end)
            if after is not None:
                quantity = (after.group(1), after.start(1), after.end(1))
                cursor = after.end()
            if quantity is not None:
                word, q_start, q_end = quantity
                value = int(word) if word.isdigit() else self._numbers.get(word)
                # "x0" is a typo, not an order for nothing.
                if value:
                    entities.append(_entity(message, "quantity", value, q_start, q_end))


def _entity(message: Normalized, name: str, value: Any, start: int, end: int) -> dict[str, Any]:
    original_start, original_end = message.span(start, end)
    return {
        "entity": name,
        "value": value,
        "start": original_start,
        "end": original_end,
        "confidence": 1.0,
        "extractor": EXTRACTOR,
    }

