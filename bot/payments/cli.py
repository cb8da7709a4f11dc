"""`palabre refunds list|done`: the refunds a vendor makes by hand, through a running server's admin API."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.cli.admin_client import call_admin

EXIT_OK, EXIT_FAILED = 0, 1


def add_commands(sub: Any) -> None:
    """Register `refunds` on the `palabre` sub-parsers."""
    refunds = sub.add_parser("refunds", help="refunds owed to buyers: list them, mark one refunded by hand")
    actions = refunds.add_subparsers(dest="refunds_command", required=True)
    listing = actions.add_parser("list", help="a vendor's payments still owing a refund")
    listing.add_argument("vendor")
    done = actions.add_parser("done", help="the vendor refunded this payment by hand: the buyer is told")
    done.add_argument("vendor")
    done.add_argument("payment_id")
    for parser in (listing, done):
        # the server tells the buyer, so this goes through it (its store is in use while it runs)
        parser.add_argument("--url", required=True, help="base URL of the running server")
        parser.add_argument("--token", help="the server's admin token (default: $PALABRE_ADMIN_TOKEN)")
    listing.set_defaults(func=cmd_list)
    done.set_defaults(func=cmd_done)


def cmd_list(args: argparse.Namespace) -> int:
    status, body = call_admin(args, "GET", f"/api/admin/vendors/{args.vendor}/refunds")
    if status != 200 or not isinstance(body, dict):
        return _refused(status, body)
    for item in body.get("refunds") or []:
        why = "paid twice" if item.get("duplicate") else "sold out"
        print(f"{item['payment_id']}\t{item['status']}\t{item['amount']} {item['currency']}\t{item['psp']}\t"
              f"{item.get('buyer') or '-'}\t{item.get('product') or '-'}\t{why}")
    print(f"{len(body.get('refunds') or [])} refund(s) owed", file=sys.stderr)
    return EXIT_OK


def cmd_done(args: argparse.Namespace) -> int:
    status, body = call_admin(args, "POST", f"/api/admin/vendors/{args.vendor}/refunds/{args.payment_id}/done")
    if status != 200:
        return _refused(status, body)
    print(f"{args.payment_id} refunded; the buyer is told")
    return EXIT_OK


def _refused(status: int, body: Any) -> int:
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    print(f"the server refused ({status}): {message or 'no details'}", file=sys.stderr)
    return EXIT_FAILED
