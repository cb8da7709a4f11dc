"""Long messages: the request clause is found among greetings, thanks and context (issue 12)."""

import pytest

from intents import NluParser
from intents.clauses import MAX_CLAUSES, clauses, request_part
from intents.evaluation import load_catalogue


@pytest.fixture(scope="module")
def parser() -> NluParser:
    return NluParser(load_catalogue().items, second_opinion=False)


def test_a_message_is_cut_at_sentence_ends_commas_and_connectors() -> None:
    parts = clauses("Bonjour madame. J'ai reçu le colis hier, tout allait bien mais le sac est déchiré !")

    assert parts == ["Bonjour madame", "J'ai reçu le colis hier", "tout allait bien", "mais le sac est déchiré"]


def test_short_messages_and_numbers_are_not_cut() -> None:
    assert clauses("bonjour, le prix ?") == []  # read whole
    assert clauses("j'ai payé 15.000 F par wave ce matin") == []  # no space after the dot: a number


def test_a_pasted_wall_of_text_has_a_bounded_number_of_clauses() -> None:
    assert len(clauses("bla bla. " * 500)) == MAX_CLAUSES


def test_the_encoder_also_learns_a_long_example_without_its_greeting_and_thanks(parser: NluParser) -> None:
    rules = parser._rules
    request = "est-ce que la robe existe en taille 42"

    assert request_part(f"Bonjour madame, {request}. Merci beaucoup", rules) == request
    assert request_part(f"{request}, et aussi en rouge ?", rules) is None  # nothing to set aside
    assert request_part("Bonjour madame, merci beaucoup, bonne journée à vous", rules) is None  # all social


@pytest.mark.parametrize(("text", "intent"), [
    # each was read as its context (help, order_status, thanks) before clauses were weighed
    ("Hi, good morning, I hope you had a nice weekend, thanks again for your help last week, quick question: "
     "where is my parcel", "order_status"),
    ("salut la boutique, j espère que la famille va bien, merci encore pour l accueil de samedi, par contre il "
     "manque une chaussure dans mon colis", "complaint"),
    ("bonjour, merci, bonne fête de tabaski à vous et à toute la famille, je voudrais parler à la patronne",
     "human"),
])
def test_the_request_buried_in_a_long_message_is_found(parser: NluParser, text: str, intent: str) -> None:
    assert parser.parse(text)["intent"]["name"] == intent


@pytest.mark.parametrize(("text", "intent"), [
    ("bonsoir la boutique, j espère que vous allez bien, je voudrais voir vos nouveaux modèles", "menu"),
    ("hello there, hope all is well with you, i would like to book a fitting on saturday", "appointment"),
    ("salam aleykoum, nanga def, dama bëgg fey sama commande ci wave", "payment"),
])
def test_a_greeting_then_a_request_is_the_request(parser: NluParser, text: str, intent: str) -> None:
    assert parser.parse(text)["intent"]["name"] == intent


def test_greeting_and_thanks_around_an_out_of_scope_question_do_not_make_it_a_shop_request(
        parser: NluParser) -> None:
    # read whole, the greeting and "soir" made it an appointment
    text = "Bonsoir à vous, pouvez-vous me dire qui a gagné le match hier soir ? Merci"

    assert parser.parse(text)["intent"]["name"] == "out_of_scope"


def test_thanks_with_nothing_else_asked_stays_thanks(parser: NluParser) -> None:
    assert parser.parse("merci pour tout, vraiment, franchement c'était top")["intent"]["name"] == "thanks"
