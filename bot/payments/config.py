"""The `psp` block of a vendor file: which provider takes the vendor's payments, with which account."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

ENV_REF = re.compile(r"^\$\{[A-Z0-9_]+\}$")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _base_url(value: str) -> str:
    """https, or http to this machine only (a local fake provider in tests and benchmarks)."""
    parts = urlsplit(value)
    if not parts.hostname or parts.scheme not in ("http", "https"):
        raise ValueError("base_url must be a full URL, e.g. https://api.example.com")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ValueError("base_url must use https (plain http only to 127.0.0.1 or localhost)")
    return value.rstrip("/")


Secret = Annotated[str, Field(min_length=8, max_length=512)]


class _Psp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # the fields that hold secrets: the YAML file must give them as ${ENV} references
    SECRETS: ClassVar[tuple[str, ...]] = ()

    @field_validator("base_url", check_fields=False)
    @classmethod
    def _url(cls, v: str) -> str:
        return _base_url(v)


class SandboxPsp(_Psp):
    """Palabre's own test PSP: no money moves; development only."""

    provider: Literal["sandbox"] = "sandbox"


class BictorysPsp(_Psp):
    """Bictorys (primary): hosted checkout, X-Secret-Key or HMAC webhooks, status API to confirm."""

    SECRETS: ClassVar[tuple[str, ...]] = ("api_key", "secret_key", "webhook_secret")
    provider: Literal["bictorys"]
    api_key: Secret  # public key: creates charges
    secret_key: Secret  # private key: reads transactions
    webhook_secret: Secret
    country: str = Field(default="SN", pattern=r"^[A-Z]{2}$")
    base_url: str = "https://api.bictorys.com"


class WavePsp(_Psp):
    """Wave Business checkout sessions; webhooks signed with Wave-Signature."""

    SECRETS: ClassVar[tuple[str, ...]] = ("api_key", "webhook_secret")
    provider: Literal["wave"]
    api_key: Secret
    webhook_secret: Secret
    base_url: str = "https://api.wave.com"


class PaydunyaPsp(_Psp):
    """PayDunya hosted invoices; the IPN carries SHA-512(master key) and is confirmed by the API."""

    SECRETS: ClassVar[tuple[str, ...]] = ("master_key", "private_key", "token")
    provider: Literal["paydunya"]
    master_key: Secret
    private_key: Secret
    token: Secret
    store_name: str = Field(default="", max_length=100)
    channels: list[str] = Field(default_factory=list, max_length=20)
    base_url: str = "https://app.paydunya.com/api/v1"


class FlutterwavePsp(_Psp):
    """Flutterwave v3 Standard: hosted link by tx_ref, verif-hash or flutterwave-signature webhooks, verify API."""

    SECRETS: ClassVar[tuple[str, ...]] = ("secret_key", "secret_hash")
    provider: Literal["flutterwave"]
    secret_key: Secret  # FLWSECK_… (FLWSECK_TEST-… in test mode, same host)
    secret_hash: Secret  # the webhook "Secret Hash" set in the dashboard
    # Flutterwave requires a customer e-mail; buyers in a chat rarely give one, so receipts go here
    customer_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=200)
    payment_options: str = Field(default="", max_length=200, pattern=r"^[a-z_,]*$")
    base_url: str = "https://api.flutterwave.com"


class CinetpayPsp(_Psp):
    """CinetPay checkout: apikey + site_id in the body, x-token HMAC notifications, check API to confirm."""

    SECRETS: ClassVar[tuple[str, ...]] = ("apikey", "secret_key")
    provider: Literal["cinetpay"]
    apikey: Secret
    site_id: str = Field(pattern=r"^[0-9]{1,20}$")
    secret_key: Secret  # dashboard -> Intégrations: signs the notifications (x-token)
    country: str = Field(default="CI", pattern=r"^[A-Z]{2}$")
    base_url: str = "https://api-checkout.cinetpay.com"


PspConfig = Annotated[SandboxPsp | BictorysPsp | WavePsp | PaydunyaPsp | FlutterwavePsp | CinetpayPsp,
                      Field(discriminator="provider")]
PROVIDERS = ("sandbox", "bictorys", "wave", "paydunya", "flutterwave", "cinetpay")
MODELS: dict[str, type[_Psp]] = {"bictorys": BictorysPsp, "wave": WavePsp, "paydunya": PaydunyaPsp,
                                 "flutterwave": FlutterwavePsp, "cinetpay": CinetpayPsp}


def psp_block(value: Any) -> Any:
    """`psp: sandbox` is short for `psp: {provider: sandbox}`."""
    return {"provider": value} if isinstance(value, str) else value


def literal_secrets(value: Any) -> list[str]:
    """Secret fields of a raw psp block written in clear instead of as a ${ENV} reference."""
    if not isinstance(value, dict):
        return []
    model = MODELS.get(str(value.get("provider")))
    if model is None:
        return []
    return [k for k in model.SECRETS if isinstance(value.get(k), str) and not ENV_REF.match(value[k])]
