"""Campaign persistence: contacts, templates, segments, campaigns and their recipients, on any backend.

Kept apart from `Store` (its own SQLite file, its own MongoDB collections) like the inbox, so
`palabre import-contacts` and `palabre broadcast` work while a server runs. The domain logic lives
once in `CampaignStore`; a backend implements a handful of document primitives (`_get`, `_put`,
`_insert_new`, `_scan`, `_count`, `_swap`, `_incr`), so both backends behave the same by construction.
"""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, Literal, TypeVar

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
M = TypeVar("M", bound=BaseModel)
# A document body: a record (serialised by the backend, fast) or a small dict.
Body = BaseModel | dict[str, Any]
Row = tuple[str, str, str, str, Body]  # key, vendor, group, status, body


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


class CampaignStore(ABC):
    """Campaign records in documents of a few kinds. Writes are idempotent on their keys."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open the database and create indexes."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release it."""

    # primitives a backend implements; `group` and `status` are indexed fields for scans
    @abstractmethod
    async def _get_many(self, kind: str, keys: list[str]) -> dict[str, dict[str, Any]]: ...

    @abstractmethod
    async def _put(self, kind: str, rows: list[Row]) -> None:
        """Create or replace documents: (key, vendor, group, status, body)."""

    @abstractmethod
    async def _insert_new(self, kind: str, rows: list[Row]) -> int:
        """Insert documents whose key does not exist yet; the number inserted."""

    @abstractmethod
    async def _scan(self, kind: str, *, vendor: str | None = None, group: str | None = None,
                    status: str | None = None, after: str = "", limit: int = 0) -> list[tuple[str, dict[str, Any]]]:
        """Documents by key order after `after` (0: no limit)."""

    @abstractmethod
    async def _count(self, kind: str, group: str) -> dict[str, int]:
        """Documents of a group by status."""

    @abstractmethod
    async def _swap(self, kind: str, key: str, statuses: Iterable[str], status: str, body: Body) -> bool:
        """Replace a document only while its status is one of `statuses`."""

    @abstractmethod
    async def _delete(self, kind: str, key: str) -> bool: ...

    @abstractmethod
    async def _incr(self, key: str, by: int, limit: int | None) -> bool:
        """Add `by` to a counter unless that passes `limit`; whether it was added."""

    @abstractmethod
    async def _counter(self, key: str) -> int: ...

    async def _get(self, kind: str, key: str, model: type[M]) -> M | None:
        doc = (await self._get_many(kind, [key])).get(key)
        return model.model_validate(doc) if doc is not None else None

    # contacts
    async def upsert_contacts(self, vendor_id: str, contacts: list[CampaignContact]) -> tuple[int, int]:
        """Merge contacts into the stored ones (matched by any address); (created, updated).

        Tags add up and attributes merge; an opt-out recorded here is never undone by an import.
        """
        links = await self._get_many("address", [f"{vendor_id}|{a}" for c in contacts for a in c.addresses()])
        ids = {c.id: str(links[f"{vendor_id}|{a}"]["id"]) for c in contacts for a in c.addresses()
               if f"{vendor_id}|{a}" in links}
        stored = await self._get_many("contact", sorted(set(ids.values())))
        merged: dict[str, CampaignContact] = {}
        created = 0
        at = now()
        for c in contacts:
            key = ids.get(c.id, c.id)
            old = merged.get(key) or (CampaignContact.model_validate(stored[key]) if key in stored else None)
            if old is None:
                created += 1
                merged[key] = c if key == c.id else c.model_copy(update={"id": key})
                continue
            merged[key] = merge(old, c, at)
        await self._put("contact", [(k, vendor_id, vendor_id, c.consent, c)
                                    for k, c in merged.items()])
        await self._put("address", [(f"{vendor_id}|{a}", vendor_id, "", "", {"id": k})
                                    for k, c in merged.items() for a in c.addresses()])
        return created, len(merged) - created

    async def new_contacts(self, vendor_id: str, contacts: list[CampaignContact]) -> int:
        """How many of `contacts` no stored contact matches (what an import would create)."""
        links = await self._get_many("address", [f"{vendor_id}|{a}" for c in contacts for a in c.addresses()])
        return sum(1 for c in contacts if not any(f"{vendor_id}|{a}" in links for a in c.addresses()))

    async def contact_count(self, vendor_id: str) -> int:
        return sum((await self._count("contact", vendor_id)).values())

    async def get_contact(self, vendor_id: str, cid: str) -> CampaignContact | None:
        contact = await self._get("contact", cid, CampaignContact)
        return contact if contact is not None and contact.vendor_id == vendor_id else None

    async def find_contact(self, vendor_id: str, address: str) -> CampaignContact | None:
        link = (await self._get_many("address", [f"{vendor_id}|{address}"])).get(f"{vendor_id}|{address}")
        return await self.get_contact(vendor_id, str(link["id"])) if link else None

    async def contacts(self, vendor_id: str, *, after: str = "", limit: int = 0) -> list[CampaignContact]:
        """A vendor's contacts in id order, a page at a time."""
        rows = await self._scan("contact", vendor=vendor_id, after=after, limit=limit)
        return [CampaignContact.model_validate(doc) for _, doc in rows]

    async def contacts_of(self, vendor_id: str, ids: list[str]) -> dict[str, CampaignContact]:
        docs = await self._get_many("contact", ids)
        return {k: CampaignContact.model_validate(d) for k, d in docs.items() if d.get("vendor_id") == vendor_id}

    async def save_contact(self, contact: CampaignContact) -> None:
        await self._put("contact", [(contact.id, contact.vendor_id, contact.vendor_id, contact.consent,
                                     contact)])
        await self._put("address", [(f"{contact.vendor_id}|{a}", contact.vendor_id, "", "", {"id": contact.id})
                                    for a in contact.addresses()])

    # templates and segments
    async def save_template(self, template: CampaignTemplate) -> None:
        await self._put("template", [(template.id, template.vendor_id, "", "", template)])

    async def get_template(self, vendor_id: str, name: str) -> CampaignTemplate | None:
        return await self._get("template", f"{vendor_id}:{name}", CampaignTemplate)

    async def templates(self, vendor_id: str) -> list[CampaignTemplate]:
        return [CampaignTemplate.model_validate(d) for _, d in await self._scan("template", vendor=vendor_id)]

    async def delete_template(self, vendor_id: str, name: str) -> bool:
        return await self._delete("template", f"{vendor_id}:{name}")

    async def save_segment(self, segment: Segment) -> None:
        await self._put("segment", [(segment.id, segment.vendor_id, "", "", segment)])

    async def get_segment(self, vendor_id: str, name: str) -> Segment | None:
        return await self._get("segment", f"{vendor_id}:{name}", Segment)

    async def segments(self, vendor_id: str) -> list[Segment]:
        return [Segment.model_validate(d) for _, d in await self._scan("segment", vendor=vendor_id)]

    async def delete_segment(self, vendor_id: str, name: str) -> bool:
        return await self._delete("segment", f"{vendor_id}:{name}")

    async def get_settings(self, vendor_id: str) -> CampaignSettings:
        return await self._get("settings", vendor_id, CampaignSettings) or CampaignSettings(vendor_id=vendor_id)

    async def save_settings(self, settings: CampaignSettings) -> None:
        row = (settings.vendor_id, settings.vendor_id, "", "", settings)
        await self._put("settings", [row])

    # campaigns
    async def create_campaign(self, campaign: Campaign) -> bool:
        """Store a new campaign; False when its id exists (a retried create)."""
        row = (campaign.id, campaign.vendor_id, "", f"{campaign.status}#{campaign.version}",
               campaign)
        return await self._insert_new("campaign", [row]) == 1

    async def get_campaign(self, campaign_id: str) -> Campaign | None:
        return await self._get("campaign", campaign_id, Campaign)

    async def campaigns(self, vendor_id: str | None = None, status: str | None = None) -> list[Campaign]:
        found = [Campaign.model_validate(d) for _, d in await self._scan("campaign", vendor=vendor_id)]
        return sorted((c for c in found if status is None or c.status == status), key=lambda c: c.created_at)

    async def transition(self, campaign: Campaign, statuses: Iterable[str], **changes: Any) -> Campaign | None:
        """Change a campaign while its status is one of `statuses` (and its version unmoved); the new one."""
        new = campaign.model_copy(update={**changes, "version": campaign.version + 1})
        done = await self._swap("campaign", campaign.id, [f"{s}#{campaign.version}" for s in statuses],
                                f"{new.status}#{new.version}", new)
        return new if done else None

    # recipients
    async def add_recipients(self, recipients: list[Recipient]) -> int:
        """Add recipients not added yet (a restart adds the rest of the list, never a second copy)."""
        return await self._insert_new("recipient", [(r.id, "", r.campaign_id, r.status, r)
                                                    for r in recipients])

    async def pending_recipients(self, campaign_id: str, limit: int) -> list[Recipient]:
        rows = await self._scan("recipient", group=campaign_id, status="pending", limit=limit)
        return [Recipient.model_validate(d) for _, d in rows]

    async def recipients(self, campaign_id: str, *, after: str = "", limit: int = 0) -> list[Recipient]:
        rows = await self._scan("recipient", group=campaign_id, after=after, limit=limit)
        return [Recipient.model_validate(d) for _, d in rows]

    async def mark_recipient(self, recipient: Recipient, status: str, *, error: str | None = None,
                             only_from: Iterable[str] | None = None) -> bool:
        """Set a recipient's status (only from `only_from` when given)."""
        new = recipient.model_copy(update={"status": status, "error": error, "at": now()})
        if only_from is None:
            await self._put("recipient", [(new.id, "", new.campaign_id, status, new)])
            return True
        return await self._swap("recipient", new.id, only_from, status, new)

    async def get_recipient(self, recipient_id: str) -> Recipient | None:
        return await self._get("recipient", recipient_id, Recipient)

    async def recipient_counts(self, campaign_id: str) -> dict[str, int]:
        counts = await self._count("recipient", campaign_id)
        return {s: counts.get(s, 0) for s in RECIPIENT_STATUSES}

    # counters: daily limits and monthly quotas
    async def take(self, key: str, limit: int | None, by: int = 1) -> bool:
        """Count `by` more under `key` unless that passes `limit`; whether it was counted."""
        return await self._incr(key, by, limit)

    async def counter(self, key: str) -> int:
        return await self._counter(key)


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
