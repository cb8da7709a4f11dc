"""Payment webhooks of every PSP (authenticated, idempotent), the sandbox checkout pages, the return page."""

from __future__ import annotations

import asyncio
import html
import logging

import aiohttp
from aiohttp import web

from bot.http import ApiError, header, parse_json, read_body, read_form
from bot.http.page_texts import TEXTS, texts, vendor_locale
from bot.modes import serves_sandbox_psp
from bot.payments import METHOD_LABELS, SIGNATURE_HEADER, InvalidWebhook, MalformedWebhook, ProviderError, sign, verify
from bot.runtime import RUNTIME, Runtime
from channels import Event
from locales import money, normalise
from storage import Payment

log = logging.getLogger("palabre.payments")
OPEN = ("reserved", "awaiting_payment")


def _page(title: str, body: str, status: int = 200, lang: str = "fr") -> web.Response:
    doc = f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
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


async def _page_locale(rt: Runtime, payment: Payment | None) -> str:
    """The language the buyer is answered in (an English buyer of a French shop that speaks English), else the
    vendor's: the page speaks as the bot does."""
    if payment is not None:
        order = await rt.store.get_order(payment.order_id)
        conv = await rt.store.get_conversation(order.conversation_id) if order else None
        if conv is not None and conv.locale and normalise(conv.locale) in TEXTS:
            return normalise(conv.locale)
    return vendor_locale(rt.vendors, payment.vendor_id if payment else None)


async def checkout_page(request: web.Request) -> web.Response:
    rt: Runtime = request.app[RUNTIME]
    try:
        payment = await _open_payment(rt, request.match_info["payment_id"])
    except ApiError as exc:
        t = texts(None)
        return _page(t["unknown_title"], f"<h1>{t['unknown_title']}</h1><p>{exc.message}</p>", 404)
    lang = await _page_locale(rt, payment)
    t = texts(lang)
    if await _expired(rt, payment):
        return _page(t["expired_title"], f"<h1>{t['expired']}</h1><p>{t['expired_body']}</p>", 410, lang)
    order = await rt.store.get_order(payment.order_id)
    what = html.escape(f"{order.product_name} × {order.quantity}") if order else ""
    if payment.status != "pending":
        return _page(t["payment"], f"<h1>{t['done']}</h1><p>{t['status'].format(status=payment.status)}</p>",
                     lang=lang)
    amount = html.escape(money(payment.amount, payment.currency, lang))
    method = html.escape(METHOD_LABELS.get(payment.method, payment.method))
    return _page(t["sandbox_title"], f"""<small>{t['sandbox_note']}</small>
<h1>{amount}</h1><p>{what}<br>{t['method'].format(method=method)}</p>
<form method="post"><button class="pay" name="outcome" value="paid">{t['pay']}</button>
<button class="fail" name="outcome" value="failed">{t['refuse']}</button></form>""", lang=lang)


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
        lang = await _page_locale(rt, payment)
        t = texts(lang)
        if outcome == "paid":
            return _page(t["paid_title"], f"<h1>{t['paid']}</h1><p>{t['back']}</p>", lang=lang)
        return _page(t["failed_title"], f"<h1>{t['failed_title']}</h1><p>{t['back']}</p>", lang=lang)
    return web.json_response({"status": outcome, "payment_id": done.id})


async def _deliver_webhook(rt: Runtime, payment: Payment, attempts: int = 5) -> None:
    """POST the signed webhook to ourselves, as the PSP would; retried in the background on failure."""
    body = rt.psp.sandbox.webhook_body(payment)
    url = f"{rt.settings.base_url}/webhooks/payments/sandbox/{payment.vendor_id}"
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(rt.psp.sandbox.secret, body)}

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
    """`/webhooks/payments/{psp}/{vendor}`: the vendor's own provider and secrets, chosen before any parsing."""
    rt: Runtime = request.app[RUNTIME]
    psp, vendor_id = request.match_info["psp"], request.match_info["vendor"]
    if psp == "sandbox":
        if not serves_sandbox_psp(rt.settings):
            raise ApiError(404, "not_found", "no such route")  # as if the sandbox did not exist
        return await sandbox_webhook(request, rt, vendor_id)
    if vendor_id not in rt.vendors:
        raise ApiError(404, "unknown_vendor", f"no vendor '{vendor_id}'")
    gateway = rt.psp.gateway(vendor_id)
    if gateway is None or gateway.name != psp:
        raise ApiError(404, "unknown_psp", f"vendor '{vendor_id}' takes no payments through '{psp}'")
    raw = await read_body(request)
    try:
        hook = gateway.parse_webhook(request.headers, raw, rt.clock())
    except InvalidWebhook as exc:
        log.warning("payment webhook psp=%s vendor=%s refused: %s", psp, vendor_id, exc)
        raise ApiError(401, "invalid_signature", "the webhook does not authenticate as this vendor's provider") \
            from None
    except MalformedWebhook as exc:
        raise ApiError(400, "invalid_body", str(exc)) from None
    if not hook.order_ref:
        return web.json_response({"status": "ignored"})
    # A webhook is a trigger, not proof: the provider's status API decides, after this 200.
    rt.spawn(_settle(rt, vendor_id, psp, hook.order_ref))
    return web.json_response({"status": "accepted"})


async def _settle(rt: Runtime, vendor_id: str, psp: str, order_ref: str) -> None:
    try:
        outcome = await rt.payments.settle_ref(vendor_id, psp, order_ref)
    except ProviderError as exc:
        # the poller asks again later (bot/payments/settle.py)
        log.warning("payment webhook psp=%s vendor=%s: status check failed: %s", psp, vendor_id, exc)
        return
    log.info("payment webhook psp=%s vendor=%s payment=%s: %s", psp, vendor_id, order_ref, outcome)


async def return_page(request: web.Request) -> web.Response:
    """Where a provider's checkout sends the buyer back: the chat, not this page, says whether it was paid."""
    rt: Runtime = request.app[RUNTIME]
    payment_id = request.match_info["payment_id"]
    payment = await rt.store.get_payment(payment_id) if len(payment_id) <= 128 else None
    lang = await _page_locale(rt, payment)
    t = texts(lang)
    return _page(t["payment"], f"<h1>{t['thanks']}</h1><p>{t['return_body']}</p>", lang=lang)


async def sandbox_webhook(request: web.Request, rt: Runtime, vendor_id: str) -> web.Response:
    psp = "sandbox"
    if vendor_id not in rt.vendors:
        raise ApiError(404, "unknown_vendor", f"no vendor '{vendor_id}'")
    raw = await read_body(request)
    # header() lets only ASCII through: verify's compare_digest raises on a non-ASCII str.
    if not verify(rt.psp.sandbox.secret, raw, header(request, SIGNATURE_HEADER)):
        raise ApiError(401, "invalid_signature", "the webhook signature does not match")
    body = parse_json(raw)
    try:
        payment_id, status = str(body["id"]), str(body["status"])
    except (KeyError, TypeError):
        raise ApiError(400, "invalid_body", "expected JSON with 'id' and 'status'") from None
    # A webhook is a trigger, not proof: compare it with our own record of the payment.
    payment = await rt.store.get_payment(payment_id)
    if payment is None or payment.vendor_id != vendor_id or payment.psp != psp:
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


def routes(*, sandbox: bool) -> list[web.RouteDef]:
    """Payment webhooks and the return page; the sandbox PSP's pages only when `sandbox` (development)."""
    pages = [web.get("/pay/sandbox/{payment_id}", checkout_page),
             web.post("/pay/sandbox/{payment_id}", checkout_submit)]
    return [
        *(pages if sandbox else []),
        web.get("/pay/return/{payment_id}", return_page),
        web.post("/webhooks/payments/{psp}/{vendor}", payment_webhook),
    ]
