"""Sandbox checkout pages and the payment webhook endpoint (signature checked, idempotent)."""

from __future__ import annotations

import asyncio
import html
import logging

import aiohttp
from aiohttp import web

from bot.http import ApiError, header, parse_json, read_body, read_form
from bot.payments import METHOD_LABELS, SIGNATURE_HEADER, sign, verify
from bot.runtime import RUNTIME, Runtime
from channels import Event
from locales import money
from storage import Payment

log = logging.getLogger("palabre.payments")
OPEN = ("reserved", "awaiting_payment")


def _page(title: str, body: str, status: int = 200) -> web.Response:
    doc = f"""<!doctype html><html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#222}}
.card{{border:1px solid #ddd;border-radius:12px;padding:1.25rem}} button{{font-size:1rem;padding:.7rem 1.2rem;
border-radius:8px;border:0;margin:.3rem .3rem 0 0;cursor:pointer}} .pay{{background:#1a7f37;color:#fff}}
.fail{{background:#eee}} small{{color:#666}}</style></head><body><div class="card">{body}</div></body></html>"""
    return web.Response(text=doc, content_type="text/html", status=status)


def _wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


async def _open_payment(rt: Runtime, payment_id: str) -> Payment:
    payment = await rt.store.get_payment(payment_id)
    if payment is None:
        raise ApiError(404, "unknown_payment", "this payment link does not exist")
    return payment


async def _expired(rt: Runtime, payment: Payment) -> bool:
    order = await rt.store.get_order(payment.order_id)
    return payment.status == "expired" or (
        payment.status == "pending" and (order is None or order.status not in OPEN or rt.clock() > payment.expires_at)
    )


async def checkout_page(request: web.Request) -> web.Response:
    rt: Runtime = request.app[RUNTIME]
    try:
        payment = await _open_payment(rt, request.match_info["payment_id"])
    except ApiError as exc:
        return _page("Lien inconnu", f"<h1>Lien inconnu</h1><p>{exc.message}</p>", 404)
    if await _expired(rt, payment):
        return _page("Lien expiré", "<h1>Ce lien a expiré</h1><p>La réservation est terminée.</p>", 410)
    order = await rt.store.get_order(payment.order_id)
    what = html.escape(f"{order.product_name} × {order.quantity}") if order else ""
    if payment.status != "pending":
        return _page("Paiement", f"<h1>Paiement déjà traité</h1><p>Statut : {payment.status}</p>")
    amount = html.escape(money(payment.amount, payment.currency))
    return _page("Paiement sandbox", f"""<small>Palabre sandbox — aucun argent réel</small>
<h1>{amount}</h1><p>{what}<br>Moyen : {html.escape(METHOD_LABELS.get(payment.method, payment.method))}</p>
<form method="post"><button class="pay" name="outcome" value="paid">Payer</button>
<button class="fail" name="outcome" value="failed">Refuser</button></form>""")


async def checkout_submit(request: web.Request) -> web.Response:
    rt: Runtime = request.app[RUNTIME]
    payment = await _open_payment(rt, request.match_info["payment_id"])
    form = await read_form(request)
    outcome = form.get("outcome")
    if outcome not in ("paid", "failed"):
        raise ApiError(400, "invalid_outcome", "form field 'outcome' must be 'paid' or 'failed'")
    if await _expired(rt, payment):
        await rt.store.transition_payment(payment.id, "pending", "expired")
        raise ApiError(410, "link_expired", "this payment link has expired; the reservation is over")
    done = await rt.store.transition_payment(payment.id, "pending", str(outcome))
    if done is None:
        raise ApiError(409, "already_completed", f"this payment is already {payment.status}")
    await _deliver_webhook(rt, done)
    if _wants_html(request):
        if outcome == "paid":
            return _page("Paiement reçu", "<h1>✅ Paiement reçu</h1><p>Retournez dans la conversation.</p>")
        return _page("Paiement refusé", "<h1>Paiement refusé</h1><p>Retournez dans la conversation.</p>")
    return web.json_response({"status": outcome, "payment_id": done.id})


async def _deliver_webhook(rt: Runtime, payment: Payment, attempts: int = 5) -> None:
    """POST the signed webhook to ourselves, as the PSP would; retried in the background on failure."""
    body = rt.psp.webhook_body(payment)
    url = f"{rt.settings.base_url}/webhooks/payments/sandbox/{payment.vendor_id}"
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(rt.psp.secret, body)}

    async def attempt() -> bool:
        assert rt.http is not None
        try:
            async with rt.http.post(url, data=body, headers=headers) as resp:
                return resp.status < 500
        except (aiohttp.ClientError, TimeoutError):
            return False

    if await attempt():
        return

    async def retry() -> None:
        for i in range(attempts):
            await asyncio.sleep(min(30.0, 0.5 * 2**i))
            if await attempt():
                return
        log.error("payment webhook for payment=%s not delivered", payment.id)

    rt.spawn(retry())


async def payment_webhook(request: web.Request) -> web.Response:
    rt: Runtime = request.app[RUNTIME]
    psp, vendor_id = request.match_info["psp"], request.match_info["vendor"]
    if psp != rt.psp.name:
        raise ApiError(404, "unknown_psp", f"no payment provider '{psp}'")
    if vendor_id not in rt.vendors:
        raise ApiError(404, "unknown_vendor", f"no vendor '{vendor_id}'")
    raw = await read_body(request)
    # header() lets only ASCII through: verify's compare_digest raises on a non-ASCII str.
    if not verify(rt.psp.secret, raw, header(request, SIGNATURE_HEADER)):
        raise ApiError(401, "invalid_signature", "the webhook signature does not match")
    body = parse_json(raw)
    try:
        payment_id, status = str(body["id"]), str(body["status"])
    except (KeyError, TypeError):
        raise ApiError(400, "invalid_body", "expected JSON with 'id' and 'status'") from None
    # A webhook is a trigger, not proof: compare it with our own record of the payment.
    payment = await rt.store.get_payment(payment_id)
    if payment is None or payment.vendor_id != vendor_id:
        raise ApiError(400, "unknown_payment", "no such payment for this vendor")
    if status != payment.status or body.get("amount") != payment.amount:
        raise ApiError(400, "mismatch", "the webhook does not match the payment's status or amount")
    if status not in ("paid", "failed"):
        return web.json_response({"status": "ignored"})
    order = await rt.store.get_order(payment.order_id)
    if order is None:
        raise ApiError(400, "unknown_order", "the payment's order does not exist")
    event = Event(
        id=f"psp:{psp}:{payment.id}:{status}", kind="system", channel=order.channel,  # type: ignore[arg-type]
        provider="system", vendor_id=vendor_id, contact=order.contact,
        payload="payment_succeeded" if status == "paid" else "payment_failed",
        data={"order_id": order.id, "payment_id": payment.id},
    )
    (fresh,) = await rt.pipeline.ingest([event])
    return web.json_response({"status": "accepted" if fresh else "duplicate"})


def routes() -> list[web.RouteDef]:
    """The sandbox PSP: checkout pages and its webhook; development only (see bot/modes.py)."""
    return [
        web.get("/pay/sandbox/{payment_id}", checkout_page),
        web.post("/pay/sandbox/{payment_id}", checkout_submit),
        web.post("/webhooks/payments/{psp}/{vendor}", payment_webhook),
    ]
