"""The refunds the vendor makes by hand, under /api/admin/vendors/{vendor}/refunds (admin token): list, mark done."""

from __future__ import annotations

import math

from aiohttp import web

from bot.http import ApiError
from bot.http.admin import admin_runtime, admin_vendor
from channels.base import mask_address

LISTED = ("refund_manual", "refund_due")
LIMIT = 10_000


async def list_refunds(request: web.Request) -> web.Response:
    """GET: the vendor's payments still owing a refund, oldest first; `manual` ones wait for the vendor."""
    rt = admin_runtime(request)
    vendor = admin_vendor(rt, request)
    items = []
    for status in LISTED:
        for payment in await rt.store.pending_payments(math.inf, LIMIT, status=status):
            if payment.vendor_id != vendor.id:
                continue
            order = await rt.store.get_order(payment.order_id)
            items.append({
                "payment_id": payment.id, "order_id": payment.order_id, "psp": payment.psp,
                "amount": payment.amount, "currency": payment.currency, "created_at": payment.created_at,
                "status": "manual" if payment.status == "refund_manual" else "automatic",
                "product": order.product_name if order else None,
                "buyer": mask_address(order.contact.address) if order else None,
                "duplicate": bool(order and order.payment_id != payment.id),
            })
    return web.json_response({"refunds": sorted(items, key=lambda i: i["created_at"])})


async def refund_done(request: web.Request) -> web.Response:
    """POST: the vendor refunded this payment by hand; the buyer is told."""
    rt = admin_runtime(request)
    vendor = admin_vendor(rt, request)
    payment_id = request.match_info["payment_id"][:128]
    known = await rt.store.get_payment(payment_id)
    if known is None or known.vendor_id != vendor.id:
        raise ApiError(404, "unknown_payment", "no such payment for this vendor")
    payment = await rt.payments.refunds.mark_refunded(payment_id)
    if payment is None:
        raise ApiError(409, "not_owed", f"this payment owes no refund (it is {known.status})")
    return web.json_response({"payment_id": payment.id, "status": "refunded"})


def routes() -> list[web.RouteDef]:
    """Register before the admin API's catch-all route."""
    return [
        web.get("/api/admin/vendors/{vendor}/refunds", list_refunds),
        web.post("/api/admin/vendors/{vendor}/refunds/{payment_id}/done", refund_done),
    ]
