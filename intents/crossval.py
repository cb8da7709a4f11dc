"""k-fold cross-validation on the built-in training data: `python -m intents.crossval [--set c=20 ...]`.

How the classifier's settings were chosen — on the training data only, never on the held-out test split.
Each fold's messages go through the whole parser (rules, classifier, threshold), trained on the others.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from collections import defaultdict
from typing import Any

from intents.classifier import train
from intents.evaluation import EvalItem, evaluate
from intents.lexicon import LEXICONS
from intents.parser import DEFAULT_THRESHOLD, NluParser
from intents.rules import RuleLayer
from intents.training import _builtin, augment, examples_from


def cross_validate(folds: int = 5, threshold: float = DEFAULT_THRESHOLD, seed: int = 1,
                   **settings: Any) -> dict[str, Any]:
    catalogue, pairs, _ = _builtin("fr")
    rules = RuleLayer(catalogue, LEXICONS["fr"])
    fold_of: dict[int, int] = {}
    by_intent: dict[str, list[int]] = defaultdict(list)
    for index, (intent, _) in enumerate(pairs):
        by_intent[intent].append(index)
    rng = random.Random(seed)
    for indices in by_intent.values():  # stratified
        rng.shuffle(indices)
        for position, index in enumerate(indices):
            fold_of[index] = position % folds
    reports = []
    for fold in range(folds):
        training = [pair for index, pair in enumerate(pairs) if fold_of[index] != fold]
        held_out = [EvalItem(text, intent) for index, (intent, text) in enumerate(pairs) if fold_of[index] == fold]
        parser = NluParser(catalogue, classifier=False, threshold=threshold)
        parser._model = train(examples_from(augment(training), rules), **settings)
        reports.append(evaluate(lambda _locale, parser=parser: parser, held_out))
    per_intent: dict[str, list[float]] = defaultdict(list)
    for report in reports:
        for intent, scores in report["per_intent"].items():
            per_intent[intent].append(scores["f1"])
    return {
        "macro_f1": round(statistics.fmean(r["macro_f1"] for r in reports), 4),
        "accuracy": round(statistics.fmean(r["accuracy"] for r in reports), 4),
        "per_intent_f1": {intent: round(statistics.fmean(f1), 4) for intent, f1 in sorted(per_intent.items())},
    }


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--folds", type=int, default=5)
    arguments.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    arguments.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                           help="a train() setting, e.g. c=20, min_df=1, ngram_range=[2,4] (JSON values)")
    options = arguments.parse_args()
    settings = {}
    for item in options.set:
        name, _, value = item.partition("=")
        parsed = json.loads(value)
        settings[name] = tuple(parsed) if isinstance(parsed, list) else parsed
    print(json.dumps(cross_validate(options.folds, options.threshold, **settings), indent=2))


if __name__ == "__main__":
    main()
