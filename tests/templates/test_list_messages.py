"""A message with a list of choices: a WhatsApp list message, numbered choices on SMS, refused past 10 rows."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from channels.meta import render as meta_render
from channels.twilio import render_text
from templates import MessageCatalog, MessageSpec

MENU = {"text": "Que désirez-vous chez {{ vendor_name }} ?", "list": {"button": "Nos soins", "sections": [
    {"title": "Cheveux", "rows": [{"id": "coupe", "title": "Coupe", "description": "30 min"},
                                  {"id": "tresses", "title": "Tresses"}]},
    {"title": "Beauté", "rows": [{"id": "manucure", "title": "Manucure"}, {"id": "soin", "title": "Soin"}]}]}}


def rendered() -> object:
    catalog = MessageCatalog({"fr": {"menu": MessageSpec.model_validate(MENU)}}, segment="salon")
    assert catalog.problems == []
    return catalog.render("menu", "fr", {"vendor_name": "Salon Awa"})


def test_a_list_is_a_whatsapp_list_message_with_its_button_and_sections() -> None:
    (body,) = meta_render("221771234567", rendered())  # type: ignore[arg-type]
    interactive = body["interactive"]
    assert interactive["type"] == "list" and interactive["body"]["text"] == "Que désirez-vous chez Salon Awa ?"
    assert interactive["action"]["button"] == "Nos soins"
    sections = interactive["action"]["sections"]
    assert [s["title"] for s in sections] == ["Cheveux", "Beauté"]
    assert sections[0]["rows"][0] == {"id": "coupe", "title": "Coupe", "description": "30 min"}
    assert [r["id"] for s in sections for r in s["rows"]] == ["coupe", "tresses", "manucure", "soin"]


def test_a_list_is_numbered_on_sms() -> None:
    text = render_text(rendered())  # type: ignore[arg-type]
    assert text.splitlines()[1:] == ["1. Coupe - 30 min", "2. Tresses", "3. Manucure", "4. Soin"]


def test_a_list_longer_than_whatsapp_shows_is_refused() -> None:
    rows = [{"id": f"r{i}", "title": f"Choix {i}"} for i in range(11)]
    with pytest.raises(ValidationError, match="at most 10 rows"):
        MessageSpec.model_validate({"text": "?", "list": {"button": "Voir", "sections": [{"rows": rows}]}})
