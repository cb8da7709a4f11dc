"""NluParser: turns a message or a button payload into a Rasa-shaped parse result.

Layers, first answer wins:
1. a button payload is the intent, exactly (confidence 1.0);
2. rules: when keyword rules, entities (catalogue codes, quantities, payment methods...) and filler
   words explain the whole message, the rules decide (0.9-0.95);
3. the classifier (intents.classifier) reads everything else, with the rule hits as features; a long
   message is also read clause by clause (intents.clauses) and its clearest request clause weighs in;
4. below the confidence threshold, or `buy` with no catalogue product to buy, it is out_of_scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from intents import encoder
from intents.clauses import clauses, without_social_edges
from intents.encoder import SecondOpinion
from intents.entities import CatalogueItem
from intents.features import classifier_input
from intents.lexicon import DIALOG_WORDS, LEXICONS
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
# What a buyer asks for, as opposed to the social wrapping around it (greetings, thanks, "ok").
_REQUESTS = frozenset({
    "product_info", "buy", "order_status", "payment", "complaint", "appointment", "human", "menu", "help", "cancel",
    *DIALOG_WORDS,
})
# A clause is a request when the classifier gives a request intent at least this much; the clearest request
# clause then weighs this much against the whole message. Grouped cross-validation, with few long messages,
# does not move with them (0.683 either way); they were set on long messages written for the purpose.
CLAUSE_MIN_CONFIDENCE = 0.5
CLAUSE_WEIGHT = 0.5


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

        whole = text[:MAX_PARSED_CHARS]
        parts = clauses(whole)
        ranked: list[tuple[str, float]] | None = None
        if parts:
            # "Salaamaalekum. <request>. Merci": greetings, thanks and farewells around a request are not
            # what it asks (NLU-LABELS.md: label the request). The rest is read as the message when it
            # holds a request or something clearly out of scope; else ("merci pour tout, vraiment") the whole.
            core = without_social_edges(parts, self._rules)
            if len(core) < len(parts):
                core_text = " ".join(core)
                core_analysis = self._rules.analyse(core_text)
                decided = self._rules.decide(core_analysis)
                if decided is not None and decided[0][0] in _REQUESTS:
                    return _result(text, decided, entities)
                core_ranked = self._model.ranking(*classifier_input(core_analysis))
                name, confidence = core_ranked[0]
                if (name in _REQUESTS or name == OUT_OF_SCOPE) and confidence >= self.threshold:
                    parts, analysis, ranked = core, core_analysis, core_ranked
        if ranked is None:
            ranked = self._model.ranking(*classifier_input(analysis))
        if len(parts) > 1:
            ranked = self._weigh_clauses(ranked, parts)
        ranked = ranked[:_RANKING_LENGTH]
        if self._opinion is not None and ranked[0][1] < self._opinion.consult_below:
            # the encoder reads the whole message, as its layer was trained (issue 12's sixth round: reading the
            # request clause instead scored 0.004 lower in grouped cross-validation)
            ranked = encoder.blend(ranked, self._opinion.probabilities(whole), self._opinion.weight)
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
        read = ranked[0][0]
        if (read == "buy" or (read == "complaint" and "complaint" not in analysis.hits and has_product)) \
                and self._rules.asks_availability(analysis):
            # "vous avez la robe en rouge" asks whether it is there (NLU-LABELS.md: product_info); the live seller
            # would otherwise reserve the dress. Read `complaint` with no complaint word ("vs avez le sac en noir",
            # after "vous avez envoyé la mauvaise robe" in training), it is the same question.
            top = ranked[0][1]
            rest = [(n, c) for n, c in ranked[1:] if n != "product_info"]
            ranked = [("product_info", top), (read, min(1.0 - top, top)), *rest]
        if ranked[0][0] == OUT_OF_SCOPE and any(entity["entity"] == "quantity" for entity in entities):
            # A number of things asked for ("il me faut 200 sacs", "3 places svp") is a purchase of whatever the
            # conversation is on, not something a seller's bot should not handle (NLU-LABELS.md)
            top = max(ranked[0][1], _RULE_FALLBACK_CONFIDENCE)
            rest = [(n, min(c, 1.0 - top) if n == OUT_OF_SCOPE else c) for n, c in ranked if n != "buy"]
            ranked = [("buy", top), *rest]
        return _result(text, [(intent, round(score, 4)) for intent, score in ranked[:_RANKING_LENGTH]], entities)

    def forget(self) -> None:
        """Forget the second opinions remembered for repeated texts (benchmarks measure new texts)."""
        if self._opinion is not None:
            self._opinion.forget()

    def _weigh_clauses(self, ranked: list[tuple[str, float]], parts: list[str]) -> list[tuple[str, float]]:
        """The whole message's ranking mixed with that of its clearest request clause, if one is clear:
        "bonjour, ..., mais le sac est arrivé déchiré" is the complaint, not the greeting or the context."""
        assert self._model is not None
        best: dict[str, float] | None = None
        strongest = CLAUSE_MIN_CONFIDENCE
        for part in parts:
            analysis = self._rules.analyse(part)
            decided = self._rules.decide(analysis)
            scores = dict(decided) if decided is not None else dict(self._model.ranking(*classifier_input(analysis)))
            request = max((score for name, score in scores.items() if name in _REQUESTS), default=0.0)
            if request >= strongest:
                best, strongest = scores, request
        if best is None:
            return ranked
        whole = dict(ranked)
        # Wishes, thanks or a yes around a clear request never outrank it (NLU-LABELS.md: label the request).
        weight = CLAUSE_WEIGHT if ranked[0][0] in _REQUESTS or ranked[0][0] == OUT_OF_SCOPE else 1.0
        mixed = {name: (1 - weight) * whole.get(name, 0.0) + weight * best.get(name, 0.0)
                 for name in whole.keys() | best.keys()}
        return sorted(mixed.items(), key=lambda pair: -pair[1])


def _result(text: str, ranking: list[tuple[str, float]], entities: list[dict[str, Any]]) -> dict[str, Any]:
    name, confidence = ranking[0]
    return {
        "text": text,
        "intent": {"name": name, "confidence": confidence},
        "intent_ranking": [{"name": intent, "confidence": score} for intent, score in ranking],
        "entities": entities,
    }
