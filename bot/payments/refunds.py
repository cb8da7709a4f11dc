"""Refunds owed to buyers: through the provider's refund API where it has one, else listed for the vendor.

A payment owes a refund (`refund_due`) when it paid an order whose stock was gone after its
reservation expired, or paid an order already paid by another payment (bot/commerce). Each round
takes those payments and, per payment, at most once: the provider's refund API with an idempotency
key (retried with backoff, then handed to the vendor), or straight to the vendor's list
(`refund_manual`) where the provider has none. The buyer is told politely, the vendor notified.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from bot.payments.port import METHOD_LABELS, PaymentStatus, ProviderError
from bot.payments.providers import Providers
from bot.pipeline.turn import add_outbound
from channels import Contact, Event, Reply
from channels.base import mask_address
from locales import money
from storage import Conversation, Order, Payment, Store, TurnWrite

log = logging.getLogger("palabre.payments")

MAX_ATTEMPTS = 5
RETRY_BASE_S = 30.0  # then 60, 120, 240 s: a provider hiccup passes, a lasting refusal goes to the vendor
RETRY_CAP_S = 3600.0
MANUAL_REFUND_HOURS = 48  # what the buyer is told to expect when the vendor refunds by hand

TEXTS = {
    "fr": {
        "refunded": "Bonjour, nous vous avons remboursé {amount} pour {what}{ref}. Le montant revient par "
                    "le moyen de paiement utilisé ({method}). Toutes nos excuses pour ce contretemps.",
        "manual": "Bonjour, {vendor} va vous rembourser {amount} pour {what}{ref} sous {hours} heures, "
                  "par le moyen de paiement utilisé. Toutes nos excuses pour ce contretemps.",
        "vendor_refunded": "Remboursement fait par {provider} : {amount} à {buyer} pour {what} "
                           "(paiement {payment}, {reason}).",
        "vendor_manual": "À rembourser à la main sous {hours} h : {amount} à {buyer} pour {what} "
                         "(paiement {payment} via {provider}, {reason}). Une fois fait : "
                         "palabre refunds done {vendor_id} {payment}",
        "order": "la commande {product}", "duplicate": "le second paiement de la commande {product}",
        "why_duplicate": "payée deux fois", "why_sold_out": "stock épuisé avant le paiement",
        "reference": " (réf. {receipt})",
    },
    "en": {
        "refunded": "Hello, we have refunded {amount} for {what}{ref}. The money returns through the means "
                    "of payment you used ({method}). We apologise for the trouble.",
        "manual": "Hello, {vendor} will refund {amount} for {what}{ref} within {hours} hours, to the means "
                  "of payment you used. We apologise for the trouble.",
        "vendor_refunded": "Refund made through {provider}: {amount} to {buyer} for {what} "
                           "(payment {payment}, {reason}).",
        "vendor_manual": "To refund by hand within {hours} h: {amount} to {buyer} for {what} "
                         "(payment {payment} via {provider}, {reason}). Once done: "
                         "palabre refunds done {vendor_id} {payment}",
        "order": "the order {product}", "duplicate": "the second payment of the order {product}",
        "why_duplicate": "paid twice", "why_sold_out": "sold out before the payment",
        "reference": " (ref. {receipt})",
    },
}
PROVIDER_NAMES = {"sandbox": "Sandbox", "bictorys": "Bictorys", "wave": "Wave", "paydunya": "PayDunya",
                  "flutterwave": "Flutterwave", "cinetpay": "CinetPay"}


def refund_key(payment_id: str) -> str:
    """The idempotency key of a payment's refund: the same for every attempt, in every process."""
    return f"refund-{payment_id}"


class Refunder:
    """Makes the refunds owed, one round at a time: rounds run in the payments poller's turn (one
    process at a time with Redis) and never overlap within a process.

    Attempt counts live in this process: after a restart a failing refund gets its attempts again,
    which is safe because the provider sees the same idempotency key.
    """

    def __init__(self, store: Store, providers: Providers, vendors: Mapping[str, Any],
                 clock: Callable[[], float], *, retry_base_s: float = RETRY_BASE_S) -> None:
        self.store = store
        self.providers = providers
        self.vendors = vendors
        self.clock = clock
        self.retry_base_s = retry_base_s
        self._tries: dict[str, tuple[int, float]] = {}  # payment id -> (failed attempts, next try at)
        self._round = asyncio.Lock()  # rounds never overlap in a process (across processes: only_one)

    async def run(self, limit: int = 100) -> dict[str, int]:
        """One round over the payments owing a refund; counts by outcome."""
        counts: dict[str, int] = {}
        async with self._round:
            for payment in await self.store.pending_payments(math.inf, limit, status="refund_due"):
                outcome = await self.refund(payment)
                counts[outcome] = counts.get(outcome, 0) + 1
        return counts

    async def refund(self, payment: Payment) -> str:
        """"refunded", "manual" (the vendor's list), "retry" (later, with backoff) or "waiting"."""
        failed, next_at = self._tries.get(payment.id, (0, 0.0))
        if self.clock() < next_at:
            return "waiting"
        gateway = self.providers.gateway(payment.vendor_id)
        if payment.psp == "sandbox":
            return await self._settle(payment, "refunded")  # no money moved in the sandbox
        if gateway is None or gateway.name != payment.psp or not gateway.refunds or not payment.provider_ref:
            return await self._settle(payment, "refund_manual")
        try:
            # a refund made before a crash (or by the vendor at the provider) is not made again
            done = (await gateway.fetch_status(payment.provider_ref, payment.id)).status == PaymentStatus.REFUNDED
            done = done or await gateway.refund(payment.provider_ref, refund_key(payment.id))
            error = "" if done else "refused"
        except ProviderError as exc:
            done, error = False, str(exc)
        if done:
            self._tries.pop(payment.id, None)
            return await self._settle(payment, "refunded")
        failed += 1
        log.warning("refund payment=%s psp=%s attempt %d failed: %s", payment.id, payment.psp, failed, error)
        if failed >= MAX_ATTEMPTS:
            self._tries.pop(payment.id, None)
            return await self._settle(payment, "refund_manual")
        self._tries[payment.id] = (failed, self.clock() + min(RETRY_CAP_S, self.retry_base_s * 2 ** (failed - 1)))
        return "retry"

    async def mark_refunded(self, payment_id: str) -> Payment | None:
        """The vendor refunded a payment by hand: the buyer is told; None when none was on the list."""
        payment = await self.store.get_payment(payment_id)
        if payment is None or payment.status not in ("refund_manual", "refund_due"):
            return None
        return payment if await self._settle(payment, "refunded", by_hand=True) == "refunded" else None

    async def _settle(self, payment: Payment, status: str, *, by_hand: bool = False) -> str:
        moved = await self.store.transition_payment(payment.id, payment.status, status)
        outcome = "refunded" if status == "refunded" else "manual"
        if moved is None:  # someone else settled it meanwhile; they told the buyer
            return "skipped"
        log.info("refund payment=%s vendor=%s psp=%s: %s", payment.id, payment.vendor_id, payment.psp, status)
        if status == "refunded":
            # the order this payment paid is refunded too ("where is my order" says so); a duplicate
            # payment's order stays paid by its first payment
            order = await self.store.get_order(payment.order_id)
            if order is not None and order.payment_id == payment.id:
                await self.store.transition_order(order.id, ("refund_due",), "refunded")
        await self._tell(moved, outcome, by_hand)
        return outcome

    async def _tell(self, payment: Payment, outcome: str, by_hand: bool) -> None:
        order = await self.store.get_order(payment.order_id)
        vendor = self.vendors.get(payment.vendor_id)
        if order is None or vendor is None:
            log.error("refund payment=%s: its order or vendor is gone; nobody told", payment.id)
            return
        conv = await self.store.get_conversation(order.conversation_id)
        locale = conv.locale if conv and conv.locale in TEXTS else vendor.config.locale
        t = TEXTS.get(locale, TEXTS["fr"])
        words = self._words(t, payment, order, locale, vendor.config.name)
        event = Event(id=f"refund:{payment.id}:{outcome}", kind="system", channel=order.channel,  # type: ignore[arg-type]
                      provider="system", vendor_id=payment.vendor_id, contact=order.contact, payload="refund")
        write = TurnWrite(event_id=event.id)
        if conv is not None:
            add_outbound(write, conv, event, [Reply(text=t["refunded" if outcome == "refunded" else "manual"]
                                                    .format(**words))], tag="buyer")
        notify = vendor.config.notify
        if notify and not by_hand:  # the vendor who refunded by hand knows already
            target = Conversation(id=f"{vendor.id}:{notify.channel}:{notify.address}", vendor_id=vendor.id,
                                  channel=notify.channel, provider=notify.provider,
                                  contact=Contact(address=notify.address))
            key = "vendor_refunded" if outcome == "refunded" else "vendor_manual"
            add_outbound(write, target, event, [Reply(text=t[key].format(**words))], tag="vendor")
        if write.outbox:
            await self.store.commit_turn(write)

    def _words(self, t: dict[str, str], payment: Payment, order: Order, locale: str, vendor: str) -> dict[str, Any]:
        duplicate = order.payment_id != payment.id
        return {
            "amount": money(payment.amount, payment.currency, locale),
            "what": t["duplicate" if duplicate else "order"].format(product=order.product_name),
            "ref": t["reference"].format(receipt=order.receipt) if order.receipt else "",
            "provider": PROVIDER_NAMES.get(payment.psp, payment.psp), "vendor": vendor,
            "method": METHOD_LABELS.get(payment.method, payment.method),
            "hours": MANUAL_REFUND_HOURS, "vendor_id": payment.vendor_id, "payment": payment.id,
            "buyer": mask_address(order.contact.address),
            "reason": t["why_duplicate" if duplicate else "why_sold_out"],
        }
