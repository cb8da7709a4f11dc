"""Wasender webhooks: the shared-secret check, and a payload → Events (messages, statuses, poll votes)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
from collections.abc import Iterator
from typing import Any

import phonenumbers

from channels.events import Contact, Event, Location, Media
from channels.wasender.config import (
    EVENT_ALIASES,
    MEDIA_KINDS,
    MESSAGE_EVENTS,
    MIN_PHONE_DIGITS,
    PHONE_SERVERS,
    POLL_EVENTS,
    RECEIPT_EVENTS,
    SESSION_EVENTS,
    SILENT_PARTS,
    STATUS_CODES,
    STATUS_EVENTS,
    STATUS_NAMES,
    WRAPPERS,
)

log = logging.getLogger("palabre.channels.wasender")


def verify(secret: str, header: str | None) -> bool:
    """The header must equal the webhook secret itself (Wasender sends the secret, not an HMAC)."""
    return bool(secret) and bool(header) and hmac.compare_digest(secret.encode(), (header or "").encode())


# inbound


def to_e164(value: Any) -> str | None:
    """'221771234567', '+221771234567' or '221771234567:3@s.whatsapp.net' → '+221771234567'; LIDs → None."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    user, at, server = str(value).strip().partition("@")
    if at and server not in PHONE_SERVERS:
        return None  # a LID, a group or a newsletter: not a phone number
    digits = user.split(":")[0].removeprefix("+")
    if not (digits.isascii() and digits.isdigit() and 6 <= len(digits) <= 15):
        return None
    try:
        number = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def to_seconds(value: Any) -> float | None:
    """A Wasender timestamp (seconds or milliseconds, number, digit string or protobuf Long) in seconds."""
    if isinstance(value, dict):
        value = value.get("low")
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        ts = float(value)
    except OverflowError:
        return None
    if not math.isfinite(ts) or ts <= 0:
        return None
    while ts > 1e11:  # milliseconds (and microseconds) since the epoch
        ts /= 1000
    return ts


def event_name(payload: dict[str, Any]) -> str:
    """The event's name, or a guess from its shape when a sender left `event` out (CHANNELS.md §3.1.4)."""
    name = payload.get("event")
    if isinstance(name, str) and name:
        return EVENT_ALIASES.get(name, name)
    data = payload.get("data")
    if isinstance(data, dict):
        if isinstance(data.get("update"), dict):
            return "messages.update"
        if "messages" in data or ("key" in data and "message" in data):
            return "messages.upsert"
        if isinstance(data.get("status"), str):
            return "session.status"
        if "pollResult" in data:
            return "poll.results"
    return ""


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def records_of(data: Any) -> list[dict[str, Any]]:
    """`data.messages` as an object, an array, or the record itself directly under `data`."""
    if isinstance(data, list):
        return [r for r in data if isinstance(r, dict)]
    if not isinstance(data, dict):
        return []
    messages = data.get("messages")
    if isinstance(messages, dict):
        return [messages]
    if isinstance(messages, list):
        return [r for r in messages if isinstance(r, dict)]
    return [data] if "key" in data else []


def content_of(message: Any) -> dict[str, Any]:
    """The message dict with WhatsApp Web wrappers (ephemeral, view-once, …) removed."""
    msg = as_dict(message)
    for _ in range(4):
        inner = next((as_dict(msg[w]).get("message") for w in WRAPPERS if isinstance(msg.get(w), dict)), None)
        if not isinstance(inner, dict):
            break
        msg = inner
    return msg


def text_of(msg: dict[str, Any]) -> str | None:
    return as_str(msg.get("conversation")) or as_str(as_dict(msg.get("extendedTextMessage")).get("text"))


def _quoted_id(msg: dict[str, Any]) -> str | None:
    for part in msg.values():
        stanza = as_str(as_dict(as_dict(part).get("contextInfo")).get("stanzaId"))
        if stanza:
            return stanza
    return None


def phone_address(value: Any) -> str | None:
    """The buyer's phone as an address: E.164 when phonenumbers knows the number, else "+" + the digits
    WhatsApp gave. A sender is answered at the number WhatsApp names even when phonenumbers calls it
    invalid (new ranges, test numbers); LIDs, groups and non-digits → None."""
    strict = to_e164(value)
    if strict is not None:
        return strict
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    user, at, server = str(value).strip().partition("@")
    if at and server not in PHONE_SERVERS:
        return None
    digits = user.split(":")[0].removeprefix("+")
    if digits.isascii() and digits.isdigit() and MIN_PHONE_DIGITS <= len(digits) <= 15:
        return "+" + digits
    return None


def _contact(key: dict[str, Any], name: Any) -> Contact | None:
    """The buyer: a phone from the *Pn fields or a phone JID; a LID only when no phone exists at all."""
    remote = as_str(key.get("remoteJid")) or ""
    if remote.endswith("@g.us"):
        phones = (key.get("cleanedParticipantPn"), key.get("participantPn"), key.get("participantAlt"),
                  key.get("participant"))
        fallback = as_str(key.get("participant"))
    else:
        phones = (key.get("cleanedSenderPn"), key.get("senderPn"), key.get("remoteJidAlt"), remote)
        fallback = next((j for j in (remote, as_str(key.get("senderLid"))) if j and j.endswith("@lid")), None)
    address = next((p for p in map(phone_address, phones) if p), None)
    if address is None:
        if not fallback or not fallback.endswith("@lid"):
            return None
        address = fallback
    return Contact(address=address, name=as_str(name.strip()) if isinstance(name, str) else None)


def _message_event(rec: dict[str, Any], vendor_id: str, envelope_ts: float | None) -> Event | None:
    key = as_dict(rec.get("key"))
    key_id = as_str(key.get("id"))
    if key_id is None or key.get("fromMe") is True:
        return None  # our own message coming back (CHANNELS.md §3.1.5), or nothing to de-duplicate on
    remote = as_str(key.get("remoteJid")) or ""
    if remote.endswith(("@broadcast", "@newsletter")):
        return None  # WhatsApp Status stories and channel posts are not conversations with us
    contact = _contact(key, rec.get("pushName"))
    if contact is None:
        log.info("wasender message %s skipped: no usable sender address", key_id)
        return None
    msg = content_of(rec.get("message"))
    fields: dict[str, Any] = {
        "id": f"ws:{vendor_id}:{key_id}", "kind": "message", "channel": "whatsapp", "provider": "wasender",
        "vendor_id": vendor_id, "contact": contact, "provider_message_id": key_id,
        "reply_to": _quoted_id(msg),
    }
    ts = to_seconds(rec.get("messageTimestamp")) or envelope_ts
    if ts:
        fields["received_at"] = ts
    if remote.endswith("@g.us"):
        fields["data"] = {"group": remote}
    body = as_str(rec.get("messageBody"))
    text = text_of(msg)
    if text is not None:
        return Event(**fields, text=text)
    for part, kind in MEDIA_KINDS.items():
        media = msg.get(part)
        if isinstance(media, dict):
            caption = as_str(media.get("caption")) or body
            fields["media"] = Media(kind=kind, provider_media_id=key_id, mime_type=as_str(media.get("mimetype")),
                                    caption=caption, filename=as_str(media.get("fileName")))
            # The file is encrypted on WhatsApp's CDN: this is the body /api/decrypt-media wants (§3.1.6).
            fields["raw"] = {"key": {"id": key_id}, "message": {part: media}}
            return Event(**fields, text=caption)
    loc = as_dict(msg.get("locationMessage") or msg.get("liveLocationMessage"))
    lat, lon = loc.get("degreesLatitude"), loc.get("degreesLongitude")
    if (isinstance(lat, int | float) and isinstance(lon, int | float) and not isinstance(lat, bool)
            and not isinstance(lon, bool) and -90 <= lat <= 90 and -180 <= lon <= 180):
        fields["location"] = Location(latitude=lat, longitude=lon, name=as_str(loc.get("name")),
                                      address=as_str(loc.get("address")))
        return Event(**fields, text=body)
    if body is not None:
        return Event(**fields, text=body)
    parts = [p for p in msg if p not in SILENT_PARTS]
    if not parts and msg:
        return None
    # contact cards, polls, calls…: a message with no text; the dialog answers it politely.
    unsupported = parts[0] if parts else "empty"
    return Event(**fields, text=None, data={**fields.get("data", {}), "unsupported": unsupported})


def _status_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return STATUS_CODES.get(value)
    if isinstance(value, str):
        digits = value.strip()
        if digits.isascii() and digits.isdigit():
            return STATUS_CODES.get(int(digits))
        return STATUS_NAMES.get(digits.lower())
    return None


def _status_event(vendor_id: str, key: dict[str, Any], status: str, msg_id: Any, ts: float | None,
                  error: str | None = None) -> Event | None:
    key_id = as_str(key.get("id"))
    if key_id is None:
        return None
    remote = as_str(key.get("remoteJid")) or ""
    address = phone_address(remote) or remote or "unknown"
    # msgId is the id our send returned; Wasender may or may not echo it (⚠ CHANNELS.md §8 #12).
    pmid = str(msg_id) if isinstance(msg_id, int | str) and not isinstance(msg_id, bool) and msg_id != "" else key_id
    fields: dict[str, Any] = {
        "id": f"ws:{vendor_id}:{key_id}:{status}", "kind": "status", "channel": "whatsapp", "provider": "wasender",
        "vendor_id": vendor_id, "contact": Contact(address=address), "status": status,
        "error_code": error or ("ERROR" if status == "failed" else None), "provider_message_id": pmid,
        "data": {"wa_id": key_id},
    }
    if ts:
        fields["received_at"] = ts
    return Event(**fields)


def _status_events(data: Any, vendor_id: str, ts: float | None) -> Iterator[Event | None]:
    for rec in data if isinstance(data, list) else [data]:
        rec = as_dict(rec)
        key, update = as_dict(rec.get("key")), as_dict(rec.get("update"))
        status = _status_of(update.get("status"))
        if status is None:
            continue
        msg_id = rec.get("msgId") or key.get("msgId") or update.get("msgId")
        yield _status_event(vendor_id, key, status, msg_id, ts)


def _receipt_events(data: Any, vendor_id: str, ts: float | None) -> Iterator[Event | None]:
    for rec in data if isinstance(data, list) else [data]:
        rec = as_dict(rec)
        receipt = as_dict(rec.get("receipt"))
        if receipt.get("readTimestamp") or receipt.get("playedTimestamp"):
            status = "read"
        elif receipt.get("receiptTimestamp"):
            status = "delivered"
        else:
            continue
        key = as_dict(rec.get("key"))
        yield _status_event(vendor_id, key, status, rec.get("msgId") or key.get("msgId"), ts)


def _poll_events(data: Any, vendor_id: str, ts: float | None) -> Iterator[Event | None]:
    """A vote on a poll (⚠ unconfirmed shape): we never send polls, so it is read as the option typed."""
    data = as_dict(data)
    poll_id = as_str(as_dict(data.get("key")).get("id"))
    if poll_id is None:
        return
    for option in data.get("pollResult") or []:
        option = as_dict(option)
        name = as_str(option.get("name"))
        voters = option.get("voters")
        if name is None or not isinstance(voters, list):
            continue
        for voter in voters:
            address = phone_address(voter)
            if address is None:
                continue
            digest = hashlib.sha256(name.encode()).hexdigest()[:12]
            fields: dict[str, Any] = {
                "id": f"ws:{vendor_id}:{poll_id}:vote:{address}:{digest}", "kind": "message", "channel": "whatsapp",
                "provider": "wasender", "vendor_id": vendor_id, "contact": Contact(address=address), "text": name,
                "reply_to": poll_id, "data": {"poll_vote": name},
            }
            if ts:
                fields["received_at"] = ts
            yield Event(**fields)


def parse_payload(payload: Any, vendor_id: str) -> list[Event]:
    """One webhook body → its events (a batch gives several); echoes, receipts of nothing, etc. give none.

    A record that cannot be read is logged and skipped so that the rest of its batch still counts.
    """
    if not isinstance(payload, dict):
        raise ValueError("the body is not a JSON object")
    name = event_name(payload)
    data = payload.get("data")
    ts = to_seconds(payload.get("timestamp"))
    if name == "message.sent":
        return []  # only ever our own sends: see echoes()
    if name in MESSAGE_EVENTS:
        found: Iterator[Event | None] = (_safe(_message_event, rec, vendor_id, ts) for rec in records_of(data))
    elif name in STATUS_EVENTS:
        found = _safe_iter(_status_events, data, vendor_id, ts)
    elif name in RECEIPT_EVENTS:
        found = _safe_iter(_receipt_events, data, vendor_id, ts)
    elif name in POLL_EVENTS:
        found = _safe_iter(_poll_events, data, vendor_id, ts)
    else:
        if name not in SESSION_EVENTS:
            log.debug("wasender event %r ignored", name[:64])
        return []
    events: list[Event] = []
    seen: set[str] = set()
    for event in found:
        if event is not None and event.id not in seen:
            seen.add(event.id)
            events.append(event)
    return events


_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError)


def _safe(fn: Any, rec: dict[str, Any], vendor_id: str, ts: float | None) -> Event | None:
    try:
        result: Event | None = fn(rec, vendor_id, ts)
        return result
    except _ERRORS as exc:
        log.warning("wasender record skipped for vendor=%s: %s", vendor_id, type(exc).__name__)
        return None


def _safe_iter(fn: Any, data: Any, vendor_id: str, ts: float | None) -> Iterator[Event | None]:
    try:
        yield from fn(data, vendor_id, ts)
    except _ERRORS as exc:
        log.warning("wasender records skipped for vendor=%s: %s", vendor_id, type(exc).__name__)


