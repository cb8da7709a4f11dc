"""`palabre import-contacts`, `export-contacts` and `broadcast`: on the local store, or a server's API with --url."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from bot.cli.admin_client import call_admin
from bot.settings import Settings

T = TypeVar("T")
BAR = 30


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(vendors_dir=getattr(args, "vendors", None), data_dir=getattr(args, "data_dir", None))


def _vendor_timezone(settings: Settings, vendor_id: str) -> str:
    from bot.runtime import load_vendors

    try:
        vendors = load_vendors(settings.vendors_dir)
    except Exception as exc:  # any invalid vendor file: `palabre check` says more
        raise SystemExit(f"cannot load vendors from {settings.vendors_dir}: {type(exc).__name__} "
                         "(run palabre check)") from None
    if vendor_id not in vendors:
        raise SystemExit(f"no vendor '{vendor_id}' in {settings.vendors_dir} (known: {', '.join(sorted(vendors))})")
    return vendors[vendor_id].config.timezone


def _with_store(settings: Settings, job: Callable[[Any], Awaitable[T]]) -> T:
    from bot.campaigns.service import make_campaign_store

    async def run() -> T:
        store = make_campaign_store(settings)
        await store.start()
        try:
            return await job(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _progress(done: int, total: int) -> None:
    filled = BAR * done // max(total, 1)
    print(f"\rimporting [{'#' * filled}{' ' * (BAR - filled)}] {done}/{total}", end="" if done < total else "\n",
          file=sys.stderr, flush=True)


def _print_report(report: dict[str, Any]) -> int:
    print(f"{report['rows']} rows: {report['created']} contacts created, {report['updated']} updated, "
          f"{report['rejected_count']} rejected ({report['seconds']} s)")
    for item in report["rejected"]:
        print(f"  line {item['line']}: {item['reason']}")
    return 1 if report["rejected_count"] else 0


def cmd_import(args: argparse.Namespace) -> int:
    from bot.campaigns import contacts

    path = Path(args.file)
    try:
        if path.stat().st_size > contacts.MAX_BYTES:
            print(f"import-contacts: {path} is larger than {contacts.MAX_BYTES // 2**20} MB: split it", file=sys.stderr)
            return 2
        data = path.read_bytes()
    except OSError as exc:
        print(f"import-contacts: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    if args.url:
        params = {"filename": path.name, **({"default_region": args.default_region} if args.default_region else {})}
        status, body = call_admin(args, "POST", f"/api/vendors/{args.vendor}/contacts/import",
                                  timeout=600, data=data, params=params)
        if status == 200 and isinstance(body, dict):
            return _print_report(body)
        print(f"import-contacts: refused ({status}): {_message(body)}", file=sys.stderr)
        return 2 if status in (400, 413) else 1
    settings = _settings(args)
    _vendor_timezone(settings, args.vendor)
    try:
        report = _with_store(settings, lambda store: contacts.import_contacts(
            data, args.vendor, store, region=args.default_region, filename=path.name, progress=_progress))
    except contacts.FileInvalid as exc:
        print(f"import-contacts: {path}: {exc}", file=sys.stderr)
        return 2
    except contacts.QuotaExceeded as exc:
        print(f"import-contacts: {exc}", file=sys.stderr)
        return 1
    return _print_report(report.as_json())


def cmd_export(args: argparse.Namespace) -> int:
    from bot.campaigns import contacts
    from storage.campaigns_sqlite import FILE_NAME

    settings = _settings(args)
    _vendor_timezone(settings, args.vendor)
    if missing := settings.no_local_store(FILE_NAME):
        print(f"export-contacts: {missing}", file=sys.stderr)
        return 2
    text = _with_store(settings, lambda store: contacts.export_csv(store, args.vendor))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {text.count(chr(10)) - 1} contacts to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _message(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("message")) if isinstance(error, dict) else "no details"


def parse_time(text: str, timezone: str, now: float) -> float:
    """`--at`: an ISO date-time (the vendor's local time unless it has an offset), or +30m / +2h."""
    if text.startswith("+") and text[-1:] in ("m", "h") and text[1:-1].isdigit():
        return now + int(text[1:-1]) * (60 if text.endswith("m") else 3600)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"--at: {text!r} is not a time like 2026-12-24T09:00 or +30m") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.timestamp()


def cmd_broadcast(args: argparse.Namespace) -> int:
    from bot.campaigns import service

    body: dict[str, Any] = {"templates": args.template, "rate": args.rate, "channel": args.channel, "start": True}
    body.update({"tag": args.tag} if args.tag else {"segment": args.segment})
    if args.id:
        body["id"] = args.id
    if args.url:
        if args.at:
            body["at"] = parse_time(args.at, "UTC", time.time())
        status, answer = call_admin(args, "POST", f"/api/vendors/{args.vendor}/campaigns", json=body)
        if status != 201 or not isinstance(answer, dict):
            print(f"broadcast: refused ({status}): {_message(answer)}", file=sys.stderr)
            return 1
        print(json.dumps(answer, ensure_ascii=False))
        return 0
    settings = _settings(args)
    timezone = _vendor_timezone(settings, args.vendor)
    if args.at:
        body["at"] = parse_time(args.at, timezone, time.time())

    async def job(store: Any) -> Any:
        campaign = await service.create(store, args.vendor, body, time.time())
        if campaign.status != "draft":
            return campaign  # the same command run again (same --id): nothing new
        return await service.command(store, campaign, "schedule" if campaign.at else "start", time.time())

    try:
        campaign = _with_store(settings, job)
    except service.CampaignError as exc:
        print(f"broadcast: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(service.public(campaign), ensure_ascii=False))
    print(f"campaign {campaign.id} is {campaign.status}: a running `palabre run` sends it", file=sys.stderr)
    return 0


def add_commands(sub: Any) -> None:
    def remote(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--url", help="base URL of a running server: go through its API")
        parser.add_argument("--token", help="the server's admin token for --url (default: $PALABRE_ADMIN_TOKEN)")
        parser.add_argument("--vendors", help="folder of vendor YAML files (default: examples/vendors)")
        parser.add_argument("--data-dir", help="embedded store folder (default: ./data)")

    imp = sub.add_parser("import-contacts", help="import a vendor's contacts from CSV or .xlsx",
                         description="Exit code: 0 every row imported, 1 some rows rejected (listed with their "
                                     "line), 2 the file itself is unusable.")
    imp.add_argument("file")
    imp.add_argument("--vendor", required=True)
    imp.add_argument("--default-region", help="country of numbers written without +country code (e.g. SN)")
    remote(imp)
    imp.set_defaults(func=cmd_import)
    exp = sub.add_parser("export-contacts", help="write a vendor's contacts as CSV")
    exp.add_argument("--vendor", required=True)
    exp.add_argument("-o", "--output", help="file to write (default: standard output)")
    exp.add_argument("--vendors")
    exp.add_argument("--data-dir")
    exp.set_defaults(func=cmd_export)
    bc = sub.add_parser("broadcast", help="send a template to contacts with a tag or in a segment")
    bc.add_argument("--vendor", required=True)
    bc.add_argument("--template", required=True, action="append",
                    help="template name; give it 2 to 5 times for A/B variants")
    who = bc.add_mutually_exclusive_group(required=True)
    who.add_argument("--tag")
    who.add_argument("--segment")
    bc.add_argument("--at", help="start time: 2026-12-24T09:00 (vendor's local time) or +30m")
    bc.add_argument("--rate", type=float, default=10.0, help="messages per second (default 10)")
    bc.add_argument("--channel", default="whatsapp", choices=["whatsapp", "sms", "telegram", "email"])
    bc.add_argument("--id", help="campaign id (a retried command with the same id creates nothing new)")
    remote(bc)
    bc.set_defaults(func=cmd_broadcast)
