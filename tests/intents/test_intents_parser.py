"""Intent classification as a customer would notice it: informal messages, payloads, priorities.

Most of these messages are decided by the rule layer; `rules_only` is the parser without its classifier
(what v1 was), for the tests about what rules alone do.
"""

import pytest

from intents import CatalogueItem, NluParser

CATALOGUE = [
    CatalogueItem("ROBE1", "Robe Wax Ankara"),
    CatalogueItem("SAC2", "Sac en cuir"),
]


@pytest.fixture(scope="module")
def parser() -> NluParser:
    return NluParser(CATALOGUE)


@pytest.fixture(scope="module")
def rules_only() -> NluParser:
    return NluParser(CATALOGUE, classifier=False)


def intent_of(parser: NluParser, text: str) -> str:
    return parser.parse(text)["intent"]["name"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ROBE1", "buy"),
        ("je veux ROBE1", "buy"),
        ("ROBE1 svp", "buy"),
        ("jveu 2 sac2 stp", "buy"),
        ("bonjour je veux ROBE1", "buy"),
        ("Annuler", "cancel"),
        ("annulé la commande", "cancel"),
        ("STOP", "cancel"),
        ("laisse tomber frère", "cancel"),
        ("je veux parler à quelqu'un", "human"),
        ("parler a quelqu un svp", "human"),
        ("un conseiller svp", "human"),
        ("passez moi le vendeur", "human"),
        ("une personne pas un robot", "human"),
        ("aide", "help"),
        ("Aidez-moi svp", "help"),
        ("comment ca marche", "help"),
        ("Comment ça marche ici ?", "help"),
        ("?", "help"),
        ("??", "help"),
        ("menu", "menu"),
        ("montre moi le catalogue", "menu"),
        ("vos produits", "menu"),
        ("Qu’est-ce que vous vendez ?", "menu"),
        ("quest ce que vous vendez", "menu"),
        ("où est ma commande", "order_status"),
        ("ou est ma commande ???", "order_status"),
        ("statut commande", "order_status"),
        ("la livraison c pour quand", "order_status"),
        ("je paie par wave", "payment"),
        ("Orange Money", "payment"),
        ("par OM stp", "payment"),
        ("je vais payer avec ma carte", "payment"),
        ("oui", "affirm"),
        ("Ouiii", "affirm"),
        ("okkk", "affirm"),
        ("dacc", "affirm"),
        ("D'accord", "affirm"),
        ("waaw", "affirm"),
        ("c bon", "affirm"),
        ("vas y", "affirm"),
        ("👍", "affirm"),
        ("👍🏾", "affirm"),
        ("✅", "affirm"),
        ("non", "deny"),
        ("Nan", "deny"),
        ("déédéét", "deny"),
        ("deedeet", "deny"),
        ("pas maintenant", "deny"),
        ("❌", "deny"),
        ("merci", "thanks"),
        ("Merci beaucoup !!", "thanks"),
        ("mrc", "thanks"),
        ("Jërëjëf", "thanks"),
        ("jerejef", "thanks"),
        ("thx", "thanks"),
        ("Bonjour", "greet"),
        ("bjr", "greet"),
        ("slt cv ?", "greet"),
        ("Salam aleykoum", "greet"),
        ("nanga def", "greet"),
        ("CC", "greet"),
        ("au revoir", "goodbye"),
        ("bye", "goodbye"),
        ("à+", "goodbye"),
        ("a plus", "goodbye"),
        ("ba beneen", "goodbye"),
        ("ciao", "goodbye"),
    ],
)
def test_informal_messages_get_the_expected_intent(parser: NluParser, text: str, expected: str) -> None:
    assert intent_of(parser, text) == expected


def test_a_rule_hit_is_confident(parser: NluParser) -> None:
    result = parser.parse("merci")

    assert 0.9 <= result["intent"]["confidence"] <= 1.0


def test_without_classifier_an_unrecognised_message_is_out_of_scope_with_low_confidence(
    rules_only: NluParser,
) -> None:
    result = rules_only.parse("le truc bleu là vous en avez encore ?")

    assert result["intent"] == {"name": "out_of_scope", "confidence": 0.3}
    assert result["intent_ranking"] == [{"name": "out_of_scope", "confidence": 0.3}]
    assert result["entities"] == []


def test_unrelated_chatter_is_out_of_scope(parser: NluParser) -> None:
    result = parser.parse("qui a gagné le combat de lutte dimanche dernier")

    assert result["intent"]["name"] == "out_of_scope"


@pytest.mark.parametrize("text", [None, "", "   \n "])
def test_empty_message_is_out_of_scope_with_zero_confidence(parser: NluParser, text: str | None) -> None:
    result = parser.parse(text)

    assert result["intent"] == {"name": "out_of_scope", "confidence": 0.0}
    assert result["entities"] == []


def test_result_has_rasa_parse_shape(parser: NluParser) -> None:
    result = parser.parse("Bonjour, je veux ROBE1 x2 par wave")

    assert set(result) == {"text", "intent", "intent_ranking", "entities"}
    assert result["text"] == "Bonjour, je veux ROBE1 x2 par wave"
    assert set(result["intent"]) == {"name", "confidence"}
    for entity in result["entities"]:
        assert set(entity) == {"entity", "value", "start", "end", "confidence", "extractor"}
        assert entity["extractor"] == "rules"


def test_buy_beats_greeting_and_both_are_ranked(parser: NluParser) -> None:
    result = parser.parse("bonjour je veux ROBE1")

    names = [item["name"] for item in result["intent_ranking"]]
    assert names == ["buy", "greet", "out_of_scope"]
    scores = [item["confidence"] for item in result["intent_ranking"]]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[1]


def test_ok_merci_is_thanks_then_affirm(parser: NluParser) -> None:
    # NLU-LABELS.md: an "ok" followed by thanks is thanks
    result = parser.parse("ok merci")

    assert result["intent"]["name"] == "thanks"
    assert [item["name"] for item in result["intent_ranking"]] == ["thanks", "affirm", "out_of_scope"]


def test_non_merci_is_deny(parser: NluParser) -> None:
    assert intent_of(parser, "non merci") == "deny"


def test_cancel_outranks_payment(parser: NluParser) -> None:
    assert intent_of(parser, "annule le paiement wave") == "cancel"


def test_payment_outranks_affirm(parser: NluParser) -> None:
    assert intent_of(parser, "oui par wave") == "payment"


def test_unknown_product_code_is_a_purchase_of_no_known_product(parser: NluParser) -> None:
    result = parser.parse("je veux ROBE99")

    assert result["intent"]["name"] == "buy"
    assert all(entity["entity"] != "product" for entity in result["entities"])


@pytest.mark.parametrize(
    "text",
    [
        "nonante",  # "non" inside a word
        "comment",  # "om" inside a word
        "en stock",  # "ok" inside a word
        "ouest",  # "ou est" run together is a direction, not a question
        "il n'y a plus de stock",  # "a plus" only means goodbye on its own
        "je suis hilare",  # "hi"
        "coucoucou",
    ],
)
def test_words_only_match_on_word_boundaries(rules_only: NluParser, text: str) -> None:
    result = rules_only.parse(text)

    assert result["intent"]["name"] == "out_of_scope", result
    assert result["entities"] == []


def test_button_payload_wins_over_text(parser: NluParser) -> None:
    result = parser.parse("non", payload="CONFIRM_ORDER")

    assert result == {
        "text": "CONFIRM_ORDER",
        "intent": {"name": "confirm_order", "confidence": 1.0},
        "intent_ranking": [{"name": "confirm_order", "confidence": 1.0}],
        "entities": [],
    }


def test_payload_without_text(parser: NluParser) -> None:
    result = parser.parse(None, payload="Menu")

    assert result["intent"] == {"name": "menu", "confidence": 1.0}


def test_regional_locale_uses_the_french_rules() -> None:
    assert NluParser(locale="fr_SN").parse("merci")["intent"]["name"] == "thanks"


def test_unknown_locale_is_refused() -> None:
    with pytest.raises(ValueError, match="locale"):
        NluParser(locale="zz")


@pytest.mark.parametrize("text", ["je veux payer ma commande", "payer ma commande par wave",
                                  "dama bëgg fey sama commande ci wave"])
def test_paying_for_an_order_is_payment_not_order_status(parser: NluParser, text: str) -> None:
    # both rules fired and order_status outranked payment: the buyer who wanted to pay was told where the
    # order is (NLU-LABELS.md: paying is payment); the classifier now reads such messages
    assert intent_of(parser, text) == "payment"
    assert intent_of(parser, "où est ma commande") == "order_status"


def test_i_forgot_is_not_forget_it(parser: NluParser) -> None:
    # accents folded, "oublié" (I forgot) is "oublie" (forget it): only the imperative phrases cancel
    assert intent_of(parser, "j'ai oublié mon mot de passe") != "cancel"
    assert intent_of(parser, "oublie ça") == "cancel"
    assert intent_of(parser, "oubliez") == "cancel"
