"""Composing a dialog: sub-dialogs included by name, then a vendor's overrides, merged before validation.

Precedence, lowest first: an included sub-dialog (in `include` order) < the dialog itself < the
vendor's `dialog:` overrides. Mappings (settings, slots, states, a state's fields, fallback) merge
key by key, the higher one winning; transition lists are concatenated with the higher one first, so
for the same trigger and source its transition is tried first and wins when its conditions hold.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from dialogs.schema import DialogSpec
from dialogs.yamlsource import Path_, YamlInvalid, YamlProblem, line_of, load_yaml, validate

PARTS_DIR = Path(__file__).parent / "parts"
SEGMENTS_DIR = Path(__file__).parent / "segments"
_MERGED = ("settings", "slots", "states", "fallback", "messages")
_LISTS = ("transitions", "global", "system_triggers")


def file_kind(path: Path) -> str:
    """'dialog', 'conversation-test' or 'vendor', from a YAML file's top-level keys (one folder may hold all three)."""
    try:
        text = "\n" + path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return "vendor"  # reported as unreadable by the vendor loader
    if "\nstates:" in text and "\ncatalogue:" not in text:
        return "dialog"
    if "\ntests:" in text and "\nvendor:" in text and "\ncatalogue:" not in text:
        return "conversation-test"
    return "vendor"


def shipped_segments() -> list[str]:
    """The names of the dialogs shipped as segments."""
    return sorted(p.stem for p in SEGMENTS_DIR.glob("*.yaml"))


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` merged onto `base` with the precedence in this module's docstring."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        if key in _LISTS and isinstance(value, list):
            out[key] = [*copy.deepcopy(value), *[v for v in out.get(key) or [] if v not in value]]
        elif key in _MERGED and isinstance(value, dict) and isinstance(out.get(key), dict):
            merged = out[key]
            for k, v in value.items():
                if key in ("states", "messages") and isinstance(v, dict) and isinstance(merged.get(k), dict):
                    merged[k] = {**merged[k], **copy.deepcopy(v)}
                else:
                    merged[k] = copy.deepcopy(v)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_yaml_file(path: Path) -> tuple[Any, dict[Path_, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlInvalid([YamlProblem(str(path), 1, f"cannot read file: {exc}")]) from None
    return load_yaml(text, str(path))


def expand_includes(data: Any, lines: dict[Path_, int], filename: str, seen: tuple[str, ...] = ()) -> Any:
    """The dialog data with each `include`d sub-dialog (dialogs/parts/NAME.yaml) merged under it."""
    if not isinstance(data, dict) or not data.get("include"):
        return data
    names = data["include"] if isinstance(data["include"], list) else [data["include"]]
    base: dict[str, Any] = {}
    for i, name in enumerate(names):
        part = PARTS_DIR / f"{name}.yaml"
        if not isinstance(name, str) or not name.isidentifier() or not part.is_file():
            known = ", ".join(sorted(p.stem for p in PARTS_DIR.glob("*.yaml")))
            raise YamlInvalid([YamlProblem(filename, line_of(lines, ("include", i)),
                                           f"include.{i}: no sub-dialog '{name}' (known: {known})")])
        if name in seen:
            raise YamlInvalid([YamlProblem(filename, line_of(lines, ("include", i)),
                                           f"include.{i}: '{name}' includes itself")])
        part_data, part_lines = read_yaml_file(part)
        part_data = expand_includes(part_data, part_lines, str(part), (*seen, name))
        if isinstance(part_data, dict):
            part_data = {k: v for k, v in part_data.items() if k not in ("name", "description", "include")}
            base = merge(base, part_data)
    return merge(base, data)


def compose(data: Any, lines: dict[Path_, int], filename: str,
            overrides: dict[str, Any] | None = None) -> DialogSpec:
    """Validate dialog data after includes and (optionally) a vendor's overrides are merged."""
    data = expand_includes(data, lines, filename)
    if overrides and isinstance(data, dict):
        data = merge(data, overrides)
    return validate(DialogSpec, data, lines, filename)


def read_dialog(path: str | Path, overrides: dict[str, Any] | None = None) -> tuple[DialogSpec, dict[Path_, int]]:
    """Read a dialog file with its includes (and overrides); also the line of each of its values."""
    p = Path(path)
    data, lines = read_yaml_file(p)
    return compose(data, lines, str(p), overrides), lines


def segment_path(segment: str) -> Path:
    return SEGMENTS_DIR / f"{segment}.yaml"
