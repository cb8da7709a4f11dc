"""`palabre check` as an operator runs it: exit 1 with file:line:column for what the server would regret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES, ROOT, vendor_dir


def check(*paths: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "check", *map(str, paths)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def where(path: Path, needle: str) -> str:
    """`line:column` of the first `needle` in the file, as check reports positions."""
    return next(f"{i}:{s.index(needle) + 1}" for i, s in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if needle in s)


def vendor_with(tmp_path: Path, messages: dict) -> Path:
    return vendor_dir(tmp_path, messages=messages) / "demo.yaml"


def test_check_refuses_template_touching_globals(tmp_path: Path) -> None:
    f = vendor_with(tmp_path, {"fr": {"goodbye": "{{ cycler.__init__.__globals__ }}"}})
    result = check(f.parent)
    assert result.returncode == 1, result.stdout
    assert f"{f}:{where(f, 'goodbye:')}: messages.fr.goodbye: touches '__init__'" in result.stderr


def test_check_refuses_attribute_forbidden_only_at_render(tmp_path: Path) -> None:
    """A private name built at run time is invisible to reading; the sample render meets the sandbox."""
    f = vendor_with(tmp_path, {"en": {"thanks": "{{ vendor_name|attr('_' ~ '_class__') }}"}})
    result = check(f)
    assert result.returncode == 1
    assert f"{f}:{where(f, 'thanks:')}: messages.en.thanks:" in result.stderr and "unsafe" in result.stderr


def test_check_refuses_undefined_variable(tmp_path: Path) -> None:
    f = vendor_with(tmp_path, {"fr": {"offer": {"text": "{{ produit.name }} réservé", "buttons": [
        {"id": "pay", "title": "PAYER {{ total }}"}]}}})
    result = check(f)
    assert result.returncode == 1
    assert (f"{f}:{where(f, 'text:')}: messages.fr.offer.text: uses undefined variable 'produit' "
            "(did you mean 'product'?)") in result.stderr
    assert "buttons" not in result.stderr  # `total` is one of the offer's variables


def test_check_refuses_variable_of_another_message(tmp_path: Path) -> None:
    f = vendor_with(tmp_path, {"fr": {"thanks": "Merci pour {{ order.product_name }}"}})
    result = check(f)
    assert result.returncode == 1 and "messages.fr.thanks: uses undefined variable 'order'" in result.stderr


def test_check_refuses_misspelt_message_key(tmp_path: Path) -> None:
    f = vendor_with(tmp_path, {"fr": {"thanx": "Merci !"}, "wo": {"thanks": "Jërëjëf"}})
    result = check(f)
    assert result.returncode == 1
    assert (f"{f}:{where(f, 'thanx:')}: messages.fr.thanx: no message 'thanx' in segment live_seller "
            "(did you mean 'thanks'?)") in result.stderr
    assert f"{f}:{where(f, 'wo:')}: messages.wo: unknown locale 'wo'" in result.stderr


def test_check_refuses_unknown_action_in_dialog_file(tmp_path: Path) -> None:
    dialog = tmp_path / "shop.yaml"
    dialog.write_text(
        "name: shop\nstates:\n  idle: {}\n  done:\n    on_enter: [notify_vendor]\n"
        "transitions:\n  - trigger: buy\n    source: idle\n    dest: done\n"
        "    conditions: [reserve_prodct]\n    say: offer\n", encoding="utf-8")
    result = check(dialog)
    assert result.returncode == 1, result.stdout
    assert (f"{dialog}:{where(dialog, 'notify_vendor')}: states.done.on_enter.0: unknown action 'notify_vendor'"
            in result.stderr)
    assert (f"{dialog}:{where(dialog, 'reserve_prodct')}: transitions.0.conditions.0: "
            "unknown condition 'reserve_prodct' (did you mean 'reserve_product'?)") in result.stderr


def test_check_accepts_the_example_vendors_and_the_shipped_dialog() -> None:
    result = check(EXAMPLES, ROOT / "dialogs" / "segments" / "live_seller.yaml")
    assert result.returncode == 0, result.stderr
    # every demo vendor plus the dialog; the microfinance demo only warns that its operator actions are not plugged in
    assert result.stdout.splitlines()[-1] == f"ok: {len(list(EXAMPLES.glob('*.yaml'))) + 1} file(s) valid"
