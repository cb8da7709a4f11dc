"""The vendor's desk: their own number's commands, live sessions, payment notes, end-of-live and daily summaries."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.buyers import plain_channel, plain_reply, stock_alert_at
from bot.commerce import derived_id
from bot.live.catalogue import CatalogueError, VendorCatalogue
from bot.live.commands import Command, CommandError, parse_command
from bot.live.summary import bought_before, in_window, summarise
from bot.pipeline.turn import add_outbound
from bot.vendors import Vendor
from channels import Contact, Event, Reply
from storage import Conversation, Order, Product, Store, Timer, TurnWrite
from storage.live import LiveSession, LiveStore
from templates import MessageCatalog, load_segment

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger("palabre.live")

DAILY = "daily_summary"  # the payload of the daily summary's timer event
DAY = 86_400.0
TEXTS = MessageCatalog(load_segment("vendor"), segment="vendor", owner="palabre")


@dataclass
class Answer:
    """What the desk answers a vendor's event with: replies on their conversation, timers to keep."""

    replies: list[Reply] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)


def vendor_conversation(vendor: Vendor) -> Conversation | None:
    """The conversation with the vendor's own number (the one payment notifications go to)."""
    notify = vendor.config.notify
    if notify is None:
        return None
    return Conversation(id=f"{vendor.id}:{notify.channel}:{notify.address}", vendor_id=vendor.id,
                        channel=notify.channel, provider=notify.provider, contact=Contact(address=notify.address),
                        locale=vendor.config.locale)


class VendorDesk:
    """One per process. The pipeline hands it every event from a vendor's `notify` address (they are
    commands, never buyer turns) and commerce asks it for the live totals of a payment notification."""

    def __init__(self, runtime: Runtime, live: LiveStore) -> None:
        self.rt = runtime
        self.live = live
        self.catalogue = VendorCatalogue(runtime.store, live, runtime.clock)
        self._scheduled: dict[str, tuple[int | None, str]] = {}  # vendor -> the daily hour scheduled here

    @property
    def store(self) -> Store:
        return self.rt.store

    # who and how
    @staticmethod
    def is_vendor(vendor: Vendor, event: Event) -> bool:
        notify = vendor.config.notify
        return notify is not None and event.kind in ("message", "postback", "system") and \
            event.contact.address == notify.address

    @staticmethod
    def render(vendor: Vendor, key: str, **variables: Any) -> Reply:
        cfg = vendor.config
        return TEXTS.render(key, cfg.locale, {"vendor_name": cfg.name, "currency": cfg.currency, **variables})

    @staticmethod
    def for_channel(vendor: Vendor, channel: str, replies: list[Reply]) -> list[Reply]:
        """The replies as the vendor's channel takes them: without emojis on SMS and the vendor's
        `adaptive.plain_channels`, as buyers' replies are."""
        return [plain_reply(r) for r in replies] if plain_channel(vendor.settings, channel) else replies

    async def handle(self, vendor: Vendor, event: Event, now: float) -> Answer:
        """Answer one event from the vendor's own number, in plain text where its channel wants it."""
        answer = await self._answer(vendor, event, now)
        answer.replies = self.for_channel(vendor, event.channel, answer.replies)
        return answer

    async def _answer(self, vendor: Vendor, event: Event, now: float) -> Answer:
        if event.kind == "system":
            return await self.daily(vendor, event, now) if event.payload == DAILY else Answer()
        try:
            command = parse_command(event.text or event.payload or "")
        except CommandError as exc:
            return Answer([self.render(vendor, "command_refused", problem=exc.problem, argument=exc.argument)])
        try:
            reply = await self._run(vendor, command, now, event.id)
        except CatalogueError as exc:
            reply = self.render(vendor, "command_refused", problem=exc.problem, argument=exc.code)
        return Answer([reply])

    async def _run(self, vendor: Vendor, command: Command, now: float, ref: str) -> Reply:
        verb, code, catalogue = command.verb, command.code, self.catalogue
        if verb == "live_on":
            session, started = await self.start_live(vendor, now, "vendor", ref)
            return self.render(vendor, "live_started" if started else "live_already_on", session=session.model_dump())
        if verb == "live_off":
            closed = await self.stop_live(vendor, now, "vendor", ref)
            if closed is None:
                return self.render(vendor, "live_not_on")
            return self.render(vendor, "live_summary", summary=closed.summary)
        if verb == "stock" and command.stock is not None:
            return self.render(vendor, "stock_set", product=await catalogue.set_stock(vendor, code, command.stock))
        if verb == "price":
            before, after = await catalogue.update(vendor, code, "vendor", price=command.price)
            return self.render(vendor, "price_set", product=after, old_price=before.price)
        if verb == "add" and command.price is not None and command.stock is not None:
            product = await catalogue.add(vendor, code, command.name, command.price, command.stock, "vendor")
            return self.render(vendor, "product_added", product=product)
        if verb == "remove":
            return self.render(vendor, "product_removed", product=await catalogue.remove(vendor, code, "vendor"))
        return self.render(vendor, "vendor_help")

    # live sessions
    async def start_live(self, vendor: Vendor, at: float, by: str, ref: str) -> tuple[LiveSession, bool]:
        """(the open live, True when this call started it — or started it before and is replayed)."""
        session = LiveSession(id=derived_id("live_", vendor.id, ref), vendor_id=vendor.id, started_at=at,
                              started_by=by, start_ref=ref)
        current, opened = await self.live.open_session(session)
        if opened:
            self.rt.feed.touched(vendor.id)  # the vendor's dashboards show the live on
        return current, current.start_ref == ref

    async def stop_live(self, vendor: Vendor, at: float, by: str, ref: str) -> LiveSession | None:
        """End the vendor's live and keep its summary; None when no live was on (a replayed stop gets the
        session it closed)."""
        closed = await self.live.close_session(vendor.id, at, by, ref)
        if closed is not None:
            self.rt.feed.touched(vendor.id)
        if closed is None:
            last = await self.live.sessions(vendor.id, limit=1)
            if not last or last[0].stop_ref != ref:
                return None
            closed = last[0]
            if closed.summary is not None:
                return closed
        assert closed.ended_at is not None
        summary = await self.summary(vendor, closed.started_at, closed.ended_at)
        await self.live.save_summary(closed.id, summary)
        return closed.model_copy(update={"summary": summary})

    async def summary(self, vendor: Vendor, start: float, end: float) -> dict[str, Any]:
        """The summary of the orders made from `start` to `end`, read from the store."""
        window = in_window(await self.store.vendor_orders(vendor.id, since=start), start, end)
        returning: set[str] = set()
        for address in sorted({o.contact.address for o in window}):
            returning |= bought_before(await self.store.buyer_orders(vendor.id, address), start)
        return summarise(window, start, end, returning, await self.stock_on_sale(vendor),
                         stock_alert_at(vendor.settings))

    async def stock_on_sale(self, vendor: Vendor) -> dict[str, int]:
        removed = await self.catalogue.removed(vendor.id)
        return {p.code: p.stock for p in await self.store.list_products(vendor.id)
                if "@" not in p.code and p.code not in removed}

    # payment notifications
    async def payment_note(self, vendor: Vendor, order: Order, product: Product | None) -> dict[str, Any]:
        """What a payment notification adds: the totals of the live on (orders paid, revenue) and a
        low-stock warning; `{}` when there is neither."""
        session = await self.live.current_session(vendor.id)
        live = None
        if session is not None:
            paid, revenue = await self.store.vendor_paid_totals(vendor.id, since=session.started_at)
            live = {"paid": paid, "revenue": revenue}
        low = None
        if product is not None and product.stock <= stock_alert_at(vendor.settings):
            low = {"code": product.code, "name": product.name, "stock": product.stock}
        return {"live_note": {"live_totals": live, "stock_alert": low}} if live or low else {}

    def extend_note(self, vendor: Vendor, variables: dict[str, Any], note: Reply) -> Reply:
        """A notification as the vendor gets it: one carrying a `live_note` gets its lines after the segment's
        own wording; plain text when the vendor's `notify` channel wants it (notifications go there)."""
        extra = variables.get("live_note")
        if extra:
            text = self.render(vendor, "payment_totals", **extra).text
            note.text = f"{note.text}\n{text}" if note.text and text else (note.text or text)
        notify = vendor.config.notify
        return self.for_channel(vendor, notify.channel, [note])[0] if notify is not None else note

    async def tend(self) -> None:
        """Every few seconds: the vendor's catalogue changes over what a reload wrote, withdrawn products kept
        at no stock, and each vendor's next daily summary scheduled when its hour is new to this process."""
        for vendor in list(self.rt.vendors.values()):
            try:
                await self.catalogue.reconcile(vendor)
                hour = (vendor.config.settings.daily_summary_hour, vendor.config.timezone)
                if self._scheduled.get(vendor.id) != hour:
                    await self.schedule_daily(vendor)
                    self._scheduled[vendor.id] = hour
            except Exception:  # one vendor's trouble must not hold the others' changes back
                log.exception("vendor=%s: tending the catalogue and daily summary failed", vendor.id)

    # the daily summary
    @staticmethod
    def daily_timer(vendor: Vendor, after: float) -> Timer | None:
        """The next daily summary's timer, strictly after `after`, at the vendor's hour in their timezone;
        its id names the day, so scheduling it twice (two processes, a restart) keeps one."""
        hour = vendor.config.settings.daily_summary_hour
        conv = vendor_conversation(vendor)
        if hour is None or conv is None:
            return None
        local = datetime.fromtimestamp(after, ZoneInfo(vendor.config.timezone))
        due = local.replace(hour=hour, minute=0, second=0, microsecond=0)
        if due.timestamp() <= after:
            due += timedelta(days=1)
        timer_id = f"{DAILY}:{vendor.id}:{due.date().isoformat()}"
        event = Event(id=f"timer:{timer_id}", kind="system", channel=conv.channel, provider=conv.provider,  # type: ignore[arg-type]
                      vendor_id=vendor.id, contact=conv.contact, payload=DAILY, data={"due_at": due.timestamp()})
        return Timer(id=timer_id, due_at=due.timestamp(), conversation_id=conv.id, event=event)

    async def schedule_daily(self, vendor: Vendor) -> None:
        timer = self.daily_timer(vendor, self.rt.clock())
        if timer is not None:
            await self.store.commit_turn(TurnWrite(event_id=f"schedule:{timer.id}", timers=[timer]))

    async def daily(self, vendor: Vendor, event: Event, now: float) -> Answer:
        """The last 24 hours' summary, then the next day's timer; nothing when the vendor turned it off."""
        end = float(event.data.get("due_at") or now)
        timer = self.daily_timer(vendor, end)
        if timer is None:
            return Answer()
        summary = await self.summary(vendor, end - DAY, end)
        return Answer([self.render(vendor, "daily_summary", summary=summary)], [timer])

    async def tell_vendor(self, vendor: Vendor, ref: str, reply: Reply) -> None:
        """Send the vendor a message outside a turn of theirs (a live started or stopped through the API)."""
        conv = vendor_conversation(vendor)
        if conv is None:
            return
        event = Event(id=ref, kind="system", channel=conv.channel, provider=conv.provider,  # type: ignore[arg-type]
                      vendor_id=vendor.id, contact=conv.contact)
        write = TurnWrite(event_id=ref)
        add_outbound(write, conv, event, self.for_channel(vendor, conv.channel, [reply]), tag="live")
        await self.store.commit_turn(write)
        self.rt.delivery.submit(write.outbox)
