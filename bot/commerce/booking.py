"""Booking actions for the services dialog: free slots from a weekly availability, a booking no two
buyers can take, the reminder before it, cancel and reschedule.

Each bookable slot is a product of stock 1 (`SERVICE@YYYYMMDDHHMM`), created when first offered; a
booking is a hold on it, taken with the store's one-statement conditional reservation — the same
guarantee as stock: two buyers tapping the same slot at once get one booking and one refusal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any
from zoneinfo import ZoneInfo

from bot.commerce import Services, derived_id
from dialogs import Registry, Turn
from intents.when import resolve
from storage import Product

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_LABELS = {"fr": ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."),
              "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}
CHOICES = ("slot1", "slot2", "slot3")  # the button ids of the offered slots, in order


def _svc(turn: Turn) -> Services:
    return turn.services  # type: ignore[no-any-return]


def _minutes(hhmm: str) -> int:
    h, m = hhmm.strip().split(":")
    return int(h) * 60 + int(m)


def _ranges(availability: dict[str, Any], weekday: int) -> list[str]:
    """The opening ranges of a weekday ("09:00-13:00"), one string or a list in the vendor's YAML."""
    ranges = availability.get(DAYS[weekday]) or []
    return [str(r).strip() for r in ([ranges] if isinstance(ranges, str) else ranges)]


def weekly_starts(availability: dict[str, Any], day: dt.date, slot_minutes: int) -> list[int]:
    """Minutes after midnight at which a slot starts on `day`: '09:00-12:00' gives 09:00, 10:00, 11:00."""
    starts: list[int] = []
    for r in _ranges(availability, day.weekday()):
        begin, end = (_minutes(x) for x in r.split("-"))
        starts += list(range(begin, end - slot_minutes + 1, slot_minutes))
    return starts


def _day_name(weekday: int, locale: str) -> str:
    return DAY_LABELS.get(locale, DAY_LABELS["en"])[weekday]


def day_label(start: dt.datetime, locale: str) -> str:
    return f"{_day_name(start.weekday(), locale)} {start:%d/%m}"


def slot_label(start: dt.datetime, locale: str) -> str:
    return f"{day_label(start, locale)} {start:%H:%M}"


def _slot_code(service: str, start: dt.datetime) -> str:
    return f"{service}@{start:%Y%m%d%H%M}"


def _start_of(code: str, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.strptime(code.split("@", 1)[1], "%Y%m%d%H%M").replace(tzinfo=tz)


def opening_hours(availability: dict[str, Any], locale: str) -> str:
    """The weekly availability as a buyer reads it, days with the same hours grouped:
    "lun. 09:00–13:00 ; mar.–jeu. 09:00–13:00, 15:00–19:00 ; sam. 09:00–14:00"."""
    days: list[tuple[int, str]] = []
    for index in range(len(DAYS)):
        hours = ", ".join(r.replace("-", "–") for r in _ranges(availability, index))
        if hours:
            days.append((index, hours))
    groups: list[tuple[int, int, str]] = []
    for index, hours in days:
        if groups and groups[-1][2] == hours and groups[-1][1] == index - 1:
            groups[-1] = (groups[-1][0], index, hours)
        else:
            groups.append((index, index, hours))
    return " ; ".join(f"{_day_name(first, locale)}{'–' + _day_name(last, locale) if last != first else ''} {hours}"
                      for first, last, hours in groups)


def _asked_for(turn: Turn, now: dt.datetime, earliest: dt.datetime) -> tuple[dt.datetime, bool] | None:
    """The moment the buyer asked for ("samedi", "demain 15h", "à 10h") and whether a time was named; None when
    nothing was asked, or only the past ("hier")."""
    date, time = turn.entity("date"), turn.entity("time")
    asked = resolve(date, time, now) if date or time else None
    if asked is None:
        return None
    if time is None:
        asked = asked.replace(hour=0, minute=0)  # the whole day
    elif date is None and asked < earliest:
        asked += dt.timedelta(days=1)  # "à 10h" when today's 10:00 is gone: tomorrow's
    if asked.date() < now.date():
        return None
    return asked, time is not None


async def _free_slots(s: Services, service: Product, tz: ZoneInfo, start_from: dt.datetime,
                      now: dt.datetime) -> list[tuple[str, dt.datetime]]:
    """Up to three free slots of `service` starting at or after `start_from`, within `days_ahead` of now."""
    settings = s.settings
    length = int(settings.get("slot_minutes", 60))
    offered: list[tuple[str, dt.datetime]] = []
    for days in range(int(settings.get("days_ahead", 14)) + 1):
        day = (now + dt.timedelta(days=days)).date()
        for start_min in weekly_starts(settings.get("availability") or {}, day, length):
            start = dt.datetime.combine(day, dt.time(start_min // 60, start_min % 60), tz)
            if start < start_from:
                continue
            slot = _slot_code(service.code, start)
            label = slot_label(start, s.vendor.config.locale)
            await s.store.ensure_products([Product(vendor_id=s.vendor.id, code=slot, price=service.price, stock=1,
                                                   name=f"{service.name} — {label}")])
            product = await s.store.get_product(s.vendor.id, slot)
            if product is not None and product.stock > 0:
                offered.append((slot, start))
            if len(offered) == len(CHOICES):
                return offered
    return offered


async def offer_slots(turn: Turn) -> bool:
    """The next free slots of the service the buyer named (or the `service` slot), from the day and time the
    buyer asked for when the message names one; false if none."""
    s = _svc(turn)
    code = turn.entity("product") or turn.slots.get("service")
    service = await s.store.get_product(s.vendor.id, code) if code and "@" not in str(code) else None
    turn.variables.update(product=service, asked=None, asked_free=False, hours=None)
    if service is None:  # "vous êtes ouverts le dimanche ?": the hours, then which service
        turn.variables["hours"] = opening_hours(s.settings.get("availability") or {}, s.vendor.config.locale)
        return False
    tz = ZoneInfo(s.vendor.config.timezone)
    now = dt.datetime.fromtimestamp(s.now, tz)
    earliest = now + dt.timedelta(minutes=int(s.settings.get("lead_minutes", 60)))
    asked = _asked_for(turn, now, earliest)
    offered = await _free_slots(s, service, tz, max(earliest, asked[0]) if asked else earliest, now)
    if asked:
        if not offered:  # beyond the horizon, or nothing free from then on: the next ones after all
            offered = await _free_slots(s, service, tz, earliest, now)
        moment, timed = asked
        turn.variables["asked"] = (slot_label if timed else day_label)(moment, s.vendor.config.locale)
        turn.variables["asked_free"] = bool(offered) and offered[0][1].date() == moment.date()
    turn.slots["service"] = service.code
    turn.slots["_offered"] = [code for code, _ in offered]
    turn.variables["offered"] = [slot_label(start, s.vendor.config.locale) for _, start in offered]
    return bool(offered)


async def book_slot(turn: Turn) -> bool:
    """Take the chosen slot atomically; false when someone else took it first."""
    s = _svc(turn)
    offered = turn.slots.get("_offered") or []
    choice = turn.slots.get("choice")
    index = CHOICES.index(choice) if choice in CHOICES else -1
    if not 0 <= index < len(offered):
        return False
    slot = offered[index]
    if _start_of(slot, ZoneInfo(s.vendor.config.timezone)).timestamp() <= s.now:
        return False  # an old offer: the slot is in the past
    booking = derived_id("b", turn.event.id)
    if not await s.store.reserve_stock(s.vendor.id, slot, 1, booking):
        return False
    tz = ZoneInfo(s.vendor.config.timezone)
    turn.variables["moved_from"] = None
    old, old_slot = turn.slots.get("booking"), turn.slots.get("booked_slot")
    if old and old_slot:  # a move: the booking held until now is given back only once the new one is taken
        await s.store.release_stock(s.vendor.id, old_slot, old)
        turn.cancel_timer(f"{old}:remind")
        turn.variables["moved_from"] = slot_label(_start_of(old_slot, tz), s.vendor.config.locale)
    start = _start_of(slot, tz)
    turn.variables["product"] = await s.store.get_product(s.vendor.id, slot.split("@", 1)[0])
    turn.slots.update(booking=booking, booked_slot=slot,
                      reference="RDV-" + hashlib.sha1(booking.encode()).hexdigest()[:6].upper())
    remind = start.timestamp() - float(s.settings.get("reminder_hours", 24)) * 3600
    if remind > s.now:
        turn.schedule(f"{booking}:remind", remind, "appointment_reminder", booking=booking)
    _describe(turn, slot)
    return True


def _describe(turn: Turn, slot: str | None) -> None:
    """`when`: the booked slot as buyers read it, or none."""
    s = _svc(turn)
    turn.variables["when"] = None
    if slot:
        start = _start_of(slot, ZoneInfo(s.vendor.config.timezone))
        turn.variables["when"] = slot_label(start, s.vendor.config.locale)


async def describe_booking(turn: Turn) -> None:
    _describe(turn, turn.slots.get("booked_slot"))


async def current_booking(turn: Turn) -> bool:
    """A system event (the reminder) is about the booking the conversation holds."""
    booking = turn.event.data.get("booking")
    ok = bool(booking) and booking == turn.slots.get("booking")
    if ok:
        _describe(turn, turn.slots.get("booked_slot"))
    return ok


async def cancel_booking(turn: Turn) -> None:
    """Give the slot back; the booking's reminder is cancelled."""
    s = _svc(turn)
    booking, slot = turn.slots.pop("booking", None), turn.slots.pop("booked_slot", None)
    _describe(turn, slot)
    if booking and slot:
        await s.store.release_stock(s.vendor.id, slot, booking)
        turn.cancel_timer(f"{booking}:remind")
    turn.slots.pop("choice", None)


def register(registry: Registry) -> Registry:
    for fn in (offer_slots, book_slot, describe_booking, current_booking, cancel_booking):
        registry.add(fn.__name__, fn)
    return registry
