"""Words a buyer types instead of tapping a button ("devis", "je commande", "payer", "oui") parse to the
trigger the button would have sent, on the rules-only path CI runs and whatever the case or politeness."""

from pathlib import Path

import pytest
import yaml

from intents import CatalogueItem, NluParser
from intents.lexicon import DIALOG_WORDS

CATALOGUE = [CatalogueItem("CIM50", "Ciment 50 kg"), CatalogueItem("ROBE1", "Robe Wax Ankara")]
SEGMENTS = Path(__file__).resolve().parents[2] / "dialogs" / "segments"


@pytest.fixture(scope="module")
def parser() -> NluParser:
    return NluParser(CATALOGUE, second_opinion=False)


@pytest.mark.parametrize(("text", "intent"), [
    ("devis", "quote"),
    ("DEVIS", "quote"),
    ("je veux un devis", "quote"),
    ("un devis svp", "quote"),
    ("devis pour 20 CIM50", "quote"),
    ("je commande", "buy"),
    ("Je commande svp", "buy"),
    ("commander", "buy"),
    ("COMMANDER", "buy"),
    ("je veux commander", "buy"),
    ("payer", "payment"),
    ("PAYER", "payment"),
    ("annuler", "cancel"),
    ("Annuler", "cancel"),
    ("oui", "affirm"),
    ("OUI !", "affirm"),
    ("je confirme", "affirm"),
    ("non", "deny"),
    ("Non merci", "deny"),
])
def test_typed_dialog_words_parse_to_their_trigger(parser: NluParser, text: str, intent: str) -> None:
    result = parser.parse(text)

    assert result["intent"]["name"] == intent
    assert result["intent"]["confidence"] >= 0.9


def test_typed_je_commande_is_buy_not_order_status(parser: NluParser) -> None:
    # "commande" alone asks about an order; "je commande" places one (it was read as order_status)
    assert parser.parse("je commande")["intent"]["name"] == "buy"
    assert parser.parse("où est ma commande")["intent"]["name"] == "order_status"
    assert parser.parse("j'ai commandé il y a 3 jours, toujours rien")["intent"]["name"] == "order_status"


def test_typed_devis_asks_for_the_quote_with_a_price_question_runner_up(parser: NluParser) -> None:
    # "devis" was out_of_scope: the b2b dialog never sent the quote a buyer typed for
    ranking = [item["name"] for item in parser.parse("je veux un devis")["intent_ranking"]]

    assert ranking[:2] == ["quote", "product_info"]  # a dialog without [DEVIS] reads the runner-up


def test_cancelling_a_quote_is_cancel(parser: NluParser) -> None:
    assert parser.parse("annuler le devis")["intent"]["name"] == "cancel"


def test_every_dialog_word_is_a_trigger_of_a_built_in_dialog() -> None:
    triggers: set[str] = set()
    for path in SEGMENTS.glob("*.yaml"):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        for transition in spec.get("transitions") or []:
            names = transition["trigger"]
            triggers.update(names if isinstance(names, list) else [names])

    assert set(DIALOG_WORDS) <= triggers
