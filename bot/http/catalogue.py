"""The vendor workflow's admin routes: set a product's stock, reload the vendor files."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.http import ApiError, read_json
from bot.http.admin import admin_runtime, admin_vendor
from bot.reload import RELOADS, ReloadRefused, reload_vendors
from bot.runtime import Runtime
from storage import Product

MAX_STOCK = 10_000_000


def parse_stock(value: Any) -> int:
    """A stock from JSON or the command line: a whole number, 0 to 10 000 000."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("the stock must be a whole number")
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_STOCK:
        raise ValueError(f"the stock must be a whole number from 0 to {MAX_STOCK}")
    return int(text)


async def set_stock(rt: Runtime, vendor_id: str, code: str, stock: int) -> Product:
    """Set what is on sale now (orders already reserved keep theirs); KeyError for an unknown product."""
    code = code.upper()
    if await rt.store.get_product(vendor_id, code) is None:
        raise KeyError(code)
    await rt.store.set_stock(vendor_id, code, stock)
    product = await rt.store.get_product(vendor_id, code)
    assert product is not None
    return product


async def put_stock(request: web.Request) -> web.Response:
    """`PUT /api/admin/vendors/{vendor}/products/{code}/stock` with `{"stock": 12}`."""
    rt = admin_runtime(request)
    vendor = admin_vendor(rt, request)
    body = await read_json(request)
    if not isinstance(body, dict) or "stock" not in body:
        raise ApiError(400, "invalid_body", 'send {"stock": 12}')
    try:
        stock = parse_stock(body["stock"])
    except ValueError as exc:
        raise ApiError(400, "invalid_stock", str(exc)) from None
    code = request.match_info["code"][:32]
    try:
        product = await set_stock(rt, vendor.id, code, stock)
    except KeyError:
        raise ApiError(404, "unknown_product", f"vendor '{vendor.id}' has no product '{code}'") from None
    return web.json_response({"vendor": vendor.id, "code": product.code, "stock": product.stock})


async def post_reload(request: web.Request) -> web.Response:
    """`POST /api/admin/vendors/reload`: 200 with what changed, or 422 with every problem (nothing changed)."""
    rt = admin_runtime(request)
    try:
        reloads = request.app.get(RELOADS)
        report = await reloads.reload() if reloads is not None else await reload_vendors(rt)
    except ReloadRefused as exc:
        raise ApiError(422, "invalid_vendor_files", f"the running vendors are kept: {exc}") from None
    return web.json_response(report.as_json())


def routes() -> list[web.RouteDef]:
    return [
        web.put("/api/admin/vendors/{vendor}/products/{code}/stock", put_stock),
        web.post("/api/admin/vendors/reload", post_reload),
    ]
