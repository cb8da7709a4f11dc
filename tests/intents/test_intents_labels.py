"""The labelling guide (NLU-LABELS.md) in the data: purchases and product prices are shop intents, and a
relabelling is judged on fixed folds (issue 12's ninth round)."""

import re
import shutil
from pathlib import Path

import pytest
import yaml

from intents import NluParser
from intents.crossval import compare_relabel
from intents.evaluation import load_catalogue
from intents.training import DATA_DIR, TRAINING_FILES, builtin_examples, read_training
from tests.intents.unseen import unseen_intent

# "je veux acheter un terrain", "I want to buy a used car", "dama bëgg jënd kër": a wish to buy is `buy`
# ("wanting to buy, with or without a product named"), or left out when a human would hesitate over what is
# bought (land, a house, shares) — never `out_of_scope`.
WISH_TO_BUY = re.compile(
    r"\b(je veux|je voudrais|j'aimerais|i want to|i'd like to|i would like to|dama bëgg|bëgg naa)\s+"
    r"(acheter|commander|buy|purchase|order|jënd)\b", re.IGNORECASE)


def _test_split() -> list[tuple[str, str]]:
    items = yaml.safe_load((DATA_DIR / "test_split.yaml").read_text(encoding="utf-8"))
    return [(item["intent"], item["text"]) for item in items]


def test_no_out_of_scope_example_states_a_wish_to_buy() -> None:
    examples = [*builtin_examples(), *_test_split()]

    wishes = [text for intent, text in examples if intent == "out_of_scope" and WISH_TO_BUY.search(text)]
    assert wishes == []
    assert sum(intent == "buy" and bool(WISH_TO_BUY.search(text)) for intent, text in examples) > 50


def test_a_relabelling_is_judged_on_the_same_unchanged_messages_before_and_after(tmp_path: Path) -> None:
    # the data "before": round8.yaml's buy examples filed as out_of_scope, as the eighth round filed purchases
    for name in TRAINING_FILES["fr"]:
        shutil.copy(DATA_DIR / name, tmp_path / name)
    data = yaml.safe_load((tmp_path / "round8.yaml").read_text(encoding="utf-8"))
    moved = data["examples"].pop("buy")
    data["examples"]["out_of_scope"] += moved
    (tmp_path / "round8.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    report = compare_relabel(tmp_path, seeds=(1,), folds=2)

    before, after = report["runs"]["before"][0], report["runs"]["after"][0]
    relabelled = set(read_training(tmp_path, TRAINING_FILES["fr"])[1])
    unchanged = [pair for pair in builtin_examples() if pair in relabelled]
    assert report["changed"] > 30
    assert before["scored"] == after["scored"] == len(unchanged)  # the moved examples are never scored
    assert before["macro_f1"] != after["macro_f1"]  # the two arms trained on different labels


@pytest.mark.parametrize(("text", "intent"), [
    # none of these is a training text (checked below); no product of the catalogue is named
    ("je veux acheter une télé", "buy"),
    ("I want to buy a new fridge", "buy"),
    ("c'est combien le sac de riz de 25 kg ?", "product_info"),
    ("how much is the rice per kilo?", "product_info"),
])
def test_a_purchase_or_a_price_of_any_product_is_a_shop_intent(text: str, intent: str) -> None:
    assert unseen_intent(text) == intent


@pytest.mark.parametrize("text", ["vous vendez des chaussures ?", "vous vendez la robe wax ?"])
def test_asking_whether_a_product_is_sold_is_a_product_question_not_a_purchase(text: str) -> None:
    # the menu word "vous vendez" next to a product name made the rules decide `buy` (0.9) and reserve it
    assert unseen_intent(text) == "product_info"


@pytest.mark.parametrize("text", [
    "je veux parler à un conseiller avant de payer",
    "passez moi quelqu'un de la boutique avant que je paie",
    "I want to speak to someone before paying",
])
def test_asking_for_a_person_before_paying_is_human_without_the_encoder(text: str) -> None:
    # The ninth round's relabelling tipped the rules-and-n-grams path to `payment` (0.53) on the first: the
    # inbox's handoff then never happened. The person is what is asked for (the guide's `human`).
    parser = NluParser(load_catalogue().items, second_opinion=False)
    assert parser.parse(text)["intent"]["name"] == "human"


def test_a_product_named_in_a_question_with_no_purchase_word_is_not_a_rules_purchase() -> None:
    # product + fillers was `buy` (0.95) whatever the question mark, and the live-seller dialog reserved the item
    assert unseen_intent("le foulard c de la soie ?") == "product_info"


@pytest.fixture(scope="module")
def both_paths() -> dict[bool, NluParser]:
    return {so: NluParser(load_catalogue().items, second_opinion=so) for so in (False, True)}


@pytest.mark.parametrize(("text", "second_opinion"), [
    # the encoder read these `buy` (0.47-0.62) and the live seller reserved the dress
    ("vous avez la robe en rouge", True), ("vous avez la robe wax", True), ("ya la robe en L", True),
    # and these `complaint` (0.53-0.55), with no complaint word in them
    ("vs avez le sac en noir", True), ("vous avez la robe wax", False),
])
def test_asking_whether_a_product_is_there_is_a_product_question(
    both_paths: dict[bool, NluParser], text: str, second_opinion: bool
) -> None:
    # the guide files availability, size and colour under product_info
    assert unseen_intent(text)  # not a training text
    assert both_paths[second_opinion].parse(text)["intent"]["name"] == "product_info"


@pytest.mark.parametrize("second_opinion", [False, True])
@pytest.mark.parametrize("text", ["vous avez abîmé mon sac", "vous avez le sac ? il est déchiré"])
def test_a_complaint_that_starts_like_an_availability_question_stays_a_complaint(
    both_paths: dict[bool, NluParser], second_opinion: bool, text: str
) -> None:
    assert unseen_intent(text)
    assert both_paths[second_opinion].parse(text)["intent"]["name"] == "complaint"


@pytest.mark.parametrize("second_opinion", [False, True])
@pytest.mark.parametrize("text", ["vous avez la robe ? je la prends", "je veux la robe en rouge si vous avez",
                                  "vous avez la robe ? mettez m'en 2"])
def test_a_purchase_word_beside_an_availability_question_still_buys(
    both_paths: dict[bool, NluParser], second_opinion: bool, text: str
) -> None:
    assert unseen_intent(text)
    assert both_paths[second_opinion].parse(text)["intent"]["name"] == "buy"
