"""`palabre dead-letters` and `palabre replay`: list and replay events whose turn failed for good.

With --url they go through a running server's admin API (a replay runs at once); without it they open
the store directly (a replayed event then runs at the server's next start).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from bot.cli.admin_client import call_admin

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_commands(sub: Any) -> None:
    """Register both commands on the `palabre` sub-parsers."""
    listing = sub.add_parser("dead-letters", help="list events whose turn failed for good (dead letters)")
    listing.add_argument("--vendor", help="only this vendor's")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    _common(listing)
    listing.set_defaults(func=cmd_dead_letters)
    replay = sub.add_parser("replay", help="process dead letters again",
                            description="Exit code: 0 all replayed, 1 some could not be, 2 bad usage.")
    replay.add_argument("event_id", nargs="?", help="the dead letter's event id")
    replay.add_argument("--all", action="store_true", help="every dead letter (of --vendor)")
    replay.add_argument("--vendor", help="with --all: only this vendor's")
    _common(replay)
    replay.set_defaults(func=cmd_replay)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="base URL of a running server: use its admin API")
    parser.add_argument("--token", help="the server's admin token for --url (default: $PALABRE_ADMIN_TOKEN)")
    parser.add_argument("--data-dir", help="embedded store folder without --url (default: ./data)")


def cmd_dead_letters(args: argparse.Namespace) -> int:
    if args.url:
        status, body = _call(args, "GET", "/api/admin/dead-letters", params={"vendor": args.vendor} if args.vendor
                             else None)
        if status != 200 or not isinstance(body, dict):
            return _refused(status, body)
        letters = body.get("dead_letters") or []
    else:
        from bot.pipeline.dead_letters import public

        found = _local(args, lambda store: store.dead_letters(args.vendor, limit=100_000))
        if found is None:
            return EXIT_FAILED
        letters = [public(letter) for letter in found]
    if args.json:
        print(json.dumps({"dead_letters": letters}, ensure_ascii=False))
        return EXIT_OK
    for item in letters:
        error = str(item.get("error", "")).replace("\n", " ")[:160]
        print(f"{item['event_id']}\t{item.get('vendor') or '-'}\t{item.get('attempts')} attempt(s)\t"
              f"{item.get('conversation') or '-'}\t{error}")
    print(f"{len(letters)} dead letter(s)", file=sys.stderr)
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    if bool(args.event_id) == bool(args.all) or (args.vendor and not args.all):
        print("replay: give one EVENT_ID, or --all (optionally with --vendor)", file=sys.stderr)
        return EXIT_USAGE
    if args.url:
        payload: dict[str, Any] = {"all": True, "vendor": args.vendor} if args.all else {"event_id": args.event_id}
        status, body = _call(args, "POST", "/api/admin/dead-letters/replay", json_body=payload)
        if status != 200 or not isinstance(body, dict):
            return _refused(status, body)
        replayed, failed = list(body.get("replayed") or []), list(body.get("failed") or [])
        when = "queued now"
    else:
        from bot.pipeline.dead_letters import revive_all

        async def revive(store: Any) -> tuple[list[str], list[dict[str, str]]]:
            if args.all:
                return await revive_all(store, args.vendor)
            try:
                event = await store.revive_event(args.event_id)
            except ValueError as exc:
                return [], [{"event_id": args.event_id, "error": str(exc)[:300]}]
            if event is None:
                return [], [{"event_id": args.event_id, "error": "no dead letter with this event id"}]
            return [args.event_id], []

        result = _local(args, revive)
        if result is None:
            return EXIT_FAILED
        replayed, failed = result
        when = "processed at the server's next start"
    for event_id in replayed:
        print(f"replayed {event_id}")
    for item in failed:
        print(f"not replayed {item.get('event_id')}: {item.get('error')}", file=sys.stderr)
    print(f"{len(replayed)} replayed ({when}), {len(failed)} not", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _local(args: argparse.Namespace, job: Any) -> Any:
    """Run `job(store)` on the configured store; None (after saying why) when it is in use."""
    from bot.runtime import make_store
    from bot.settings import Settings
    from storage.embedded import DB_FILE, StoreLocked

    settings = Settings.from_env(data_dir=args.data_dir)
    if missing := settings.no_local_store(DB_FILE):
        print(missing, file=sys.stderr)
        return None

    async def run() -> Any:
        store = make_store(settings)
        await store.start()
        try:
            return await job(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreLocked:
        print(f"{settings.data_dir} is in use by a running Palabre server: use --url with its admin token",
              file=sys.stderr)
        return None


def _call(args: argparse.Namespace, method: str, path: str, *, params: dict[str, str] | None = None,
          json_body: dict[str, Any] | None = None) -> tuple[int, Any]:
    return call_admin(args, method, path, params=params, json=json_body)


def _refused(status: int, body: Any) -> int:
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    print(f"the server refused ({status}): {message or 'no details'}", file=sys.stderr)
    return EXIT_USAGE if status == 400 else EXIT_FAILED
