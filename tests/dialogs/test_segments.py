"""The shipped segments: complete wording in fr and en, valid demo vendors, and events that never sell
more places than there are, even when buyers arrive together."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.actions import build_registry
from dialogs import Dialog, load_segment_dialog, shipped_segments
from templates import MessageCatalog, load_segment
from tests.conftest import ROOT, ServerFactory, plain

EXAMPLE_VENDORS = ROOT / "examples" / "vendors"


@pytest.mark.parametrize("segment", shipped_segments())
def test_every_segment_compiles_and_has_every_message_in_fr_and_en(segment: str) -> None:
    spec = load_segment_dialog(segment)
    Dialog(spec, build_registry({"PALABRE_ACTIONS": "examples.actions.microfinance"}))
    wording = load_segment(segment)
    assert MessageCatalog(wording, segment=segment).problems == []
    _, used = spec.names_used()
    for locale in ("fr", "en"):
        assert used <= set(wording[locale]), f"{segment}/{locale} misses {sorted(used - set(wording[locale]))}"


@pytest.mark.parametrize("segment", shipped_segments())
def test_every_prompt_and_reask_renders_without_what_an_action_computed(segment: str) -> None:
    # they are said again after an answer aside, whose action may have set other variables (the b2b `priced`
    # prompt needed `quantity`: "c combien le fer ?" while a price was shown failed the turn)
    from templates.variables import MESSAGES

    spec = load_segment_dialog(segment)
    repeated = {state.prompt for state in spec.states.values() if state.prompt}
    repeated |= {slot.reask or slot.ask for slot in spec.slots.values() if slot.reask or slot.ask}
    needs = {key: [v for v in MESSAGES[segment].get(key, ()) if not v.endswith("?")] for key in repeated}
    assert {key: names for key, names in needs.items() if names} == {}


@pytest.mark.parametrize("segment", shipped_segments())
def test_every_segment_has_conversation_tests_for_its_main_paths(segment: str) -> None:
    text = (ROOT / "tests" / "conversations" / f"{segment}.yaml").read_text(encoding="utf-8").lower()
    for path in ("happy path", "cancel", "expir", "fallback", "human"):
        assert path in text, f"no conversation test about {path!r} for {segment}"


def test_the_demo_vendors_pass_check() -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "check", str(EXAMPLE_VENDORS)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # the only warnings: the microfinance demo's operator actions, which `make run` plugs in
    warnings = [line for line in result.stdout.splitlines() if ": warning: " in line]
    assert warnings and all("kawral.yaml: warning: operator action '" in w for w in warnings), result.stdout


async def test_a_burst_of_buyers_never_gets_more_event_places_than_exist(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "vendors"
    folder.mkdir()
    shutil.copy(EXAMPLE_VENDORS / "concerts.yaml", folder)
    server = await start_server(folder)
    buyers = [f"+2217700001{i:02d}" for i in range(12)]
    await asyncio.gather(*(server.say(b, "GALA2", vendor="concerts") for b in buyers))
    answers = await asyncio.gather(*(server.say(b, payload="1", vendor="concerts") for b in buyers))
    texts = [plain(" ".join(r["text"] for r in a["replies"])) for a in answers]
    held = [t for t in texts if "Acompte à payer maintenant" in t]
    refused = [t for t in texts if "Gala de fin d'année est complet" in t]  # not "il ne reste que 0 place"
    assert len(held) == 3 and len(refused) == 9, texts
    product = await server.runtime.store.get_product("concerts", "GALA2")
    assert product is not None and product.stock == 0


@pytest.mark.parametrize("segment", ["shop", "events", "b2b"])
def test_the_wording_table_of_each_new_segment_lists_exactly_its_messages(segment: str) -> None:
    import re

    from templates.variables import MESSAGES

    doc = (ROOT / "docs" / "templates.md").read_text(encoding="utf-8")
    section = doc.split(f"## {segment}\n")[1].split("\n## ")[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    assert {key for cell in rows for key in re.findall(r"`(\w+)`", cell)} == set(MESSAGES[segment])
    assert set(MESSAGES[segment]) == set(load_segment(segment)["fr"])


async def test_buyers_tapping_the_same_slot_at_once_get_one_booking(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "vendors"
    folder.mkdir()
    shutil.copy(EXAMPLE_VENDORS / "coiffure.yaml", folder)
    server = await start_server(folder)
    buyers = [f"+2217700002{i:02d}" for i in range(6)]
    offers = await asyncio.gather(*(server.say(b, "TRESSES", vendor="coiffure") for b in buyers))
    firsts = {a["replies"][-1]["buttons"][0]["title"] for a in offers}
    assert len(firsts) == 1, "every buyer was offered the same first slot"
    answers = await asyncio.gather(*(server.say(b, payload="slot1", vendor="coiffure") for b in buyers))
    texts = [plain(" ".join(r["text"] for r in a["replies"])) for a in answers]
    assert sum("C'est réservé" in t for t in texts) == 1, texts
    assert sum("vient d'être pris" in t for t in texts) == 5, texts
