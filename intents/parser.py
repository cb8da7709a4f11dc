"""NluParser: turns a message or a button payload into a Rasa-shaped parse result."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from intents.entities import CatalogueItem, EntityExtractor
from intents.lexicon import ENTITY_INTENTS, INTENT_PRIORITY, LEXICONS
from intents.matching import phrases_regex
from intents.normalize import normalize

OUT_OF_SCOPE = "out_of_scope"

# A rule hit is trusted (0.9-1.0), slightly less when the message also triggered other intents.
_SOLE_HIT_CONFIDENCE = 0.95
_CONTESTED_HIT_CONFIDENCE = 0.9
# Runners-up stay well below any winner so a caller thresholding on confidence never picks them.
_RUNNER_UP_CONFIDENCE = 0.6
_RUNNER_UP_STEP = 0.1
_RUNNER_UP_FLOOR = 0.2
_OUT_OF_SCOPE_AFTER_HIT = 0.1
_NO_RULE_CONFIDENCE = 0.3


class NluParser:
    """Rule-based intent and entity parser, fast enough to run on every inbound message."""

    def __init__(self, catalogue: Iterable[CatalogueItem] = (), locale: str = "fr") -> None:
        language = locale.replace("-", "_").split("_")[0].lower()
        lexicon = LEXICONS.get(language)
        if lexicon is None:
            raise ValueError(f"no intent lexicon for locale {locale!r}; known: {sorted(LEXICONS)}")
        self.locale = locale
        self._entities = EntityExtractor(catalogue, lexicon)
        self._keyword_rules: dict[str, re.Pattern[str]] = {
            intent: re.compile(
                phrases_regex(
                    lexicon.intent_phrases.get(intent, ()), lexicon.intent_patterns.get(intent, ())
                )
            )
            for intent in INTENT_PRIORITY
            if intent not in ENTITY_INTENTS
        }

    def parse(self, text: str | None, payload: str | None = None) -> dict[str, Any]:
        """Parse one inbound message; an exact button payload wins over anything in the text."""
        if payload is not None and payload.strip():
            return _result(payload, [(payload.strip().lower(), 1.0)], [])
        if text is None or not text.strip():
            return _result(text or "", [(OUT_OF_SCOPE, 0.0)], [])

        message = normalize(text)
        entities = self._entities.extract(message)
        found = {entity["entity"] for entity in entities}
        matched = [
            intent
            for intent in INTENT_PRIORITY
            if (
                ENTITY_INTENTS[intent] in found
                if intent in ENTITY_INTENTS
                else self._keyword_rules[intent].search(message.text) is not None
            )
        ]
        return _result(text, _ranking(matched), entities)


def _ranking(matched: list[str]) -> list[tuple[str, float]]:
    if not matched:
        return [(OUT_OF_SCOPE, _NO_RULE_CONFIDENCE)]
    winner = _SOLE_HIT_CONFIDENCE if len(matched) == 1 else _CONTESTED_HIT_CONFIDENCE
    ranking = [(matched[0], winner)]
    for place, intent in enumerate(matched[1:]):
        confidence = max(_RUNNER_UP_CONFIDENCE - place * _RUNNER_UP_STEP, _RUNNER_UP_FLOOR)
        ranking.append((intent, round(confidence, 2)))
    ranking.append((OUT_OF_SCOPE, _OUT_OF_SCOPE_AFTER_HIT))
    return ranking


def _result(text: str, ranking: list[tuple[str, float]], entities: list[dict[str, Any]]) -> dict[str, Any]:
    name, confidence = ranking[0]
    return {
        "text": text,
        "intent": {"name": name, "confidence": confidence},
        "intent_ranking": [{"name": intent, "confidence": score} for intent, score in ranking],
        "entities": entities,
    }
