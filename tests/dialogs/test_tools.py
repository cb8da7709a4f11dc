"""The dialog author's tools as a user runs them: `palabre test`, `palabre diagram`, `palabre schema`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES, ROOT


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_palabre_test_reports_each_failure_and_exits_1(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(f"vendor: {EXAMPLES / 'demo.yaml'}\ntests:\n"
                 "  - name: offer\n    steps:\n      - {user: ROBE1, bot: 'Réservé 10 min', state: offered}\n"
                 "  - name: wrong\n    steps:\n      - {user: ROBE1, bot: 'Réservé 99 min'}\n", encoding="utf-8")
    result = run_cli("test", str(f))
    assert result.returncode == 1
    assert f"PASS {f} :: offer" in result.stdout and f"FAIL {f} :: wrong" in result.stdout
    assert "step 1 (user: ROBE1): expected 'Réservé 99 min' in the replies" in result.stdout
    assert "1 passed, 1 failed" in result.stdout


def test_palabre_test_travels_in_time_to_fire_timers(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(f"vendor: {EXAMPLES / 'demo.yaml'}\ntests:\n  - name: expiry\n    steps:\n"
                 "      - {user: ROBE1}\n      - {wait: 9m, state: offered}\n"
                 "      - {wait: 1m, bot: 'a expiré', state: idle}\n", encoding="utf-8")
    result = run_cli("test", str(f))
    assert result.returncode == 0, result.stdout


def test_palabre_test_refuses_a_malformed_file_at_its_line(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text("vendor: x.yaml\ntests:\n  - name: a\n    steps:\n      - {user: hi, button: pay}\n",
                 encoding="utf-8")
    result = run_cli("test", str(f))
    assert result.returncode == 1 and f"{f}:5:" in result.stdout and "exactly one of" in result.stdout


def test_palabre_diagram_draws_a_segment_as_mermaid() -> None:
    result = run_cli("diagram", "b2b")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "stateDiagram-v2" and "    [*] --> idle" in lines
    assert "    priced --> offered: order / buy [reserve_product]" in lines
    assert "    awaiting_payment --> idle: payment_succeeded [current_order and confirm_payment]" in lines


def test_palabre_diagram_of_an_unknown_dialog_says_which_exist() -> None:
    result = run_cli("diagram", "shoop")
    assert result.returncode == 1 and "live_seller" in result.stderr


def test_palabre_schema_writes_schemas_editors_can_use(tmp_path: Path) -> None:
    result = run_cli("schema", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    vendor = json.loads((tmp_path / "vendor.schema.json").read_text(encoding="utf-8"))
    dialog = json.loads((tmp_path / "dialog.schema.json").read_text(encoding="utf-8"))
    assert {"segment", "catalogue", "dialog", "messages"} <= set(vendor["properties"])
    assert {"states", "slots", "global", "fallback"} <= set(dialog["properties"])
    assert dialog["additionalProperties"] is False


def test_palabre_check_warns_about_a_dialog_that_cannot_work_as_meant(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(
        "name: d\nstates:\n  idle: {}\n  asking: {}\n  lost: {}\n"
        "transitions:\n  - {trigger: buy, source: idle, dest: asking, say: ask}\n"
        "  - {trigger: cancell, source: asking, say: ask}\n"
        "messages:\n  fr:\n    ask: {text: 'Sûr ?', buttons: [{id: yes_please, title: Oui}]}\n", encoding="utf-8")
    result = run_cli("check", str(f))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:5] == [
        f"{f}: warning: state 'lost' cannot be reached from 'idle'",
        f"{f}: warning: state 'asking' is a dead end: no transition leaves it (tag it `end` if that is meant)",
        f"{f}: warning: state 'lost' is a dead end: no transition leaves it (tag it `end` if that is meant)",
        f"{f}: warning: trigger 'cancell': no intent, button, form or system event produces it",
        f"{f}: warning: message 'ask': button 'yes_please' is taken by no transition",
    ]


def test_palabre_init_writes_a_starter_that_passes_check_for_every_segment(tmp_path: Path) -> None:
    from dialogs import shipped_segments

    for segment in shipped_segments():
        result = run_cli("init", f"v-{segment.replace('_', '-')}", "--segment", segment, "--dir", str(tmp_path))
        assert result.returncode == 0, result.stderr
    checked = run_cli("check", str(tmp_path), env={"PALABRE_ACTIONS": "examples.actions.microfinance"})
    assert checked.returncode == 0, checked.stderr
    again = run_cli("init", "v-shop", "--segment", "shop", "--dir", str(tmp_path))
    assert again.returncode == 1 and "already exists" in again.stderr


def test_palabre_check_validates_conversation_test_files_too(tmp_path: Path) -> None:
    (tmp_path / "shop.test.yaml").write_text("vendor: nowhere.yaml\ntests:\n  - name: t\n    steps:\n"
                                             "      - {user: hi}\n", encoding="utf-8")
    result = run_cli("check", str(tmp_path))
    assert result.returncode == 1
    assert f"{tmp_path / 'shop.test.yaml'}:1:1: vendor: no file nowhere.yaml next to this test file" in result.stderr
