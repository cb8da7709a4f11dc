"""`palabre users add|list|revoke`: the people who use the APIs, their roles, vendors and tokens."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from bot.inbox.core import make_inbox_store
from bot.inbox.roles import ROLES
from bot.inbox.users import UserError, add_user, revoke_user
from bot.settings import Settings
from storage.inbox import InboxStore
from storage.inbox_sqlite import FILE_NAME


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(data_dir=getattr(args, "data_dir", None), vendors_dir=getattr(args, "vendors", None))


async def _with_store(settings: Settings, job):  # type: ignore[no-untyped-def]
    store: InboxStore = make_inbox_store(settings)
    await store.start()
    try:
        return await job(store)
    finally:
        await store.close()


def _known_vendors(settings: Settings) -> set[str] | None:
    from bot.runtime import load_vendors

    try:
        return set(load_vendors(settings.vendors_dir)) or None
    except Exception:  # a broken vendor folder is `palabre check`'s business; the names cannot be checked
        return None


def cmd_add(args: argparse.Namespace) -> int:
    settings = _settings(args)
    vendors = list(args.vendor or [])
    try:
        token = asyncio.run(_with_store(settings, lambda s: add_user(
            s, args.name, args.role, vendors, known_vendors=_known_vendors(settings) if vendors else None)))
    except UserError as exc:
        print(f"users add: {exc}", file=sys.stderr)
        return 1
    scope = ", ".join(sorted(set(vendors))) if vendors and args.role != "super_admin" else "every vendor"
    print(f"user {args.name} ({args.role}, {scope}) created. Their token, shown only this once:", file=sys.stderr)
    print(token)
    return 0


def _when(at: float | None) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M") if at else "-"


def _settings_with_store(args: argparse.Namespace) -> Settings | None:
    """The settings, or None after saying that --data-dir holds no users at all (list and revoke read)."""
    settings = _settings(args)
    if missing := settings.no_local_store(FILE_NAME):
        print(f"users {args.users_command}: {missing}", file=sys.stderr)
        return None
    return settings


def cmd_list(args: argparse.Namespace) -> int:
    if (settings := _settings_with_store(args)) is None:
        return 2
    agents = asyncio.run(_with_store(settings, lambda s: s.list_agents()))
    if not agents:
        print("no users yet: palabre users add NAME --role ROLE [--vendor V]")
        return 0
    print(f"{'name':<24} {'role':<12} {'vendors':<24} {'created':<17} revoked")
    for a in agents:
        print(f"{a.name:<24} {a.role:<12} {','.join(a.vendors) or '*':<24} {_when(a.created_at):<17} "
              f"{_when(a.revoked_at)}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    if (settings := _settings_with_store(args)) is None:
        return 2
    try:
        asyncio.run(_with_store(settings, lambda s: revoke_user(s, args.name)))
    except UserError as exc:
        print(f"users revoke: {exc}", file=sys.stderr)
        return 1
    print(f"user {args.name}: token revoked")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    users = sub.add_parser("users", help="people using the APIs and the inbox: roles, vendors, tokens")
    actions = users.add_subparsers(dest="users_command", required=True)
    add = actions.add_parser("add", help="create a user and print their API token once")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--vendor", action="append", help="a vendor they work for (repeat; none: every vendor)")
    add.set_defaults(func=cmd_add)
    listing = actions.add_parser("list", help="list users (never their tokens)")
    listing.set_defaults(func=cmd_list)
    revoke = actions.add_parser("revoke", help="revoke a user's token at once")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_revoke)
    for parser in (add, listing, revoke):
        parser.add_argument("--data-dir", help="embedded store folder (default: ./data)")
        parser.add_argument("--vendors", help="folder of vendor YAML files, to check --vendor names")
