"""The rule layer: keyword and entity rules, and whether they explain the whole message.

A message made only of rule words, entities and fillers ("bjr", "oui par wave", "jveu 2 sac2 svp") is
decided here, exactly and in microseconds. Anything else ("c combien ROBE1", "le sac est arrivé déchiré")
goes to the classifier, which sees the rule hits as features.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from intents.entities import CatalogueItem, EntityExtractor, Extraction
from intents.lexicon import DIALOG_WORDS, ENTITY_INTENTS, INTENT_PRIORITY, RULE_CONFLICTS, Lexicon
from intents.matching import phrases_regex
from intents.normalize import Normalized, normalize

OUT_OF_SCOPE = "out_of_scope"
BUY = "buy"

# A rule hit is trusted (0.9-1.0), slightly less when the message also triggered other intents.
SOLE_HIT_CONFIDENCE = 0.95
CONTESTED_HIT_CONFIDENCE = 0.9
# Runners-up stay well below any winner so a caller thresholding on confidence never picks them.
_RUNNER_UP_CONFIDENCE = 0.6
_RUNNER_UP_STEP = 0.1
_RUNNER_UP_FLOOR = 0.2
_OUT_OF_SCOPE_AFTER_HIT = 0.1
# A message that is only a code-like word absent from the catalogue ("ROBE99", "je veux robe 99"): a purchase
# naming no known product (NLU-LABELS.md: a code alone is `buy`), which the dialogs answer with the catalogue.
UNKNOWN_CODE_CONFIDENCE = 0.9

_TOKEN = re.compile(r"\w+")


@dataclass
class Analysis:
    """One message as the rules see it."""

    message: Normalized
    extraction: Extraction
    # Intents whose rules fired, in priority order.
    hits: list[str]
    # Every word is a rule match, an entity or a filler.
    covered: bool
    tokens: int
    # A product named in a question with no purchase word ("le foulard c'est de la soie ?"): not the rules' `buy`.
    product_question: bool = False
    # A purchase word fired ("je prends", "commander"), not only a product named.
    buy_words: bool = False


class RuleLayer:
    def __init__(
        self,
        catalogue: Iterable[CatalogueItem],
        lexicon: Lexicon,
        synonyms: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.lexicon = lexicon
        self.entities = EntityExtractor(catalogue, lexicon, synonyms)
        self._keyword_rules: dict[str, re.Pattern[str]] = {}
        for intent in INTENT_PRIORITY:
            phrases = lexicon.intent_phrases.get(intent, ())
            patterns = lexicon.intent_patterns.get(intent, ())
            if phrases or patterns:
                self._keyword_rules[intent] = re.compile(phrases_regex(phrases, patterns))
        self._fillers = frozenset(normalize(word).text for word in lexicon.fillers)
        self._availability = _phrases(lexicon.availability_phrases)
        self._taking = _phrases(lexicon.taking_phrases)

    def analyse(self, text: str) -> Analysis:
        message = normalize(text)
        normalised = message.text
        matches: list[tuple[int, int, str]] = []
        for intent, rule in self._keyword_rules.items():
            for match in rule.finditer(normalised):
                if match.end() > match.start():
                    matches.append((match.start(), match.end(), intent))
        # A match inside a longer match of another intent is part of it: "pas d'accord" is no "d'accord".
        matches = [
            (start, end, intent)
            for start, end, intent in matches
            if not any(
                outer_start <= start and end <= outer_end and outer_end - outer_start > end - start
                for outer_start, outer_end, other in matches
                if other != intent
            )
        ]
        keyword_hits = {intent for _, _, intent in matches}
        rule_spans = [(start, end) for start, end, _ in matches]
        extraction = self.entities.extract(message, rule_spans)
        kinds = {kind for _, _, kind in extraction.marks}
        hits = [
            intent
            for intent in INTENT_PRIORITY
            if intent in keyword_hits or (intent in ENTITY_INTENTS and ENTITY_INTENTS[intent] in kinds)
        ]
        spans = rule_spans + [(start, end) for start, end, _ in extraction.marks]
        covered = True
        tokens = 0
        for token in _TOKEN.finditer(normalised):
            tokens += 1
            if not covered:
                continue
            start, end = token.span()
            if token.group() in self._fillers:
                continue
            if not any(start < other_end and other_start < end for other_start, other_end in spans):
                covered = False
        product_question = hits == [BUY] and BUY not in keyword_hits and "?" in normalised
        return Analysis(message, extraction, hits, covered, tokens, product_question, BUY in keyword_hits)

    def asks_availability(self, analysis: Analysis) -> bool:
        """"vous avez la robe en rouge": whether something is there, with no purchase or taking word and no
        quantity. Asked only of a message read `buy` or `complaint`, so other messages pay nothing for it."""
        text = analysis.message.text
        return (
            self._availability is not None and not analysis.buy_words
            and all(kind != "quantity" for _, _, kind in analysis.extraction.marks)
            and bool(self._availability.search(text))
            and not (self._taking is not None and self._taking.search(text))
        )

    def decide(self, analysis: Analysis) -> list[tuple[str, float]] | None:
        """The rules' ranking when they explain the whole message, else None (the classifier's turn)."""
        if not analysis.covered or analysis.product_question:
            return None
        hits = analysis.hits
        if not hits:
            if analysis.extraction.unknown_codes:
                return [(BUY, UNKNOWN_CODE_CONFIDENCE)]
            return None
        for intent, conflicts in RULE_CONFLICTS.items():
            if intent in hits and conflicts.intersection(hits):
                return None
        return ranking(hits)


def _phrases(phrases: Sequence[str]) -> re.Pattern[str] | None:
    return re.compile(phrases_regex([normalize(p).text for p in phrases])) if phrases else None


def ranking(matched: list[str]) -> list[tuple[str, float]]:
    winner = SOLE_HIT_CONFIDENCE if len(matched) == 1 else CONTESTED_HIT_CONFIDENCE
    stand_in = DIALOG_WORDS.get(matched[0])
    if stand_in is not None and stand_in not in matched:
        matched = [matched[0], stand_in, *matched[1:]]
    result = [(matched[0], winner)]
    for place, intent in enumerate(matched[1:]):
        confidence = max(_RUNNER_UP_CONFIDENCE - place * _RUNNER_UP_STEP, _RUNNER_UP_FLOOR)
        result.append((intent, round(confidence, 2)))
    result.append((OUT_OF_SCOPE, _OUT_OF_SCOPE_AFTER_HIT))
    return result
