"""Wave Business checkout sessions: Wave-Signature webhooks (HMAC over t + raw body), session API."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from bot.http import secure_equal
from bot.payments.config import WavePsp
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

FRESHNESS_S = 5 * 60


def session_status(session: Mapping[str, Any]) -> PaymentStatus:
    """Paid only when the session is complete *and* its payment succeeded."""
    checkout, payment = session.get("checkout_status"), session.get("payment_status")
    if checkout == "complete" and payment == "succeeded":
        return PaymentStatus.SUCCEEDED
    if checkout == "expired":
        return PaymentStatus.EXPIRED
    if payment == "cancelled" and checkout != "open":
        return PaymentStatus.CANCELLED
    # a failed attempt on an open session: the buyer may still pay with it
    return PaymentStatus.PENDING


class Wave(HttpGateway[WavePsp]):
    """One Wave Business wallet (an API key is bound to one wallet)."""

    name = "wave"
    refunds = True

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key}"}

    async def create_checkout(self, req: CheckoutRequest) -> Checkout:
        body: dict[str, Any] = {
            "amount": str(req.amount), "currency": req.currency, "client_reference": req.order_ref,
            "success_url": req.success_url, "error_url": req.cancel_url,
        }
        if req.buyer_phone:
            body["restrict_payer_mobile"] = req.buyer_phone  # only the buyer's own Wave account can pay
        status, answer = await self.call("POST", "/v1/checkout/sessions", body=body)
        if status != 200 or not isinstance(answer, dict):
            message = answer.get("message") if isinstance(answer, dict) else ""
            raise ProviderError(f"wave refused the session: {status} {str(message)[:200]}", status=status)
        ref, link = answer.get("id"), answer.get("wave_launch_url")
        if not isinstance(ref, str) or not isinstance(link, str):
            raise ProviderError("wave session answer has no id or wave_launch_url", status=status)
        return Checkout(provider_ref=ref, url=link)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: float) -> WebhookEvent:
        h = lower_headers(headers)
        signature = h.get("wave-signature")
        if signature:
            self._verify_signature(signature, body, now)
        else:
            scheme, _, token = (h.get("authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not secure_equal(token.strip(), self.config.webhook_secret):
                raise InvalidWebhook("no valid Wave-Signature or bearer secret")
        event = json_object(body)
        data = event.get("data")
        if not isinstance(event.get("id"), str) or not isinstance(data, dict):
            raise MalformedWebhook("expected an event with 'id' and 'data'")
        return WebhookEvent(
            event_id=event["id"], provider_ref=text(data.get("id")), order_ref=text(data.get("client_reference")),
            status_hint=session_status(data), body_authenticated=bool(signature),
        )

    def _verify_signature(self, header: str, body: bytes, now: float) -> None:
        stamp, candidates = "", []
        for part in header.split(","):
            key, _, value = part.strip().partition("=")
            if key == "t":
                stamp = value
            elif key == "v1":
                candidates.append(value.lower())
        if not stamp.isdigit() or abs(now - int(stamp)) > FRESHNESS_S:
            raise InvalidWebhook("stale or missing Wave-Signature timestamp")
        # t immediately followed by the raw body, no separator
        expected = hmac.new(self.config.webhook_secret.encode(), stamp.encode() + body, hashlib.sha256).hexdigest()
        if not any(secure_equal(expected, c) for c in candidates):
            raise InvalidWebhook("no v1 of Wave-Signature matches")

    async def fetch_status(self, provider_ref: str, order_ref: str | None = None) -> PaymentState:
        status, answer = await self.call("GET", f"/v1/checkout/sessions/{provider_ref}")
        if status == 404:
            return PaymentState.unpaid(provider_ref)
        if status != 200 or not isinstance(answer, dict):
            raise ProviderError(f"wave session read failed: {status}", status=status)
        return PaymentState(
            provider_ref=provider_ref, status=session_status(answer), order_ref=text(answer.get("client_reference")),
            amount=xof(answer.get("amount")), currency=text(answer.get("currency")), raw=answer,
        )

    async def cancel(self, provider_ref: str) -> bool:
        status, _ = await self.call("POST", f"/v1/checkout/sessions/{provider_ref}/expire")
        return status == 200

    async def refund(self, provider_ref: str, key: str) -> bool:
        # full refunds only, and idempotent at Wave: the session itself is the key
        status, _ = await self.call("POST", f"/v1/checkout/sessions/{provider_ref}/refund")
        return status == 200
