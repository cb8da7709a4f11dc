"""docs/dialogs.md is runnable: its files load and pass their conversation tests, its snippets compile,
and the diagram it shows is what `palabre diagram` prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot import commerce
from bot.actions import build_registry
from bot.cli.conversation_tests import run_files
from bot.vendors import VendorLoader
from dialogs import Dialog, Registry
from dialogs.compose import compose
from dialogs.diagram import mermaid
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "dialogs.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC, re.S)
SNIPPETS = [b for b in BLOCKS if b.startswith("# dialog\n")]
FILES = {b.splitlines()[0][len("# file: "):].strip(): b for b in BLOCKS if b.startswith("# file: ")}


def write_files(folder: Path) -> None:
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[yaml.safe_load(s)["name"] for s in SNIPPETS])
def test_every_dialog_snippet_compiles(snippet: str) -> None:
    spec = compose(yaml.safe_load(snippet), {}, "docs/dialogs.md")
    Dialog(spec, build_registry({"PALABRE_ACTIONS": "examples.actions.microfinance"}))


async def test_the_documented_files_load_and_pass_their_conversation_tests(tmp_path: Path) -> None:
    write_files(tmp_path)
    loader = VendorLoader(commerce.register(Registry()))
    for name, text in FILES.items():
        if "\ncatalogue:" in text:
            loader.load(tmp_path / name)
    results = await run_files(sorted(tmp_path.glob("*.test.yaml")))
    assert len(results) >= 3 and all(r.ok for r in results), [f for r in results for f in r.failures]


def test_the_documented_diagram_is_what_palabre_diagram_prints(tmp_path: Path) -> None:
    write_files(tmp_path)
    spec = VendorLoader(commerce.register(Registry())).load(tmp_path / "atelier.yaml").dialog.spec
    assert mermaid(spec) in DOC
