"""Dates, times and amounts, as buyers type them; and resolving a date and time against "now"."""

from datetime import datetime

import pytest

from intents import NluParser
from intents.when import resolve


@pytest.fixture(scope="module")
def parser() -> NluParser:
    return NluParser(classifier=False)


def values(parser: NluParser, text: str, kind: str) -> list:
    return [e["value"] for e in parser.parse(text)["entities"] if e["entity"] == kind]


@pytest.mark.parametrize(
    ("text", "date", "time"),
    [
        ("demain 10h", ["tomorrow"], ["10:00"]),
        ("mardi à 14h", ["tuesday"], ["14:00"]),
        ("rdv après-demain 9h30", ["day_after_tomorrow"], ["09:30"]),
        ("apres demain matin", ["day_after_tomorrow"], ["morning"]),
        ("ëllëg ci 11h", ["tomorrow"], ["11:00"]),
        ("aujourd'hui 17h", ["today"], ["17:00"]),
        ("aujourdhui a 17:45", ["today"], ["17:45"]),
        ("monday at 3pm", ["monday"], ["15:00"]),
        ("le 12/08 à midi", ["08-12"], ["12:00"]),
        ("le 15 mars", ["03-15"], []),
        ("ce soir vers 19h", [], ["19:00"]),  # a clock time wins over the part of the day
        ("cet aprem", [], ["afternoon"]),
        ("hier", ["yesterday"], []),
        ("samedi", ["saturday"], []),
    ],
)
def test_dates_and_times(parser: NluParser, text: str, date: list, time: list) -> None:
    assert values(parser, text, "date") == date
    assert values(parser, text, "time") == time


@pytest.mark.parametrize("text", ["bonne soirée", "bon après-midi", "good evening", "bonsoir", "2 fois"])
def test_greetings_are_not_times(parser: NluParser, text: str) -> None:
    assert values(parser, text, "time") == []
    assert values(parser, text, "date") == []


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("15 000 F", 15000),
        ("15000fcfa", 15000),
        ("15.000 f cfa", 15000),
        ("j'ai envoyé 12 500 francs", 12500),
        ("15k", 15000),
        ("2.5k", 2500),
        ("10 000", 10000),  # grouped thousands are money here
        ("25 mille", 25000),
    ],
)
def test_amounts(parser: NluParser, text: str, amount: int) -> None:
    assert values(parser, text, "amount") == [amount]


@pytest.mark.parametrize("text", ["2 sac2", "commande 4521", "77 123 45 67", "12/08", "10h", "2 fois"])
def test_numbers_that_are_not_amounts(parser: NluParser, text: str) -> None:
    assert values(parser, text, "amount") == []


def test_amount_offsets(parser: NluParser) -> None:
    text = "J'ai payé 15 000 F par wave"
    (amount,) = [e for e in parser.parse(text)["entities"] if e["entity"] == "amount"]

    assert text[amount["start"] : amount["end"]] == "15 000 F"


def test_resolve_against_now() -> None:
    now = datetime(2026, 3, 10, 12, 30)  # a Tuesday

    assert resolve("tomorrow", "10:00", now) == datetime(2026, 3, 11, 10, 0)
    assert resolve("tuesday", "14:00", now) == datetime(2026, 3, 17, 14, 0)  # next week's, not today
    assert resolve("friday", "morning", now) == datetime(2026, 3, 13, 9, 0)
    assert resolve("03-01", None, now) == datetime(2027, 3, 1, 12, 30)  # already past this year
    assert resolve(None, "evening", now) == datetime(2026, 3, 10, 19, 0)
    assert resolve(None, None, now) is None
