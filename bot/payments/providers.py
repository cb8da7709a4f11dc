"""Each vendor's PSP: the sandbox or a hosted provider behind one `PaymentProvider` for the dialogs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.payments.bictorys import Bictorys
from bot.payments.cinetpay import Cinetpay
from bot.payments.config import BictorysPsp, CinetpayPsp, FlutterwavePsp, PaydunyaPsp, WavePsp
from bot.payments.flutterwave import Flutterwave
from bot.payments.paydunya import Paydunya
from bot.payments.port import CheckoutRequest, Gateway, PaymentProvider
from bot.payments.sandbox import SandboxPSP
from bot.payments.wave import Wave
from storage import Order, Payment, Store

MIN_LINK_SECONDS = 60
ADAPTERS: tuple[tuple[type, Callable[[Any], Gateway]], ...] = (
    (BictorysPsp, Bictorys), (WavePsp, Wave), (PaydunyaPsp, Paydunya), (FlutterwavePsp, Flutterwave),
    (CinetpayPsp, Cinetpay),
)


def gateway_for(config: Any) -> Gateway | None:
    """The adapter for a vendor's `psp` block; None for the sandbox."""
    for model, adapter in ADAPTERS:
        if isinstance(config, model):
            return adapter(config)
    return None


class HostedPSP(PaymentProvider):
    """A provider's hosted checkout for one vendor: the payment is stored with the provider's id and
    link before the link can reach the buyer, and a replayed turn gets the same link back."""

    def __init__(self, store: Store, gateway: Gateway, base_url: str, vendor_id: str,
                 clock: Callable[[], float]) -> None:
        self.name = gateway.name
        self.gateway = gateway
        self._store = store
        self._base_url = base_url.rstrip("/")
        self._vendor_id = vendor_id
        self._clock = clock

    async def create_payment(self, order: Order, method: str, payment_id: str) -> tuple[Payment, str]:
        existing = await self._store.get_payment(payment_id)
        if existing is not None and existing.link:
            return existing, existing.link
        phone = order.contact.address if order.contact.address.startswith("+") else None
        checkout = await self.gateway.create_checkout(CheckoutRequest(
            order_ref=payment_id, amount=order.total, currency="XOF", method=method,
            description=f"{order.product_code} - {order.product_name} x{order.quantity}"[:120],
            success_url=f"{self._base_url}/pay/return/{payment_id}",
            cancel_url=f"{self._base_url}/pay/return/{payment_id}?failed=1",
            notify_url=f"{self._base_url}/webhooks/payments/{self.name}/{self._vendor_id}",
            expires_in_s=max(MIN_LINK_SECONDS, int(order.reserved_until - self._clock())),
            buyer_phone=phone, buyer_name=order.contact.name,
        ))
        payment = Payment(
            id=payment_id, psp=self.name, vendor_id=order.vendor_id, order_id=order.id, amount=order.total,
            currency="XOF", method=method, expires_at=order.reserved_until, created_at=self._clock(),
            provider_ref=checkout.provider_ref, link=checkout.url,
        )
        await self._store.save_payment(payment)
        return payment, checkout.url


class Providers(PaymentProvider):
    """Routes each order to its vendor's PSP; the sandbox for vendors that chose it."""

    name = "providers"

    def __init__(self, sandbox: SandboxPSP, hosted: Mapping[str, HostedPSP]) -> None:
        self.sandbox = sandbox
        self.hosted = dict(hosted)

    def for_vendor(self, vendor_id: str) -> PaymentProvider:
        return self.hosted.get(vendor_id) or self.sandbox

    def gateway(self, vendor_id: str) -> Gateway | None:
        hosted = self.hosted.get(vendor_id)
        return hosted.gateway if hosted else None

    async def create_payment(self, order: Order, method: str, payment_id: str) -> tuple[Payment, str]:
        return await self.for_vendor(order.vendor_id).create_payment(order, method, payment_id)

    async def close(self) -> None:
        for hosted in self.hosted.values():
            await hosted.gateway.close()


def build_providers(store: Store, base_url: str, sandbox_secret: str, psp_configs: Mapping[str, Any],
                    clock: Callable[[], float]) -> Providers:
    """One hosted PSP per vendor whose `psp` block names a provider, from vendor id -> psp block."""
    hosted = {}
    for vendor_id, config in psp_configs.items():
        gateway = gateway_for(config)
        if gateway is not None:
            hosted[vendor_id] = HostedPSP(store, gateway, base_url, vendor_id, clock)
    return Providers(SandboxPSP(store, base_url, sandbox_secret), hosted)
