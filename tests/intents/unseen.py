"""How the rules-and-n-grams parser reads a message that is not a training text (asserted so)."""

from __future__ import annotations

from functools import cache

from intents import NluParser
from intents.evaluation import load_catalogue
from intents.normalize import normalize
from intents.training import builtin_texts


@cache
def _parser() -> NluParser:
    return NluParser(load_catalogue().items, second_opinion=False)


def unseen_intent(text: str) -> str:
    """The intent read for `text`, after checking the training data does not hold it (a memorised phrase
    would prove nothing about generalising)."""
    assert normalize(text).text not in {normalize(seen).text for seen in builtin_texts()}, text
    return str(_parser().parse(text)["intent"]["name"])
