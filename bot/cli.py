"""The `palabre` command line: run, shell, check, nlu eval."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from aiohttp import web

from bot.settings import Settings
from dialogs import DialogError, DialogSpec, YamlInvalid, load_file


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        host=getattr(args, "host", None), port=getattr(args, "port", None),
        vendors_dir=getattr(args, "vendors", None), data_dir=getattr(args, "data_dir", None),
    )


def _vendors_or_exit(directory: str) -> dict:
    from bot.runtime import load_vendors

    try:
        vendors = load_vendors(directory)
    except (YamlInvalid, DialogError) as exc:
        print(f"invalid vendor configuration in {directory}:\n{exc}", file=sys.stderr)
        raise SystemExit(1) from None
    if not vendors:
        print(f"no vendor YAML found in {directory}", file=sys.stderr)
        raise SystemExit(1)
    return vendors


def cmd_run(args: argparse.Namespace) -> int:
    from bot.app import create_app
    from bot.runtime import Runtime

    settings = _settings(args)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    vendors = _vendors_or_exit(settings.vendors_dir)
    app = create_app(Runtime(settings, vendors))
    print(f"Palabre on {settings.base_url} — vendors: {', '.join(sorted(vendors))}", flush=True)
    for v in sorted(vendors):
        print(f"  simulator: {settings.base_url}/simulator/{v}", flush=True)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from bot.runtime import load_vendors
    from bot.vendors import VendorLoader

    problems: list[str] = []
    checked = 0
    for target in args.paths:
        p = Path(target)
        files = sorted([*p.glob("*.yaml"), *p.glob("*.yml")]) if p.is_dir() else [p]
        for f in files:
            checked += 1
            try:
                if _looks_like_dialog(f):
                    load_file(DialogSpec, f)
                elif p.is_dir():
                    continue
                else:
                    from bot import commerce
                    from dialogs import Registry

                    VendorLoader(commerce.register(Registry())).load(f)
            except (YamlInvalid, DialogError) as exc:
                problems.extend(str(exc).splitlines())
        if p.is_dir():
            try:
                load_vendors(str(p))
            except (YamlInvalid, DialogError) as exc:
                problems.extend(str(exc).splitlines())
    for line in dict.fromkeys(problems):
        print(line, file=sys.stderr)
    if problems:
        return 1
    print(f"ok: {checked} file(s) valid")
    return 0


def _looks_like_dialog(path: Path) -> bool:
    try:
        head = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return "\nstates:" in f"\n{head}" and "\ncatalogue:" not in f"\n{head}"


def cmd_shell(args: argparse.Namespace) -> int:
    from bot.shell import run_shell

    settings = _settings(args)
    vendors = _vendors_or_exit(settings.vendors_dir)
    if args.vendor not in vendors:
        print(f"no vendor '{args.vendor}' (known: {', '.join(sorted(vendors))})", file=sys.stderr)
        return 1
    return asyncio.run(run_shell(settings, vendors, args.vendor, args.contact))


def cmd_nlu_eval(args: argparse.Namespace) -> int:
    from intents.evaluation import run as run_eval

    try:
        print(run_eval(args.file, args.catalogue, as_json=args.json))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"nlu eval: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="palabre", description="Conversational-commerce bots.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve webhooks, the simulator and the APIs")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--vendors", help="folder of vendor YAML files (default: examples/vendors)")
    run.add_argument("--data-dir", help="embedded store folder (default: ./data)")
    run.set_defaults(func=cmd_run)
    shell = sub.add_parser("shell", help="chat with a vendor's bot in the terminal")
    shell.add_argument("--vendor", default="demo")
    shell.add_argument("--contact", default="+221770000001")
    shell.add_argument("--vendors")
    shell.add_argument("--data-dir")
    shell.set_defaults(func=cmd_shell)
    check = sub.add_parser("check", help="validate vendor and dialog YAML files")
    check.add_argument("paths", nargs="+")
    check.set_defaults(func=cmd_check)
    nlu = sub.add_parser("nlu", help="the intent and entity parser").add_subparsers(dest="nlu_command", required=True)
    nlu_eval = nlu.add_parser("eval", help="score the parser on a labelled YAML file ({text, intent, locale} items)")
    nlu_eval.add_argument("file")
    nlu_eval.add_argument("--json", action="store_true", help="print one JSON object")
    nlu_eval.add_argument("--catalogue", help="catalogue YAML (list of {code, name}) or a vendor file "
                          "(default: intents/data/test_catalogue.yaml)")
    nlu_eval.set_defaults(func=cmd_nlu_eval)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
