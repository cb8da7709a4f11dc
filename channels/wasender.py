"""Wasender (wasenderapi.com) adapter: shared-secret webhook, payload → Event, Reply → send-message."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

from channels.base import PermanentSendError, SendError, mask_address
from channels.events import Contact, Event, Location, Media
from channels.replies import Reply
from channels.text import split_text as split_lines

log = logging.getLogger("palabre.channels.wasender")

SIGNATURE_HEADER = "X-Webhook-Signature"
DEFAULT_API_BASE = "https://www.wasenderapi.com"
# Wasender documents no maximum; WhatsApp itself is comfortable with Meta's 4096 (CHANNELS.md §3.3).
TEXT_LIMIT = 4096
# Without any rate-limit header a 429 most likely comes from the trial plan (1 send per minute).
DEFAULT_RETRY_AFTER = 60.0

MESSAGE_EVENTS = frozenset({
    "messages.received", "messages.upsert", "messages-personal.received", "messages-group.received",
    "message.sent",
})
STATUS_EVENTS = frozenset({"messages.update"})
RECEIPT_EVENTS = frozenset({"message-receipt.update"})
POLL_EVENTS = frozenset({"poll.results"})
SESSION_EVENTS = frozenset({"session.status"})
# The Python SDK spells one event "messages.recieved"; Wasender may send either.
EVENT_ALIASES = {"messages.recieved": "messages.received"}

# messages.update `data.update.status` (CHANNELS.md §1.2).
STATUS_CODES = {0: "failed", 1: "queued", 2: "sent", 3: "delivered", 4: "read", 5: "read"}
STATUS_NAMES = {"error": "failed", "failed": "failed", "pending": "queued", "server_ack": "sent", "sent": "sent",
                "delivery_ack": "delivered", "delivered": "delivered", "read": "read", "played": "read"}

MEDIA_KINDS = {"imageMessage": "image", "videoMessage": "video", "audioMessage": "audio",
               "documentMessage": "document", "stickerMessage": "sticker"}
# Envelopes WhatsApp Web wraps around the real content.
WRAPPERS = ("ephemeralMessage", "viewOnceMessage", "viewOnceMessageV2", "viewOnceMessageV2Extension",
            "documentWithCaptionMessage", "editedMessage")
# Message parts that carry no content of their own: a message made only of these is not shown to the buyer
# (reactions, revokes, key distribution) and gets no reply.
SILENT_PARTS = frozenset({"messageContextInfo", "senderKeyDistributionMessage", "protocolMessage",
                          "reactionMessage", "pollUpdateMessage", "keepInChatMessage"})
PHONE_SERVERS = ("s.whatsapp.net", "c.us")
DOCUMENT_EXTENSIONS = frozenset({"pdf", "doc", "docx", "xls", "xlsx", "csv", "txt", "ppt", "pptx", "zip", "odt",
                                 "ods", "rtf"})
VIDEO_EXTENSIONS = frozenset({"mp4", "3gp", "mov"})


class Config(BaseModel):
    """One vendor's WhatsApp number on Wasender: `channels.wasender` in the vendor YAML (secrets as ${ENV})."""

    # The title names the YAML block in error messages; inputs are hidden so a bad secret is never printed.
    model_config = ConfigDict(extra="forbid", title="channels.wasender", hide_input_in_errors=True)

    phone_number: str
    instance_id: str | None = None
    api_key: str = Field(min_length=1, repr=False)
    webhook_secret: str = Field(min_length=8, repr=False)
    api_base_url: str = DEFAULT_API_BASE

    @field_validator("phone_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        problem = "must be the WhatsApp number in E.164 form, e.g. +221771234567"
        if not value.startswith("+"):
            raise ValueError(problem)
        try:
            number = phonenumbers.parse(value)
        except phonenumbers.NumberParseException:
            raise ValueError(problem) from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError(problem)
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @field_validator("api_key", "webhook_secret")
    @classmethod
    def _no_blanks(cls, value: str) -> str:
        # A secret pasted with a stray space or newline would never match what Wasender sends.
        if value != value.strip():
            raise ValueError("must not start or end with spaces or newlines")
        return value

    @field_validator("api_base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https://")
        return value.rstrip("/")


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


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _records(data: Any) -> list[dict[str, Any]]:
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


def _content(message: Any) -> dict[str, Any]:
    """The message dict with WhatsApp Web wrappers (ephemeral, view-once, …) removed."""
    msg = _dict(message)
    for _ in range(4):
        inner = next((_dict(msg[w]).get("message") for w in WRAPPERS if isinstance(msg.get(w), dict)), None)
        if not isinstance(inner, dict):
            break
        msg = inner
    return msg


def _text_of(msg: dict[str, Any]) -> str | None:
    return _str(msg.get("conversation")) or _str(_dict(msg.get("extendedTextMessage")).get("text"))


def _quoted_id(msg: dict[str, Any]) -> str | None:
    for part in msg.values():
        stanza = _str(_dict(_dict(part).get("contextInfo")).get("stanzaId"))
        if stanza:
            return stanza
    return None


def _contact(key: dict[str, Any], name: Any) -> Contact | None:
    """The buyer: a phone from the *Pn fields; a LID is kept only as an opaque address, never as a phone."""
    remote = _str(key.get("remoteJid")) or ""
    if remote.endswith("@g.us"):
        phones = (key.get("cleanedParticipantPn"), key.get("participantPn"), key.get("participant"))
        fallback = _str(key.get("participant"))
    else:
        phones = (key.get("cleanedSenderPn"), key.get("senderPn"), remote)
        fallback = next((j for j in (remote, _str(key.get("senderLid"))) if j and j.endswith("@lid")), None)
    address = next((p for p in map(to_e164, phones) if p), None)
    if address is None:
        if not fallback or not fallback.endswith("@lid"):
            return None
        address = fallback
    return Contact(address=address, name=_str(name.strip()) if isinstance(name, str) else None)


def _message_event(rec: dict[str, Any], vendor_id: str, envelope_ts: float | None) -> Event | None:
    key = _dict(rec.get("key"))
    key_id = _str(key.get("id"))
    if key_id is None or key.get("fromMe") is True:
        return None  # our own message coming back (CHANNELS.md §3.1.5), or nothing to de-duplicate on
    remote = _str(key.get("remoteJid")) or ""
    if remote.endswith(("@broadcast", "@newsletter")):
        return None  # WhatsApp Status stories and channel posts are not conversations with us
    contact = _contact(key, rec.get("pushName"))
    if contact is None:
        log.info("wasender message %s skipped: no usable sender address", key_id)
        return None
    msg = _content(rec.get("message"))
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
    body = _str(rec.get("messageBody"))
    text = _text_of(msg)
    if text is not None:
        return Event(**fields, text=text)
    for part, kind in MEDIA_KINDS.items():
        media = msg.get(part)
        if isinstance(media, dict):
            caption = _str(media.get("caption")) or body
            fields["media"] = Media(kind=kind, provider_media_id=key_id, mime_type=_str(media.get("mimetype")),
                                    caption=caption, filename=_str(media.get("fileName")))
            # The file is encrypted on WhatsApp's CDN: this is the body /api/decrypt-media wants (§3.1.6).
            fields["raw"] = {"key": {"id": key_id}, "message": {part: media}}
            return Event(**fields, text=caption)
    loc = _dict(msg.get("locationMessage") or msg.get("liveLocationMessage"))
    lat, lon = loc.get("degreesLatitude"), loc.get("degreesLongitude")
    if (isinstance(lat, int | float) and isinstance(lon, int | float) and not isinstance(lat, bool)
            and not isinstance(lon, bool) and -90 <= lat <= 90 and -180 <= lon <= 180):
        fields["location"] = Location(latitude=lat, longitude=lon, name=_str(loc.get("name")),
                                      address=_str(loc.get("address")))
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
    key_id = _str(key.get("id"))
    if key_id is None:
        return None
    remote = _str(key.get("remoteJid")) or ""
    address = to_e164(remote) or remote or "unknown"
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
        rec = _dict(rec)
        key, update = _dict(rec.get("key")), _dict(rec.get("update"))
        status = _status_of(update.get("status"))
        if status is None:
            continue
        msg_id = rec.get("msgId") or key.get("msgId") or update.get("msgId")
        yield _status_event(vendor_id, key, status, msg_id, ts)


def _receipt_events(data: Any, vendor_id: str, ts: float | None) -> Iterator[Event | None]:
    for rec in data if isinstance(data, list) else [data]:
        rec = _dict(rec)
        receipt = _dict(rec.get("receipt"))
        if receipt.get("readTimestamp") or receipt.get("playedTimestamp"):
            status = "read"
        elif receipt.get("receiptTimestamp"):
            status = "delivered"
        else:
            continue
        key = _dict(rec.get("key"))
        yield _status_event(vendor_id, key, status, rec.get("msgId") or key.get("msgId"), ts)


def _poll_events(data: Any, vendor_id: str, ts: float | None) -> Iterator[Event | None]:
    """A vote on a poll (⚠ unconfirmed shape): we never send polls, so it is read as the option typed."""
    data = _dict(data)
    poll_id = _str(_dict(data.get("key")).get("id"))
    if poll_id is None:
        return
    for option in data.get("pollResult") or []:
        option = _dict(option)
        name = _str(option.get("name"))
        voters = option.get("voters")
        if name is None or not isinstance(voters, list):
            continue
        for voter in voters:
            address = to_e164(voter)
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
        found: Iterator[Event | None] = (_safe(_message_event, rec, vendor_id, ts) for rec in _records(data))
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


@dataclass(frozen=True)
class Echo:
    """One of our own messages seen again on the webhook: the WhatsApp id it got, its recipient, its text."""

    wa_id: str
    to: str
    text: str
    at: float | None


def echoes(payload: Any) -> list[Echo]:
    """Our sends as WhatsApp saw them (`fromMe`), used to tie later status webhooks to our message ids."""
    if not isinstance(payload, dict):
        return []
    name = event_name(payload)
    if name not in MESSAGE_EVENTS:
        return []
    out: list[Echo] = []
    for rec in _records(payload.get("data")):
        key = _dict(rec.get("key"))
        wa_id, to = _str(key.get("id")), to_e164(key.get("remoteJid"))
        if wa_id is None or to is None or not (key.get("fromMe") is True or name == "message.sent"):
            continue
        msg = _content(rec.get("message"))
        caption = next((_str(_dict(msg.get(p)).get("caption")) for p in MEDIA_KINDS if p in msg), None)
        text = _text_of(msg) or caption or _str(rec.get("messageBody"))
        if text:
            out.append(Echo(wa_id=wa_id, to=to, text=text, at=to_seconds(rec.get("messageTimestamp"))))
    return out


def session_status(payload: Any) -> str | None:
    """The connection state of a `session.status` event ('connected', 'disconnected', 'need_scan', …)."""
    if not isinstance(payload, dict) or event_name(payload) not in SESSION_EVENTS:
        return None
    status = _dict(payload.get("data")).get("status")
    return status.strip().lower()[:64] if isinstance(status, str) and status.strip() else None


def session_ids(payload: Any) -> list[str]:
    """Identifiers of the Wasender session a payload came from (sessionId, session_id, instanceId…)."""
    if not isinstance(payload, dict):
        return []
    data = _dict(payload.get("data"))
    found: list[str] = []
    for source in (payload, data):
        for name in ("sessionId", "session_id", "instanceId", "instance_id"):
            value = source.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if isinstance(value, str) and value.strip() and value not in found:
                found.append(value.strip())
    return found


# outbound


def choices_text(reply: Reply) -> list[str]:
    """Buttons and list rows as the numbered lines that replace them ("1. PAYER")."""
    titles = [b.title for b in reply.buttons]
    titles += [f"{r.title} – {r.description}" if r.description else r.title
               for s in reply.list_sections for r in s.rows]
    return [f"{i}. {t}" for i, t in enumerate(titles, 1)]


def render_text(reply: Reply) -> str:
    """The whole text a Reply becomes on Wasender: its text, its link, then its choices numbered."""
    text = (reply.text or "").rstrip()
    lines = [text] if text else []
    if reply.link and reply.link not in text:
        lines.append(reply.link)
    lines.extend(choices_text(reply))
    return "\n".join(lines)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` (Wasender's 4096) characters."""
    return split_lines(text, limit)


def outgoing_texts(reply: Reply) -> list[str]:
    """The text of each request a Reply is sent as; the stored message id is the last one's."""
    return split_text(render_text(reply))


def _media_field(url: str, reply: Reply) -> dict[str, str]:
    path = unquote(urlsplit(url).path)
    name = path.rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension in DOCUMENT_EXTENSIONS:
        filename = reply.data.get("filename")
        return {"documentUrl": url, "fileName": filename if isinstance(filename, str) and filename else name}
    if extension in VIDEO_EXTENSIONS:
        return {"videoUrl": url}
    # Product photos often come from CDNs whose URLs have no extension: an image is the likely case.
    return {"imageUrl": url}


def render(recipient: str, reply: Reply) -> list[dict[str, Any]]:
    """The send-message bodies for a Reply: media first (with the first piece of text as caption)."""
    texts = [t for t in outgoing_texts(reply) if t]
    bodies: list[dict[str, Any]] = []
    if reply.media_url:
        body: dict[str, Any] = {"to": recipient}
        if texts:
            body["text"] = texts.pop(0)
        body.update(_media_field(reply.media_url, reply))
        bodies.append(body)
    bodies.extend({"to": recipient, "text": t} for t in texts)
    return bodies


def _reset_at(headers: Any, now: float) -> float | None:
    """X-RateLimit-Reset as an absolute time (documented as unix seconds; small values read as a delay)."""
    reset = to_seconds(headers.get("X-RateLimit-Reset"))
    if reset is None:
        return None
    return now + reset if reset < 1e9 else reset


def _retry_after(headers: Any, data: dict[str, Any], now: float) -> float:
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError):
                pass
    body_value = data.get("retry_after")
    if isinstance(body_value, int | float) and not isinstance(body_value, bool) and body_value >= 0:
        return float(body_value)
    reset = _reset_at(headers, now)
    if reset and reset > now:
        return reset - now
    return DEFAULT_RETRY_AFTER


class WasenderSender:
    """Sends with one vendor's session API key. Rate limits are per session, so they live here: after a 429
    or a response saying no request is left, further sends wait (SendError with retry_after) without
    calling Wasender until the window resets."""

    def __init__(self, config: Config, *, clock: Any = time.time) -> None:
        self._url = f"{config.api_base_url}/api/send-message"
        self._api_key = config.api_key
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._blocked_until = 0.0
        # Pieces of a long reply already sent, per idempotency key: a retry resumes instead of repeating them.
        self._progress: OrderedDict[str, list[str]] = OrderedDict()

    def _hold(self, seconds: float) -> None:
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    async def _post(self, body: dict[str, Any]) -> str:
        now = self._clock()
        if now < self._blocked_until:
            raise SendError("wasender: rate limited (waiting for the window to reset)",
                            retry_after=self._blocked_until - now)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=20),
                headers={"Authorization": f"Bearer {self._api_key}", "Content-Type": "application/json"},
            )
        try:
            async with self._session.post(self._url, data=json.dumps(body, ensure_ascii=False).encode()) as resp:
                status, headers = resp.status, resp.headers
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            # No idempotency key exists at Wasender: after a timeout the message may have gone out, and the
            # retry may repeat it. A repeated reply is better than a lost payment link.
            raise SendError(f"wasender send-message: {type(exc).__name__}") from None
        data = data if isinstance(data, dict) else {}
        now = self._clock()
        if status == 429:
            wait = _retry_after(headers, data, now)
            self._hold(wait)
            raise SendError("wasender send-message: rate limited (429)", retry_after=wait)
        message = str(data.get("message") or data.get("error") or status)[:200]
        if status >= 500:
            raise SendError(f"wasender send-message: {status} {message}")
        if status in (401, 403):
            raise PermanentSendError(f"wasender send-message: API key rejected ({status}) {message}")
        if status >= 400 or data.get("success") is False:
            raise PermanentSendError(f"wasender send-message: {status} {message}")
        remaining, reset = headers.get("X-RateLimit-Remaining"), _reset_at(headers, now)
        if remaining is not None and remaining.strip() == "0" and reset and reset > now:
            self._hold(reset - now)
        result = _dict(data.get("data"))
        msg_id = result.get("msgId", result.get("id"))
        if isinstance(msg_id, int | str) and not isinstance(msg_id, bool) and str(msg_id):
            return str(msg_id)
        return ""

    async def send(self, recipient: str, reply: Reply, *, idempotency_key: str) -> str:
        bodies = render(recipient, reply)
        if not bodies:
            if reply.template is not None:
                raise PermanentSendError("wasender has no message templates and the reply has no text")
            return f"empty:{idempotency_key}"
        done = self._progress.get(idempotency_key, [])
        ids = list(done)
        for body in bodies[len(done):]:
            msg_id = await self._post(body)
            ids.append(msg_id or f"{idempotency_key}:{len(ids)}")
            if len(bodies) > 1:
                self._progress[idempotency_key] = list(ids)
                while len(self._progress) > 1000:
                    self._progress.popitem(last=False)
        self._progress.pop(idempotency_key, None)
        log.debug("wasender sent %d request(s) to %s", len(bodies), mask_address(recipient))
        return ids[-1]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def make_sender(config: Config) -> WasenderSender:
    return WasenderSender(config)
