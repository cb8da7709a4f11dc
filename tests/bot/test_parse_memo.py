"""The turn's remembered parse of short texts gives what the vendor's NLU gives, text for text."""

from __future__ import annotations

import pytest

from bot.pipeline import understand
from intents import CatalogueItem, NluParser
from intents.training import DATA_DIR, TRAINING_FILES, load_data_file

CATALOGUE = [CatalogueItem("ROBE1", "Robe Wax Ankara"), CatalogueItem("SAC2", "Sac en cuir")]


def training_texts() -> list[str]:
    texts: list[str] = []
    for name in TRAINING_FILES["fr"]:
        _, examples = load_data_file(DATA_DIR / name)
        texts += [text for group in examples.values() for text in group]
    return texts


@pytest.fixture(scope="module")
def nlu() -> NluParser:
    return NluParser(CATALOGUE, "fr")


def test_remembered_parse_is_the_nlus_own_for_every_training_text(nlu: NluParser) -> None:
    texts = [*training_texts(), "ROBE1", "robe1", " ROBE1 ", "SAC2 x2", "wave", "oui", "", "   "]
    short = [t for t in texts if len(t) <= understand.MAX_REMEMBERED_CHARS]
    assert len(short) > 100  # the memo is exercised, not just the long-text path
    for text in texts:
        expected = nlu.parse(text)
        assert understand.parse(nlu, text, None) == expected, text  # first sight: parsed
        assert understand.parse(nlu, text, None) == expected, text  # again: remembered, the same


def test_a_button_payload_still_wins_over_the_text(nlu: NluParser) -> None:
    understand.parse(nlu, "ROBE1", None)
    assert understand.parse(nlu, "ROBE1", "pay")["intent"]["name"] == "pay"


def test_a_turn_changing_its_parse_does_not_change_the_next_buyers(nlu: NluParser) -> None:
    first = understand.parse(nlu, "ROBE1", None)
    first["intent"]["name"] = "greet"
    first["entities"][0]["value"] = "SAC2"
    first["entities"].clear()
    again = understand.parse(nlu, "ROBE1", None)
    assert again["intent"]["name"] == "buy"
    assert [e["value"] for e in again["entities"] if e["entity"] == "product"] == ["ROBE1"]


def test_a_parser_taught_new_products_reads_them_at_once() -> None:
    before = NluParser(CATALOGUE[:1], "fr", classifier=False)
    after = NluParser(CATALOGUE, "fr", classifier=False)  # what a vendor adding SAC2 while selling gets
    assert not [e for e in understand.parse(before, "SAC2", None)["entities"] if e["entity"] == "product"]
    assert [e["value"] for e in understand.parse(after, "SAC2", None)["entities"]
            if e["entity"] == "product"] == ["SAC2"]


def test_memory_is_bounded_under_a_flood_of_new_texts(nlu: NluParser) -> None:
    for i in range(understand.MAX_REMEMBERED + 50):
        understand.parse(nlu, f"x{i}", None)
    assert len(understand._memos[nlu]) == understand.MAX_REMEMBERED
    assert understand.parse(nlu, "ROBE1", None) == nlu.parse("ROBE1")
