"""Entities: product (code, vendor synonym or fuzzy name), quantity, payment_method, amount, date, time, topic."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from intents.lexicon import PAYMENT_METHODS, Lexicon
from intents.matching import code_fragments, code_key, phrase_fragments, phrases_regex, trie_regex
from intents.names import ProductNames
from intents.normalize import Normalized, normalize
from intents.topics import find_topics
from intents.when import find_amounts, find_dates, find_times

EXTRACTOR = "rules"
# A number after a purchase phrase is a quantity up to this; "je veux 42" asks for a size.
MOST_TAKEN = 20
# Letters then digits, like a product code: "robe99" when the catalogue has no ROBE99.
_CODE_LIKE = r"[^\W\d_]{2,}[\-]?\d{1,4}"


@dataclass(frozen=True)
class CatalogueItem:
    """A sellable product as the parser knows it: the code customers type and its display name."""

    code: str
    name: str


@dataclass
class Extraction:
    """What the extractor found: Rasa-shaped entities, plus code-like words that are not catalogue codes."""

    entities: list[dict[str, Any]] = field(default_factory=list)
    unknown_codes: list[tuple[int, int]] = field(default_factory=list)
    # (start, end, entity) in the normalised text for everything found, unknown codes included: what
    # the parser's "is the whole message explained" test and the classifier's placeholders work from.
    marks: list[tuple[int, int, str]] = field(default_factory=list)


class EntityExtractor:
    """Finds entities in normalised text; every pattern is compiled once, here."""

    def __init__(
        self,
        catalogue: Iterable[CatalogueItem],
        lexicon: Lexicon,
        synonyms: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        catalogue = list(catalogue)
        self._codes: dict[str, str] = {}
        sequences: list[list[str]] = []
        families: set[str] = set()
        for item in catalogue:
            key, fragments = code_fragments(item.code)
            if not key:
                raise ValueError(f"catalogue item has an empty code: {item!r}")
            known = self._codes.setdefault(key, item.code)
            if known != item.code:
                raise ValueError(f"product codes {known!r} and {item.code!r} read the same once normalised")
            sequences.append(fragments)
            family = re.match(r"[^\W\d_]+", normalize(item.code).text)
            if family and len(family.group()) >= 2:
                families.add(family.group())

        unknown = [_CODE_LIKE]
        if families:
            unknown.append("(?:" + "|".join(re.escape(f) for f in sorted(families, key=len, reverse=True))
                           + r") \d{1,4}")
        self._unknown_code = re.compile(r"(?<!\w)(?:" + "|".join(unknown) + r")(?!\w)")

        known = set(self._codes.values())
        for code in synonyms or {}:
            if code not in known:
                raise ValueError(f"synonyms name {code!r}, which is not in the catalogue")
        self._names = ProductNames(
            ((item.code, item.name) for item in catalogue),
            lexicon.name_stopwords,
            lexicon.name_generic,
            synonyms,
            lexicon.name_translations,
        )

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
        units = "|".join(
            re.escape(normalize(unit).text) for unit in sorted(lexicon.quantity_units, key=len, reverse=True)
        )
        unit = rf"|(?:{units}) ?" if units else ""
        self._quantity_before = re.compile(rf"(?<!\w)({number}) ?(?:[x×*] ?{unit})?$")
        self._quantity_after = re.compile(r" ?[x×*] ?(\d{1,3})(?!\w)")
        things = "|".join(
            re.escape(normalize(word).text) for word in sorted(lexicon.counted_things, key=len, reverse=True)
        )
        self._counted = re.compile(rf"(?<!\w)({number}) ({things})(?!\w)") if things else None
        taking = "|".join(
            re.escape(normalize(phrase).text) for phrase in sorted(lexicon.taking_phrases, key=len, reverse=True)
        )
        after = "svp|stp|please|pls|merci|finalement|plutot|alors|instead"  # "je prends 5 finalement"
        self._taken = re.compile(rf"(?:^|\W)(?:{taking}) ({number})(?: (?:{after}))? ?[.!]*$") if taking else None

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

    def extract(self, message: Normalized, taken: Sequence[tuple[int, int]] = ()) -> Extraction:
        """All entities in the message, ordered by where they start in the original text.

        `taken` spans (the words rules already explained) are not read as product names.
        """
        text = message.text
        found = Extraction()
        entities = found.entities
        products: list[tuple[int, int, str, float, str, tuple[tuple[int, int], ...]]] = []
        if self._product is not None:
            for match in self._product.finditer(text):
                start, end = match.span()
                code = self._codes[code_key(match.group())]
                products.append((start, end, code, 1.0, EXTRACTOR, ((start, end),)))
        spans = [(start, end) for start, end, *_ in products]
        for match in self._unknown_code.finditer(text):
            if not _overlaps(*match.span(), spans):
                found.unknown_codes.append(match.span())
        spans.extend(found.unknown_codes)
        marks = found.marks
        marks.extend((start, end, "unknown_code") for start, end in found.unknown_codes)

        for name, finder in (("amount", find_amounts), ("date", find_dates), ("time", find_times)):
            for start, end, value in finder(text):
                if not _overlaps(start, end, spans):
                    entities.append(_entity(message, name, value, start, end))
                    spans.append((start, end))
                    marks.append((start, end, name if ":" in str(value) or name != "time" else "period"))
        if self._payment is not None:
            for match in self._payment.finditer(text):
                start, end = match.span()
                if not _overlaps(start, end, spans):
                    entities.append(_entity(message, "payment_method", match.lastgroup, start, end))
                    spans.append((start, end))
                    marks.append((start, end, "payment_method"))

        # what a question about the shop is about; not a mark: the intent is read as if it were absent
        entities.extend(_entity(message, "topic", topic, start, end) for start, end, topic in find_topics(text))

        codes = {code for _, _, code, *_ in products}
        for named in self._names.find(text, [*spans, *taken], codes):
            products.append((named.start, named.end, named.code, named.confidence, named.extractor, named.parts))
        products.sort()
        self._products_and_quantities(products, message, entities, marks)
        named = {entity["entity"] for entity in entities}
        if "quantity" not in named:
            taken_spans = [*spans, *((start, end) for start, end, _ in marks)]
            counted = self._counted is not None and self._counted_quantity(
                self._counted, message, taken_spans, entities, marks)
            if not counted and self._taken is not None and "product" not in named:
                self._counted_quantity(self._taken, message, taken_spans, entities, marks, MOST_TAKEN)
        entities.sort(key=lambda entity: entity["start"])
        marks.sort()
        return found

    def _products_and_quantities(
        self,
        products: list[tuple[int, int, str, float, str, tuple[tuple[int, int], ...]]],
        message: Normalized,
        entities: list[dict[str, Any]],
        marks: list[tuple[int, int, str]],
    ) -> None:
        text = message.text
        # Text before `cursor` already belongs to an earlier product or its quantity, so the digits of
        # "robe 1" never become the quantity of the product after it.
        cursor = 0
        for start, end, code, confidence, extractor, parts in products:
            if start < cursor:
                continue
            entities.append(_entity(message, "product", code, start, end, confidence, extractor))
            # Only the words of the name count as explained: in "les sandales sont en cuir ?" the
            # product is "sandales ... cuir" but "sont" is still the buyer's own word.
            marks.append((*parts[0], "product"))
            marks.extend((*part, "product_part") for part in parts[1:])

            quantity = None
            before = self._quantity_before.search(text, cursor, start)
            if before is not None:
                # the mark covers a unit between the number and the product ("3 paquets de sucre"): the buyer's
                # words are all explained, so the rules can decide
                quantity = (before.group(1), before.start(1), before.end(1), before.end())
            cursor = end
            after = self._quantity_after.match(text, end)
            if after is not None:
                quantity = (after.group(1), after.start(1), after.end(1), after.end(1))
                cursor = after.end()
            if quantity is not None:
                word, q_start, q_end, mark_end = quantity
                value = self._number(word)
                # "x0" is a typo, not an order for nothing.
                if value:
                    entities.append(_entity(message, "quantity", value, q_start, q_end))
                    marks.append((q_start, mark_end, "quantity"))

    def _number(self, word: str) -> int | None:
        """A quantity's value: digits, or a number word ("deux", "ñaar")."""
        return int(word) if word.isdigit() else self._numbers.get(word)

    def _counted_quantity(self, counted: re.Pattern[str], message: Normalized, spans: list[tuple[int, int]],
                          entities: list[dict[str, Any]], marks: list[tuple[int, int, str]],
                          most: int | None = None) -> bool:
        """A number with no product next to it, of places or tickets ("je veux 3 places") or ending a purchase
        phrase ("je prends 2"): the quantity of whatever the conversation is about. A number in a sentence
        ("j'en veux 2 pour demain") or past `most` ("je veux 42": a size) stays none."""
        for match in counted.finditer(message.text):
            if _overlaps(*match.span(1), spans):
                continue
            value = self._number(match.group(1))
            if value and (most is None or value <= most):
                entities.append(_entity(message, "quantity", value, match.start(1), match.end(1)))
                marks.append((match.start(1), match.end(1), "quantity"))
                return True
        return False


def _overlaps(start: int, end: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(start < other_end and other_start < end for other_start, other_end in spans)


def _entity(
    message: Normalized,
    name: str,
    value: Any,
    start: int,
    end: int,
    confidence: float = 1.0,
    extractor: str = EXTRACTOR,
) -> dict[str, Any]:
    original_start, original_end = message.span(start, end)
    return {
        "entity": name,
        "value": value,
        "start": original_start,
        "end": original_end,
        "confidence": confidence,
        "extractor": extractor,
    }

