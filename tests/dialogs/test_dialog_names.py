"""A dialog file may name only registered actions and conditions; each stranger is reported at its line and column."""

from __future__ import annotations

from pathlib import Path

from bot import commerce
from dialogs import DialogSpec, Registry, load_segment_dialog
from dialogs.yamlsource import read_file


def test_unknown_names_point_at_their_own_line_in_any_yaml_form(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(
        "name: mini\nstates:\n  idle:\n    on_enter: list_catalogue\n  done: {}\n"
        "transitions:\n  - trigger: go\n    actions: release_reservaton\n    dest: done\n"
        "global:\n  - {trigger: stop, unless: [order_open, paid_already]}\n", encoding="utf-8")
    spec, lines = read_file(DialogSpec, f)
    registry = commerce.register(Registry())
    problems = registry.unknown(spec.callable_refs(), lines, str(f))
    assert [str(p) for p in problems] == [
        f"{f}:8:5: transitions.0.actions.0: unknown action 'release_reservaton' (did you mean 'release_reservation'?)",
        f"{f}:11:42: global.0.unless.1: unknown condition 'paid_already' (known: {', '.join(registry.names())})",
    ]


def test_the_shipped_dialog_names_only_registered_callables() -> None:
    spec = load_segment_dialog("live_seller")
    assert commerce.register(Registry()).unknown(spec.callable_refs(), {}, "live_seller.yaml") == []
    assert {name for _, name in spec.callable_refs()} == spec.names_used()[0]
