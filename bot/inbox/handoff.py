"""The bot's side of the inbox: handoffs open threads, buyers' messages reach agents, the survey, alerts.

Contract with the pipeline: a turn that hands over commits the conversation with `handoff` set, then
calls `after_turn`; while `handoff` is set the pipeline stores the buyer's messages without answering
and `after_turn` shows them to the agents.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from bot.inbox import texts
from bot.inbox.config import known_zone
from bot.inbox.core import InboxCore
from channels import Contact, Event
from channels.base import mask_address
from dialogs.turn import HANDOFF_REASON_SLOT
from storage import Conversation, Message, TurnWrite
from storage.inbox import InboxConflict, LastMessage, Thread, ThreadFilter

log = logging.getLogger("palabre.inbox")


class HandoffSide(InboxCore):
    """Follows the pipeline's turns and sweeps for buyers left waiting."""

    _sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await super().start()
        if self.settings.hours is not None:
            for vendor in self.rt.vendors.values():
                if not known_zone(vendor.config.timezone):
                    log.warning("vendor=%s: time zone %r is unknown here (install tzdata); business hours are "
                                "read in UTC", vendor.id, vendor.config.timezone)
        if self.settings.wait_alert_seconds is not None:
            self._sweeper = asyncio.create_task(self._sweep_every(self.settings.sweep_seconds))

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await super().stop()

    async def _sweep_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.alert_waiting()
            except Exception:
                log.exception("inbox: the waiting-buyer sweep failed")

    async def after_turn(self, event: Event, write: TurnWrite) -> None:
        """Called by the pipeline after each committed turn; never raises (the turn is already done)."""
        try:
            await self._after_turn(event, write)
        except Exception:
            log.exception("inbox could not follow the turn of event=%s vendor=%s", event.id, event.vendor_id)

    async def _after_turn(self, event: Event, write: TurnWrite) -> None:
        conv = write.conversation
        if conv is None or not conv.handoff:
            return
        inbound = next((m for m in write.messages if m.direction == "in" and m.conversation_id == conv.id), None)
        thread = await self.store.get_thread(conv.id)
        if thread is not None and thread.csat_pending:
            if inbound is not None:
                await self._survey_answer(conv, thread, inbound, event)
            return
        if thread is None or thread.status == "resolved":
            await self.handoff_started(conv, inbound)
        elif inbound is not None:
            await self.buyer_message(thread, inbound)
        elif any(m.direction == "out" and m.conversation_id == conv.id for m in write.messages):
            await self._publish("message", thread)  # the bot spoke on its own (a payment confirmed)

    async def handoff_started(self, conv: Conversation, inbound: Message | None) -> Thread:
        """Open (or reopen) the conversation's thread in the inbox and tell the agents."""
        reason = str(conv.slots.get(HANDOFF_REASON_SLOT) or "human")
        at = self.now()
        old = await self.store.get_thread(conv.id)
        thread = Thread(
            id=conv.id, vendor_id=conv.vendor_id, channel=conv.channel, provider=conv.provider, contact=conv.contact,
            reason=reason, category=texts.complaint_category(inbound.text if inbound else None)
            if reason == "complaint" else None,
            opened_at=at, waiting_since=at, labels=old.labels if old else [],
            last_message=LastMessage(text=inbound.text or inbound.payload, direction="in", at=at) if inbound else None,
        )
        with contextlib.suppress(InboxConflict):  # a replayed turn: the thread is already open
            thread = await self.store.save_thread(thread, old.version if old else 0)
            await self._audit("bot", "handoff", thread, reason=reason, category=thread.category)
            log.info("handoff vendor=%s channel=%s reason=%s", conv.vendor_id, conv.channel, reason)
            await self._publish("handoff", thread)
            await self._tell_if_closed(conv)
        return thread

    async def _tell_if_closed(self, conv: Conversation) -> None:
        """Outside the agents' business hours, the buyer learns when someone will answer."""
        hours = self.settings.hours
        vendor = self.rt.vendors.get(conv.vendor_id)
        if hours is None or vendor is None or hours.open_at(self.now(), vendor.config.timezone):
            return
        write = TurnWrite(event_id=f"inbox:{uuid.uuid4().hex}")
        self._outbound(write, conv, texts.out_of_hours(conv.locale, hours.describe(conv.locale)), "closed")
        await self.rt.store.commit_turn(write)
        self.rt.delivery.submit(write.outbox)

    async def alert_waiting(self) -> int:
        """Tell each vendor's team (their `notify` address) about buyers left waiting too long; how many.

        The thread is marked before the alert is written, with a conditional write, so processes
        sweeping at the same time alert once.
        """
        limit = self.settings.wait_alert_seconds
        if limit is None:
            return 0
        at, sent = self.now(), 0
        for thread in await self.store.list_threads(ThreadFilter(statuses=["open", "assigned"])):
            vendor = self.rt.vendors.get(thread.vendor_id)
            if thread.alerted or thread.waiting_since is None or at - thread.waiting_since < limit or \
                    vendor is None or vendor.config.notify is None:
                continue
            if self.settings.hours and not self.settings.hours.open_at(at, vendor.config.timezone):
                continue  # nobody to alert out of hours; the out-of-hours message told the buyer
            try:
                thread = await self.store.save_thread(thread.model_copy(update={"alerted": True}), thread.version)
            except InboxConflict:
                continue
            notify = vendor.config.notify
            team = Conversation(id=f"{vendor.id}:{notify.channel}:{notify.address}", vendor_id=vendor.id,
                                channel=notify.channel, provider=notify.provider,
                                contact=Contact(address=notify.address))
            who = thread.contact.name or mask_address(thread.contact.address)
            alert = texts.waiting_alert(vendor.config.locale, who, int((at - thread.waiting_since) // 60),
                                        thread.channel, f"{self.rt.settings.base_url}/inbox")
            write = TurnWrite(event_id=f"inbox:{uuid.uuid4().hex}")
            self._outbound(write, team, alert, "alert")
            await self.rt.store.commit_turn(write)
            self.rt.delivery.submit(write.outbox)
            await self._audit("bot", "waiting_alert", thread)
            await self._publish("alert", thread)
            sent += 1
        return sent

    async def buyer_message(self, thread: Thread, message: Message) -> None:
        """A message the buyer sent while a human owns the conversation: shown to the agents."""
        def change(t: Thread) -> None:
            at = message.created_at or self.now()
            t.last_message = LastMessage(text=message.text or message.payload, direction="in", at=at)
            if t.waiting_since is None:
                t.waiting_since, t.alerted = at, False
            if t.status == "snoozed":  # a buyer's message always ends a snooze
                t.status, t.snoozed_until = ("assigned" if t.assignee else "open"), None

        thread = await self._change(thread.id, change)
        await self._publish("message", thread)

    async def _survey_answer(self, conv: Conversation, thread: Thread, inbound: Message, event: Event) -> None:
        score = texts.csat_score(inbound.text, inbound.payload or event.payload)

        def change(t: Thread) -> None:
            t.csat_pending = False
            t.csat_score = score

        thread = await self._change(thread.id, change)
        replies = [texts.csat_thanks(conv.locale)] if score is not None else []
        await self._give_back(conv.id, replies, "survey")
        await self._audit("buyer", "csat", thread, score=score)
        await self._publish("status", thread)
        if score is None and event.kind != "system":
            # Not an answer to the survey: a new question for the bot, which owns the conversation again.
            await self.rt.pipeline.ingest([event.model_copy(update={"id": f"{event.id}:after-survey"})])

