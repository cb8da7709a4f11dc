"""Campaign records: contacts, audiences, segments, templates, settings, campaigns and their recipients."""

from __future__ import annotations

import hashlib
import time
from typing import Any, Literal

from pydantic import BaseModel, Field

Consent = Literal["unknown", "opted_in", "opted_out"]
CampaignStatus = Literal["draft", "scheduled", "running", "paused", "cancelled", "completed"]
RecipientStatus = Literal["pending", "queued", "sent", "delivered", "read", "failed", "opted_out", "skipped"]
RECIPIENT_STATUSES: tuple[str, ...] = ("pending", "queued", "sent", "delivered", "read", "failed", "opted_out",
                                       "skipped")
# A provider's later status may only move a recipient forward (statuses arrive out of order).
RECIPIENT_REPLACES: dict[str, tuple[str, ...]] = {
    "sent": ("queued",),
    "delivered": ("queued", "sent", "failed"),
    "read": ("queued", "sent", "delivered", "failed"),
    "failed": ("queued", "sent"),
}


def now() -> float:
    return time.time()


def contact_id(vendor_id: str, address: str) -> str:
    """A contact's id, derived from its first address: stable, and no phone number in ids or logs."""
    return "c" + hashlib.blake2b(f"{vendor_id}|{address}".encode(), digest_size=10).hexdigest()


class CampaignContact(BaseModel):
    """One person for one vendor across channels: a phone (WhatsApp and SMS), a Telegram chat, an e-mail."""

    id: str
    vendor_id: str
    phone: str | None = None
    email: str | None = None
    telegram: str | None = None
    name: str | None = None
    tags: list[str] = Field(default_factory=list)
    attributes: dict[str, str] = Field(default_factory=dict)
    consent: Consent = "unknown"
    consent_at: float | None = None
    consent_source: str | None = None  # "import", "whatsapp", "telegram", … (where it was given)
    optout_confirmed: bool = False  # the opt-out confirmation is sent once, not on every STOP
    consent_event: str | None = None  # the message that last confirmed: a replayed turn confirms again
    trust_tier: str | None = None
    last_active_at: float | None = None
    created_at: float = Field(default_factory=now)
    updated_at: float = Field(default_factory=now)

    def addresses(self) -> list[str]:
        return [a for a in (self.phone, self.email, self.telegram) if a]


class Audience(BaseModel):
    """A filter over a vendor's contacts: a segment's definition, or a campaign's `--tag`."""

    tags_all: list[str] = Field(default_factory=list)
    tags_any: list[str] = Field(default_factory=list)
    attributes: dict[str, str] = Field(default_factory=dict)
    active_within_days: float | None = None
    trust_tiers: list[str] = Field(default_factory=list)
    # Meta's policy: business-initiated marketing goes to those who opted in; "unknown" is opt-in only here.
    consent: list[Consent] = Field(default_factory=lambda: ["opted_in"])

    def matches(self, c: CampaignContact, at: float) -> bool:
        if c.consent == "opted_out" or c.consent not in self.consent:
            return False
        tags = set(c.tags)
        if not set(self.tags_all) <= tags or (self.tags_any and not tags & set(self.tags_any)):
            return False
        if any(c.attributes.get(k) != v for k, v in self.attributes.items()):
            return False
        if self.trust_tiers and c.trust_tier not in self.trust_tiers:
            return False
        if self.active_within_days is not None:
            return c.last_active_at is not None and at - c.last_active_at <= self.active_within_days * 86400
        return True


class Segment(BaseModel):
    vendor_id: str
    name: str
    audience: Audience
    created_at: float = Field(default_factory=now)

    @property
    def id(self) -> str:
        return f"{self.vendor_id}:{self.name}"


class TemplateVariable(BaseModel):
    """`{{n}}` of a template: a contact field (`name`, `phone`, `attributes.city`) and the text used when empty."""

    field: str
    default: str = ""


class WhatsAppTemplate(BaseModel):
    """A template as approved by Meta: its name, language and components (kept as Meta spells them)."""

    name: str
    language: str = "fr"
    components: list[dict[str, Any]] = Field(default_factory=list)


class CampaignTemplate(BaseModel):
    """A vendor's broadcast message: the approved WhatsApp template and its text on other channels."""

    vendor_id: str
    name: str
    whatsapp: WhatsAppTemplate | None = None
    text: str | None = None  # the plain-text equivalent, for channels without a channel-specific text
    sms: str | None = None
    telegram: str | None = None
    email_subject: str | None = None
    email: str | None = None
    variables: list[TemplateVariable] = Field(default_factory=list)
    updated_at: float = Field(default_factory=now)

    @property
    def id(self) -> str:
        return f"{self.vendor_id}:{self.name}"


class Plan(BaseModel):
    """An organisation's plan quotas; None is unlimited."""

    contacts: int | None = None
    messages_per_month: int | None = None
    agents: int | None = None


class CampaignSettings(BaseModel):
    """A vendor's broadcast rules: sending hours (vendor's time zone), daily limits per channel, plan quotas."""

    vendor_id: str
    organisation: str | None = None  # quotas are shared by the vendors of one organisation
    hours: tuple[str, str] = ("08:00", "21:00")
    night_allowed: bool = False
    daily_limit: dict[str, int] = Field(default_factory=dict)  # channel -> messages per day
    plan: Plan = Field(default_factory=Plan)


class Campaign(BaseModel):
    """A broadcast of a template (or A/B variants of it) to an audience at a pace."""

    id: str
    vendor_id: str
    name: str | None = None
    templates: list[str]  # one, or several A/B variants dealt out in turn
    channel: str = "whatsapp"
    tag: str | None = None
    segment: str | None = None
    audience: Audience = Field(default_factory=Audience)
    rate: float = 10.0  # messages per second
    at: float | None = None  # scheduled start
    status: CampaignStatus = "draft"
    total: int = 0
    materialized: bool = False  # the recipient list is written (it is frozen at the start)
    created_at: float = Field(default_factory=now)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    version: int = 0


class Recipient(BaseModel):
    """One contact of a campaign; `id` is the idempotency key of its single message."""

    campaign_id: str
    contact_id: str
    status: RecipientStatus = "pending"
    variant: str | None = None
    error: str | None = None
    at: float = Field(default_factory=now)

    @property
    def id(self) -> str:
        return f"{self.campaign_id}:{self.contact_id}"


def merge(old: CampaignContact, new: CampaignContact, at: float) -> CampaignContact:
    """`new`'s data over `old`'s: empty fields do not erase, tags add up, an opt-out stays."""
    consent = old.consent
    consent_at, source = old.consent_at, old.consent_source
    if old.consent != "opted_out" and new.consent != "unknown":
        consent, consent_at, source = new.consent, new.consent_at, new.consent_source
    return old.model_copy(update={
        "phone": old.phone or new.phone, "email": old.email or new.email, "telegram": old.telegram or new.telegram,
        "name": new.name or old.name, "tags": list(dict.fromkeys([*old.tags, *new.tags])),
        "attributes": {**old.attributes, **new.attributes}, "consent": consent, "consent_at": consent_at,
        "consent_source": source, "trust_tier": new.trust_tier or old.trust_tier,
        "last_active_at": max(old.last_active_at or 0, new.last_active_at or 0) or None, "updated_at": at,
    })
