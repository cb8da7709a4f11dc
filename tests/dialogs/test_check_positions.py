"""`palabre check` puts each problem at file:line:column with a hint, as compilers do, so an editor or a
CI annotation jumps to the very field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "check", *map(str, paths)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_check_reports_file_line_column_and_a_hint_for_each_problem(tmp_path: Path) -> None:
    vendor = tmp_path / "boutique.yaml"
    vendor.write_text("id: boutique\nname: Boutique\nsegment: live_seller\nsetings:\n  max_quantity: 3\n"
                      "catalogue:\n  - {code: robe-1!, name: Robe, price: douze, stock: 3}\n", encoding="utf-8")
    dialog = tmp_path / "mine.yaml"
    dialog.write_text("name: mine\nstates:\n  idle: {}\ntransitions:\n  - {trigger: buy, sorce: idle}\n",
                      encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: x\nname: a: b\n", encoding="utf-8")
    result = check(vendor, dialog, broken)
    assert result.returncode == 1
    err = result.stderr
    assert f"{vendor}:4:1: setings: Extra inputs are not permitted (hint: did you mean `settings`?)" in err
    assert f"{vendor}:7:33: catalogue.0.price: Input should be a valid integer" in err
    assert "(hint: write a whole number, e.g. 3)" in err
    assert f"{vendor}:7:6: catalogue.0.code:" in err and "(hint: capital letters and digits" in err
    assert f"{dialog}:5:20: transitions.0.sorce: Extra inputs are not permitted (hint: did you mean `source`?)" in err
    assert f"{broken}:2:8: invalid YAML: mapping values are not allowed here" in err
    assert "(hint: put quotes around a text that contains ': ')" in err
    assert all(line.count(":") >= 3 for line in err.splitlines())  # every line is file:line:column: …


def test_an_unknown_action_is_placed_at_its_name(tmp_path: Path) -> None:
    dialog = tmp_path / "mine.yaml"
    dialog.write_text("name: mine\nstates:\n  idle: {}\ntransitions:\n"
                      "  - {trigger: buy, source: idle, actions: [list_catalog]}\n", encoding="utf-8")
    result = check(dialog)
    assert result.returncode == 1
    assert (f"{dialog}:5:44: transitions.0.actions.0: unknown action 'list_catalog' "
            "(did you mean 'list_catalogue'?)") in result.stderr
