"""Every conversation test file of this folder, run as `palabre test` runs it (one pytest test per case)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli.conversation_tests import ConversationFile, run_files
from dialogs.yamlsource import read_file

HERE = Path(__file__).parent
CASES = [(f, case.name) for f in sorted(HERE.glob("*.yaml")) for case in read_file(ConversationFile, f)[0].tests]


@pytest.mark.parametrize(("file", "name"), CASES, ids=[f"{f.stem}::{n}" for f, n in CASES])
async def test_conversation(file: Path, name: str) -> None:
    results = [r for r in await run_files([file], name) if r.name == name]
    assert results and all(r.ok for r in results), "\n".join(f for r in results for f in r.failures)
