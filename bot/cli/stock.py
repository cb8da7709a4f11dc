"""`palabre stock VENDOR CODE N`: set a product's stock, in the store, or through a running server."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from bot.settings import Settings


def _remote(url: str, token: str | None, vendor: str, code: str, stock: int) -> int:
    import aiohttp

    if not token:
        print("stock: the server is running: give its admin token (--token or PALABRE_ADMIN_TOKEN) to set the stock "
              "through it", file=sys.stderr)
        return 1
    endpoint = f"{url.rstrip('/')}/api/admin/vendors/{vendor}/products/{code}/stock"

    async def put() -> tuple[int, Any]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http, http.put(
            endpoint, json={"stock": stock}, headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            try:
                return resp.status, await resp.json(content_type=None)
            except ValueError:
                return resp.status, None

    try:
        status, body = asyncio.run(put())
    except (aiohttp.ClientError, TimeoutError) as exc:
        print(f"stock: cannot reach {url}: {type(exc).__name__}", file=sys.stderr)
        return 1
    if status == 200 and isinstance(body, dict):
        print(f"{body['vendor']} {body['code']}: stock {body['stock']}")
        return 0
    error = body.get("error") if isinstance(body, dict) else None
    print(f"stock: refused ({status}): {error.get('message') if isinstance(error, dict) else 'no details'}",
          file=sys.stderr)
    return 1


def _local(settings: Settings, vendor: str, code: str, stock: int) -> int:
    from bot.runtime import make_store
    from storage.embedded import StoreLocked

    async def run() -> int | None:
        store = make_store(settings)
        await store.start()
        try:
            if await store.get_product(vendor, code) is None:
                print(f"stock: vendor '{vendor}' has no product '{code}' (a product is added by the vendor file, "
                      "at the server's next start or reload)", file=sys.stderr)
                return 1
            await store.set_stock(vendor, code, stock)
            product = await store.get_product(vendor, code)
            print(f"{vendor} {code}: stock {product.stock if product else stock}")
            return 0
        finally:
            await store.close()

    try:
        return asyncio.run(run()) or 0
    except StoreLocked:
        return -1


def cmd_stock(args: argparse.Namespace) -> int:
    from bot.http.catalogue import parse_stock

    try:
        stock = parse_stock(args.stock)
    except ValueError as exc:
        print(f"stock: {exc}", file=sys.stderr)
        return 2
    code = args.code.upper()
    token = args.token or os.environ.get("PALABRE_ADMIN_TOKEN")
    settings = Settings.from_env(data_dir=args.data_dir)
    if args.url:
        return _remote(args.url, token, args.vendor, code, stock)
    done = _local(settings, args.vendor, code, stock)
    if done != -1:
        return done
    # the embedded store is open in a running server: ask that server instead
    return _remote(settings.base_url, token, args.vendor, code, stock)


def add_commands(sub: Any) -> None:
    stock = sub.add_parser("stock", help="set a product's stock (the vendor file's stock is only the first one)",
                           description="The vendor file owns names, prices and descriptions; the stock it gives is "
                                       "the first stock only, then sales and this command set it.")
    stock.add_argument("vendor")
    stock.add_argument("code")
    stock.add_argument("stock", help="what is on sale now (orders already reserved keep theirs)")
    stock.add_argument("--url", help="a running server's base URL (default: the local store, or the local server "
                                     "when it holds the store)")
    stock.add_argument("--token", help="the server's admin token (default: $PALABRE_ADMIN_TOKEN)")
    stock.add_argument("--data-dir", help="embedded store folder (default: ./data)")
    stock.set_defaults(func=cmd_stock)
