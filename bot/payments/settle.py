"""Settling hosted payments: ask the provider, apply the confirmation rule, tell the conversation once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bot.payments.port import ProviderError, confirms
from bot.payments.providers import Providers
from bot.payments.refunds import Refunder
from channels import Event
from storage import Payment, Store

log = logging.getLogger("palabre.payments")

Ingest = Callable[[list[Event]], Awaitable[list[bool]]]
# A webhook usually comes within seconds; the poller leaves it that long before asking itself.
POLL_AFTER_S = 20.0
# Provider links outlive our reservations (Wave ≈ 30 min): a late payment is still honoured or refunded.
LINK_GRACE_S = 30 * 60.0


class Settler:
    """Turns a provider's answer into at most one `payment_succeeded` / `payment_failed` event.

    Idempotent on (provider, provider payment id): the event id is derived from both, so a webhook
    redelivered, a poller racing a webhook, or two processes settling at once start one turn.
    """

    def __init__(self, store: Store, providers: Providers, ingest: Ingest, clock: Callable[[], float],
                 vendors: Mapping[str, Any] | None = None) -> None:
        self.store = store
        self.providers = providers
        self.ingest = ingest
        self.clock = clock
        self.refunds = Refunder(store, providers, vendors if vendors is not None else {}, clock)

    async def settle(self, payment: Payment) -> str:
        """Ask the provider about `payment` and act: "paid", "failed", "pending", "mismatch" or "skipped"."""
        gateway = self.providers.gateway(payment.vendor_id)
        if gateway is None or gateway.name != payment.psp or not payment.provider_ref:
            return "skipped"
        state = await gateway.fetch_status(payment.provider_ref, payment.id)
        outcome = confirms(payment, state)
        if outcome == "mismatch":
            log.error("payment=%s vendor=%s psp=%s NOT confirmed: provider reports %s %s ref=%s, expected %s %s",
                      payment.id, payment.vendor_id, payment.psp, state.amount, state.currency,
                      state.order_ref, payment.amount, payment.currency)
            return outcome
        if outcome == "pending":
            return outcome
        status = "paid" if outcome == "paid" else "failed"
        moved = await self.store.transition_payment(payment.id, "pending", status)
        if moved is None:
            current = await self.store.get_payment(payment.id)
            if current is None or current.status != status:
                return current.status if current else "skipped"
        await self._tell(payment, status)
        return outcome

    async def _tell(self, payment: Payment, status: str) -> None:
        order = await self.store.get_order(payment.order_id)
        if order is None:
            log.error("payment=%s settled %s but its order is missing", payment.id, status)
            return
        await self.ingest([Event(
            id=f"psp:{payment.psp}:{payment.provider_ref}:{status}", kind="system",
            channel=order.channel,  # type: ignore[arg-type]
            provider="system", vendor_id=payment.vendor_id, contact=order.contact,
            payload="payment_succeeded" if status == "paid" else "payment_failed",
            data={"order_id": order.id, "payment_id": payment.id},
        )])

    async def settle_ref(self, vendor_id: str, psp: str, order_ref: str) -> str:
        """Settle the payment a webhook names (our reference); "skipped" when it is not this vendor's."""
        payment = await self.store.get_payment(order_ref)
        if payment is None or payment.vendor_id != vendor_id or payment.psp != psp:
            return "skipped"
        if payment.status != "pending":
            return "duplicate"
        return await self.settle(payment)

    async def poll(self, limit: int = 100, older_than: float = POLL_AFTER_S) -> dict[str, int]:
        """One poller round over pending hosted payments older than POLL_AFTER_S, then over the refunds
        owed (bot/payments/refunds.py); counts by outcome, refund outcomes prefixed `refund_`.

        When the order's reservation was released, the checkout is closed at the providers that can
        (Wave); elsewhere a payment still pending LINK_GRACE_S after its reservation ended is marked
        expired, so the poller's work stays bounded (a late payment before that is still honoured).
        """
        now = self.clock()
        counts: dict[str, int] = {}
        for payment in await self.store.pending_payments(now - older_than, limit):
            try:
                outcome = await self.settle(payment)
            except ProviderError as exc:
                log.warning("poll payment=%s psp=%s: %s", payment.id, payment.psp, exc)
                outcome = "error"
            # where the provider can close the link (Wave), the buyer can no longer pay a released order
            if outcome == "pending" and await self._released(payment) and await self._close(payment):
                outcome = "expired"
            if outcome in ("pending", "mismatch") and now > payment.expires_at + LINK_GRACE_S:
                await self._close(payment)
                await self.store.transition_payment(payment.id, "pending", "expired")
                outcome = "expired"
            counts[outcome] = counts.get(outcome, 0) + 1
        for outcome, n in (await self.refunds.run(limit)).items():
            counts[f"refund_{outcome}"] = n
        return counts

    async def _released(self, payment: Payment) -> bool:
        order = await self.store.get_order(payment.order_id)
        return order is None or order.status in ("expired", "cancelled")

    async def _close(self, payment: Payment) -> bool:
        """Close the checkout at the provider; True (and the payment marked expired) when it could."""
        gateway = self.providers.gateway(payment.vendor_id)
        if gateway is None or not payment.provider_ref:
            return False
        try:
            closed = await gateway.cancel(payment.provider_ref)
        except ProviderError as exc:
            log.warning("closing payment=%s at %s failed: %s", payment.id, payment.psp, exc)
            return False
        if closed:
            await self.store.transition_payment(payment.id, "pending", "expired")
        return closed
