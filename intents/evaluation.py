"""`palabre nlu eval`: intent and entity scores of a parser on a labelled YAML file, and parse latency.

An eval file is a YAML list of items:

    - {text: "jveu 2 sac2 svp", intent: buy, locale: fr,
       entities: [{entity: quantity, value: 2}, {entity: product, value: SAC2}]}

`entities` is optional; when present, the item's entities are scored as a multiset of (entity, value)
pairs. `greeting` is read as `greet` (INTENT_ALIASES). The catalogue the texts refer to is a YAML list of
{code, name}, or a vendor file (its `catalogue`, and its `nlu` examples and synonyms when present); by
default the reference test catalogue, intents/data/test_catalogue.yaml.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml

from intents.entities import CatalogueItem
from intents.lexicon import DIALOG_WORDS, INTENT_ALIASES
from intents.normalize import normalize

DEFAULT_CATALOGUE = Path(__file__).resolve().parent / "data" / "test_catalogue.yaml"
_TOP_CONFUSIONS = 12
_LATENCY_PASSES = 3
# Bootstrap intervals: items resampled with replacement, a fixed seed so that two runs print the same interval.
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 12


class Parser(Protocol):
    def parse(self, text: str | None, payload: str | None = None) -> dict[str, Any]: ...


@dataclass(frozen=True)
class EvalItem:
    text: str
    intent: str
    locale: str = "fr"
    # None: not scored for entities; a tuple (maybe empty): exactly these are expected.
    entities: tuple[tuple[str, Any], ...] | None = None
    # Where a third-party text comes from (scores are also given per source).
    source: str = ""


@dataclass
class CatalogueSpec:
    items: list[CatalogueItem]
    examples: dict[str, list[str]] = field(default_factory=dict)
    synonyms: dict[str, list[str]] = field(default_factory=dict)
    threshold: float | None = None


def canonical_intent(name: str) -> str:
    """The label a prediction is scored as: aliases folded, and a dialog word scored as the intent a dialog
    without that button reads (NLU-LABELS.md has no `quote`: "un devis pour 30 t-shirts" is product_info)."""
    name = INTENT_ALIASES.get(name, name)
    return DIALOG_WORDS.get(name, name)


def load_items(path: str | Path) -> list[EvalItem]:
    """Read an eval file; raises ValueError naming the item at fault."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict) and "items" in data:
        data = data["items"]
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a YAML list of {{text, intent, locale}} items")
    items = []
    for number, raw in enumerate(data, 1):
        if not isinstance(raw, dict) or not isinstance(raw.get("text"), str) or not raw.get("intent"):
            raise ValueError(f"{path}: item {number} needs a text and an intent: {raw!r}")
        entities = raw.get("entities")
        pairs = None
        if entities is not None:
            if not isinstance(entities, list) or not all(
                isinstance(e, dict) and "entity" in e and "value" in e for e in entities
            ):
                raise ValueError(f"{path}: item {number}: entities must be a list of {{entity, value}}")
            pairs = tuple((str(e["entity"]), _value(e["value"])) for e in entities)
        items.append(EvalItem(raw["text"], canonical_intent(str(raw["intent"])), str(raw.get("locale") or "fr"),
                              pairs, str(raw.get("source") or "")))
    return items


def load_catalogue(path: str | Path | None = None) -> CatalogueSpec:
    """A list of {code, name}, or a vendor YAML file (catalogue plus its nlu section)."""
    data = yaml.safe_load(Path(path or DEFAULT_CATALOGUE).read_text(encoding="utf-8"))
    nlu: dict[str, Any] = {}
    if isinstance(data, dict):
        nlu = data.get("nlu") or {}
        data = data.get("catalogue")
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of {{code, name}} or a vendor file with a catalogue")
    items = [CatalogueItem(str(entry["code"]).upper(), str(entry["name"])) for entry in data]
    return CatalogueSpec(items, dict(nlu.get("examples") or {}), dict(nlu.get("synonyms") or {}),
                         nlu.get("threshold"))


def evaluate(parser_for: Callable[[str], Parser], items: Sequence[EvalItem], *, latency: bool = True,
             intervals: bool = False) -> dict[str, Any]:
    """Score the parser on the items; `parser_for(locale)` gives the parser for an item's locale."""
    results = [parser_for(item.locale).parse(item.text) for item in items]
    report = score(items, results)
    if intervals:
        report["intervals"] = bootstrap_intervals(
            [item.intent for item in items], [canonical_intent(r["intent"]["name"]) for r in results])
    latencies = _latencies(parser_for, items) if latency else []
    report["latency_ms_p50"] = _round(_percentile(latencies, 50), 4)
    report["latency_ms_p99"] = _round(_percentile(latencies, 99), 4)
    report["latency_ms_max"] = _round(max(latencies, default=0.0), 4)
    return report


def score(items: Sequence[EvalItem], results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Intent and entity scores of parse results against the items' labels (same order)."""
    gold: list[str] = []
    predicted: list[str] = []
    errors: list[dict[str, Any]] = []
    entity_counts: dict[str, Counter[str]] = {}
    for item, result in zip(items, results, strict=True):
        name = canonical_intent(result["intent"]["name"])
        gold.append(item.intent)
        predicted.append(name)
        entity_errors: dict[str, list] = {}
        if item.entities is not None:
            expected = Counter((entity, _value(value)) for entity, value in item.entities)
            found = Counter((e["entity"], _value(e["value"])) for e in result["entities"])
            for (entity, _), count in (expected & found).items():
                entity_counts.setdefault(entity, Counter())["tp"] += count
            for (entity, _), count in (found - expected).items():
                entity_counts.setdefault(entity, Counter())["fp"] += count
            for (entity, _), count in (expected - found).items():
                entity_counts.setdefault(entity, Counter())["fn"] += count
            missing, extra = expected - found, found - expected
            if missing or extra:
                entity_errors = {"missing": sorted(missing.elements(), key=str),
                                 "unexpected": sorted(extra.elements(), key=str)}
        if name != item.intent or entity_errors:
            errors.append({"text": item.text, "intent": item.intent, "predicted": name,
                           "confidence": result["intent"]["confidence"], **entity_errors})

    labels = sorted(set(gold) | set(predicted))
    per_intent = {}
    for label in labels:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p == label)
        fp = sum(1 for g, p in zip(gold, predicted, strict=True) if p == label and g != label)
        fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p != label)
        per_intent[label] = {**_prf(tp, fp, fn), "support": tp + fn}
    confusion: Counter[tuple[str, str]] = Counter(
        (g, p) for g, p in zip(gold, predicted, strict=True) if g != p
    )
    per_entity = {
        entity: {**_prf(c["tp"], c["fp"], c["fn"]), "support": c["tp"] + c["fn"]}
        for entity, c in sorted(entity_counts.items())
    }
    total = Counter()
    for c in entity_counts.values():
        total.update(c)
    return {
        "items": len(items),
        "accuracy": _round(sum(g == p for g, p in zip(gold, predicted, strict=True)) / max(len(items), 1)),
        "macro_f1": _round(statistics.fmean(v["f1"] for v in per_intent.values()) if per_intent else 0.0),
        # over the intents the labels contain (a file with no complaint cannot score complaint recall)
        "macro_f1_present": _round(statistics.fmean(v["f1"] for v in per_intent.values() if v["support"])
                                   if any(v["support"] for v in per_intent.values()) else 0.0),
        "per_intent": per_intent,
        "entity_f1": {entity: scores["f1"] for entity, scores in per_entity.items()},
        "entity_micro_f1": _prf(total["tp"], total["fp"], total["fn"])["f1"],
        "per_entity": per_entity,
        "confusions": [
            {"intent": g, "predicted": p, "count": n,
             "examples": [e["text"] for e in errors if e["intent"] == g and e["predicted"] == p][:3]}
            for (g, p), n in confusion.most_common(_TOP_CONFUSIONS)
        ],
        "errors": errors,
    }


def bootstrap_intervals(gold: Sequence[str], predicted: Sequence[str], *, resamples: int = BOOTSTRAP_RESAMPLES,
                        seed: int = BOOTSTRAP_SEED, level: float = 0.95) -> dict[str, Any]:
    """Percentile bootstrap intervals of accuracy, macro-F1 over the intents present, and each labelled intent's
    F1: the items are drawn with replacement `resamples` times. A resample holding none of an intent's items
    says nothing about that intent's F1 and is left out of its interval."""
    gold_array, predicted_array = np.asarray(gold), np.asarray(predicted)
    if not len(gold_array):
        raise ValueError("no items to resample")
    draws = np.random.default_rng(seed).integers(0, len(gold_array), size=(resamples, len(gold_array)))
    gold_drawn, predicted_drawn = gold_array[draws], predicted_array[draws]
    tails = (100 * (1 - level) / 2, 100 * (1 + level) / 2)

    def interval(values: np.ndarray) -> list[float]:
        low, high = np.nanpercentile(values, tails)
        return [_round(float(low)), _round(float(high))]

    per_intent = {}
    f1s = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for label in sorted(set(gold)):
            is_gold, is_predicted = gold_drawn == label, predicted_drawn == label
            tp = (is_gold & is_predicted).sum(axis=1)
            wrong = (is_gold ^ is_predicted).sum(axis=1)  # false positives plus false negatives
            f1 = np.where(is_gold.any(axis=1), 2 * tp / (2 * tp + wrong), np.nan)
            f1s.append(f1)
            per_intent[label] = interval(f1)
    return {"resamples": resamples, "seed": seed, "level": level,
            "accuracy": interval((gold_drawn == predicted_drawn).mean(axis=1)),
            "macro_f1_present": interval(np.nanmean(np.vstack(f1s), axis=0)),
            "per_intent": per_intent}


def format_report(report: Mapping[str, Any], *, errors: int = 20) -> str:
    intervals = report.get("intervals") or {}
    ranges = intervals.get("per_intent", {})
    heading = f"  {round(100 * intervals['level'])}% interval" if intervals else ""
    lines = [f"{'intent':<14} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}{heading}"]
    for intent, scores in report["per_intent"].items():
        span = f"  [{ranges[intent][0]:.3f}, {ranges[intent][1]:.3f}]" if intent in ranges else ""
        lines.append(f"{intent:<14} {scores['precision']:>9.3f} {scores['recall']:>7.3f} {scores['f1']:>6.3f} "
                     f"{scores['support']:>8}{span}")
    lines.append("")
    lines.append(f"items {report['items']}   accuracy {report['accuracy']:.3f}   macro-F1 {report['macro_f1']:.3f}"
                 f"   macro-F1 over the intents present {report['macro_f1_present']:.3f}")
    if intervals:
        lines.append(f"bootstrap ({intervals['resamples']} resamples of the items, seed {intervals['seed']}): "
                     f"accuracy [{intervals['accuracy'][0]:.3f}, {intervals['accuracy'][1]:.3f}]   "
                     f"macro-F1 over the intents present [{intervals['macro_f1_present'][0]:.3f}, "
                     f"{intervals['macro_f1_present'][1]:.3f}]")
    if report["per_entity"]:
        lines.append("")
        lines.append(f"{'entity':<14} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}")
        for entity, scores in report["per_entity"].items():
            lines.append(f"{entity:<14} {scores['precision']:>9.3f} {scores['recall']:>7.3f} "
                         f"{scores['f1']:>6.3f} {scores['support']:>8}")
    lines.append("")
    if report["confusions"]:
        lines.append("most frequent confusions (intent -> predicted):")
        for c in report["confusions"]:
            examples = "; ".join(f"«{text}»" for text in c["examples"])
            lines.append(f"  {c['intent']} -> {c['predicted']}: {c['count']}   {examples}")
    else:
        lines.append("no intent confusions")
    shown = report["errors"][:errors]
    if shown:
        lines.append("")
        lines.append(f"errors (first {len(shown)} of {len(report['errors'])}):")
        for e in shown:
            detail = ""
            if e.get("missing") or e.get("unexpected"):
                detail = f"  entities missing {e.get('missing', [])} unexpected {e.get('unexpected', [])}"
            lines.append(f"  «{e['text']}» {e['intent']} -> {e['predicted']} ({e['confidence']}){detail}")
    lines.append("")
    lines.append(f"latency per parse: p50 {report['latency_ms_p50']:.3f} ms   p99 {report['latency_ms_p99']:.3f} ms"
                 f"   max {report['latency_ms_max']:.3f} ms")
    return "\n".join(lines)


def run(file: str | Path, catalogue: str | Path | None = None, *, as_json: bool = False,
        second_opinion: bool | None = None, intervals: bool = False) -> str:
    """What `palabre nlu eval` prints. Items whose text is also a training example are not scored (copying
    an evaluation set into the training data must gain nothing). `intervals` adds 95% bootstrap intervals."""
    from intents.parser import NluParser
    from intents.training import builtin_texts

    items = load_items(file)
    seen = {normalize(text).text for text in builtin_texts()}
    dropped = [item for item in items if normalize(item.text).text in seen]
    items = [item for item in items if normalize(item.text).text not in seen]
    spec = load_catalogue(catalogue)
    parsers: dict[str, NluParser] = {}

    def parser_for(locale: str) -> NluParser:
        if locale not in parsers:
            parsers[locale] = NluParser(spec.items, locale=locale, examples=spec.examples or None,
                                        synonyms=spec.synonyms or None, threshold=spec.threshold,
                                        second_opinion=second_opinion)
        return parsers[locale]

    report = evaluate(parser_for, items, intervals=intervals)
    report["catalogue"] = str(catalogue or DEFAULT_CATALOGUE)
    report["dropped_seen_in_training"] = len(dropped)
    report["second_opinion"] = any(parser._opinion is not None for parser in parsers.values())
    by_source: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_source.setdefault(item.source.split(" ")[0] if item.source else "own", []).append(index)
    if len(by_source) > 1:
        report["macro_f1_by_source"] = {}
        for source, indices in sorted(by_source.items()):
            subset = [items[i] for i in indices]
            results = [parser_for(item.locale).parse(item.text) for item in subset]
            report["macro_f1_by_source"][source] = score(subset, results)["macro_f1_present"]
    if as_json:
        return json.dumps(report, ensure_ascii=False, default=str)
    head = (f"catalogue: {report['catalogue']}   second opinion: {'on' if report['second_opinion'] else 'off'}"
            f"   not scored (also in training): {len(dropped)}\n")
    tail = ""
    if "macro_f1_by_source" in report:
        tail = "\nmacro-F1 (intents present) by source: " + "   ".join(
            f"{source} {f1:.3f}" for source, f1 in report["macro_f1_by_source"].items())
    return head + format_report(report) + tail


def _latencies(parser_for: Callable[[str], Parser], items: Iterable[EvalItem]) -> list[float]:
    items = list(items)
    for item in items:  # warm-up: parsers built, caches filled
        parser_for(item.locale).parse(item.text)
    timings = []
    for _ in range(_LATENCY_PASSES):
        for item in items:
            parser = parser_for(item.locale)
            # every pass reads the texts as new: remembered second opinions would hide their cost
            forget = getattr(parser, "forget", None)
            if forget is not None:
                forget()
            start = time.perf_counter_ns()
            parser.parse(item.text)
            timings.append((time.perf_counter_ns() - start) / 1e6)
    return timings


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    if tp + fp + fn == 0:
        precision = recall = f1 = 1.0
    return {"precision": _round(precision), "recall": _round(recall), "f1": _round(f1)}


def _percentile(values: Sequence[float], percent: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * percent / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _round(value: float, digits: int = 4) -> float:
    return round(value, digits)


def _value(value: Any) -> Any:
    """Compare 2 and "2", "ROBE1" and "robe1" alike."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return int(value) if float(value).is_integer() else float(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return text.casefold()
