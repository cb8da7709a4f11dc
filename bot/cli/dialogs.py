"""`palabre test`, `palabre diagram` and `palabre schema`: the dialog author's tools."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dialogs import DialogError, DialogSpec, YamlInvalid, read_dialog, segment_path, shipped_segments


def _button_ids(*catalogs: Any) -> dict[str, set[str]]:
    """message key -> button and list row ids, from wording in any form ({locale: {key: str | {text, buttons,
    list}}})."""
    out: dict[str, set[str]] = {}
    for catalog in catalogs:
        for msgs in (catalog or {}).values():
            for key, value in (msgs or {}).items():
                raw = value.model_dump(by_alias=True) if hasattr(value, "model_dump") else value
                if not isinstance(raw, dict):
                    continue
                menu = raw.get("list") if isinstance(raw.get("list"), dict) else {}
                rows = [r for s in menu.get("sections") or [] if isinstance(s, dict) for r in s.get("rows") or []]
                for b in [*(raw.get("buttons") or []), *rows]:
                    if isinstance(b, dict) and b.get("id") is not None:
                        out.setdefault(key, set()).add(str(b["id"]))
    return out


def check_warnings(spec: DialogSpec, source: str, *wording: Any) -> list[str]:
    """`palabre check`'s warnings for one dialog (a file, or a vendor's composed dialog)."""
    from dialogs.lint import warnings
    from templates import load_segment

    shipped = load_segment(spec.name) if spec.name in shipped_segments() else {}
    return [f"{source}: warning: {w}" for w in warnings(spec, _button_ids(shipped, spec.messages, *wording))]


def check_test_file(path: Path) -> list[str]:
    """A conversation-test file's problems (schema, and a vendor file that exists), as file:line:column: text."""
    from bot.cli.conversation_tests import ConversationFile
    from dialogs.yamlsource import problem_at, read_file

    try:
        spec, lines = read_file(ConversationFile, path)
    except YamlInvalid as exc:
        return [str(p) for p in exc.problems]
    if not (path.parent / spec.vendor).is_file():
        return [str(problem_at(str(path), lines, ("vendor",), f"vendor: no file {spec.vendor} next to this test file",
                               "the path is relative to this test file"))]
    return []


def cmd_test(args: argparse.Namespace) -> int:
    from bot.cli.conversation_tests import main

    return main(args.paths, args.k)


def _dialog_of(target: str) -> DialogSpec:
    """A segment name, a dialog file, or a vendor file (its segment's dialog with its overrides)."""
    if target in shipped_segments():
        return read_dialog(segment_path(target))[0]
    path = Path(target)
    text = path.read_text(encoding="utf-8")
    if "\ncatalogue:" in f"\n{text}":
        from bot.actions import build_registry
        from bot.vendors import VendorLoader

        return VendorLoader(build_registry()).load(path).dialog.spec
    return read_dialog(path)[0]


def cmd_diagram(args: argparse.Namespace) -> int:
    from dialogs.diagram import mermaid

    try:
        spec = _dialog_of(args.dialog)
    except (YamlInvalid, DialogError) as exc:
        print(exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"diagram: cannot read {args.dialog}: {exc.strerror} (a segment is one of: "
              f"{', '.join(shipped_segments())})", file=sys.stderr)
        return 1
    print(mermaid(spec), end="")
    return 0


def schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schemas, generated from the pydantic models that validate the files."""
    from bot.cli.conversation_tests import ConversationFile
    from bot.vendors import VendorConfig

    out = {
        "vendor": VendorConfig.model_json_schema(),
        "dialog": DialogSpec.model_json_schema(by_alias=True),
        "conversation-test": ConversationFile.model_json_schema(by_alias=True),
    }
    for name, schema in out.items():
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema.setdefault("title", f"Palabre {name} file")
    return out


def cmd_schema(args: argparse.Namespace) -> int:
    all_schemas = schemas()
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, schema in all_schemas.items():
            (out / f"{name}.schema.json").write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n",
                                                     encoding="utf-8")
            print(out / f"{name}.schema.json")
        return 0
    print(json.dumps(all_schemas[args.kind], indent=2, ensure_ascii=False))
    return 0


STARTER = """\
# {name} — a vendor of the {segment} segment. Validate with `palabre check {file}`, try it with
# `palabre run --vendors {folder}` and the simulator at /simulator/{id}. docs/dialogs.md explains
# how to change the conversation; docs/templates.md lists the messages you can reword.
id: {id}
name: {name}
segment: {segment}
locale: fr
currency: XOF
settings:                       # the {segment} dialog's settings and their defaults
{settings}
notify:                         # where the bot tells you about payments
  channel: web
  address: "+221770000000"
psp: sandbox
about:                          # your answers to "vous livrez à Thiès ?", "vous êtes où ?", "vos horaires ?"
  address: Marché HLM, box 12, Dakar
  hours: Du lundi au samedi, 9 h – 19 h
  delivery: Dakar 1 500 F, sous 24 h ; régions 3 000 F, sous 72 h
catalogue:                      # code, name, price (F CFA), stock
  - {{code: ARTICLE1, name: Mon premier article, price: 10000, stock: 5}}
messages:
  fr: {{}}    # e.g. thanks: Merci, à bientôt !
"""


def cmd_init(args: argparse.Namespace) -> int:
    """Write a starter vendor file for a segment; never overwrites a file."""
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", args.vendor):
        print("init: a vendor id is lowercase letters, digits, - and _ (e.g. boutique-awa)", file=sys.stderr)
        return 2
    if args.segment not in shipped_segments():
        print(f"init: unknown segment '{args.segment}' (one of: {', '.join(shipped_segments())})", file=sys.stderr)
        return 2
    target = Path(args.dir) / f"{args.vendor}.yaml"
    if target.exists():
        print(f"init: {target} already exists", file=sys.stderr)
        return 1
    spec = read_dialog(segment_path(args.segment))[0]
    from bot.vendors import LiveSellerSettings

    defaults = {**LiveSellerSettings().model_dump(), **spec.settings}
    settings = "\n".join(f"  {k}: {json.dumps(v)}" for k, v in defaults.items())
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(STARTER.format(id=args.vendor, name=args.vendor.replace("-", " ").title(), segment=args.segment,
                                     settings=settings, file=target, folder=target.parent), encoding="utf-8")
    print(target)
    return 0


def add_commands(sub: Any) -> None:
    init = sub.add_parser("init", help="write a starter vendor file for a segment")
    init.add_argument("vendor", help="the vendor id (also the file name)")
    init.add_argument("--segment", default="live_seller", help=f"one of: {', '.join(shipped_segments())}")
    init.add_argument("--dir", default=".", help="where to write VENDOR.yaml (default: here)")
    init.set_defaults(func=cmd_init)
    test = sub.add_parser("test", help="run conversation tests (YAML) and print a pass/fail report")
    test.add_argument("paths", nargs="*", help="files or folders (default: tests/conversations)")
    test.add_argument("-k", help="only the tests whose name contains this")
    test.set_defaults(func=cmd_test)
    diagram = sub.add_parser("diagram", help="print a dialog as Mermaid (stateDiagram-v2)")
    diagram.add_argument("dialog", help="a segment name, a dialog file or a vendor file")
    diagram.set_defaults(func=cmd_diagram)
    schema = sub.add_parser("schema", help="print the JSON Schema of vendor, dialog or conversation-test YAML")
    schema.add_argument("kind", nargs="?", default="vendor", choices=["vendor", "dialog", "conversation-test"])
    schema.add_argument("--out", help="write the three schemas into this folder instead")
    schema.set_defaults(func=cmd_schema)
