"""A vendor's dialog: its segment's (or its own file's) dialog with the vendor's `dialog:` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dialogs.compose import compose, read_yaml_file
from dialogs.schema import DialogSpec
from dialogs.yamlsource import Path_, Positions, YamlInvalid, YamlProblem
from templates import MessageSpec


def compose_vendor_dialog(source: Path, overrides: dict[str, Any], vendor_lines: dict[Path_, int],
                          vendor_file: str) -> DialogSpec:
    """Compose the dialog at `source` with `overrides` (the vendor file's `dialog:` mapping).

    A problem in what the vendor wrote is reported at its line of the vendor file; a problem of the
    dialog file itself at its own file and line.
    """
    data, lines = read_yaml_file(source)
    if not overrides:
        return compose(data, lines, str(source))
    compose(data, lines, str(source))  # the dialog file's own problems, at its own lines
    merged = Positions()
    merged.update(lines)
    merged.columns.update(getattr(lines, "columns", {}))
    vendor_columns = getattr(vendor_lines, "columns", {})
    for path, line in vendor_lines.items():
        if path[:1] == ("dialog",):
            merged[path[1:]] = line
            merged.columns[path[1:]] = vendor_columns.get(path, 1)
    try:
        return compose(data, merged, vendor_file, overrides)
    except YamlInvalid as exc:
        raise YamlInvalid([YamlProblem(p.file, p.line, f"dialog.{p.message}", p.column, p.hint)
                           for p in exc.problems]) from None


def dialog_messages(spec: DialogSpec) -> dict[str, dict[str, MessageSpec]]:
    """The wording a vendor's own dialog file carries under `messages:` ({locale: {key: message}})."""
    out: dict[str, dict[str, MessageSpec]] = {}
    for locale, msgs in spec.messages.items():
        for key, v in (msgs or {}).items():
            try:
                out.setdefault(str(locale), {})[key] = \
                    MessageSpec(text=v) if isinstance(v, str) else MessageSpec.model_validate(v)
            except ValidationError as exc:
                raise YamlInvalid([YamlProblem(spec.name, 1, f"messages.{locale}.{key}: {exc.errors()[0]['msg']}")]) \
                    from None
    return out
