"""Delivery policy: per-vendor settings, provider rate defaults, backoff, circuit breaker and the 24-hour window."""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.adapters import PROVIDERS
from channels.base import SendError
from channels.replies import Reply, TemplateRef

log = logging.getLogger("palabre.delivery")

WHATSAPP_WINDOW = 24 * 3600.0
NOT_SENDABLE = "outside the WhatsApp 24-hour window and no template configured"
NO_TEMPLATE_TEXT = "outside the WhatsApp 24-hour window and the reply has no text for the template"
TEXT_PLACEHOLDER = "{text}"

# Meta's "Re-engagement message" (CHANNELS.md §2.3): the provider says the window is closed.
_WINDOW_CLOSED_CODE = re.compile(r"(?<!\d)131047(?!\d)")
_WHITESPACE = re.compile(r"\s+")
# Wasender sends to E.164 numbers only: a Meta BSUID recipient cannot be reached through the fallback.
# The same canonical number also identifies one buyer across channels (WhatsApp and SMS).
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")


class RateLimit(BaseModel):
    """A token bucket: `per_second` sustained, up to `burst` at once after a quiet spell."""

    model_config = ConfigDict(extra="forbid")

    per_second: float = Field(gt=0, le=100_000)
    burst: int = Field(default=1, ge=1, le=100_000)


class ProviderLimits(BaseModel):
    """Limits of one provider; a field left out keeps Palabre's default for that provider."""

    model_config = ConfigDict(extra="forbid")

    sending: RateLimit | None = None  # per sending number (the vendor's account at that provider)
    recipient: RateLimit | None = None  # per buyer, on that sending number


# Defaults from CHANNELS.md. Burst 1 on sending numbers keeps any one-second window within the
# provider's figure plus one message. Providers absent here (simulator, email) are not limited.
DEFAULT_LIMITS: dict[str, ProviderLimits] = {
    # §2.3: 80 messages/s per business number (above it 130429). Meta's pair rate (131056) is about one
    # message per 6 s on average (⚠ unconfirmed there); a bot answers in 2-3 bubbles, so we pace each buyer
    # at 1/s with a burst of 3 and let a 131056 (retry_after 6 s from the adapter) handle the rest.
    "meta": ProviderLimits(sending=RateLimit(per_second=80), recipient=RateLimit(per_second=1, burst=3)),
    # §3.3: with Account Protection (any plan) Wasender allows 1 send every 5 s, and §7 pitfall 12 asks us
    # to respect that pace or risk a ban; paid plans without it allow 256/min (set per_second: 4.2).
    # That pace is already slower than any per-buyer limit, so no recipient bucket.
    "wasender": ProviderLimits(sending=RateLimit(per_second=0.2)),
    # §4.3: a long code drains 1 segment/s; loop protection trips above 30 messages in 30 s to one number.
    "twilio": ProviderLimits(sending=RateLimit(per_second=1), recipient=RateLimit(per_second=1, burst=3)),
    # §5.3: about 30 messages/s overall per bot and about 1/s per chat.
    "telegram": ProviderLimits(sending=RateLimit(per_second=30), recipient=RateLimit(per_second=1, burst=3)),
}


class BreakerSettings(BaseModel):
    """When Meta counts as down (consecutive transient failures) and how long before probing it again."""

    model_config = ConfigDict(extra="forbid")

    failures: int = Field(default=5, ge=1, le=1000)
    probe_after: float = Field(default=30.0, gt=0, le=3600)


class TemplateSettings(BaseModel):
    """The approved WhatsApp template sent instead of a free-form reply outside the 24-hour window."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$")  # Meta's rule: lowercase letters, digits, underscores
    language: str = Field(default="fr", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")
    # Body parameters in order; "{text}" is replaced by the reply's text. A template without
    # parameters is `parameters: []`.
    parameters: list[str] = Field(default_factory=lambda: [TEXT_PLACEHOLDER], max_length=10)
    # A template body holds at most 1024 characters with its own wording (⚠ Meta's figure, not in
    # CHANNELS.md): 600 leaves room for that wording.
    max_parameter_length: int = Field(default=600, ge=20, le=1000)


class DeliverySettings(BaseModel):
    """A vendor's `delivery:` block; every field has a default, so most vendors write nothing."""

    model_config = ConfigDict(extra="forbid")

    limits: dict[str, ProviderLimits] = Field(default_factory=dict)
    fallback: Literal["wasender"] | None = None
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    whatsapp_template: TemplateSettings | None = None
    max_attempts: int | None = Field(default=None, ge=1, le=100)  # None: the server's PALABRE setting
    max_wait: float = Field(default=5.0, ge=0, le=120)  # longer waits for tokens go back to the store
    retry_base: float = Field(default=1.0, gt=0, le=60)
    retry_cap: float = Field(default=300.0, gt=0, le=86_400)
    # Send the template a little before the 24 h are up: a reply queued at 23:59 may reach Meta after 24:00.
    window_margin: float = Field(default=300.0, ge=0, le=6 * 3600)

    @field_validator("limits")
    @classmethod
    def _known_providers(cls, value: dict[str, ProviderLimits]) -> dict[str, ProviderLimits]:
        known = (*PROVIDERS, "simulator")
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"unknown provider(s) {', '.join(unknown)}; known: {', '.join(known)}")
        return value

    def limits_for(self, provider: str) -> tuple[RateLimit | None, RateLimit | None]:
        """(sending-number limit, per-recipient limit) for `provider`: the vendor's, else the default."""
        own = self.limits.get(provider)
        default = DEFAULT_LIMITS.get(provider) or ProviderLimits()
        return (
            own.sending if own and own.sending else default.sending,
            own.recipient if own and own.recipient else default.recipient,
        )


def backoff(attempt: int, base: float = 1.0, cap: float = 300.0, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**(attempt - 1))].

    `attempt` is the number of the attempt that just failed (1 for the first), so the first retry waits
    up to `base` seconds and the bound doubles with each failure.
    """
    return (rng or random).uniform(0.0, min(cap, base * 2 ** max(0, attempt - 1)))


def counts_as_outage(exc: SendError) -> bool:
    """Whether a failure says the provider is unhealthy (for the circuit breaker).

    Permanent errors are about the message or the buyer, and an error with `retry_after` is the
    provider throttling us: in both cases it answered, so it is up.
    """
    return not exc.permanent and exc.retry_after is None


def window_closed(exc: SendError) -> bool:
    """Whether the provider refused a free-form message because the 24-hour window is closed (131047)."""
    code = getattr(exc, "code", None)
    if code is not None:
        return str(code) == "131047"
    return bool(_WINDOW_CLOSED_CODE.search(str(exc)))


def is_phone(address: str) -> bool:
    """Whether an address is an E.164 phone number: only those link a buyer's conversations across channels."""
    return bool(_PHONE.match(address))


def can_fall_back(recipient: str) -> bool:
    return is_phone(recipient)


def outside_window(last_inbound_at: float | None, now: float, margin: float) -> bool:
    """True when a free-form WhatsApp message may no longer be sent (or nothing was ever received)."""
    return last_inbound_at is None or now - last_inbound_at >= WHATSAPP_WINDOW - margin


def template_parameter(text: str, limit: int) -> str:
    """Text fit for a template parameter: Meta refuses new lines, tabs and runs of spaces in one, and
    the template body has a length limit, so whitespace is collapsed and the text cut with an ellipsis."""
    flat = _WHITESPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def template_reply(reply: Reply, template: TemplateSettings) -> Reply | None:
    """The template message that replaces `reply` outside the window; None if it needs text the reply lacks."""
    text = template_parameter(reply.text or reply.link or reply.media_url or "", template.max_parameter_length)
    if not text and any(TEXT_PLACEHOLDER in p for p in template.parameters):
        return None
    parameters = [template_parameter(p.replace(TEXT_PLACEHOLDER, text), template.max_parameter_length)
                  for p in template.parameters]
    ref = TemplateRef(name=template.name, language=template.language, parameters=parameters)
    return Reply(text=reply.text, template=ref)


Verdict = Literal["primary", "probe", "fallback"]


class CircuitBreaker:
    """Health of one provider for one vendor, as seen by this process.

    Closed: everything goes to the provider. After `failures` consecutive outage-like failures it opens:
    sends go to the fallback. Once `probe_after` seconds have passed, one send is let through as a probe
    (half-open); its success closes the circuit, its failure opens it for another `probe_after`.
    """

    def __init__(self, name: str, settings: BreakerSettings, clock: Callable[[], float]) -> None:
        self.name = name
        self.threshold = settings.failures
        self.probe_after = settings.probe_after
        self.clock = clock
        self.state: Literal["closed", "open", "half_open"] = "closed"
        self.failures = 0
        self.opened_at = 0.0

    def allow(self) -> Verdict:
        if self.state == "closed":
            return "primary"
        if self.state == "open" and self.clock() - self.opened_at >= self.probe_after:
            self.state = "half_open"
            log.warning("%s: circuit half-open, probing with one message", self.name)
            return "probe"
        return "fallback"

    def record(self, *, healthy: bool, probe: bool) -> None:
        """The outcome of a send to the provider; only the probe decides while half-open."""
        if healthy:
            self.failures = 0
            if self.state != "closed":
                log.warning("%s: healthy again, circuit closed", self.name)
                self.state = "closed"
            return
        if probe:
            self._open("the probe failed")
        elif self.state == "closed":
            self.failures += 1
            if self.failures >= self.threshold:
                self._open(f"{self.failures} consecutive failures")

    def abandon_probe(self) -> None:
        """The probe never reached the provider (deferred, not sendable): the next send probes instead."""
        if self.state == "half_open":
            self.state = "open"

    def _open(self, why: str) -> None:
        self.state = "open"
        self.opened_at = self.clock()
        log.warning("%s: circuit open (%s), using the fallback for %.0f s", self.name, why, self.probe_after)
