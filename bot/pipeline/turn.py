"""One turn: load the conversation, run the dialog, render the replies, and gather one write."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.buyers import plain_channel, plain_reply
from bot.commerce import Services
from bot.delivery.outbox import Delivery
from bot.delivery.policy import is_phone
from bot.payments import PaymentProvider
from bot.pipeline import understand
from bot.vendors import Vendor
from channels import Contact, Event, Reply
from channels.twilio import render_text as render_sms
from channels.twilio import segments as sms_segments
from dialogs import Turn, choices
from dialogs.turn import HANDOFF_REASON_SLOT, HANDOFF_SLOT
from storage import Conversation, Message, OutboxEntry, Store, Timer, TurnWrite

log = logging.getLogger("palabre.pipeline")

# Where buttons cannot be shown, replies list numbered choices and the buyer answers with the number:
# channels without buttons, and WhatsApp through providers that send plain text only.
NUMBERED_CHANNELS = frozenset({"sms", "email"})
NUMBERED_PROVIDERS = frozenset({"wasender", "twilio"})
# Reactions are acknowledged silently: answering a 👍 with "I did not understand" would annoy.
SILENT_UNSUPPORTED = frozenset({"reaction"})
# Where a reply's file (a quote PDF) is sent as a document; elsewhere the wording carries its link
# (SMS would become a paid MMS, Telegram's adapter sends text only, e-mail lists links).
DOCUMENT_CHANNELS = frozenset({"whatsapp", "web"})


class TurnBuilder:
    """Builds the write of one event's turn; writes nothing itself (the pipeline commits it)."""

    def __init__(
        self,
        store: Store,
        vendors: dict[str, Vendor],
        psp: PaymentProvider,
        delivery: Delivery,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.vendors = vendors
        self.psp = psp
        self.delivery = delivery
        self.clock = clock
        self.base_url = ""  # set by the runtime from its settings: links to documents
        # Set by the runtime: STOP / START handled by the campaigns (replies, or None for the dialog).
        self.consent: Callable[[Event, str], Awaitable[list[Reply] | None]] | None = None
        # Set by bot/live: the vendor's desk, which answers every event from a vendor's own number.
        self.vendor_desk: Any = None

    def new_conversation(self, event: Event) -> Conversation:
        vendor = self.vendors.get(event.vendor_id)
        return Conversation(
            id=event.conversation_key, vendor_id=event.vendor_id, channel=event.channel,
            provider=event.provider, contact=event.contact,
            dialog=vendor.config.segment if vendor else "live_seller",
            locale=vendor.config.locale if vendor else "fr",
        )

    async def build(self, event: Event) -> TurnWrite:
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
        conv = await self.store.get_conversation(event.conversation_key) or self.new_conversation(event)
        if event.id in conv.recent_events:
            write.already_taken = True
            write.conversation_id = conv.id
            return write
        # Optimistic concurrency: the commit is refused if another turn moved the conversation meanwhile.
        write.expected_version = conv.version
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
        if self.vendor_desk is not None and self.vendor_desk.is_vendor(vendor, event):
            answer = await self.vendor_desk.handle(vendor, event, now)  # a command, never a buyer turn
            conv.updated_at, conv.version = now, conv.version + 1
            write.conversation = conv
            add_outbound(write, conv, event, answer.replies)
            write.timers.extend(answer.timers)
            return write
        consent = await self.consent(event, conv.locale) if self.consent is not None else None
        if consent is not None:  # an opt-out or opt-in, honoured even during a handoff; the dialog stays put
            write.conversation = conv
            add_outbound(write, conv, event, consent, tag="consent")
            return write
        numbered = conv.channel in NUMBERED_CHANNELS or conv.provider in NUMBERED_PROVIDERS
        event = choices.as_tap(conv.slots, event, numbered=numbered)  # "devis", or "2" on SMS, taps that button
        # While a human owns the conversation the bot answers no buyer message, but system turns
        # (payment confirmed, reminder, expiry) still run: the order must not be left behind.
        if (conv.handoff and event.kind != "system") or \
                event.data.get("unsupported") in SILENT_UNSUPPORTED:
            write.conversation = conv
            return write
        if event.kind == "system":
            parse: dict[str, Any] = {"intent": {"name": event.payload, "confidence": 1.0}, "entities": []}
            trigger = event.payload or ""
        else:
            parse = await vendor.rasa.parse(event.text, event.payload) if vendor.rasa else \
                understand.parse(vendor.nlu, event.text, event.payload)
            trigger = parse["intent"]["name"]
            conv.locale = understand.reply_locale(vendor.config.locale, vendor.config.languages, conv.locale,
                                                  event.text)
        turn = Turn(
            state=conv.state, slots=dict(conv.slots), event=event, parse=parse,
            services=Services(self.store, vendor, self.psp, conv.id, now, base_url=self.base_url,
                              live=self.vendor_desk),
        )
        await vendor.dialog.step(turn, trigger, is_button=event.kind == "postback")
        conv.state, conv.slots = turn.state, turn.slots
        if conv.slots.get(HANDOFF_SLOT):
            conv.handoff = True  # the dialog handed over: the bot stays silent until an agent releases it
            if trigger == "complaint":  # one action serves both intents; a complaint opens a ticket
                conv.slots[HANDOFF_REASON_SLOT] = "complaint"
        conv.updated_at, conv.version = now, conv.version + 1
        write.conversation = conv
        variables = self._variables(vendor, conv, event, turn)
        replies = [vendor.messages.render(key, conv.locale, variables) for key in turn.says]
        if plain_channel(vendor.settings, conv.channel):  # SMS, or a channel the vendor marked slow
            replies = [plain_reply(r) for r in replies]
        if conv.channel in DOCUMENT_CHANNELS:
            for i, reply in enumerate(replies):
                attachment = turn.attachments.get(i)
                if attachment is not None:
                    reply.media_url = attachment.url
                    reply.data.update(media_type=attachment.media_type, filename=attachment.filename)
        if conv.channel == "sms":
            # What each SMS will cost, recorded with the reply in the transcript.
            for reply in replies:
                reply.data["sms_segments"] = sms_segments(render_sms(reply))
        choices.remember(conv.slots, replies)
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
        add_outbound(write, reply_conv, event, replies)
        for n in turn.notifications:
            note = vendor.messages.render(n.key, vendor.config.locale, {**variables, **n.variables})
            if self.vendor_desk is not None:
                note = self.vendor_desk.extend_note(vendor, n.variables, note)  # live totals, low stock
            target = Contact(address=n.address)
            notify_conv = Conversation(
                id=f"{vendor.id}:{n.channel}:{n.address}", vendor_id=vendor.id, channel=n.channel,
                provider=vendor.config.notify.provider if vendor.config.notify else "simulator", contact=target,
            )
            add_outbound(write, notify_conv, event, [note], tag="notify")
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



def add_outbound(write: TurnWrite, conv: Conversation, event: Event, replies: list[Reply], tag: str = "out") -> None:
    """Add replies to `write` as transcript messages and outbox entries, with ids derived from the event
    and `tag`: a turn replayed after a crash writes the same records, not new ones."""
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
