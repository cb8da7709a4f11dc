"""Bictorys (primary PSP): hosted checkout charges, X-Secret-Key or HMAC webhooks, transaction API."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from typing import Any

from bot.http import secure_equal
from bot.payments.config import BictorysPsp
from bot.payments.port import (
    Checkout,
    CheckoutRequest,
    InvalidWebhook,
    MalformedWebhook,
    PaymentState,
    PaymentStatus,
    ProviderError,
    WebhookEvent,
)
from bot.payments.wire import HttpGateway, json_object, lower_headers, text, xof

# Buyer taps -> Bictorys `payment_type` (query parameter); cards go through the hosted page (no PCI scope).
PAYMENT_TYPES = {"wave": "wave_money", "om": "orange_money", "free": "free_money"}
STATUSES = {
    "succeeded": PaymentStatus.SUCCEEDED, "failed": PaymentStatus.FAILED, "cancelled": PaymentStatus.CANCELLED,
    "reversed": PaymentStatus.REFUNDED, "pending": PaymentStatus.PENDING, "processing": PaymentStatus.PENDING,
    # authorised is reserved, not captured money: still pending for us
    "authorized": PaymentStatus.PENDING, "expired": PaymentStatus.EXPIRED,
}
FRESHNESS_MS = 5 * 60 * 1000


class Bictorys(HttpGateway[BictorysPsp]):
    """One vendor's Bictorys account."""

    name = "bictorys"
    refunds = True

    async def create_checkout(self, req: CheckoutRequest) -> Checkout:
        body: dict[str, Any] = {
            "amount": req.amount, "currency": req.currency, "country": self.config.country,
            "paymentReference": req.order_ref, "merchantReference": req.order_ref,
            "successRedirectUrl": req.success_url, "errorRedirectUrl": req.cancel_url,
            "orderDetails": [{"name": req.description, "price": req.amount, "quantity": 1, "taxRate": 0}],
        }
        if req.buyer_phone:
            customer: dict[str, Any] = {"phone": int(req.buyer_phone.lstrip("+")), "country": self.config.country}
            if req.buyer_name:
                customer["name"] = req.buyer_name
            body["customerObject"] = customer
        payment_type = PAYMENT_TYPES.get(req.method)
        # the same Request-Id for the same payment: a retried call can be recognised by the provider
        request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"palabre:{req.order_ref}"))
        status, answer = await self.call(
            "POST", "/pay/v1/charges", body=body, params={"payment_type": payment_type} if payment_type else None,
            headers={"X-Api-Key": self.config.api_key, "Request-Id": request_id},
        )
        if status not in (200, 201, 202) or not isinstance(answer, dict):
            raise ProviderError(f"bictorys refused the charge: {status} {_details(answer)}", status=status)
        ref = answer.get("transactionId") or answer.get("chargeId")
        link = answer.get("link") or answer.get("redirectUrl")
        if not isinstance(ref, str) or not isinstance(link, str):
            raise ProviderError("bictorys charge answer has no id or link", status=status)
        return Checkout(provider_ref=ref, url=link)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: float) -> WebhookEvent:
        h = lower_headers(headers)
        signature, stamp = h.get("x-webhook-signature"), h.get("x-webhook-timestamp")
        signed = False
        if signature and stamp:
            # HMAC mode: the body itself is authenticated; prefer it when the account sends it.
            if not stamp.isdigit() or abs(now * 1000 - int(stamp)) > FRESHNESS_MS:
                raise InvalidWebhook("stale or malformed X-Webhook-Timestamp")
            expected = hmac.new(self.config.webhook_secret.encode(), stamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()
            if not secure_equal(expected, signature.lower()):
                raise InvalidWebhook("X-Webhook-Signature does not match")
            signed = True
        elif not secure_equal(self.config.webhook_secret, h.get("x-secret-key") or ""):
            raise InvalidWebhook("X-Secret-Key does not match")
        data = json_object(body)
        ref = data.get("id")
        if not isinstance(ref, str) or not ref:
            raise MalformedWebhook("expected the transaction 'id'")
        return WebhookEvent(
            event_id=f"{ref}:{str(data.get('status', '')).lower()}", provider_ref=ref,
            order_ref=text(data.get("paymentReference")),
            status_hint=STATUSES.get(str(data.get("status", "")).lower(), PaymentStatus.UNKNOWN),
            body_authenticated=signed,
        )

    async def fetch_status(self, provider_ref: str, order_ref: str | None = None) -> PaymentState:
        # The full transaction carries amount and reference; /status carries neither.
        status, answer = await self.call("GET", f"/pay/v1/transactions/{provider_ref}",
                                         headers={"X-Api-Key": self.config.secret_key})
        if status == 404:
            return PaymentState.unpaid(provider_ref)
        if status != 200 or not isinstance(answer, dict):
            raise ProviderError(f"bictorys transaction read failed: {status} {_details(answer)}", status=status)
        net, fees = xof(answer.get("amount")), xof(answer.get("merchantFees") or 0)
        return PaymentState(
            provider_ref=provider_ref,
            status=STATUSES.get(str(answer.get("status", "")).lower(), PaymentStatus.UNKNOWN),
            order_ref=text(answer.get("paymentReference")),
            # reported as net of the merchant's fees: what the buyer paid is amount + merchantFees
            amount=None if net is None or fees is None else net + fees,
            currency=text(answer.get("currency")),
            raw=answer,
        )

    async def refund(self, provider_ref: str, key: str) -> bool:
        # asynchronous at Bictorys (202); the outcome comes later as a `refund` webhook
        status, _ = await self.call("PUT", f"/pay/v1/transactions/{provider_ref}/refund",
                                    headers={"X-Api-Key": self.config.secret_key, "Request-Id": key})
        return status in (200, 202)


def _details(answer: Any) -> str:
    return str(answer.get("details") or answer.get("title") or "")[:200] if isinstance(answer, dict) else ""
