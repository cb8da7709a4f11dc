"""The payment-provider port: what the bot asks of a PSP, and what each provider adapter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from storage import Order, Payment

METHOD_LABELS = {"wave": "Wave", "om": "Orange Money", "free": "Free Money", "card": "Carte"}
# NLU entity values -> our button ids
ENTITY_METHODS = {"wave": "wave", "orange_money": "om", "free_money": "free", "card": "card"}


class PaymentProvider(ABC):
    """What the dialogs need from a PSP: a payment link for an order."""

    name: str

    @abstractmethod
    async def create_payment(self, order: Order, method: str, payment_id: str) -> tuple[Payment, str]:
        """Create (idempotently, keyed by payment_id) a payment; returns it with the link to send."""


class PaymentStatus(StrEnum):
    """A provider's status words, normalised by each adapter."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUNDED = "refunded"
    UNKNOWN = "unknown"


class InvalidWebhook(Exception):
    """The webhook fails the provider's authentication check (answered 401)."""


class MalformedWebhook(ValueError):
    """The webhook is authentic but not readable (answered 400)."""


class ProviderError(RuntimeError):
    """The provider refused a call or could not be reached; `transient` when retrying may help."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.transient = transient


@dataclass(frozen=True)
class CheckoutRequest:
    """One payment attempt for an order, in the provider-neutral shape every adapter reads."""

    order_ref: str  # our reference (the payment id): ASCII, <= 64 chars (Bictorys' limit is the tightest)
    amount: int  # francs; XOF has no minor unit
    currency: str
    method: str  # our button id: wave | om | free | card
    description: str
    success_url: str
    cancel_url: str
    notify_url: str
    expires_in_s: int
    buyer_phone: str | None = None  # E.164
    buyer_name: str | None = None


@dataclass(frozen=True)
class Checkout:
    provider_ref: str  # what the status API is asked with: chargeId | cos-… | invoice token
    url: str  # the link the buyer gets


@dataclass(frozen=True)
class PaymentState:
    """What the provider's status API says about a payment: the only proof the bot confirms on."""

    provider_ref: str
    status: PaymentStatus
    order_ref: str | None
    amount: int | None  # gross paid by the buyer, francs
    currency: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def unpaid(cls, provider_ref: str) -> PaymentState:
        """The provider knows no transaction for it yet: the buyer has not paid; ask again later."""
        return cls(provider_ref, PaymentStatus.PENDING, None, None, None)


@dataclass(frozen=True)
class WebhookEvent:
    """An authenticated webhook: a trigger to ask the provider, never proof of payment by itself."""

    event_id: str
    order_ref: str | None
    provider_ref: str | None
    status_hint: PaymentStatus
    body_authenticated: bool  # True only when the body itself was signed (HMAC), not just the sender


class Gateway(ABC):
    """One provider's API: create a checkout, authenticate its webhooks, read a payment's status.

    Adapters do HTTP only through the session they are given, so tests point them at a local fake
    through the configured base URL. Amounts are integers of francs on both sides.
    """

    name: str
    refunds = False  # True when the provider has a refund API (`refund` below); else refunds are by hand

    @abstractmethod
    async def create_checkout(self, req: CheckoutRequest) -> Checkout: ...

    @abstractmethod
    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: float) -> WebhookEvent:
        """Authenticate on the raw bytes (InvalidWebhook) and read the references (MalformedWebhook)."""

    @abstractmethod
    async def fetch_status(self, provider_ref: str, order_ref: str | None = None) -> PaymentState: ...

    async def cancel(self, provider_ref: str) -> bool:
        """Close a checkout nobody paid, where the provider can; False when it cannot."""
        return False

    async def refund(self, provider_ref: str, key: str) -> bool:
        """Refund a succeeded payment in full, where the provider can; False when it refuses.

        `key` is the same for every attempt at one refund, sent where the provider takes an
        idempotency key, so a retry after a lost answer cannot pay the buyer back twice.
        ProviderError(transient=True) when the provider could not be reached: try again later.
        """
        return False

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the adapter's HTTP session."""


def confirms(payment: Payment, state: PaymentState) -> str:
    """The confirmation rule: "paid" only on success with our amount, currency and reference.

    Returns "paid", "failed" (the provider says it did not go through), "pending" (ask again later),
    or "mismatch" (money moved but not what we asked for: never confirmed, logged for the vendor).
    """
    if state.status in (PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.EXPIRED):
        return "failed"
    if state.status != PaymentStatus.SUCCEEDED:
        return "pending"
    if state.amount != payment.amount or (state.currency or "").upper() != payment.currency.upper():
        return "mismatch"
    if state.order_ref != payment.id:
        return "mismatch"
    return "paid"
