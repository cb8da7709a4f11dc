"""Bootstrap intervals of `palabre nlu eval --intervals`: how far a per-intent F1 can be trusted on a small set."""

import json
from pathlib import Path

import pytest

from bot.cli import main
from intents.evaluation import DEFAULT_CATALOGUE, bootstrap_intervals


def _labels(right: int, wrong: int, intent: str = "buy", confused_with: str = "help") -> tuple[list[str], list[str]]:
    """`right + wrong` items of one intent, `wrong` of them read as another, and as many of the other intent all
    read right (so both intents have support in the set)."""
    total = right + wrong
    gold = [intent] * total + [confused_with] * total
    predicted = [intent] * right + [confused_with] * wrong + [confused_with] * total
    return gold, predicted


def _width(span: list[float]) -> float:
    return span[1] - span[0]


def test_a_classifier_that_is_always_right_gets_one_to_one_for_every_intent() -> None:
    gold = ["buy"] * 5 + ["help"] * 3 + ["product_info"] * 1
    intervals = bootstrap_intervals(gold, list(gold))

    assert intervals["per_intent"] == {"buy": [1.0, 1.0], "help": [1.0, 1.0], "product_info": [1.0, 1.0]}
    assert intervals["accuracy"] == [1.0, 1.0]
    assert intervals["macro_f1_present"] == [1.0, 1.0]
    assert (intervals["resamples"], intervals["level"]) == (1000, 0.95)


def test_the_interval_holds_the_measured_f1_and_narrows_as_the_items_grow() -> None:
    few = bootstrap_intervals(*_labels(right=8, wrong=2))["per_intent"]["buy"]
    many = bootstrap_intervals(*_labels(right=200, wrong=50))["per_intent"]["buy"]
    measured = 2 * 8 / (2 * 8 + 2)  # tp 8, fn 2, fp 0: the same F1 at both sizes

    for span in (few, many):
        assert span[0] < measured < span[1]
    assert _width(many) < _width(few) / 3
    # ten items of an intent cannot tell 0.70 from 0.95: the question this measure exists to answer
    assert few[0] < 0.70 and few[1] > 0.95


def test_the_same_seed_gives_the_same_interval_and_another_seed_another() -> None:
    gold, predicted = _labels(right=30, wrong=10)

    assert bootstrap_intervals(gold, predicted) == bootstrap_intervals(gold, predicted)
    assert bootstrap_intervals(gold, predicted, seed=1) != bootstrap_intervals(gold, predicted, seed=2)


def test_an_intent_missing_from_a_resample_is_left_out_of_that_resample_not_scored_zero() -> None:
    # one `cancel` item, always read right: a resample without it must not pull cancel's F1 (or the macro) down
    gold = ["buy"] * 30 + ["cancel"]
    intervals = bootstrap_intervals(gold, list(gold))

    assert intervals["per_intent"]["cancel"] == [1.0, 1.0]
    assert intervals["macro_f1_present"] == [1.0, 1.0]


def test_no_items_is_refused() -> None:
    with pytest.raises(ValueError, match="no items"):
        bootstrap_intervals([], [])


def test_cli_intervals(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "eval.yaml"
    path.write_text("- {text: bjr, intent: greet, locale: fr}\n- {text: ROBE1, intent: buy, locale: fr}\n",
                    encoding="utf-8")
    args = ["nlu", "eval", str(path), "--catalogue", str(DEFAULT_CATALOGUE), "--no-second-opinion", "--intervals"]

    assert main(args) == 0
    out = capsys.readouterr().out
    assert "95% interval" in out and "[1.000, 1.000]" in out and "bootstrap (1000 resamples" in out

    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["intervals"]["per_intent"] == {"buy": [1.0, 1.0], "greet": [1.0, 1.0]}

    assert main(args[:-1]) == 0
    assert "interval" not in capsys.readouterr().out
