"""The turn pipeline: durable inbox, per-conversation ordering, one dialog step, one write per turn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from bot.commerce import Services
from bot.delivery import Delivery
from bot.delivery_policy import is_phone
from bot.metrics import Metrics
from bot.payments import PaymentProvider
from bot.vendors import Vendor
from channels import Contact, Event, Reply
from channels.base import mask_address
from channels.twilio import render_text as render_sms
from channels.twilio import segments as sms_segments
from dialogs import Turn
from storage import Conversation, Message, OutboxEntry, Store, Timer, TurnWrite
from storage.coordination import Coordinator

log = logging.getLogger("palabre.pipeline")

# Where buttons cannot be shown, replies list numbered choices and the buyer answers with the number:
# channels without buttons, and WhatsApp through providers that send plain text only.
NUMBERED_CHANNELS = frozenset({"sms", "email"})
NUMBERED_PROVIDERS = frozenset({"wasender", "twilio"})
# Reactions are acknowledged silently: answering a 👍 with "I did not understand" would annoy.
SILENT_UNSUPPORTED = frozenset({"reaction"})
APOLOGY = {
    "fr": "Désolé, un souci technique m'empêche de répondre. Réessayez dans un instant 🙏",
    "en": "Sorry, a technical problem stops me from answering. Please try again in a moment 🙏",
}


class Pipeline:
    """Takes events from the adapters to replies in the outbox.

    Contract: `ingest` returns only once the events are durable, so a caller may acknowledge
    the provider afterwards. Events of one conversation are processed one at a time, in the
    order they were ingested; with `distributed` set, a coordinator lock on the conversation is
    taken before its state is loaded, so processes sharing a store never interleave one buyer.
    Each event is processed at most once (its id is checked under that lock), and all of a
    turn's writes land together in `Store.commit_turn`.
    """

    def __init__(
        self,
        store: Store,
        coordinator: Coordinator,
        vendors: dict[str, Vendor],
        psp: PaymentProvider,
        delivery: Delivery,
        metrics: Metrics,
        *,
        distributed: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.coordinator = coordinator
        self.vendors = vendors
        self.psp = psp
        self.delivery = delivery
        self.metrics = metrics
        self.distributed = distributed
        self.clock = clock
        self._queues: dict[str, deque[Event]] = {}
        self._waiters: dict[str, asyncio.Future[list[Reply]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # intake
    async def ingest(self, events: Iterable[Event]) -> list[bool]:
        """Persist events (durably) and queue the new ones; True for each event not seen before."""
        events = list(events)
        fresh = await self.store.add_events(events)
        self.metrics.inc("palabre_events_received_total", len(events))
        for event, is_new in zip(events, fresh, strict=True):
            if is_new:
                self._enqueue(event)
            else:
                self.metrics.inc("palabre_events_duplicate_total")
        return fresh

    async def ingest_and_wait(self, event: Event, timeout: float = 30.0) -> list[Reply]:
        """Ingest one event and return the replies its turn produced (a retry gets the same ones)."""
        loop = asyncio.get_running_loop()
        waiter = self._waiters.setdefault(event.id, loop.create_future())
        try:
            (fresh,) = await self.ingest([event])
            if not fresh and not self._pending(event) and await self.store.is_processed(event.id):
                return await self.replies_for(event)
            return await asyncio.wait_for(asyncio.shield(waiter), timeout)
        finally:
            if self._waiters.get(event.id) is waiter and waiter.done():
                del self._waiters[event.id]

    def _pending(self, event: Event) -> bool:
        q = self._queues.get(event.conversation_key)
        return q is not None and any(e.id == event.id for e in q)

    async def replies_for(self, event: Event) -> list[Reply]:
        msgs = await self.store.transcript(event.conversation_key)
        return [m.reply for m in msgs if m.direction == "out" and m.event_id == event.id and m.reply]

    def _enqueue(self, event: Event) -> None:
        key = event.conversation_key
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            task = asyncio.create_task(self._drain(key, queue))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        queue.append(event)

    async def _drain(self, key: str, queue: deque[Event]) -> None:
        try:
            while queue:
                await self._process_safely(queue.popleft())
        finally:
            self._queues.pop(key, None)

    async def recover(self) -> int:
        """Queue every persisted event that has no committed turn (after a crash or restart)."""
        events = await self.store.unprocessed_events(limit=100_000)
        for event in events:
            if not self._pending(event):
                self._enqueue(event)
        return len(events)

    async def idle(self, timeout: float = 30.0) -> None:
        """Wait until every queued event has been processed (for shutdown and tests)."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - time.monotonic()))

    # processing
    async def _process_safely(self, event: Event) -> None:
        waiter = self._waiters.get(event.id)
        started = time.perf_counter()
        try:
            replies = await self._process(event)
        except Exception as exc:
            log.exception("turn failed vendor=%s conv=%s event=%s", event.vendor_id,
                          mask_address(event.contact.address), event.id)
            self.metrics.inc("palabre_turn_errors_total")
            replies = await self._apologise(event)
            if replies is None and waiter and not waiter.done():
                waiter.set_exception(exc)
                return
        self.metrics.observe("palabre_turn_seconds", time.perf_counter() - started)
        if waiter and not waiter.done():
            waiter.set_result(replies or [])

    async def _apologise(self, event: Event) -> list[Reply] | None:
        """Answer a turn that failed, so no buyer message goes unanswered; None if even that fails."""
        if event.kind in ("status", "system"):
            return []
        try:
            vendor = self.vendors.get(event.vendor_id)
            reply = Reply(text=APOLOGY.get(vendor.config.locale if vendor else "fr", APOLOGY["fr"]))
            conv = await self.store.get_conversation(event.conversation_key) or self._new_conversation(event)
            write = TurnWrite(event_id=event.id)
            self._add_outbound(write, conv, event, [reply])
            await self.store.commit_turn(write)
            self.delivery.submit(write.outbox)
            return [reply]
        except Exception:
            log.exception("could not record the apology for event=%s", event.id)
            return None

    async def _process(self, event: Event) -> list[Reply]:
        key = event.conversation_key
        lock = self.coordinator.lock(key) if self.distributed else contextlib.nullcontext()
        async with lock:
            if await self.store.is_processed(event.id):
                return await self.replies_for(event)
            write = await self._turn(event)
            await self.store.commit_turn(write)
        self.delivery.submit(write.outbox)
        self.metrics.inc("palabre_turns_total")
        return [m.reply for m in write.messages if m.direction == "out" and m.reply
                and m.conversation_id == key]

    def _new_conversation(self, event: Event) -> Conversation:
        vendor = self.vendors.get(event.vendor_id)
        return Conversation(
            id=event.conversation_key, vendor_id=event.vendor_id, channel=event.channel,
            provider=event.provider, contact=event.contact,
            dialog=vendor.config.segment if vendor else "live_seller",
            locale=vendor.config.locale if vendor else "fr",
        )

    async def _turn(self, event: Event) -> TurnWrite:
        write = TurnWrite(event_id=event.id)
        vendor = self.vendors.get(event.vendor_id)
        if vendor is None:
            log.warning("event for unknown vendor=%s dropped event=%s", event.vendor_id, event.id)
            return write
        if event.kind == "status":
            if event.provider_message_id:
                await self.store.update_message_status(event.provider_message_id, event.status or "sent",
                                                       event.error_code)
            return write
        conv = await self.store.get_conversation(event.conversation_key) or self._new_conversation(event)
        now = self.clock()
        if event.kind != "system":
            write.messages.append(Message(
                id=f"{event.id}:in", conversation_id=conv.id, direction="in", text=event.text,
                payload=event.payload, event_id=event.id, provider_message_id=event.provider_message_id,
                status="received", created_at=event.received_at,
            ))
        if event.kind != "system":
            conv.last_inbound_at = event.received_at
            if event.contact.name and event.contact != conv.contact:
                conv.contact = event.contact
        event = self._numbered_choice(conv, event)
        if conv.handoff or event.data.get("unsupported") in SILENT_UNSUPPORTED:
            write.conversation = conv
            return write
        if event.kind == "system":
            parse: dict[str, Any] = {"intent": {"name": event.payload, "confidence": 1.0}, "entities": []}
            trigger = event.payload or ""
        else:
            parse = await vendor.rasa.parse(event.text, event.payload) if vendor.rasa else \
                vendor.nlu.parse(event.text, event.payload)
            trigger = parse["intent"]["name"]
        turn = Turn(
            state=conv.state, slots=dict(conv.slots), event=event, parse=parse,
            services=Services(self.store, vendor, self.psp, conv.id, now),
        )
        await vendor.dialog.step(turn, trigger, is_button=event.kind == "postback")
        conv.state, conv.slots = turn.state, turn.slots
        conv.updated_at, conv.version = now, conv.version + 1
        write.conversation = conv
        variables = self._variables(vendor, conv, event, turn)
        replies = [vendor.messages.render(key, conv.locale, variables) for key in turn.says]
        if conv.channel == "sms":
            # What each SMS will cost, recorded with the reply in the transcript.
            for reply in replies:
                reply.data["sms_segments"] = sms_segments(render_sms(reply))
        if conv.channel in NUMBERED_CHANNELS or conv.provider in NUMBERED_PROVIDERS:
            offered = [r for r in replies if r.buttons or r.list_sections]
            if offered:
                last = offered[-1]
                conv.slots["_choices"] = [b.id for b in last.buttons] + [
                    row.id for section in last.list_sections for row in section.rows
                ]
            else:
                conv.slots.pop("_choices", None)
        # A reply to the buyer's own message goes back where it came from; only system turns
        # (payment, reminder, expiry) look for the channel the buyer last wrote on.
        reply_conv = await self._notification_target(conv, replies) if event.kind == "system" else conv
        # Threading context an adapter needs on its replies (email In-Reply-To, subject), kept for
        # the replies a timer sends later in the same conversation.
        thread = event.data.get("reply_data") or reply_conv.slots.get("_thread")
        if event.data.get("reply_data"):
            conv.slots["_thread"] = event.data["reply_data"]
        if thread:
            for reply in replies:
                reply.data.update({k: v for k, v in thread.items() if v})
        if event.data.get("ack_id"):
            # A pressed button is acknowledged with the first reply (Telegram's answerCallbackQuery).
            first = replies[0] if replies else Reply()
            first.data["ack_id"] = event.data["ack_id"]
            replies = [first, *replies[1:]]
        self._add_outbound(write, reply_conv, event, replies)
        for n in turn.notifications:
            note = vendor.messages.render(n.key, vendor.config.locale, {**variables, **n.variables})
            target = Contact(address=n.address)
            notify_conv = Conversation(
                id=f"{vendor.id}:{n.channel}:{n.address}", vendor_id=vendor.id, channel=n.channel,
                provider=vendor.config.notify.provider if vendor.config.notify else "simulator", contact=target,
            )
            self._add_outbound(write, notify_conv, event, [note], tag="notify")
        for t in turn.timers:
            write.timers.append(Timer(
                id=t.id, due_at=t.due_at, conversation_id=conv.id,
                event=Event(
                    id=f"timer:{t.id}", kind="system", channel=event.channel, provider=conv.provider,  # type: ignore[arg-type]
                    vendor_id=vendor.id, contact=conv.contact, payload=t.trigger, data=t.data,
                ),
            ))
        write.cancel_timers.extend(turn.cancelled_timers)
        return write

    async def _notification_target(self, conv: Conversation, replies: list[Reply]) -> Conversation:
        """The buyer's conversation for a system turn's replies: of those linked by their phone number,
        the one they last wrote in that has a sender here; `conv` when it is that one.

        Replies offering choices stay in `conv`: the dialog state lives there, so an answer given on
        another channel would not be understood.
        """
        if not replies or not is_phone(conv.contact.address):
            return conv
        if any(r.buttons or r.list_sections for r in replies):
            return conv
        for linked in await self.store.conversations_with(conv.vendor_id, conv.contact.address):
            if linked.id == conv.id:
                return conv
            if self.delivery.can_send(linked.provider, linked.vendor_id):
                return linked
        return conv

    @staticmethod
    def _numbered_choice(conv: Conversation, event: Event) -> Event:
        """On a channel without buttons, "2" means the second choice of the last reply."""
        choices = conv.slots.get("_choices")
        text = (event.text or "").strip()
        if event.kind == "message" and choices and text.isdigit() and 1 <= int(text) <= len(choices):
            return event.model_copy(update={"kind": "postback", "payload": choices[int(text) - 1]})
        return event

    def _variables(self, vendor: Vendor, conv: Conversation, event: Event, turn: Turn) -> dict[str, Any]:
        cfg = vendor.config
        return {
            "vendor_name": cfg.name,
            "example_code": cfg.catalogue[0].code,
            "currency": cfg.currency,
            "name": conv.contact.name,
            "text": event.text or event.payload or "",
            "order": None,
            **turn.variables,
        }

    @staticmethod
    def _add_outbound(write: TurnWrite, conv: Conversation, event: Event, replies: list[Reply],
                      tag: str = "out") -> None:
        for i, reply in enumerate(replies):
            msg_id = f"{event.id}:{tag}:{i}"
            write.messages.append(Message(
                id=msg_id, conversation_id=conv.id, direction="out", text=reply.text, reply=reply,
                event_id=event.id, status="queued",
            ))
            write.outbox.append(OutboxEntry(
                id=msg_id, message_id=msg_id, conversation_id=conv.id, vendor_id=conv.vendor_id,
                channel=conv.channel, provider=conv.provider, recipient=conv.contact.address, reply=reply,
            ))
