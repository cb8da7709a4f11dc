"""CinetPay checkout: apikey + site_id in the body, x-token HMAC over 16 notification fields, check API."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from bot.http import secure_equal
from bot.payments.config import CinetpayPsp
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
from bot.payments.wire import HttpGateway, lower_headers, text, xof

# The fields x-token signs, in this order, values concatenated with no separator (missing = empty).
SIGNED_FIELDS = ("cpm_site_id", "cpm_trans_id", "cpm_trans_date", "cpm_amount", "cpm_currency", "signature",
                 "payment_method", "cel_phone_num", "cpm_phone_prefixe", "cpm_language", "cpm_version",
                 "cpm_payment_config", "cpm_page_action", "cpm_custom", "cpm_designation", "cpm_error_message")
# ACCEPTED is paid, REFUSED failed; CinetPay's several waiting states all stay pending for us.
STATUSES = {"ACCEPTED": PaymentStatus.SUCCEEDED, "REFUSED": PaymentStatus.FAILED}
# CREDIT_CARD alone needs the buyer's postal address, which a chat does not collect: a card buyer gets
# the full page (ALL) instead of a refusal.
CHANNELS = {"wave": "MOBILE_MONEY", "om": "MOBILE_MONEY", "free": "MOBILE_MONEY"}
MIN_AMOUNT, STEP = 100, 5


def payable(amount: int, currency: str) -> bool:
    """CinetPay rounds other amounts down, so the buyer would pay less than the order: refuse them."""
    return currency == "USD" or (amount >= MIN_AMOUNT and amount % STEP == 0)


class Cinetpay(HttpGateway[CinetpayPsp]):
    """One CinetPay site (apikey, site_id) and its notification secret key."""

    name = "cinetpay"

    def _account(self) -> dict[str, str]:
        return {"apikey": self.config.apikey, "site_id": self.config.site_id}

    async def create_checkout(self, req: CheckoutRequest) -> Checkout:
        if not payable(req.amount, req.currency):
            raise ProviderError(f"cinetpay takes {req.currency} amounts from {MIN_AMOUNT} in steps of {STEP}, "
                                f"not {req.amount}")
        body: dict[str, Any] = {
            **self._account(), "transaction_id": req.order_ref, "amount": req.amount, "currency": req.currency,
            "description": req.description, "notify_url": req.notify_url, "return_url": req.success_url,
            "channels": CHANNELS.get(req.method, "ALL"), "lang": "fr", "metadata": req.order_ref,
            "customer_country": self.config.country,
        }
        if req.buyer_name:
            body["customer_name"] = req.buyer_name
        if req.buyer_phone:
            body["customer_phone_number"] = req.buyer_phone
        status, answer = await self.call("POST", "/v2/payment", body=body)
        data = answer.get("data") if isinstance(answer, dict) else None
        # success is code "201" in the body, whatever the HTTP status
        if not isinstance(data, dict) or str(answer.get("code")) != "201":
            message = answer.get("message") if isinstance(answer, dict) else ""
            raise ProviderError(f"cinetpay refused the payment: {status} {str(message)[:200]}", status=status)
        link = text(data.get("payment_url"))
        if link is None:
            raise ProviderError("cinetpay answer has no payment_url", status=status)
        return Checkout(provider_ref=req.order_ref, url=link)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: float) -> WebhookEvent:
        try:
            fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100))
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedWebhook("the notification is not a readable form") from exc
        # signed over the decoded values, not the raw bytes; no timestamp, so the check API decides
        message = "".join(fields.get(name, "") for name in SIGNED_FIELDS).encode()
        expected = hmac.new(self.config.secret_key.encode(), message, hashlib.sha256).hexdigest()
        if not secure_equal(expected, (lower_headers(headers).get("x-token") or "").lower()):
            raise InvalidWebhook("x-token does not match")
        ref = fields.get("cpm_trans_id")
        if not ref:
            raise MalformedWebhook("expected cpm_trans_id")
        hint = PaymentStatus.SUCCEEDED if fields.get("cpm_error_message") == "SUCCES" else PaymentStatus.UNKNOWN
        return WebhookEvent(event_id=f"{ref}:{fields.get('cpm_error_message', '')}", provider_ref=ref,
                            order_ref=ref, status_hint=hint, body_authenticated=True)

    async def fetch_status(self, provider_ref: str, order_ref: str | None = None) -> PaymentState:
        status, answer = await self.call(
            "POST", "/v2/payment/check", body={**self._account(), "transaction_id": provider_ref})
        data = answer.get("data") if isinstance(answer, dict) else None
        if status != 200 or not isinstance(answer, dict):
            raise ProviderError(f"cinetpay check failed: {status}", status=status)
        if not isinstance(data, dict):  # e.g. not found yet
            return PaymentState.unpaid(provider_ref)
        return PaymentState(
            provider_ref=provider_ref, status=STATUSES.get(str(data.get("status")), PaymentStatus.PENDING),
            # the answer does not repeat the transaction_id it was asked about (ours); the metadata we
            # set at creation does, and where it is missing the question itself names the payment
            order_ref=text(data.get("metadata")) or provider_ref, amount=xof(data.get("amount")),
            currency=text(data.get("currency")), raw=answer,
        )
