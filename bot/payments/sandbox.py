"""The sandbox PSP: a local checkout page and signed, idempotent webhooks; development only."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from bot.payments.port import PaymentProvider
from storage import Order, Payment, Store

SIGNATURE_HEADER = "X-Sandbox-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    return bool(signature) and hmac.compare_digest(sign(secret, body), signature or "")


class SandboxPSP(PaymentProvider):
    """A PSP that lives inside Palabre: links open /pay/sandbox/{id}, a form completes them.

    Completing a checkout sends a webhook signed with HMAC-SHA256 over the raw body to
    /webhooks/payments/sandbox/{vendor}, as a real PSP would.
    """

    name = "sandbox"

    def __init__(self, store: Store, base_url: str, secret: str) -> None:
        self._store = store
        self._base_url = base_url
        self.secret = secret

    def link(self, payment_id: str) -> str:
        return f"{self._base_url}/pay/sandbox/{payment_id}"

    async def create_payment(self, order: Order, method: str, payment_id: str) -> tuple[Payment, str]:
        existing = await self._store.get_payment(payment_id)
        if existing is None:
            existing = Payment(
                id=payment_id, psp=self.name, vendor_id=order.vendor_id, order_id=order.id,
                amount=order.total, currency="XOF", method=method, expires_at=order.reserved_until,
            )
            await self._store.save_payment(existing)
        return existing, self.link(payment_id)

    def webhook_body(self, payment: Payment) -> bytes:
        body: dict[str, Any] = {
            "id": payment.id, "order_id": payment.order_id, "status": payment.status,
            "amount": payment.amount, "currency": payment.currency, "method": payment.method,
        }
        return json.dumps(body, separators=(",", ":")).encode()
