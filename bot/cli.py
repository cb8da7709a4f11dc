"""The `palabre` command line: run, shell, check, nlu eval, import-numbers."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

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
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
