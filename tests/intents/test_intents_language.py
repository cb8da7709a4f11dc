"""The language a buyer clearly writes in, for vendors that answer in the buyer's language."""

import pytest

from intents.language import language_of


@pytest.mark.parametrize(("text", "language"), [
    ("hello, how much is the leather bag?", "en"),
    ("where is my order", "en"),
    ("can I pay with wave", "en"),
    ("bonjour c combien la robe", "fr"),
    ("je peux payer par wave ?", "fr"),
    ("ok je prends 2", "fr"),
    # too short, code-mixed or Wolof: the conversation keeps its language
    ("ok", None), ("ROBE1", None), ("thanks", None), ("waaw merci", None), ("nanga def", None),
    ("jveu 2 sac2 svp", None), ("", None),
])
def test_a_language_is_named_only_when_the_message_is_clearly_in_it(text: str, language: str | None) -> None:
    assert language_of(text) == language
