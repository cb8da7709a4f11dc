"""Campaign persistence on any backend: the domain logic once, over a backend's few document primitives.

Kept apart from `Store` (its own SQLite file, its own MongoDB collections) like the inbox, so
`palabre import-contacts` and `palabre broadcast` work while a server runs. The domain logic lives
once in `CampaignStore`; a backend implements a handful of document primitives (`_get`, `_put`,
`_insert_new`, `_scan`, `_count`, `_swap`, `_incr`), so both backends behave the same by construction.
The records live in `storage.campaigns_records` and are importable from here too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel

from storage.campaigns_records import (
    RECIPIENT_REPLACES,
    RECIPIENT_STATUSES,
    Audience,
    Campaign,
    CampaignContact,
    CampaignSettings,
    CampaignStatus,
    CampaignTemplate,
    Consent,
    Plan,
    Recipient,
    RecipientStatus,
    Segment,
    TemplateVariable,
    WhatsAppTemplate,
    contact_id,
    merge,
    now,
)

M = TypeVar("M", bound=BaseModel)
# A document body: a record (serialised by the backend, fast) or a small dict.
Body = BaseModel | dict[str, Any]
Row = tuple[str, str, str, str, Body]  # key, vendor, group, status, body


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
        return (await self.find_contacts(vendor_id, [address])).get(address)

    async def find_contacts(self, vendor_id: str, addresses: list[str]) -> dict[str, CampaignContact]:
        """address -> contact, for those of `addresses` a contact of the vendor holds (two reads in all)."""
        links = await self._get_many("address", [f"{vendor_id}|{a}" for a in addresses])
        ids = {a: str(links[f"{vendor_id}|{a}"]["id"]) for a in addresses if f"{vendor_id}|{a}" in links}
        found = await self.contacts_of(vendor_id, sorted(set(ids.values())))
        return {a: found[i] for a, i in ids.items() if i in found}

    async def contacts(self, vendor_id: str, *, after: str = "", limit: int = 0) -> list[CampaignContact]:
        """A vendor's contacts in id order, a page at a time."""
        rows = await self._scan("contact", vendor=vendor_id, after=after, limit=limit)
        return [CampaignContact.model_validate(doc) for _, doc in rows]

    async def contacts_of(self, vendor_id: str, ids: list[str]) -> dict[str, CampaignContact]:
        docs = await self._get_many("contact", ids)
        return {k: CampaignContact.model_validate(d) for k, d in docs.items() if d.get("vendor_id") == vendor_id}

    async def save_contact(self, contact: CampaignContact) -> None:
        await self.save_contacts([contact])

    async def save_contacts(self, contacts: list[CampaignContact]) -> None:
        """Store these contacts as they are (two writes in all)."""
        await self._put("contact", [(c.id, c.vendor_id, c.vendor_id, c.consent, c) for c in contacts])
        await self._put("address", [(f"{c.vendor_id}|{a}", c.vendor_id, "", "", {"id": c.id})
                                    for c in contacts for a in c.addresses()])

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


__all__ = [
    "RECIPIENT_REPLACES",
    "RECIPIENT_STATUSES",
    "Audience",
    "Body",
    "Campaign",
    "CampaignContact",
    "CampaignSettings",
    "CampaignStatus",
    "CampaignStore",
    "CampaignTemplate",
    "Consent",
    "Plan",
    "Recipient",
    "RecipientStatus",
    "Row",
    "Segment",
    "TemplateVariable",
    "WhatsAppTemplate",
    "contact_id",
    "merge",
    "now",
]
