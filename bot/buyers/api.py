"""`GET /api/admin/vendors/{vendor}/buyers/{address}`: a buyer's card — history, score and its factors, tier."""

from __future__ import annotations

from aiohttp import web

from bot.buyers.actions import buyer_record
from bot.http import ApiError
from bot.http.admin import admin_runtime


async def buyer_card(request: web.Request) -> web.Response:
    rt = admin_runtime(request)
    vendor_id, address = request.match_info["vendor"], request.match_info["address"].strip()
    if vendor_id not in rt.vendors:
        raise ApiError(404, "unknown_vendor", f"no vendor '{vendor_id[:64]}'")
    if not address or len(address) > 320:
        raise ApiError(400, "invalid_address", "give the buyer's address (E.164 phone, chat id or email)")
    record = await buyer_record(rt.store, vendor_id, address)
    if record.orders == 0:
        raise ApiError(404, "unknown_buyer", "this buyer has no order with this vendor")
    return web.json_response({"vendor": vendor_id, "address": address, **record.card()})


def routes() -> list[web.RouteDef]:
    """Before the admin API's catch-all."""
    return [web.get("/api/admin/vendors/{vendor}/buyers/{address}", buyer_card)]
