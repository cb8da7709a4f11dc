"""The campaigns service: its store, the dispatcher loop, and the commands the API and the CLI share."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from bot.campaigns import limits, optout
from bot.campaigns.audience import audience_of, count
from bot.campaigns.dispatch import PREFIX, Dispatcher
from channels import Event, Reply
from storage import TurnWrite
from storage.campaigns import (
    RECIPIENT_REPLACES,
    Audience,
    Campaign,
    CampaignContact,
    CampaignStore,
)

if TYPE_CHECKING:
    from bot.runtime import Runtime
    from bot.settings import Settings

log = logging.getLogger("palabre.campaigns")

TICK = 0.5
ACTIVE_EVERY = 3600.0
ACTIVITY_REMEMBERED = 50_000  # addresses whose activity was looked up within the hour, per process
# Which states each command may leave from.
FROM: dict[str, tuple[str, ...]] = {
    "schedule": ("draft", "scheduled"),
    "start": ("draft", "scheduled"),
    "pause": ("running", "scheduled"),
    "resume": ("paused",),
    "cancel": ("draft", "scheduled", "running", "paused"),
}


class CampaignError(ValueError):
    """A command that cannot be done now: `code` for the API, the message for people."""

    def __init__(self, code: str, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def make_campaign_store(settings: Settings) -> CampaignStore:
    """Campaigns next to the conversations: MongoDB when configured, else a SQLite file in the data folder."""
    if settings.mongodb_uri:
        from storage.campaigns_mongo import MongoCampaignStore

        return MongoCampaignStore(settings.mongodb_uri, settings.mongodb_db)
    from storage.campaigns_sqlite import SqliteCampaignStore

    return SqliteCampaignStore(settings.data_dir)


class Campaigns:
    """One per runtime: started after the store, stopped before it."""

    def __init__(self, runtime: Runtime, store: CampaignStore | None = None) -> None:
        self.rt = runtime
        self.store = store or make_campaign_store(runtime.settings)
        self.dispatcher = Dispatcher(self.store, runtime.store, runtime.delivery, runtime.vendors,
                                     coordinator=runtime.coordinator, clock=runtime.clock)
        self._loop: asyncio.Task[None] | None = None
        # (vendor, address) -> when their activity was last looked up or recorded: see `active`
        self._activity_checked: OrderedDict[tuple[str, str], float] = OrderedDict()
        # vendor -> {address: when they wrote}, looked up together at the next `flush_activity`
        self._activity_due: dict[str, dict[str, float]] = {}

    async def start(self) -> None:
        await self.store.start()
        self._loop = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        try:
            await self.flush_activity()
        except Exception:
            log.exception("recording contacts' activity failed at stop")
        await self.dispatcher.stop()
        await self.store.close()

    async def _run(self) -> None:
        while True:
            try:
                await self.flush_activity()  # first: a campaign starting now counts who just wrote
                await self.dispatcher.tick()
            except Exception:
                log.exception("campaign tick failed")
            await asyncio.sleep(TICK)

    # the turn pipeline's hooks
    async def intercept(self, event: Event, locale: str) -> list[Reply] | None:
        """Replies to STOP / START (possibly none: confirmed once), or None to let the dialog answer."""
        return await optout.handle(self.store, event, locale)

    async def after_turn(self, event: Event, write: TurnWrite) -> None:
        """The pipeline's turn listener: statuses feed campaign reports, messages the contact's activity.

        Never raises: a listener failure must not fail the turn, already committed.
        """
        try:
            if event.kind == "status":
                await self.on_status(event)
            elif event.kind in ("message", "postback"):
                await self.active(event)
        except Exception:
            log.exception("campaign bookkeeping of event=%s failed", event.id)

    async def active(self, event: Event) -> None:
        """Note that a contact wrote (segments filter on activity); recorded by the next `flush_activity`.

        An address is noted at most once an hour per process, and the notes of a tick are looked up
        together (one read for all, not one per message: a live sale brings thousands of new buyers, few of
        them imported contacts). A buyer imported after writing shows as active up to an hour later
        (segments count in days).
        """
        key = (event.vendor_id, event.contact.address)
        checked = self._activity_checked.get(key)
        if checked is not None and event.received_at - checked <= ACTIVE_EVERY:
            return
        self._activity_due.setdefault(event.vendor_id, {})[event.contact.address] = event.received_at
        self._activity_checked[key] = event.received_at
        self._activity_checked.move_to_end(key)
        if len(self._activity_checked) > ACTIVITY_REMEMBERED:
            self._activity_checked.popitem(last=False)

    async def flush_activity(self) -> None:
        """Record the activity noted since the last call on the contacts it concerns."""
        due, self._activity_due = self._activity_due, {}
        for vendor_id, wrote in due.items():
            found = await self.store.find_contacts(vendor_id, list(wrote))
            moved: dict[str, CampaignContact] = {}
            for address, contact in found.items():
                at = wrote[address]
                if contact.id in moved:  # one contact who wrote from two of its addresses: the later
                    at = max(at, moved[contact.id].last_active_at or 0)
                if at - (contact.last_active_at or 0) > ACTIVE_EVERY:
                    moved[contact.id] = contact.model_copy(update={"last_active_at": at})
                elif contact.last_active_at:  # recorded recently (maybe by another process)
                    self._activity_checked[(vendor_id, address)] = contact.last_active_at
            if moved:
                await self.store.save_contacts(list(moved.values()))

    async def on_status(self, event: Event) -> None:
        """A provider's status for one of our campaign messages moves its recipient forward."""
        outbox_id = str(event.data.get("outbox_id") or "")
        if not outbox_id.startswith(PREFIX) or event.status not in RECIPIENT_REPLACES:
            return
        recipient = await self.store.get_recipient(outbox_id.removeprefix(PREFIX))
        if recipient is not None:
            await self.store.mark_recipient(recipient, event.status, error=event.error_code,
                                            only_from=RECIPIENT_REPLACES[event.status])


async def create(store: CampaignStore, vendor_id: str, body: dict[str, Any], at: float) -> Campaign:
    """A draft campaign from a request (untrusted), checked against the vendor's templates and segments."""
    names = body.get("templates") or ([body["template"]] if body.get("template") else [])
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names) or len(names) > 5:
        raise CampaignError("invalid_template", "give template (a name) or templates (2 to 5 A/B variants)", 400)
    for name in names:
        if await store.get_template(vendor_id, name) is None:
            raise CampaignError("unknown_template", f"no template {name[:64]!r} for this vendor", 404)
    tag, segment = body.get("tag"), body.get("segment")
    if (tag is None) == (segment is None) or not isinstance(tag or segment, str):
        raise CampaignError("invalid_audience", "give exactly one of tag or segment", 400)
    if segment is not None and await store.get_segment(vendor_id, segment) is None:
        raise CampaignError("unknown_segment", f"no segment {segment[:64]!r} for this vendor", 404)
    rate = body.get("rate", 10)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.01 <= rate <= 1000:
        raise CampaignError("invalid_rate", "rate is messages per second, between 0.01 and 1000", 400)
    channel = body.get("channel", "whatsapp")
    if channel not in ("whatsapp", "sms", "telegram", "email"):
        raise CampaignError("invalid_channel", "channel is whatsapp, sms, telegram or email", 400)
    when = body.get("at")
    if when is not None and (isinstance(when, bool) or not isinstance(when, int | float)):
        raise CampaignError("invalid_time", "at is a Unix time in seconds", 400)
    key = body.get("id")
    if key is not None and (not isinstance(key, str) or not key.isascii() or not 1 <= len(key) <= 64
                            or not key.replace("-", "").replace("_", "").isalnum()):
        raise CampaignError("invalid_id", "id: 1 to 64 letters, digits, - or _", 400)
    campaign = Campaign(id=key or uuid.uuid4().hex[:16], vendor_id=vendor_id, name=str(body.get("name") or "")[:120]
                        or None, templates=names, channel=channel, tag=tag, segment=segment, rate=float(rate),
                        at=float(when) if when is not None else None, audience=Audience(), created_at=at)
    if not await store.create_campaign(campaign):
        existing = await store.get_campaign(campaign.id)
        if existing is None or existing.vendor_id != vendor_id:
            raise CampaignError("id_taken", "a campaign with this id exists")
        return existing  # a retried create: the same campaign, not a second one
    return campaign


async def command(store: CampaignStore, campaign: Campaign, action: str, at: float, when: float | None = None,
                  timezone: str = "UTC") -> Campaign:
    """schedule / start / pause / resume / cancel, refused with a clear reason from a state that does not allow it."""
    allowed = FROM[action]
    if campaign.status not in allowed:
        raise CampaignError("invalid_state", f"cannot {action} a campaign that is {campaign.status}")
    changes: dict[str, Any] = {}
    if action in ("start", "schedule"):
        settings = await store.get_settings(campaign.vendor_id)
        try:
            await limits.check_quota(store, settings, await _audience_size(store, campaign, at), at)
        except limits.QuotaExceeded as exc:
            raise CampaignError("quota_exceeded", str(exc), 402) from None
    if action == "schedule":
        moment = when if when is not None else campaign.at
        if moment is None:
            raise CampaignError("invalid_time", "schedule needs at (a Unix time)", 400)
        changes = {"status": "scheduled", "at": moment}
    elif action in ("start", "resume"):
        changes = {"status": "running", "error": None}
        if action == "start":
            changes["started_at"] = at
    elif action == "pause":
        changes = {"status": "paused"}
    else:
        changes = {"status": "cancelled", "finished_at": at}
    new = await store.transition(campaign, allowed, **changes)
    if new is None:
        raise CampaignError("conflict", "the campaign changed meanwhile: read it again")
    return new


async def _audience_size(store: CampaignStore, campaign: Campaign, at: float) -> int:
    audience = await audience_of(store, campaign)
    return await count(store, campaign.vendor_id, audience, at) if audience is not None else 0


async def report(store: CampaignStore, campaign: Campaign) -> dict[str, Any]:
    """Counters of a campaign, overall and per A/B variant."""
    counts = await store.recipient_counts(campaign.id)
    variants: dict[str, dict[str, int]] = {}
    if len(campaign.templates) > 1:
        after = ""
        while True:
            page = await store.recipients(campaign.id, after=after, limit=5000)
            for r in page:
                per = variants.setdefault(r.variant or campaign.templates[0], {})
                per[r.status] = per.get(r.status, 0) + 1
            if len(page) < 5000:
                break
            after = page[-1].id
    return {"campaign": public(campaign), "counts": counts,
            "variants": {name: {**rates(per), "counts": per} for name, per in variants.items()}}


def rates(per: dict[str, int]) -> dict[str, float]:
    """Delivery and read rates of a variant: shares of the messages that went out."""
    out = sum(per.get(s, 0) for s in ("queued", "sent", "delivered", "read", "failed"))
    delivered = per.get("delivered", 0) + per.get("read", 0)
    return {"delivery_rate": round(delivered / out, 4) if out else 0.0,
            "read_rate": round(per.get("read", 0) / out, 4) if out else 0.0}


async def report_csv(store: CampaignStore, campaign: Campaign) -> str:
    """One line per recipient: masked address, variant, status, error — for the vendor's spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["contact_id", "name", "variant", "status", "error"])
    after = ""
    while True:
        page = await store.recipients(campaign.id, after=after, limit=5000)
        contacts = await store.contacts_of(campaign.vendor_id, [r.contact_id for r in page])
        for r in page:
            name = contacts[r.contact_id].name if r.contact_id in contacts else None
            writer.writerow([r.contact_id, _cell(name or ""), r.variant or "", r.status, r.error or ""])
        if len(page) < 5000:
            return out.getvalue()
        after = page[-1].id


def _cell(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def public(campaign: Campaign) -> dict[str, Any]:
    return campaign.model_dump(mode="json", exclude={"version", "audience"})
