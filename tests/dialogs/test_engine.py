"""The dialog engine and YAML schema: compiled once, safe against imports, errors with file and line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot import commerce
from bot.vendors import VendorLoader
from channels import Contact, Event
from dialogs import (
    Dialog,
    DialogError,
    DialogSpec,
    Registry,
    Turn,
    YamlInvalid,
    load_file,
    load_segment_dialog,
)
from dialogs.engine import _Machine
from tests.conftest import EXAMPLES, ROOT

EVENT = Event(id="e1", channel="web", provider="simulator", vendor_id="demo", contact=Contact(address="+221"))


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_unknown_state_is_reported_with_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, "d.yaml", "name: mini\nstates:\n  idle: {}\ntransitions:\n"
                                  "  - trigger: go\n    source: idle\n    dest: nowhere\n")
    with pytest.raises(YamlInvalid) as err:
        load_file(DialogSpec, p)
    assert f"{p}:1:" in str(err.value) and "unknown state 'nowhere'" in str(err.value)


def test_wrong_field_points_at_its_line(tmp_path: Path) -> None:
    p = write(tmp_path, "d.yaml", "name: mini\nstates:\n  idle: {}\ntransitions:\n"
                                  "  - trigger: go\n    sorce: idle\n")
    with pytest.raises(YamlInvalid) as err:
        load_file(DialogSpec, p)
    assert err.value.problems[0].line == 6 and "sorce" in err.value.problems[0].message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    p = write(tmp_path, "d.yaml", "name: mini\nstates:\n  idle: {\n")
    with pytest.raises(YamlInvalid) as err:
        load_file(DialogSpec, p)
    assert err.value.problems[0].file == str(p) and err.value.problems[0].line >= 3


def test_a_dialog_can_only_name_registered_actions_never_import_them() -> None:
    spec = DialogSpec.model_validate({
        "name": "evil", "states": {"idle": {}},
        "transitions": [{"trigger": "go", "source": "idle", "conditions": "os.system"}],
    })
    with pytest.raises(DialogError, match=r"unknown actions/conditions: os\.system"):
        Dialog(spec, Registry())
    with pytest.raises(DialogError):
        _Machine.resolve_callable("os.system", None)


async def test_steps_run_conditions_in_order_and_fall_back_politely() -> None:
    calls: list[str] = []
    reg = Registry()
    reg.add("first", lambda t: calls.append("first") or False)
    reg.add("second", lambda t: calls.append("second") or True)
    spec = DialogSpec.model_validate({
        "name": "mini", "states": {"idle": {"prompt": "p_idle"}, "done": {"say": "entered"}},
        "transitions": [
            {"trigger": "go", "source": "idle", "dest": "done", "conditions": ["first", "second"]},
            {"trigger": "go", "source": "idle", "say": "refused"},
        ],
    })
    d = Dialog(spec, reg)
    turn = Turn(state="idle", slots={}, event=EVENT, parse={})
    assert await d.step(turn, "go")
    assert calls == ["first"] and turn.says == ["refused"] and turn.state == "idle"
    turn = Turn(state="done", slots={}, event=EVENT, parse={})
    await d.step(turn, "go", is_button=True)
    assert turn.says == ["stale_button"]
    turn = Turn(state="idle", slots={}, event=EVENT, parse={})
    await d.step(turn, "gibberish")
    await d.step(turn, "gibberish")
    assert turn.says == ["not_understood", "offer_human"]


def test_every_vendor_of_a_segment_shares_one_compiled_dialog(tmp_path: Path) -> None:
    data = yaml.safe_load((EXAMPLES / "demo.yaml").read_text(encoding="utf-8"))
    for vid in ("awa", "binta"):
        (tmp_path / f"{vid}.yaml").write_text(yaml.safe_dump({**data, "id": vid}), encoding="utf-8")
    vendors = VendorLoader(commerce.register(Registry())).load_dir(tmp_path)
    assert vendors["awa"].dialog is vendors["binta"].dialog


def test_live_seller_dialog_is_valid_and_uses_only_known_messages() -> None:
    spec = load_segment_dialog("live_seller")
    assert {"idle", "offered", "choosing_payment", "awaiting_payment"} <= set(spec.states)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_palabre_check_accepts_the_examples() -> None:
    result = run_cli("check", str(EXAMPLES), str(ROOT / "dialogs" / "segments" / "live_seller.yaml"))
    assert result.returncode == 0, result.stderr
    assert "ok:" in result.stdout


def test_palabre_check_reports_file_and_line_and_exits_1(tmp_path: Path) -> None:
    bad = write(tmp_path, "shop.yaml", "id: shop\nname: Shop\ncatalogue:\n"
                                       "  - {code: ROBE1, name: Robe, price: -5, stock: 1}\n")
    broken = write(tmp_path, "broken.yaml", "id: [unclosed\n")
    result = run_cli("check", str(bad), str(broken))
    assert result.returncode == 1
    assert f"{bad}:4:31: catalogue.0.price" in result.stderr
    assert f"{broken}:" in result.stderr and "invalid YAML" in result.stderr


def test_run_refuses_an_invalid_vendor_folder_clearly(tmp_path: Path) -> None:
    write(tmp_path, "v.yaml", "id: Bad Id\nname: x\ncatalogue: []\n")
    result = run_cli("run", "--vendors", str(tmp_path), "--port", "1")
    assert result.returncode == 1 and f"{tmp_path / 'v.yaml'}:1:1: id" in result.stderr


def test_palabre_shell_sells_with_numbered_choices(tmp_path: Path) -> None:
    from tests.conftest import free_port

    result = subprocess.run(
        [sys.executable, "-m", "bot", "shell", "--vendor", "demo", "--data-dir", str(tmp_path)],
        input="ROBE1\n1\n1\n", cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PALABRE_PORT": str(free_port())},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[1] PAYER" in out and "[2] ANNULER" in out and "[1] Wave" in out
    assert "par Wave avec ce lien : http://127.0.0.1:" in out
