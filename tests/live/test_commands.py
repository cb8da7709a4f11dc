"""What a vendor may type on their own number, table-driven: each command, and each mistake's reason."""

from __future__ import annotations

import pytest

from bot.live.commands import Command, CommandError, parse_command
from templates import MessageCatalog, load_segment
from templates.vendor_variables import MESSAGES
from tests.conftest import ROOT


@pytest.mark.parametrize(("text", "command"), [
    ("LIVE ON", Command("live_on")),
    ("live off", Command("live_off")),
    ("Live début", Command("live_on")),
    ("STOCK ROBE1 10", Command("stock", "ROBE1", stock=10)),
    ("stock robe1 0", Command("stock", "ROBE1", stock=0)),
    ("PRIX ROBE1 12000", Command("price", "ROBE1", price=12000)),
    ("prix ROBE1 12.000", Command("price", "ROBE1", price=12000)),
    ("PRICE ROBE1 12000F", Command("price", "ROBE1", price=12000)),
    ("AJOUT JUPE3 Jupe plissée 9000 4", Command("add", "JUPE3", name="Jupe plissée", price=9000, stock=4)),
    ("ADD HAT1 Hat 500fcfa 2", Command("add", "HAT1", name="Hat", price=500, stock=2)),
    ("RETIRER SAC2", Command("remove", "SAC2")),
    ("aide", Command("help")),
    ("", Command("help")),
])
def test_commands(text: str, command: Command) -> None:
    assert parse_command(text) == command


@pytest.mark.parametrize(("text", "problem", "argument"), [
    ("ROBE1", "unknown_command", "ROBE1"),
    ("bonjour", "unknown_command", "bonjour"),
    ("LIVE", "usage", "LIVE ON / LIVE OFF"),
    ("STOCK ROBE1", "usage", "STOCK ROBE1 10"),
    ("STOCK ROBE1 -3", "bad_number", "-3"),
    ("STOCK ROBE1 1e9", "bad_number", "1e9"),
    ("STOCK ROBE1 99999999999", "bad_number", "99999999999"),
    ("PRIX ROBE1 douze", "bad_number", "douze"),
    ("PRIX ROBE1 12,5", "bad_number", "12,5"),
    ("PRIX ROBE1 0", "zero_price", "0"),  # was accepted: the item went on sale for 0 F CFA
    ("AJOUT JUPE3 Jupe plissée 0F 4", "zero_price", "0F"),
    ("AJOUT JUPE3 9000 4", "usage", "AJOUT JUPE3 Jupe plissée 9000 4"),
    ("AJOUT 3JUPE Jupe 9000 4", "bad_code", "3JUPE"),
    ("RETIRER", "usage", "RETIRER ROBE1"),
])
def test_mistakes_say_what_is_wrong(text: str, problem: str, argument: str) -> None:
    with pytest.raises(CommandError) as err:
        parse_command(text)
    assert (err.value.problem, err.value.argument) == (problem, argument)


def test_the_vendors_messages_pass_the_check_in_both_locales_and_are_documented() -> None:
    import re

    segment = load_segment("vendor")
    assert MessageCatalog(segment, segment="vendor").problems == []
    for locale in ("fr", "en"):
        assert sorted(segment[locale]) == sorted(MESSAGES), locale
    doc = (ROOT / "docs" / "templates.md").read_text(encoding="utf-8").split("## vendor")[1].split("\n## ")[0]
    rows = [line.split("|")[1] for line in doc.splitlines() if line.startswith("| `")]
    assert {key for cell in rows for key in re.findall(r"`(\w+)`", cell)} == set(MESSAGES)
