"""Meta WhatsApp Cloud API adapter: signed webhooks → Events, Reply → Graph API /messages bodies.

Reference: shared/docs/CHANNELS.md §2. Inbound, the body is authenticated with
`X-Hub-Signature-256` (HMAC-SHA256 of the raw bytes, key = the app secret) and one POST may carry
several entries, changes, messages and statuses. Outbound, one Reply becomes one or more
`POST {api_base}/{version}/{phone_number_id}/messages` calls; the first message's wamid is the
provider message id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os.path
import random
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlparse

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, field_validator

from channels.base import PermanentSendError, SendError, mask_address
from channels.events import Contact, DeliveryStatus, Event, Location, Media
from channels.replies import Button, ListRow, ListSection, Reply
from channels.text import split_text as split_lines

log = logging.getLogger("palabre.channels.meta")

SIGNATURE_HEADER = "X-Hub-Signature-256"
DEFAULT_API_BASE = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"

# Content limits (CHANNELS.md §2.3).
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
INTERACTIVE_BODY_LIMIT = 1024
HEADER_LIMIT = 60
FOOTER_LIMIT = 60
MAX_BUTTONS = 3
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
MAX_LIST_ROWS = 10
LIST_BUTTON_LIMIT = 20
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200
SECTION_TITLE_LIMIT = 24
CALLBACK_DATA_LIMIT = 512
DEFAULT_LIST_BUTTON = "Options"  # the same word in French and English; Reply.data["list_button"] overrides it
EMPTY_BODY = "👇"  # interactive messages need a body; used when the Reply has buttons and no text

STATUSES: dict[str, DeliveryStatus] = {"sent": "sent", "delivered": "delivered", "read": "read",
                                       "played": "read", "failed": "failed"}
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
BSUID = re.compile(r"^[A-Z]{2,3}\.[A-Za-z0-9]{1,128}$")

# Send errors (CHANNELS.md §2.3 "Throughput and rate limits"): codes worth retrying, and after how long
# when the response carries no Retry-After. 130429 is per-second throughput; 131056 is the pair rate
# (about one message per 6 s to one user); 131048/80007/4 are quality, account and app-level limits.
RETRY_AFTER = {130429: 1.0, 131056: 6.0, 131048: 60.0, 80007: 60.0, 4: 60.0}
RATE_LIMITED_DEFAULT = 5.0


class Config(BaseModel):
    """A vendor's WhatsApp number on the Cloud API: `channels.meta` in the vendor YAML.

    Secrets (`access_token`, `app_secret`, `verify_token`) are given as ${ENV} references.
    `api_version` must be a Graph API version the Meta app can call (see docs/channels/meta.md).
    """

    model_config = ConfigDict(extra="forbid")

    phone_number_id: str = Field(pattern=r"^[0-9]{1,32}$")
    access_token: str = Field(min_length=1, repr=False)
    app_secret: str = Field(min_length=1, repr=False)
    verify_token: str = Field(min_length=1, repr=False)
    api_version: str = Field(default=DEFAULT_API_VERSION, pattern=r"^v[0-9]+\.[0-9]+$")
    api_base_url: str = DEFAULT_API_BASE

    @field_validator("phone_number_id", mode="before")
    @classmethod
    def _digits_as_text(cls, value: Any) -> Any:
        # YAML reads an unquoted id as an integer.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# inbound: authentication

def verify_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """`header` must be "sha256=" + hex HMAC-SHA256 of the exact body bytes keyed with the app secret."""
    if not app_secret or not header:
        return False
    scheme, _, received = header.strip().partition("=")
    if scheme.lower() != "sha256" or not received:
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), received.strip().lower().encode())


def verify_subscription(verify_token: str, mode: str | None, token: str | None) -> bool:
    """The GET handshake: hub.mode must be "subscribe" and hub.verify_token the configured token."""
    return (mode == "subscribe" and bool(verify_token) and token is not None
            and hmac.compare_digest(verify_token.encode(), token.encode()))


# inbound: parsing

def parse_webhook(payload: dict[str, Any], vendor_id: str, phone_number_id: str) -> list[Event]:
    """One webhook body → Events for this vendor's number, in order, each id at most once.

    Changes for another phone number, fields other than "messages", `errors[]` and status values we
    do not know give no Event (they are logged); the caller still answers 200.
    """
    events: list[Event] = []
    seen: set[str] = set()
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            field = change.get("field", "messages")
            if field != "messages":
                log.info("meta webhook: field %r ignored vendor=%s", field, vendor_id)
                continue
            got = str((value.get("metadata") or {}).get("phone_number_id") or "")
            if got != phone_number_id:
                log.warning("meta webhook: change for phone_number_id=%s ignored (vendor=%s has %s)",
                            got or "?", vendor_id, phone_number_id)
                continue
            for error in value.get("errors") or []:
                log.warning("meta webhook: error code=%s title=%r vendor=%s", error.get("code"),
                            error.get("title"), vendor_id)
            names = _contact_names(value.get("contacts") or [])
            found = [_safely(_message, m, names, vendor_id) for m in value.get("messages") or []]
            found += [_safely(_status, s, vendor_id) for s in value.get("statuses") or []]
            for event in found:
                if event is not None and event.id not in seen:
                    seen.add(event.id)
                    events.append(event)
    return events


def _safely(parse: Callable[..., Event | None], item: Any, *args: Any) -> Event | None:
    """One malformed item is logged and skipped: failing the POST would make Meta redeliver it for days."""
    try:
        return parse(item, *args)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("meta webhook: %s skipped vendor=%s (%s)", parse.__name__.strip("_"), args[-1],
                    type(exc).__name__)
        return None


def _contact_names(contacts: list[dict[str, Any]]) -> dict[str, str]:
    """wa_id / BSUID → profile name (a POST may carry several senders)."""
    names: dict[str, str] = {}
    for c in contacts:
        name = (c.get("profile") or {}).get("name")
        if name:
            for key in (c.get("wa_id"), c.get("user_id")):
                if key:
                    names[str(key)] = name
    return names


def _address(phone: Any, user_id: Any) -> str:
    """Canonical contact address: "+" + digits, else the BSUID when the user hides the number."""
    if phone and str(phone).isdigit():
        return f"+{phone}"
    if user_id:
        return str(user_id)
    return str(phone) if phone else "unknown"


def _timestamp(value: Any) -> dict[str, float]:
    try:
        ts = float(value)
    except (TypeError, ValueError):
        return {}
    return {"received_at": ts} if ts > 0 else {}


def _message(msg: dict[str, Any], names: dict[str, str], vendor_id: str) -> Event | None:
    wamid = msg["id"]
    sender = msg.get("from")
    user_id = msg.get("from_user_id")
    name = names.get(str(sender)) if sender else None
    name = name or (names.get(str(user_id)) if user_id else None)
    fields: dict[str, Any] = {
        "id": f"wa:{vendor_id}:{wamid}", "channel": "whatsapp", "provider": "meta", "vendor_id": vendor_id,
        "contact": Contact(address=_address(sender, user_id), name=name),
        "provider_message_id": wamid, **_timestamp(msg.get("timestamp")),
    }
    context = msg.get("context") or {}
    if context.get("id"):
        fields["reply_to"] = context["id"]
    kind = msg.get("type")
    body = msg.get(kind) if isinstance(kind, str) else None
    body = body if isinstance(body, dict) else {}

    if kind == "text":
        return Event(**fields, text=body.get("body"))
    if kind == "interactive":
        itype = body.get("type")
        reply = body.get(itype) if itype in ("button_reply", "list_reply") else None
        if reply and reply.get("id"):
            return Event(**fields, kind="postback", payload=str(reply["id"]), text=reply.get("title"),
                         data={"interactive": itype})
    if kind == "button" and body.get("payload"):
        # a template quick-reply button: type "button", not "interactive"
        return Event(**fields, kind="postback", payload=str(body["payload"]), text=body.get("text"),
                     data={"interactive": "template_button"})
    if kind in ("image", "video", "audio", "document") and body.get("id"):
        media = Media(kind=kind, provider_media_id=str(body["id"]), mime_type=body.get("mime_type"),
                      caption=body.get("caption"), filename=body.get("filename"))
        data = {"voice": True} if kind == "audio" and body.get("voice") else {}
        return Event(**fields, text=body.get("caption"), media=media, data=data)
    if kind == "location" and "latitude" in body and "longitude" in body:
        loc = Location(latitude=body["latitude"], longitude=body["longitude"], name=body.get("name"),
                       address=body.get("address"))
        return Event(**fields, location=loc, data={"location_url": body["url"]} if body.get("url") else {})
    if kind == "contacts" and isinstance(msg.get("contacts"), list):
        return Event(**fields, data={"contacts": [_shared_contact(c) for c in msg["contacts"]]})
    if kind == "system":
        log.info("meta webhook: system message %r dropped vendor=%s", body.get("type"), vendor_id)
        return None
    return _unsupported(fields, msg, kind, body)


def _shared_contact(card: dict[str, Any]) -> dict[str, Any]:
    name = (card.get("name") or {}).get("formatted_name")
    phones = []
    for p in card.get("phones") or []:
        wa_id = p.get("wa_id")
        phones.append(f"+{wa_id}" if wa_id and str(wa_id).isdigit() else p.get("phone"))
    return {"name": name, "phones": [p for p in phones if p]}


def _unsupported(fields: dict[str, Any], msg: dict[str, Any], kind: Any, body: dict[str, Any]) -> Event:
    """Reactions, stickers, `unsupported` and any type we do not know: a message with no text that the
    dialog answers politely; data.unsupported names what arrived, like the other channels. Raw kept for audit."""
    if kind == "interactive" and body.get("type"):
        kind = body["type"]  # e.g. nfm_reply (a WhatsApp Flow answer)
    data: dict[str, Any] = {"unsupported": str(kind or "empty")}
    errors = msg.get("errors") or []
    if errors:
        data["error_code"] = str(errors[0].get("code"))
    media = None
    if kind == "reaction":
        data["emoji"] = body.get("emoji") or ""  # "" or absent: the reaction was removed
        if body.get("message_id"):
            fields = {**fields, "reply_to": body["message_id"]}
    elif kind == "sticker" and body.get("id"):
        media = Media(kind="sticker", provider_media_id=str(body["id"]), mime_type=body.get("mime_type"))
    return Event(**fields, data=data, media=media, raw=msg)


def _status(st: dict[str, Any], vendor_id: str) -> Event | None:
    raw_status = str(st.get("status") or "").lower()
    status = STATUSES.get(raw_status)
    wamid = st.get("id")
    if status is None or not wamid:
        log.info("meta webhook: status %r ignored vendor=%s", raw_status, vendor_id)
        return None
    data: dict[str, Any] = {}
    errors = st.get("errors") or []
    if errors:
        err = errors[0]
        data["error_title"] = err.get("title") or err.get("message")
        details = (err.get("error_data") or {}).get("details")
        if details:
            data["error_details"] = details
    if st.get("biz_opaque_callback_data"):
        data["outbox_id"] = st["biz_opaque_callback_data"]
    return Event(
        id=f"wa:{vendor_id}:{wamid}:{raw_status}", kind="status", channel="whatsapp", provider="meta",
        vendor_id=vendor_id, contact=Contact(address=_address(st.get("recipient_id"), st.get("recipient_user_id"))),
        status=status, error_code=str(errors[0].get("code")) if errors else None, provider_message_id=wamid,
        data=data, **_timestamp(st.get("timestamp")),
    )


# outbound: rendering

def cut(text: str, limit: int) -> str:
    """`text` if it fits, else its first `limit - 1` characters and "…"."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` (WhatsApp's 4096) characters."""
    return split_lines(text, limit)


def _split_tail(text: str, tail_limit: int) -> tuple[list[str], str]:
    """(leading text messages, last piece of at most `tail_limit`) — for captions and interactive bodies."""
    if len(text) <= tail_limit:
        return [], text
    start = len(text) - tail_limit
    at = text.find("\n", start)
    if at < 0:
        at = text.find(" ", start)
    if at < 0:
        at = start
    head, tail = text[:at].rstrip(), text[at:].strip()
    return (split_text(head) if head else []), tail


def recipient_fields(recipient: str) -> dict[str, str]:
    """`to` (digits, no "+") for a phone number, `recipient` for a business-scoped user id."""
    r = recipient.strip()
    digits = r[1:] if r.startswith("+") else r
    if digits.isdigit() and 6 <= len(digits) <= 15:
        return {"to": digits}
    if BSUID.match(r):
        return {"recipient": r}
    raise PermanentSendError(f"meta: {mask_address(recipient)} is neither a phone number nor a BSUID")


def _text_with_link(reply: Reply) -> str:
    text = reply.text or ""
    if reply.link and reply.link not in text:
        text = f"{text}\n{reply.link}" if text else reply.link
    return text


def _media_type(reply: Reply) -> str:
    wanted = reply.data.get("media_type")
    if wanted in ("image", "video", "audio", "document"):
        return str(wanted)
    path = urlparse(reply.media_url or "").path.lower()
    if path.endswith((".jpg", ".jpeg", ".png")):
        return "image"
    if path.endswith((".mp4", ".3gp")):
        return "video"
    if path.endswith((".mp3", ".ogg", ".opus", ".aac", ".amr", ".m4a")):
        return "audio"
    return "document"


def _media_object(reply: Reply, kind: str) -> dict[str, Any]:
    obj: dict[str, Any] = {"link": reply.media_url}
    if kind == "document":
        filename = reply.data.get("filename") or unquote(os.path.basename(urlparse(reply.media_url or "").path))
        obj["filename"] = filename or "document"
    return obj


def _unique_titles(titles: list[str], limit: int) -> list[str]:
    """Titles cut to `limit` with "…" and made unique (WhatsApp rejects two equal button titles)."""
    out: list[str] = []
    for title in titles:
        candidate, n = cut(title.strip() or "…", limit), 2
        while candidate in out:
            suffix = f" {n}"
            candidate, n = cut(title.strip(), limit - len(suffix)) + suffix, n + 1
        out.append(candidate)
    return out


def _buttons(buttons: list[Button]) -> dict[str, Any]:
    titles = _unique_titles([b.title for b in buttons], BUTTON_TITLE_LIMIT)
    return {"buttons": [{"type": "reply", "reply": {"id": b.id[:BUTTON_ID_LIMIT], "title": t}}
                        for b, t in zip(buttons, titles, strict=True)]}


def _list(reply: Reply) -> dict[str, Any]:
    sections = list(reply.list_sections)
    extra = [ListRow(id=b.id, title=b.title) for b in reply.buttons]
    if extra:
        sections.append(ListSection(title=DEFAULT_LIST_BUTTON if sections else "", rows=extra))
    out: list[dict[str, Any]] = []
    budget = MAX_LIST_ROWS
    total = sum(len(s.rows) for s in sections)
    if total > MAX_LIST_ROWS:
        log.warning("meta: list of %d rows cut to %d", total, MAX_LIST_ROWS)
    for section in sections:
        rows = section.rows[:budget]
        budget -= len(rows)
        if not rows:
            continue
        titles = _unique_titles([r.title for r in rows], ROW_TITLE_LIMIT)
        rendered = []
        for row, title in zip(rows, titles, strict=True):
            item = {"id": row.id[:ROW_ID_LIMIT], "title": title}
            if row.description:
                item["description"] = cut(row.description, ROW_DESCRIPTION_LIMIT)
            rendered.append(item)
        sec: dict[str, Any] = {"rows": rendered}
        if section.title:
            sec["title"] = cut(section.title, SECTION_TITLE_LIMIT)
        out.append(sec)
    if len(out) > 1:
        for i, sec in enumerate(out, 1):
            sec.setdefault("title", str(i))  # required when there is more than one section
    label = str(reply.data.get("list_button") or DEFAULT_LIST_BUTTON)
    return {"button": cut(label, LIST_BUTTON_LIMIT), "sections": out}


def _message_body(to: dict[str, str], kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", **to, "type": kind, kind: obj}


def _text_bodies(to: dict[str, str], parts: list[str], preview: bool) -> list[dict[str, Any]]:
    return [_message_body(to, "text", {"preview_url": preview, "body": p}) for p in parts if p]


def render(recipient: str, reply: Reply) -> list[dict[str, Any]]:
    """The /messages bodies for a Reply, in sending order (one in the common case).

    - template → one template message (its text/buttons are not sent: a template is the whole message);
    - buttons (≤ 3) → interactive reply buttons; more than 3 buttons, or list_sections → interactive list;
      a media_url goes in the buttons' header, or is sent just before a list;
    - media_url alone → image / video / audio / document by link with the text as caption;
    - text → text messages of at most 4096 characters each (longer text is split, never cut);
    - Reply.data: "header"/"footer" (interactive), "list_button", "filename", "media_type",
      "preview_url", "location" ({latitude, longitude, name?, address?}) are honoured.
    """
    to = recipient_fields(recipient)
    preview = bool(reply.data.get("preview_url"))
    if reply.template is not None:
        t = reply.template
        obj: dict[str, Any] = {"name": t.name, "language": {"code": t.language}}
        if t.parameters:
            obj["components"] = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in t.parameters]}]
        return [_message_body(to, "template", obj)]

    text = _text_with_link(reply)
    bodies: list[dict[str, Any]] = []
    location = reply.data.get("location")
    if isinstance(location, dict):
        bodies.append(_message_body(to, "location", {k: location[k] for k in ("latitude", "longitude", "name",
                                                                                "address") if k in location}))
    if reply.buttons or reply.list_sections:
        use_list = bool(reply.list_sections) or len(reply.buttons) > MAX_BUTTONS
        media_kind = _media_type(reply) if reply.media_url else None
        if media_kind and (use_list or media_kind == "audio"):
            bodies.append(_message_body(to, media_kind, _media_object(reply, media_kind)))
            media_kind = None
        head, body_text = _split_tail(text, INTERACTIVE_BODY_LIMIT)
        bodies += _text_bodies(to, head, preview)
        interactive: dict[str, Any] = {"type": "list" if use_list else "button",
                                       "body": {"text": body_text or EMPTY_BODY}}
        if media_kind:
            interactive["header"] = {"type": media_kind, media_kind: _media_object(reply, media_kind)}
        elif reply.data.get("header"):
            interactive["header"] = {"type": "text", "text": cut(str(reply.data["header"]), HEADER_LIMIT)}
        if reply.data.get("footer"):
            interactive["footer"] = {"text": cut(str(reply.data["footer"]), FOOTER_LIMIT)}
        interactive["action"] = _list(reply) if use_list else _buttons(reply.buttons)
        bodies.append(_message_body(to, "interactive", interactive))
        return bodies

    if reply.media_url:
        kind = _media_type(reply)
        obj = _media_object(reply, kind)
        rest: list[str] = []
        if text and kind != "audio" and len(text) <= CAPTION_LIMIT:
            obj["caption"] = text
        elif text:
            rest = split_text(text)
        return [*bodies, _message_body(to, kind, obj), *_text_bodies(to, rest, preview)]
    if text:
        bodies += _text_bodies(to, split_text(text), preview)
    return bodies


def mark_read_body(message_id: str, typing: bool = True) -> dict[str, Any]:
    """Mark an inbound message (and the earlier ones) read; with `typing`, show "typing…" up to 25 s."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
    if typing:
        body["typing_indicator"] = {"type": "text"}
    return body


# outbound: sending

class MetaSender:
    """Sends through the Graph API of one phone number. Safe to call concurrently.

    A Reply that needs several messages (long text, media before a list…) is sent in order; when a
    later part fails, the parts already sent are remembered (in this process) under the idempotency
    key, so the retry continues where it stopped instead of repeating them.
    """

    def __init__(self, config: Config, *, progress_size: int = 1000) -> None:
        self._url = f"{config.api_base_url.rstrip('/')}/{config.api_version}/{config.phone_number_id}/messages"
        self._token = config.access_token
        self._session: aiohttp.ClientSession | None = None
        self._progress: OrderedDict[str, list[str]] = OrderedDict()
        self._progress_size = progress_size

    async def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=20),
                headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
            )
        try:
            async with self._session.post(self._url, data=json.dumps(body, ensure_ascii=False).encode()) as resp:
                status = resp.status
                retry_header = resp.headers.get("Retry-After")
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = {}
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SendError(f"meta: {type(exc).__name__}") from None
        data = data if isinstance(data, dict) else {}
        if 200 <= status < 300:
            return data
        raise _error(status, data.get("error") if isinstance(data.get("error"), dict) else {}, retry_header)

    async def send(self, recipient: str, reply: Reply, *, idempotency_key: str) -> str:
        bodies = render(recipient, reply)
        if not bodies:
            return f"none:{idempotency_key}"
        done = self._progress.pop(idempotency_key, [])
        for body in bodies[len(done):]:
            if len(idempotency_key) <= CALLBACK_DATA_LIMIT:
                body["biz_opaque_callback_data"] = idempotency_key  # echoed in status webhooks
            try:
                data = await self._post(body)
            except SendError as exc:
                if done and not exc.permanent:
                    self._remember(idempotency_key, done)
                raise
            messages = data.get("messages") or [{}]
            done.append(str(messages[0].get("id") or ""))
        return done[0]

    def _remember(self, key: str, done: list[str]) -> None:
        self._progress[key] = done
        while len(self._progress) > self._progress_size:
            self._progress.popitem(last=False)

    async def mark_read(self, message_id: str, *, typing: bool = True) -> None:
        """Blue ticks for an inbound wamid, plus the typing indicator (dismissed by our next message)."""
        await self._post(mark_read_body(message_id, typing))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _error(status: int, error: dict[str, Any], retry_header: str | None) -> SendError:
    """HTTP status + Graph error object → SendError (retry) or PermanentSendError (do not)."""
    code = error.get("code")
    code = int(code) if isinstance(code, int) or (isinstance(code, str) and code.isdigit()) else None
    details = (error.get("error_data") or {}).get("details")
    text = error.get("message") or error.get("title") or f"HTTP {status}"
    message = f"meta error {code if code is not None else status}: {text}" + (f" ({details})" if details else "")
    if status == 429 or code in RETRY_AFTER:
        retry_after = _retry_after(retry_header)
        if retry_after is None:
            base = RETRY_AFTER.get(code or 0, RATE_LIMITED_DEFAULT)
            retry_after = base * random.uniform(1.0, 1.5)  # jitter: do not come back all at once
        exc = SendError(message, retry_after=retry_after)
    elif status >= 500:
        exc = SendError(message)
    else:
        exc = PermanentSendError(message)
    exc.code = str(code) if code is not None else None  # type: ignore[attr-defined]  # for the delivery policy
    return exc


def _retry_after(header: str | None) -> float | None:
    try:
        value = float(header) if header else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None


def make_sender(config: Config) -> MetaSender:
    return MetaSender(config)
