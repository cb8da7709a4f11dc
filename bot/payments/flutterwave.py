"""Flutterwave v3 Standard: a hosted link per tx_ref, verif-hash or flutterwave-signature webhooks, verify API."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from bot.http import secure_equal
from bot.payments.config import FlutterwavePsp
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

STATUSES = {"successful": PaymentStatus.SUCCEEDED, "failed": PaymentStatus.FAILED,
            "cancelled": PaymentStatus.CANCELLED, "pending": PaymentStatus.PENDING}
# Buyer taps -> Flutterwave payment_options; francophone mobile money covers Wave, Orange and Free.
OPTIONS = {"wave": "mobilemoneyfranco", "om": "mobilemoneyfranco", "free": "mobilemoneyfranco", "card": "card"}
MAX_SESSION_MINUTES = 1440


class Flutterwave(HttpGateway[FlutterwavePsp]):
    """One Flutterwave account (secret key and webhook secret hash)."""

    name = "flutterwave"
    refunds = True

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.secret_key}"}

    async def create_checkout(self, req: CheckoutRequest) -> Checkout:
        customer = {"email": self.config.customer_email, "name": req.buyer_name or "Client"}
        if req.buyer_phone:
            customer["phonenumber"] = req.buyer_phone.lstrip("+")
        body: dict[str, Any] = {
            "tx_ref": req.order_ref, "amount": req.amount,
            "currency": req.currency,  # Flutterwave falls back to NGN when it is left out
            "redirect_url": req.success_url, "customer": customer,
            # the link dies with the reservation, so nobody pays for stock already released
            "session_duration": max(1, min(MAX_SESSION_MINUTES, -(-req.expires_in_s // 60))),
            "customizations": {"title": req.description[:60], "description": req.description},
            "meta": {"order_ref": req.order_ref},
        }
        options = self.config.payment_options or OPTIONS.get(req.method)
        if options:
            body["payment_options"] = options
        status, answer = await self.call("POST", "/v3/payments", body=body)
        data = answer.get("data") if isinstance(answer, dict) else None
        if status != 200 or not isinstance(data, dict) or answer.get("status") != "success":
            raise ProviderError(f"flutterwave refused the payment: {status} {_message(answer)}", status=status)
        link = text(data.get("link"))
        if link is None:
            raise ProviderError("flutterwave payment answer has no link", status=status)
        # no transaction exists before the buyer pays: our tx_ref is what the verify API is asked with
        return Checkout(provider_ref=req.order_ref, url=link)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: float) -> WebhookEvent:
        h = lower_headers(headers)
        signature = h.get("flutterwave-signature")
        if signature:
            expected = base64.b64encode(
                hmac.new(self.config.secret_hash.encode(), body, hashlib.sha256).digest()).decode()
            if not secure_equal(expected, signature.strip()):
                raise InvalidWebhook("flutterwave-signature does not match")
        elif not secure_equal(self.config.secret_hash, h.get("verif-hash") or ""):
            raise InvalidWebhook("no valid flutterwave-signature or verif-hash")
        event = json_object(body)
        data = event.get("data")
        if not isinstance(data, dict) or data.get("id") is None:
            raise MalformedWebhook("expected 'data' with the transaction 'id'")
        status = str(data.get("status", "")).lower()
        return WebhookEvent(
            event_id=f"{data['id']}:{status}", provider_ref=str(data["id"]), order_ref=text(data.get("tx_ref")),
            status_hint=STATUSES.get(status, PaymentStatus.UNKNOWN), body_authenticated=bool(signature),
        )

    async def _transaction(self, tx_ref: str) -> dict[str, Any] | None:
        """The transaction Flutterwave holds for our reference; None while the buyer has not paid."""
        status, answer = await self.call("GET", "/v3/transactions/verify_by_reference", params={"tx_ref": tx_ref})
        if status in (400, 404):  # "No transaction was found for this id"
            return None
        data = answer.get("data") if isinstance(answer, dict) else None
        if status != 200 or not isinstance(data, dict):
            raise ProviderError(f"flutterwave verify failed: {status} {_message(answer)}", status=status)
        return data

    async def fetch_status(self, provider_ref: str, order_ref: str | None = None) -> PaymentState:
        data = await self._transaction(provider_ref)
        if data is None:
            return PaymentState.unpaid(provider_ref)
        amount, charged = xof(data.get("amount")), xof(data.get("charged_amount"))
        return PaymentState(
            provider_ref=provider_ref,
            status=STATUSES.get(str(data.get("status", "")).lower(), PaymentStatus.UNKNOWN),
            order_ref=text(data.get("tx_ref")),
            # charged_amount includes fees passed on to the buyer; less than amount means underpaid
            amount=charged if amount is not None and charged is not None and charged < amount else amount,
            currency=text(data.get("currency")), raw=data,
        )

    async def refund(self, provider_ref: str, key: str) -> bool:
        data = await self._transaction(provider_ref)
        if data is None or data.get("id") is None:
            return False
        status, answer = await self.call("POST", f"/v3/transactions/{data['id']}/refund", body={},
                                         headers={"X-Idempotency-Key": key})
        return status == 200 and isinstance(answer, dict) and answer.get("status") == "success"


def _message(answer: Any) -> str:
    return str(answer.get("message") or "")[:200] if isinstance(answer, dict) else ""
