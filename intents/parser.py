"""NluParser: turns a message or a button payload into a Rasa-shaped parse result.

Layers, first answer wins:
1. a button payload is the intent, exactly (confidence 1.0);
2. rules: when keyword rules, entities (catalogue codes, quantities, payment methods...) and filler
   words explain the whole message, the rules decide (0.9-0.95);
3. the classifier (intents.classifier) reads everything else, with the rule hits as features;
4. below the confidence threshold, or `buy` with no catalogue product to buy, it is out_of_scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from intents import encoder
from intents.encoder import SecondOpinion
from intents.entities import CatalogueItem
from intents.features import classifier_input
from intents.lexicon import LEXICONS
from intents.rules import OUT_OF_SCOPE, RuleLayer
from intents.rules import ranking as rule_ranking

# Below this classifier probability a message is out_of_scope (chosen by cross-validation on the training
# data; vendors may set their own in their YAML).
DEFAULT_THRESHOLD = 0.4
# With the sentence-encoder second opinion the blended confidences are flatter: its own cross-validated value.
DEFAULT_THRESHOLD_WITH_OPINION = 0.3
# When the classifier is unsure but some rule fired, the rule's intent is kept at this confidence.
_RULE_FALLBACK_CONFIDENCE = 0.6
_NO_RULE_CONFIDENCE = 0.3
_RANKING_LENGTH = 10
MAX_PARSED_CHARS = 2000


class NluParser:
    """Intents and entities of buyers' messages, fast enough to run on every inbound message."""

    def __init__(
        self,
        catalogue: Iterable[CatalogueItem] = (),
        locale: str = "fr",
        *,
        examples: Mapping[str, Sequence[str]] | None = None,
        synonyms: Mapping[str, Sequence[str]] | None = None,
        threshold: float | None = None,
        classifier: bool = True,
        buy_requires_product: bool = False,
        second_opinion: bool | None = None,
    ) -> None:
        """`examples` (intent -> texts) and `synonyms` (product code -> phrases) come from the vendor;
        `classifier=False` gives the rules alone (what v1 did). `second_opinion`: ask the sentence encoder
        when the classifier is unsure (None: when `palabre[nlu]` is installed; True: required)."""
        language = locale.replace("-", "_").split("_")[0].lower()
        lexicon = LEXICONS.get(language)
        if lexicon is None:
            raise ValueError(f"no intent lexicon for locale {locale!r}; known: {sorted(LEXICONS)}")
        catalogue = list(catalogue)
        self.locale = locale
        self.buy_requires_product = buy_requires_product
        self._rules = RuleLayer(catalogue, lexicon, synonyms)
        self._model = None
        self._opinion: SecondOpinion | None = None
        if classifier:
            from intents.training import model_for

            self._model = model_for(language, lexicon, examples, catalogue, synonyms)
            if second_opinion or (second_opinion is None and encoder.wanted()):
                from intents.training import opinion_for

                self._opinion = opinion_for(language, examples)
        elif second_opinion:
            raise ValueError("the second opinion needs the classifier")
        elif examples:
            raise ValueError("vendor examples need the classifier")
        if threshold is None:
            threshold = DEFAULT_THRESHOLD if self._opinion is None else DEFAULT_THRESHOLD_WITH_OPINION
        self.threshold = threshold

    def parse(self, text: str | None, payload: str | None = None) -> dict[str, Any]:
        """Parse one inbound message; an exact button payload wins over anything in the text."""
        if payload is not None and payload.strip():
            return _result(payload, [(payload.strip().lower(), 1.0)], [])
        if text is None or not text.strip():
            return _result(text or "", [(OUT_OF_SCOPE, 0.0)], [])

        # Chat messages are short; a huge one (a paste, an attack) is read up to a bound, in linear time.
        analysis = self._rules.analyse(text[:MAX_PARSED_CHARS])
        entities = analysis.extraction.entities
        decided = self._rules.decide(analysis)
        if decided is not None:
            return _result(text, decided, entities)
        if self._model is None:
            if analysis.hits:
                return _result(text, rule_ranking(analysis.hits), entities)
            return _result(text, [(OUT_OF_SCOPE, _NO_RULE_CONFIDENCE)], entities)

        features, extras = classifier_input(analysis)
        ranked = self._model.ranking(features, extras)[:_RANKING_LENGTH]
        if self._opinion is not None and ranked[0][1] < encoder.CONSULT_BELOW:
            ranked = encoder.blend(ranked, self._opinion.probabilities(text[:MAX_PARSED_CHARS]))
        name, confidence = ranked[0]
        has_product = any(entity["entity"] == "product" for entity in entities)
        if name == "buy" and self.buy_requires_product and not has_product:
            # Wanting to buy with nothing from the catalogue to buy: the fallback asks for a code.
            ranked = [(OUT_OF_SCOPE, confidence), *[pair for pair in ranked if pair[0] != OUT_OF_SCOPE]]
        elif name != OUT_OF_SCOPE and confidence < self.threshold:
            if analysis.hits:
                # Unsure, but a rule fired ("buy" only fires with a product): trust the rule.
                first = analysis.hits[0]
                rest = [pair for pair in ranked if pair[0] != first]
                # it ranks first, so at least as high as the classifier's own best guess
                ranked = [(first, max(confidence, _RULE_FALLBACK_CONFIDENCE)), *rest]
            else:
                rest = [pair for pair in ranked if pair[0] != OUT_OF_SCOPE]
                ranked = [(OUT_OF_SCOPE, max(1.0 - confidence, confidence)), *rest]
        return _result(text, [(intent, round(score, 4)) for intent, score in ranked[:_RANKING_LENGTH]], entities)


def _result(text: str, ranking: list[tuple[str, float]], entities: list[dict[str, Any]]) -> dict[str, Any]:
    name, confidence = ranking[0]
    return {
        "text": text,
        "intent": {"name": name, "confidence": confidence},
        "intent_ranking": [{"name": intent, "confidence": score} for intent, score in ranking],
        "entities": entities,
    }
