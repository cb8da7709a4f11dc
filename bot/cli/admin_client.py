"""Commands that act through a running server call its admin API with the operator's token."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any


def call_admin(args: argparse.Namespace, method: str, path: str, *, timeout: float = 60.0,
               **request: Any) -> tuple[int, Any]:
    """(status, JSON body or None) of one admin request to `args.url`; exits 1 saying why when the
    token is missing or the server cannot be reached."""
    import aiohttp

    token = args.token or os.environ.get("PALABRE_ADMIN_TOKEN")
    if not token:
        raise SystemExit("--url needs the server's admin token (--token or PALABRE_ADMIN_TOKEN)")
    headers = {"Authorization": f"Bearer {token}", **request.pop("headers", {})}

    async def call() -> tuple[int, Any]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http, http.request(
                method, f"{args.url.rstrip('/')}{path}", headers=headers, **request) as resp:
            try:
                return resp.status, await resp.json(content_type=None)
            except ValueError:
                return resp.status, None

    try:
        return asyncio.run(call())
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SystemExit(f"cannot reach {args.url}: {type(exc).__name__}") from None
