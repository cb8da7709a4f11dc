"""Typed answers to the last reply's buttons: what a buyer types instead of tapping (dialogs/choices.py)."""

from __future__ import annotations

from channels import Reply
from dialogs.choices import choice, remember

PRICED = Reply.model_validate({"text": "Voulez-vous un devis ?", "buttons": [
    {"id": "quote", "title": "DEVIS"}, {"id": "order", "title": "COMMANDER"}, {"id": "cancel", "title": "ANNULER"}]})
OFFER = Reply.model_validate({"text": "Réservé", "buttons": [
    {"id": "pay", "title": "PAYER"}, {"id": "delivery", "title": "LIVRAISON"}, {"id": "cancel", "title": "ANNULER"}]})


def offered(*replies: Reply) -> dict[str, object]:
    slots: dict[str, object] = {}
    remember(slots, list(replies))
    return slots


def test_a_title_typed_as_shown_or_as_people_write_it_names_its_button() -> None:
    slots = offered(PRICED)
    for typed, button in (("devis", "quote"), ("Devis !", "quote"), ("je commande", "order"), ("COMMANDER", "order"),
                          ("annulé", "cancel"), ("ok pour le devis", "quote")):
        assert choice(slots, typed, numbered=False) == button, typed


def test_sentences_and_words_of_no_button_are_left_to_the_nlu() -> None:
    slots = offered(PRICED)
    for typed in ("annuler la commande", "c'est combien le devis pour 200 sacs svp", "oui", "bonjour", "", "   "):
        assert choice(slots, typed, numbered=False) is None, typed


def test_numbers_name_choices_only_where_buttons_are_shown_as_numbers() -> None:
    slots = offered(OFFER)
    assert choice(slots, "2", numbered=True) == "delivery"
    assert choice(slots, "2", numbered=False) is None
    assert choice(slots, "4", numbered=True) is None


def test_only_the_last_reply_offering_buttons_counts_and_a_reply_without_any_forgets_them() -> None:
    slots = offered(PRICED, Reply(text="Votre devis"), OFFER)
    assert choice(slots, "payer", numbered=False) == "pay" and choice(slots, "devis", numbered=False) is None
    remember(slots, [Reply(text="Quelle est l'adresse ?")])
    assert choice(slots, "payer", numbered=False) is None
