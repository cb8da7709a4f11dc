"""Vendor wording is untrusted: it renders sandboxed, sees only documented variables, and never runs code."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from bot.runtime import load_vendors
from channels import Contact
from dialogs import YamlInvalid
from storage import Order
from templates import MessageCatalog, load_segment
from templates.variables import MESSAGES
from tests.conftest import ROOT, Server, plain, vendor_dir

BUYER = "+221770000001"
CANONICAL = "{{ cycler.__init__.__globals__.os.getuid() }}"


def escape_payload(marker: Path, trigger: str) -> str:
    """A classic sandbox escape (walk object.__subclasses__ to os.system) that a plain Jinja2
    Environment runs; its branch only opens on one buyer text, and every private name is built at
    run time, so reading the file or rendering it with sample values finds nothing."""
    return (
        '{% set u = "_" ~ "_" %}{% if text == "' + trigger + '" %}'
        '{% for c in ((vendor_name|attr(u ~ "class" ~ u)|attr(u ~ "mro" ~ u))[1]|attr(u ~ "subclasses" ~ u))() %}'
        '{% if (c|attr(u ~ "name" ~ u)) == "_wrap_close" %}'
        '{{ (c|attr(u ~ "init" ~ u)|attr(u ~ "globals" ~ u))["system"]("touch ' + str(marker) + '") }}'
        '{% endif %}{% endfor %}{% endif %}Pardon, je ne comprends pas.'
    )


async def test_vendor_template_cannot_run_code_on_the_server(
    start_server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "pwned"
    vendors = vendor_dir(tmp_path, messages={"fr": {"not_understood": escape_payload(marker, "xyzzy")}})
    server: Server = await start_server(vendors_dir=vendors)
    caplog.set_level(logging.WARNING, logger="palabre.templates")

    calm = (await server.say(BUYER, "blabla"))["replies"]
    assert calm[0]["text"] == "Pardon, je ne comprends pas."  # the vendor's wording is used while it behaves

    replies = (await server.say("+221770000002", "xyzzy"))["replies"]
    assert not marker.exists(), "the vendor's template ran a shell command on the server"
    # The buyer gets our own wording for that message, not an apology and not a broken text.
    assert plain(replies[0]["text"]).startswith("Je n'ai pas compris « xyzzy »")
    warnings = [r.getMessage() for r in caplog.records if r.name == "palabre.templates"]
    assert any("vendor=demo message=not_understood" in w and "shipped wording sent" in w for w in warnings)


def test_server_refuses_vendor_file_whose_template_reaches_os_globals(tmp_path: Path) -> None:
    vendors = vendor_dir(tmp_path, messages={"fr": {"thanks": CANONICAL}})
    with pytest.raises(YamlInvalid) as err:
        load_vendors(str(vendors))
    text = str(err.value)
    line, column = next((i, s.index("thanks:") + 1)
                        for i, s in enumerate((vendors / "demo.yaml").read_text().splitlines(), 1) if "thanks:" in s)
    assert f"{vendors / 'demo.yaml'}:{line}:{column}: messages.fr.thanks: touches '__init__'" in text


def test_vendor_wording_cannot_read_the_buyers_full_number(tmp_path: Path) -> None:
    """The vendor's payment notification masks the buyer; its wording cannot reach the order's contact."""
    vendors = vendor_dir(tmp_path, messages={"fr": {"vendor_paid": "Client {{ order.contact.address }}"}})
    with pytest.raises(YamlInvalid) as err:
        load_vendors(str(vendors))
    assert "messages.fr.vendor_paid" in str(err.value) and "contact" in str(err.value)


def test_runtime_wording_sees_only_documented_fields_of_an_order() -> None:
    order = Order(id="o1", vendor_id="demo", conversation_id="c", contact=Contact(address=BUYER), channel="web",
                  product_code="ROBE1", product_name="Robe", quantity=1, unit_price=15000)
    # `text` is the buyer's own message: a field name chosen at run time, which no check can read.
    catalog = MessageCatalog(load_segment("live_seller"), {"fr": {"reminder": "{{ order|attr(text) }}"}})
    reply = catalog.render("reminder", "fr", {"order": order, "text": "contact", "vendor_name": "B"})
    assert BUYER not in reply.text and reply.text.startswith("⏳ Votre réservation de Robe")


def test_huge_repetition_in_vendor_wording_is_refused() -> None:
    catalog = MessageCatalog(load_segment("live_seller"), {"fr": {"thanks": "{{ 'x' * 1000000000 }}"}})
    assert [p.message for p in catalog.problems] == ["refused by the sandbox: repetition is too large for a message"]
    assert catalog.render("thanks", "fr", {}).text == "Avec plaisir 😊"


def test_vendor_wording_cannot_busy_the_server_with_nested_loops_or_recursion() -> None:
    catalog = MessageCatalog(load_segment("live_seller"), {"fr": {
        "thanks": "{% for a in 'x' * 9999 %}{% for b in 'x' * 9999 %}.{% endfor %}{% endfor %}",
        "goodbye": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        "catalogue": "{% for p in products recursive %}{{ loop(products) }}{% endfor %}",
    }})
    assert {p.key: p.message.split(",")[0] for p in catalog.problems} == {
        "thanks": "uses a loop inside a loop", "goodbye": "uses a macro", "catalogue": "uses a recursive loop"}


async def test_unclear_reply_while_choosing_payment_repeats_the_payment_question(start_server) -> None:
    """The payment question used as a reminder had no order in scope and crashed into an apology."""
    server: Server = await start_server()
    await server.say(BUYER, "ROBE1")
    await server.say(BUYER, payload="pay")
    replies = (await server.say(BUYER, "zzkqj xwv"))["replies"]
    texts = [plain(r["text"]) for r in replies]
    assert texts[0].startswith("Je n'ai pas compris")
    assert texts[-1] == "Comment voulez-vous payer ?"
    assert [b["id"] for b in replies[-1]["buttons"]] == ["wave", "om", "card"]


def test_every_shipped_message_is_documented_and_passes_the_check() -> None:
    catalog = MessageCatalog(load_segment("live_seller"))
    assert catalog.problems == []
    for locale, messages in load_segment("live_seller").items():
        assert sorted(messages) == sorted(MESSAGES["live_seller"]), locale
    doc = (ROOT / "docs" / "templates.md").read_text(encoding="utf-8").split("## live_seller")[1]
    rows = [line.split("|")[1] for line in doc.splitlines() if line.startswith("| `")]
    assert {key for cell in rows for key in re.findall(r"`(\w+)`", cell)} == set(MESSAGES["live_seller"])
