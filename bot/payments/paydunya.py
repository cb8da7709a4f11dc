"""PayDunya hosted invoices: a form-urlencoded IPN (SHA-512 of the master key), then the confirm API."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from bot.http import secure_equal
from bot.payments.config import PaydunyaPsp
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
from bot.payments.wire import HttpGateway, text, xof

STATUSES = {"completed": PaymentStatus.SUCCEEDED, "pending": PaymentStatus.PENDING,
            "cancelled": PaymentStatus.CANCELLED, "failed": PaymentStatus.FAILED}
# Buyer taps -> PayDunya channel slugs (Senegal); an empty list lets the buyer choose on the page.
CHANNELS = {"wave": ["wave-senegal"], "om": ["orange-money-senegal"], "free": ["free-money-senegal"],
            "card": ["card"]}


class Paydunya(HttpGateway[PaydunyaPsp]):
    """One PayDunya application (master key, private key, token)."""

    name = "paydunya"

    def __init__(self, config: PaydunyaPsp) -> None:
        super().__init__(config)
        self._hash = hashlib.sha512(config.master_key.encode()).hexdigest()

    def _auth(self) -> dict[str, str]:
        return {"PAYDUNYA-MASTER-KEY": self.config.master_key, "PAYDUNYA-PRIVATE-KEY": self.config.private_key,
                "PAYDUNYA-TOKEN": self.config.token}

    async def create_checkout(self, req: CheckoutRequest) -> Checkout:
        invoice: dict[str, Any] = {
            "total_amount": req.amount, "description": req.description,
            "items": {"item_0": {"name": req.description, "quantity": 1, "unit_price": req.amount,
                                 "total_price": req.amount}},
        }
        channels = self.config.channels or CHANNELS.get(req.method, [])
        if channels:
            invoice["channels"] = channels
        body = {
            "invoice": invoice, "store": {"name": self.config.store_name or "Palabre"},
            "custom_data": {"order_ref": req.order_ref},
            "actions": {"cancel_url": req.cancel_url, "return_url": req.success_url, "callback_url": req.notify_url},
        }
        status, answer = await self.call("POST", "/checkout-invoice/create", body=body)
        if status != 200 or not isinstance(answer, dict) or answer.get("response_code") != "00":
            text = answer.get("response_text") if isinstance(answer, dict) else ""
            raise ProviderError(f"paydunya refused the invoice: {status} {str(text)[:200]}", status=status)
        token, link = answer.get("token"), answer.get("response_text")
        if not isinstance(token, str) or not isinstance(link, str):
            raise ProviderError("paydunya invoice answer has no token or URL", status=status)
        return Checkout(provider_ref=token, url=link)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: float) -> WebhookEvent:
        try:
            fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=500))
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedWebhook("the IPN is not a readable form") from exc
        # a constant of the account, not a signature of the body: the confirm API is the proof
        if not secure_equal(fields.get("data[hash]", "").lower(), self._hash):
            raise InvalidWebhook("data[hash] is not SHA-512 of the master key")
        token = fields.get("data[invoice][token]")
        if not token:
            raise MalformedWebhook("expected data[invoice][token]")
        status = fields.get("data[status]", "")
        return WebhookEvent(
            event_id=f"{token}:{status}", provider_ref=token, order_ref=fields.get("data[custom_data][order_ref]"),
            status_hint=STATUSES.get(status, PaymentStatus.UNKNOWN), body_authenticated=False,
        )

    async def fetch_status(self, provider_ref: str, order_ref: str | None = None) -> PaymentState:
        status, answer = await self.call("GET", f"/checkout-invoice/confirm/{provider_ref}")
        if status != 200 or not isinstance(answer, dict) or answer.get("response_code") != "00":
            raise ProviderError(f"paydunya confirm failed: {status}", status=status)
        invoice = answer.get("invoice") if isinstance(answer.get("invoice"), dict) else {}
        custom = answer.get("custom_data") if isinstance(answer.get("custom_data"), dict) else {}
        return PaymentState(
            provider_ref=provider_ref, status=STATUSES.get(str(answer.get("status")), PaymentStatus.UNKNOWN),
            order_ref=text(custom.get("order_ref")), amount=xof(invoice.get("total_amount")),
            # the account's currency: PayDunya invoices carry none, and its accounts are in FCFA (XOF)
            currency="XOF", raw=answer,
        )
