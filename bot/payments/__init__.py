"""Payment providers behind one port: the sandbox for development, Bictorys, Wave, PayDunya, Flutterwave, CinetPay."""

from bot.payments.config import PROVIDERS, PspConfig
from bot.payments.port import (
    ENTITY_METHODS,
    METHOD_LABELS,
    Checkout,
    CheckoutRequest,
    Gateway,
    InvalidWebhook,
    MalformedWebhook,
    PaymentProvider,
    PaymentState,
    PaymentStatus,
    ProviderError,
    WebhookEvent,
    confirms,
)
from bot.payments.providers import HostedPSP, Providers, build_providers, gateway_for
from bot.payments.sandbox import SIGNATURE_HEADER, SandboxPSP, sign, verify

__all__ = [
    "ENTITY_METHODS",
    "METHOD_LABELS",
    "PROVIDERS",
    "SIGNATURE_HEADER",
    "Checkout",
    "CheckoutRequest",
    "Gateway",
    "HostedPSP",
    "InvalidWebhook",
    "MalformedWebhook",
    "PaymentProvider",
    "PaymentState",
    "PaymentStatus",
    "ProviderError",
    "Providers",
    "PspConfig",
    "SandboxPSP",
    "WebhookEvent",
    "build_providers",
    "confirms",
    "gateway_for",
    "sign",
    "verify",
]
