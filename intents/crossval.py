"""Cross-validation on the built-in training data: `palabre nlu eval --cv` (or `python -m intents.crossval`).

Honest figures need held-out messages that are not near-copies of training ones: examples are first cut
into paraphrase groups (same intent, clustered by character-trigram cosine, average linkage), and a group
always falls in one fold. Each fold's messages go through the whole parser (rules, classifier, threshold),
trained on the other folds only; augmentation is applied to the training folds only. The out-of-scope
threshold is chosen here, on these out-of-fold predictions, never on an evaluation set. A second check
trains on fr.yaml alone and scores en.yaml (English phrasing the French data never showed). `--batch FILE`
judges a batch of new training data on fixed folds (compare_batch); `--relabel-from DIR` judges a relabelling
of the data against its copy in DIR, on the same folds (compare_relabel).
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from intents.classifier import train
from intents.encoder import SecondOpinion, train_opinion
from intents.evaluation import EvalItem, score
from intents.lexicon import LEXICONS
from intents.normalize import normalize
from intents.parser import DEFAULT_THRESHOLD, DEFAULT_THRESHOLD_WITH_OPINION, NluParser
from intents.rules import RuleLayer
from intents.training import (
    DATA_DIR,
    TRAINING_FILES,
    _builtin,
    augment,
    examples_from,
    load_data_file,
    read_training,
    request_rows,
)

# Groups are cut where their average character-trigram cosine falls below this: near-copies (cosine >= 0.8)
# almost never straddle folds (0.1% of pairs), 6.5% of pairs at 0.6-0.8 do (on the 4,814 built-in examples).
PARAPHRASE_SIMILARITY = 0.3
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
# What `--opinion NAME=VALUE` may change in the sentence-encoder second opinion: how it is trained, then used.
OPINION_TRAINING = ("c", "class_weight")
OPINION_USE = ("consult_below", "weight")


def paraphrase_groups(pairs: Sequence[tuple[str, str]], similarity: float = PARAPHRASE_SIMILARITY) -> list[int]:
    """A group number per (intent, text): same-intent texts clustered by average linkage over their
    character-trigram TF-IDF cosine, cut where the average similarity between two groups falls below
    `similarity` ("où est ma commande" and "ou est ma commande svp" stay together).

    Average, not single linkage: joining every pair above the cut transitively chained most of an intent
    into one group once its data grew varied (226 of 266 `human` examples, 359 of 469 `buy`), so the fold
    holding it trained on a sixth of that intent — a measure of starvation, not of new phrasing."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [normalize(text).text for _, text in pairs]
    vectors = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3)).fit_transform(texts)
    by_intent: dict[str, list[int]] = defaultdict(list)
    for index, (intent, _) in enumerate(pairs):
        by_intent[intent].append(index)
    groups = [0] * len(pairs)
    first = 0
    for indices in by_intent.values():
        if len(indices) == 1:
            labels = np.ones(1, dtype=int)
        else:
            block = vectors[indices]
            distance = np.clip(1.0 - (block @ block.T).toarray(), 0.0, None)
            np.fill_diagonal(distance, 0.0)
            tree = linkage(squareform(distance, checks=False), method="average")
            labels = fcluster(tree, t=1.0 - similarity, criterion="distance")
        for index, label in zip(indices, labels, strict=True):
            groups[index] = first + int(label)
        first += int(labels.max()) + 1
    return groups


def _folds_of(pairs: Sequence[tuple[str, str]], folds: int, seed: int) -> list[int]:
    """Whole paraphrase groups dealt to folds, per intent, so every fold sees every intent."""
    groups = paraphrase_groups(pairs)
    members: dict[tuple[str, int], list[int]] = defaultdict(list)
    for index, ((intent, _), group) in enumerate(zip(pairs, groups, strict=True)):
        members[(intent, group)].append(index)
    rng = random.Random(seed)
    by_intent: dict[str, list[list[int]]] = defaultdict(list)
    for (intent, _), indices in sorted(members.items()):
        by_intent[intent].append(indices)
    fold_of = [0] * len(pairs)
    for intent in sorted(by_intent):
        blocks = by_intent[intent]
        rng.shuffle(blocks)
        sizes = [0] * folds
        for block in sorted(blocks, key=len, reverse=True):  # biggest first: folds stay balanced
            fold = min(range(folds), key=lambda f: (sizes[f], rng.random()))
            sizes[fold] += len(block)
            for index in block:
                fold_of[index] = fold
    return fold_of


def _parser(catalogue: Sequence[Any], training: Sequence[tuple[str, str]], rules: RuleLayer,
            **settings: Any) -> NluParser:
    parser = NluParser(catalogue, classifier=False)
    parser._model = train(examples_from(augment(training), rules), **settings)
    return parser


def fold_opinion(vectors: Any, labels: Sequence[str], settings: Mapping[str, Any]) -> SecondOpinion:
    """The second opinion trained on these vectors, with `settings` (OPINION_TRAINING, OPINION_USE) applied."""
    unknown = set(settings) - {*OPINION_TRAINING, *OPINION_USE}
    if unknown:
        raise ValueError(f"unknown second-opinion setting(s) {sorted(unknown)}; known: "
                         f"{', '.join((*OPINION_TRAINING, *OPINION_USE))}")
    opinion = train_opinion(vectors, labels, **{name: settings[name] for name in OPINION_TRAINING if name in settings})
    for name in OPINION_USE:
        if name in settings:
            setattr(opinion, name, float(settings[name]))
    return opinion


def _scores(parsers_and_items: Sequence[tuple[NluParser, list[EvalItem]]], threshold: float) -> dict[str, Any]:
    """Out-of-fold predictions pooled over folds, scored once (a fold's own F1 on ~60 messages is noise)."""
    items: list[EvalItem] = []
    results: list[dict[str, Any]] = []
    for parser, held_out in parsers_and_items:
        parser.threshold = threshold
        for item in held_out:
            items.append(item)
            results.append(parser.parse(item.text))
    return score(items, results)


def cross_validate(folds: int = 5, threshold: float | None = None, seed: int = 1, *, second_opinion: bool = False,
                   opinion: Mapping[str, Any] | None = None, batch: Collection[tuple[str, str]] = (),
                   train_on_batch: bool = True, data: tuple[Sequence[Any], Sequence[tuple[str, str]]] | None = None,
                   fold_of: Sequence[int] | None = None, scored_only: Collection[tuple[str, str]] | None = None,
                   **settings: Any) -> dict[str, Any]:
    """Grouped k-fold figures; with threshold None, every candidate threshold is scored and the best kept.
    `second_opinion` adds the sentence encoder (intents.encoder), trained on the same folds, with `opinion`'s
    settings (OPINION_TRAINING, OPINION_USE); `settings` go to the n-gram classifier's train().
    `batch`'s (intent, text) examples are dealt to folds with the rest but never scored, and trained on only
    with `train_on_batch`: two calls then score the same held-out messages on the same folds, without and
    with a batch of new data (compare_batch). `data` (catalogue, pairs) replaces the built-in examples, `fold_of`
    the fold deal (-1: always trained on, never scored), `scored_only` limits the scored messages
    (compare_relabel)."""
    catalogue, pairs = data if data is not None else _builtin("fr")[:2]
    batch = frozenset(batch)
    rules = RuleLayer(catalogue, LEXICONS["fr"])
    fold_of = list(fold_of) if fold_of is not None else _folds_of(pairs, folds, seed)
    vectors = request_vectors = None
    requests: list[tuple[int, str]] = []
    if second_opinion:
        from intents import encoder
        from intents.training import cache_directory

        vectors = encoder.embed_cached([text for _, text in pairs], cache_directory())
        requests = request_rows(pairs, rules)
        request_vectors = encoder.embed_cached([part for _, part in requests], cache_directory())
    trained = []
    for fold in range(folds):
        inside = [index for index, pair in enumerate(pairs)
                  if fold_of[index] != fold and (train_on_batch or pair not in batch)]
        held_out = [EvalItem(text, intent) for index, (intent, text) in enumerate(pairs)
                    if fold_of[index] == fold and (intent, text) not in batch
                    and (scored_only is None or (intent, text) in scored_only)]
        parser = _parser(catalogue, [pairs[index] for index in inside], rules, **settings)
        if vectors is not None and request_vectors is not None:
            trained_on = set(inside)
            parts = [row for row, (index, _) in enumerate(requests) if index in trained_on]
            labels = [pairs[index][0] for index in inside] + [pairs[requests[row][0]][0] for row in parts]
            layer = fold_opinion(np.vstack([vectors[inside], request_vectors[parts]]), labels, opinion or {})
            layer.known = {text: vectors[index] for index, (_, text) in enumerate(pairs)}
            parser._opinion = layer
        trained.append((parser, held_out))
    candidates = THRESHOLDS if threshold is None else (threshold,)
    by_threshold = {value: _scores(trained, value) for value in candidates}
    best = max(candidates, key=lambda value: (by_threshold[value]["macro_f1"], -abs(value - DEFAULT_THRESHOLD)))
    report = by_threshold[best]
    return {
        "second_opinion": second_opinion,
        "folds": folds,
        "examples": len(pairs),
        "paraphrase_groups": len(set(zip((intent for intent, _ in pairs), paraphrase_groups(pairs), strict=True))),
        "threshold": best,
        "macro_f1_by_threshold": {str(value): by_threshold[value]["macro_f1"] for value in candidates},
        "scored": report["items"],
        "macro_f1": report["macro_f1"],
        "accuracy": report["accuracy"],
        "per_intent_f1": {intent: scores["f1"] for intent, scores in report["per_intent"].items()},
        "confusions": report["confusions"],
    }


def _default_threshold(threshold: float | None, second_opinion: bool) -> float:
    if threshold is not None:
        return threshold
    return DEFAULT_THRESHOLD_WITH_OPINION if second_opinion else DEFAULT_THRESHOLD


def _arm_row(seed: int, report: Mapping[str, Any]) -> dict[str, Any]:
    """One fold deal's figures for one arm of a comparison."""
    return {"seed": seed, "scored": report["scored"], "macro_f1": report["macro_f1"],
            "per_intent_f1": report["per_intent_f1"]}


def _arms_summary(arms: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Each arm's macro-F1 and per-intent F1, averaged over the fold deals, and the rows themselves."""
    return {"mean_macro_f1": {arm: float(np.mean([r["macro_f1"] for r in rows])) for arm, rows in arms.items()},
            "mean_per_intent_f1": {arm: {intent: float(np.mean([r["per_intent_f1"][intent] for r in rows]))
                                         for intent in rows[0]["per_intent_f1"]} for arm, rows in arms.items()},
            "runs": dict(arms)}


def compare_batch(path: Path, seeds: Sequence[int] = (1, 2, 3), folds: int = 5, *, second_opinion: bool = False,
                  threshold: float | None = None) -> dict[str, Any]:
    """A batch of new training data (a data file already in the training files) judged on fixed folds: per
    fold deal, the other examples' macro-F1 and per-intent F1 trained without it, then with it."""
    if path.name not in TRAINING_FILES["fr"]:
        raise ValueError(f"{path.name} is not one of the training files ({', '.join(TRAINING_FILES['fr'])}): "
                         "list it in intents/training.py first, or the two arms train on the same data")
    _, examples = load_data_file(path)
    batch = {(intent, text) for intent, texts in examples.items() for text in texts}
    threshold = _default_threshold(threshold, second_opinion)
    arms: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    for seed in seeds:
        for arm, rows in arms.items():
            report = cross_validate(folds, threshold, seed, second_opinion=second_opinion, batch=batch,
                                    train_on_batch=arm == "with")
            rows.append(_arm_row(seed, report))
    return {"batch": str(path), "examples": len(batch), "second_opinion": second_opinion, "threshold": threshold,
            **_arms_summary(arms)}


def compare_relabel(before: Path, seeds: Sequence[int] = (1, 2, 3), folds: int = 5, *,
                    second_opinion: bool = False, threshold: float | None = None) -> dict[str, Any]:
    """A relabelling (examples moved to another intent or removed) judged on fixed folds: `before` holds the
    data files as they were. Per fold deal (dealt on the data before), both versions train on the same folds
    and score the same held-out messages — those whose label did not change; a text kept under a new label
    stays in its fold, one only in the new data (none, for a relabelling) is trained on and never scored."""
    old = read_training(before, TRAINING_FILES["fr"])[:2]
    new = _builtin("fr")[:2]
    unchanged = frozenset(old[1]) & frozenset(new[1])
    threshold = _default_threshold(threshold, second_opinion)
    arms: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for seed in seeds:
        deal = _folds_of(old[1], folds, seed)
        fold_of_text = {text: fold for (_, text), fold in zip(old[1], deal, strict=True)}
        deals = {"before": deal, "after": [fold_of_text.get(text, -1) for _, text in new[1]]}
        for arm, rows in arms.items():
            report = cross_validate(folds, threshold, seed, second_opinion=second_opinion,
                                    data=old if arm == "before" else new, fold_of=deals[arm],
                                    scored_only=unchanged)
            rows.append(_arm_row(seed, report))
    return {"before": str(before), "changed": len(set(old[1]) ^ set(new[1])), "second_opinion": second_opinion,
            "threshold": threshold, **_arms_summary(arms)}


def french_to_english(threshold: float = DEFAULT_THRESHOLD, *, second_opinion: bool = False,
                      opinion: Mapping[str, Any] | None = None, **settings: Any) -> dict[str, Any]:
    """Train on fr.yaml alone, score en.yaml (minus any text fr.yaml already holds)."""
    fr_catalogue, fr_examples = load_data_file(DATA_DIR / "fr.yaml")
    en_catalogue, en_examples = load_data_file(DATA_DIR / "en.yaml")
    catalogue = [*fr_catalogue, *(item for item in en_catalogue if item.code not in {i.code for i in fr_catalogue})]
    rules = RuleLayer(catalogue, LEXICONS["fr"])
    training = [(intent, text) for intent, texts in fr_examples.items() for text in texts]
    seen = {normalize(text).text for _, text in training}
    held_out = [EvalItem(text, intent, "en") for intent, texts in en_examples.items() for text in texts
                if normalize(text).text not in seen]
    parser = _parser(catalogue, training, rules, **settings)
    parser.threshold = threshold
    if second_opinion:
        from intents import encoder
        from intents.training import cache_directory

        rows = [*training, *((training[index][0], part) for index, part in request_rows(training, rules))]
        vectors = encoder.embed_cached([text for _, text in rows], cache_directory())
        parser._opinion = fold_opinion(vectors, [intent for intent, _ in rows], opinion or {})
    report = score(held_out, [parser.parse(item.text) for item in held_out])
    return {"items": report["items"], "macro_f1": report["macro_f1"], "accuracy": report["accuracy"],
            "per_intent_f1": {intent: scores["f1"] for intent, scores in report["per_intent"].items()}}


def format_cv(report: dict[str, Any], transfer: dict[str, Any] | None) -> str:
    opinion = ", with the sentence-encoder second opinion" if report["second_opinion"] else ""
    lines = [f"{report['folds']}-fold cross-validation{opinion}, {report['examples']} examples in "
             f"{report['paraphrase_groups']} paraphrase groups (a group never straddles folds)"]
    lines.append("threshold  " + "  ".join(f"{t}:{f1:.3f}" for t, f1 in report["macro_f1_by_threshold"].items()))
    lines.append(f"{'intent':<14} {'f1':>6}")
    for intent, f1 in report["per_intent_f1"].items():
        lines.append(f"{intent:<14} {f1:>6.3f}")
    lines.append(f"macro-F1 {report['macro_f1']:.3f}   accuracy {report['accuracy']:.3f}   "
                 f"at threshold {report['threshold']}")
    if report["confusions"]:
        lines.append("most frequent confusions (intent -> predicted):")
        for c in report["confusions"][:8]:
            lines.append(f"  {c['intent']} -> {c['predicted']}: {c['count']}   "
                         + "; ".join(f"«{text}»" for text in c["examples"]))
    if transfer is not None:
        lines.append(f"train on fr.yaml, test on en.yaml ({transfer['items']} messages): "
                     f"macro-F1 {transfer['macro_f1']:.3f}   accuracy {transfer['accuracy']:.3f}")
    return "\n".join(lines)


def run(folds: int = 5, *, as_json: bool = False, transfer: bool = True, second_opinion: bool = False,
        opinion: Mapping[str, Any] | None = None, **settings: Any) -> str:
    """What `palabre nlu eval --cv` prints."""
    report = cross_validate(folds, second_opinion=second_opinion, opinion=opinion, **settings)
    check = french_to_english(report["threshold"], second_opinion=second_opinion, opinion=opinion,
                              **settings) if transfer else None
    if as_json:
        return json.dumps({**report, "french_to_english": check}, ensure_ascii=False)
    return format_cv(report, check)


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--folds", type=int, default=5)
    arguments.add_argument("--json", action="store_true")
    arguments.add_argument("--second-opinion", action="store_true", help="add the sentence encoder (palabre[nlu])")
    arguments.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                           help="a train() setting, e.g. c=20, min_df=1, ngram_range=[2,4] (JSON values)")
    arguments.add_argument("--opinion", action="append", default=[], metavar="NAME=VALUE",
                           help="a second-opinion setting: " + ", ".join((*OPINION_TRAINING, *OPINION_USE))
                           + ' (JSON values, e.g. weight=0.7, class_weight="balanced")')
    arguments.add_argument("--batch", metavar="FILE", help="judge a data file of the training files on fixed folds: "
                           "the other examples' figures without and with it, seeds 1-3 (prints JSON)")
    arguments.add_argument("--relabel-from", metavar="DIR", help="judge a relabelling of the training files against "
                           "their copy in DIR on fixed folds, seeds 1-3 (prints JSON)")
    options = arguments.parse_args()
    settings, opinion = _assignments(options.set), _assignments(options.opinion)
    if options.relabel_from:
        try:
            report = compare_relabel(Path(options.relabel_from), folds=options.folds,
                                     second_opinion=options.second_opinion)
        except (OSError, ValueError) as exc:
            arguments.error(str(exc))
        print(json.dumps(report, ensure_ascii=False))
        return
    if options.batch:
        try:
            report = compare_batch(DATA_DIR / options.batch, folds=options.folds,
                                   second_opinion=options.second_opinion)
        except (OSError, ValueError) as exc:
            arguments.error(str(exc))
        print(json.dumps(report, ensure_ascii=False))
        return
    print(run(options.folds, as_json=options.json, second_opinion=options.second_opinion or bool(opinion),
              opinion=opinion, **settings))


def _assignments(items: Sequence[str]) -> dict[str, Any]:
    """NAME=VALUE arguments, values read as JSON (a list becomes a tuple)."""
    settings = {}
    for item in items:
        name, _, value = item.partition("=")
        parsed = json.loads(value)
        settings[name] = tuple(parsed) if isinstance(parsed, list) else parsed
    return settings


if __name__ == "__main__":
    main()

