"""The broadcast dispatcher: turns a running campaign's recipients into outbox entries at the campaign's pace.

Exactly once per contact, across crashes: a recipient's outbox entry has a deterministic id (the
campaign and the contact), is written with `Store.commit_turn` (insert-if-absent) and only then is the
recipient marked queued. A restart finds each recipient either still pending (its entry written or
not: writing it again is a no-op, and an entry written before the crash is sent by the outbox sweep,
never submitted a second time here) or queued (the outbox owns it). Sending itself, with retries and
backoff on 429/5xx, is the outbox's job (`bot.delivery.outbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.campaigns import limits, templates
from bot.campaigns.audience import audience_of
from channels.base import mask_address
from storage import Message, OutboxEntry, Store, TurnWrite
from storage.campaigns import Campaign, CampaignContact, CampaignSettings, CampaignStore, CampaignTemplate, Recipient
from storage.coordination import Coordinator, HeldLock, InProcessCoordinator, LockTimeout

if TYPE_CHECKING:
    from bot.delivery.outbox import Delivery
    from bot.vendors import Vendor

log = logging.getLogger("palabre.campaigns")

BATCH = 100
MAX_SLEEP = 2.0  # the longest nap: pause and cancel are noticed within this
TICK = 0.2
LOCK_TTL = 30.0
PREFIX = "campaign:"


def entry_id(recipient: Recipient) -> str:
    """The outbox id of a recipient's message: its idempotency key, echoed in Meta's status webhooks."""
    return f"{PREFIX}{recipient.id}"


def provider_for(vendor: Vendor, channel: str) -> str | None:
    """Which of the vendor's providers carries a channel: WhatsApp through Meta first, else Wasender or Twilio."""
    channels = vendor.config.channels
    choices = {"whatsapp": ("meta", "wasender", "twilio"), "sms": ("twilio",), "telegram": ("telegram",),
               "email": ("email",)}.get(channel, ())
    return next((p for p in choices if channels.get(p) is not None), None)


def address_for(contact: CampaignContact, channel: str) -> str | None:
    return {"telegram": contact.telegram, "email": contact.email}.get(channel, contact.phone)


class Dispatcher:
    """Drives every running campaign of this process's vendors; `tick` is called periodically."""

    def __init__(self, campaigns: CampaignStore, store: Store, delivery: Delivery, vendors: dict[str, Vendor], *,
                 coordinator: Coordinator | None = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.campaigns = campaigns
        self.store = store
        self.delivery = delivery
        self.coordinator = coordinator or InProcessCoordinator()
        self.vendors = vendors
        self.clock = clock
        self.sleep = sleep
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def tick(self) -> None:
        """Start what is due: scheduled campaigns whose time came, running ones no task drives yet."""
        for campaign in await self.campaigns.campaigns():
            if campaign.vendor_id not in self.vendors:
                continue
            if campaign.status == "scheduled" and (campaign.at or 0) <= self.clock():
                campaign = await self.campaigns.transition(campaign, ["scheduled"], status="running",
                                                           started_at=self.clock()) or campaign
            if campaign.status == "running" and campaign.id not in self._tasks:
                task = asyncio.create_task(self._drive(campaign.id))
                self._tasks[campaign.id] = task
                task.add_done_callback(lambda _, cid=campaign.id: self._tasks.pop(cid, None))

    async def stop(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _current(self, campaign_id: str) -> Campaign | None:
        campaign = await self.campaigns.get_campaign(campaign_id)
        return campaign if campaign is not None and campaign.status == "running" else None

    async def _drive(self, campaign_id: str) -> None:
        try:
            # One process drives a campaign at a time; the others find the lock taken and leave it.
            async with self.coordinator.lock(f"campaign:{campaign_id}", ttl=LOCK_TTL, wait=0) as held:
                campaign = await self._current(campaign_id)
                if campaign is None:
                    return
                if not campaign.materialized:
                    campaign = await self.materialize(campaign)
                    if campaign is None:
                        return
                await self._send_all(campaign, held)
        except LockTimeout:
            await self.sleep(1.0)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("campaign=%s dispatch failed; it resumes at the next tick", campaign_id)
            await self.sleep(1.0)

    async def materialize(self, campaign: Campaign) -> Campaign | None:
        """Freeze the audience into the recipient list (idempotent: a restart adds only what is missing)."""
        audience = await audience_of(self.campaigns, campaign)
        if audience is None:
            return await self.campaigns.transition(campaign, ["running"], status="paused",
                                                   error=f"segment {campaign.segment!r} no longer exists")
        at, after, total = self.clock(), "", 0
        while True:
            page = await self.campaigns.contacts(campaign.vendor_id, after=after, limit=2000)
            chosen = [c for c in page if audience.matches(c, at)]
            variants = campaign.templates
            await self.campaigns.add_recipients([
                Recipient(campaign_id=campaign.id, contact_id=c.id, variant=variants[(total + i) % len(variants)])
                for i, c in enumerate(chosen)])
            total += len(chosen)
            if len(page) < 2000:
                break
            after = page[-1].id
        return await self.campaigns.transition(campaign, ["running"], materialized=True, total=total)

    async def _send_all(self, campaign: Campaign, held: HeldLock) -> None:
        vendor = self.vendors[campaign.vendor_id]
        provider = provider_for(vendor, campaign.channel)
        if provider is None:
            await self.campaigns.transition(campaign, ["running"], status="paused",
                                            error=f"vendor has no provider for {campaign.channel}")
            return
        cache: dict[str, CampaignTemplate | None] = {}
        interval = 1.0 / max(campaign.rate, 0.001)
        started, sent = self.clock(), 0
        outstanding: deque[tuple[str, str]] = deque()
        window = max(10, int(campaign.rate * 5))
        while True:
            current = await self._current(campaign.id)
            if current is None:
                return  # paused or cancelled: what is queued goes out, the rest waits
            settings = await self.campaigns.get_settings(campaign.vendor_id)  # changes apply within a batch
            batch = await self.campaigns.pending_recipients(campaign.id, BATCH)
            if not batch:
                await self._finish(current)
                return
            contacts = await self.campaigns.contacts_of(campaign.vendor_id, [r.contact_id for r in batch])
            for recipient in batch:
                wait = limits.wait_for_hours(settings, vendor.config.timezone, self.clock())
                if wait > 0:
                    await self.sleep(min(wait, MAX_SLEEP))
                    break  # re-read the campaign (a pause) before going on
                if not await self._backpressure(outstanding, window):
                    break
                due = started + sent * interval
                if due > self.clock():
                    await self.sleep(min(due - self.clock(), MAX_SLEEP))
                    if due > self.clock():
                        break
                if sent % max(1, int(campaign.rate)) == 0 and await self._current(campaign.id) is None:
                    return
                held.check()  # another process took the campaign over: it must not be driven twice
                outcome = await self._one(campaign, recipient, contacts.get(recipient.contact_id), provider, settings,
                                          vendor, cache)
                if outcome == "stop":
                    return
                if outcome is not None:
                    outstanding.append(outcome)
                    sent += 1

    async def _backpressure(self, outstanding: deque[tuple[str, str]], window: int) -> bool:
        """Hold new sends while `window` of ours wait at the provider (429s, outages): the outbox backs off,
        and the campaign slows down with it instead of piling up retries. False: re-check the campaign."""
        while outstanding:
            conv_id, msg_id = outstanding[0]
            status = next((m.status for m in await self.store.transcript(conv_id) if m.id == msg_id), "sent")
            if status != "queued":
                outstanding.popleft()
                continue
            if len(outstanding) < window:
                return True
            await self.sleep(TICK)
            return False
        return True

    async def _one(self, campaign: Campaign, recipient: Recipient, contact: CampaignContact | None, provider: str,
                   settings: CampaignSettings, vendor: Vendor,
                   cache: dict[str, CampaignTemplate | None]) -> tuple[str, str] | str | None:
        """Queue one recipient's message; (conversation, message) to watch, "stop", or None when skipped."""
        if contact is None or contact.consent == "opted_out":
            await self.campaigns.mark_recipient(recipient, "opted_out" if contact else "skipped",
                                                error=None if contact else "contact deleted", only_from=["pending"])
            return None
        address = address_for(contact, campaign.channel)
        name = recipient.variant or campaign.templates[0]
        if name not in cache:
            cache[name] = await self.campaigns.get_template(campaign.vendor_id, name)
        template = cache[name]
        reply = templates.render(template, contact, campaign.channel, provider) if template else None
        if address is None or reply is None:
            why = f"no {campaign.channel} address" if address is None else f"template {name!r} has nothing for " \
                                                                           f"{campaign.channel}"
            await self.campaigns.mark_recipient(recipient, "skipped", error=why, only_from=["pending"])
            return None
        key = entry_id(recipient)
        conv_id = f"{campaign.vendor_id}:{campaign.channel}:{address}"
        fresh = not await self.store.is_processed(key)
        if fresh:
            at = self.clock()
            if not await self.campaigns.take(limits.day_key(campaign.vendor_id, campaign.channel,
                                                            vendor.config.timezone, at),
                                             settings.daily_limit.get(campaign.channel)):
                return await self._pause(campaign.id, f"daily limit of {campaign.channel} reached: resume tomorrow")
            if not await self.campaigns.take(limits.month_key(settings, at), settings.plan.messages_per_month):
                return await self._pause(campaign.id, "the plan's monthly message quota is reached")
            reply.data["campaign_id"] = campaign.id
            message = Message(id=key, conversation_id=conv_id, direction="out", text=reply.text, reply=reply,
                              event_id=key, status="queued")
            # Times from the campaign, not the clock: an entry rebuilt by any process is the same version of
            # the same entry, so the outbox's delivery claim holds across processes.
            since = campaign.started_at or campaign.created_at
            entry = OutboxEntry(id=key, message_id=key, conversation_id=conv_id, vendor_id=campaign.vendor_id,
                                channel=campaign.channel, provider=provider, recipient=address, reply=reply,
                                next_attempt_at=since, created_at=since)
            await self.store.commit_turn(TurnWrite(event_id=key, messages=[message], outbox=[entry]))
        await self.campaigns.mark_recipient(recipient, "queued", only_from=["pending"])
        if fresh:
            # An entry written before a crash is the outbox sweep's to send: submitting it here could send twice.
            self.delivery.submit([entry])
        log.debug("campaign=%s queued contact=%s", campaign.id, mask_address(address))
        return conv_id, key

    async def _pause(self, campaign_id: str, why: str) -> str:
        current = await self._current(campaign_id)
        if current is not None:
            await self.campaigns.transition(current, ["running"], status="paused", error=why)
        log.warning("campaign=%s paused: %s", campaign_id, why)
        return "stop"

    async def _finish(self, campaign: Campaign) -> None:
        await self.campaigns.transition(campaign, ["running"], status="completed", finished_at=self.clock())
        log.info("campaign=%s vendor=%s completed", campaign.id, campaign.vendor_id)
