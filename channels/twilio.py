"""Twilio Programmable Messaging adapter: X-Twilio-Signature check, form → Event, Reply → GSM-7-safe SMS via REST."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
import unicodedata
from collections import OrderedDict
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import aiohttp
import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from channels.base import PermanentSendError, SendError, mask_address
from channels.events import Channel, Contact, DeliveryStatus, Event, Media
from channels.replies import Reply

log = logging.getLogger("palabre.channels.twilio")

SIGNATURE_HEADER = "X-Twilio-Signature"
DEFAULT_API_BASE = "https://api.twilio.com"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
BODY_LIMIT = 1600  # Twilio's maximum Body per API call; it concatenates the segments itself
WHATSAPP_PREFIX = "whatsapp:"
URL_PATTERN = r"^https?://[^\s#]+(#\S*)?$"
# Twilio MessageStatus → our vocabulary (CHANNELS.md §1.2); partially_delivered → delivered is our choice.
STATUSES: dict[str, DeliveryStatus] = {
    "accepted": "queued", "scheduled": "queued", "queued": "queued", "sending": "queued",
    "sent": "sent", "delivered": "delivered", "partially_delivered": "delivered", "read": "read",
    "undelivered": "failed", "failed": "failed", "canceled": "failed",
}
INBOUND_STATUSES = frozenset({"received", "receiving"})
_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")
_DIGITS = re.compile(r"\+?\d[\d ]{5,}\d")
# REST error codes whose meaning the vendor should read in the transcript as it is (CHANNELS.md §4.3).
KNOWN_ERRORS = {
    20003: "authentication failed: check account_sid and auth_token",
    21211: "invalid 'To' phone number",
    21408: "this account may not send to that region",
    21610: "recipient unsubscribed (replied STOP)",
    21612: "this To/From combination is not allowed (sender not supported in that country?)",
    21614: "'To' is not a mobile number",
    21635: "'To' is a landline",
    63016: "outside the WhatsApp 24-hour window: a template is needed",
}

# GSM 03.38: the basic set costs one septet per character, the extension set two (escape + char).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
GSM7 = GSM7_BASIC | GSM7_EXTENSION
# What French text typically carries that GSM-7 lacks; letters with accents are folded by NFKD below.
_FOLD = {
    **dict.fromkeys("\t\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000",
                    " "),
    **dict.fromkeys("\u00ad\u200b\u200c\u200d\u2060\ufeff\ufe0e\ufe0f", ""),
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4`\u2039\u203a", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2022\u25cf", "-"),
    "\u2026": "...", "\u00d7": "x", "\u00f7": "/", "\u00b7": ".", "\u00b0": "o", "\u0153": "oe", "\u0152": "OE",
    "\u00e7": "c",
}


def to_e164(value: str) -> str:
    """A phone number as canonical E.164 ('+221771234567'); ValueError when it is not one."""
    try:
        number = phonenumbers.parse(value.strip(), None)
    except phonenumbers.NumberParseException:
        raise ValueError("not an E.164 phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class Config(BaseModel):
    """A vendor's Twilio account: `channels.twilio` in the vendor YAML (secrets as ${ENV} references)."""

    model_config = ConfigDict(extra="forbid")

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: str = Field(min_length=1, repr=False)
    # SMS sender: a Twilio number (E.164) or an alphanumeric sender id (one-way), or a Messaging Service.
    from_number: str | None = None
    messaging_service_sid: str | None = Field(None, pattern=r"^MG[0-9a-fA-F]{32}$")
    # The WhatsApp-enabled Twilio number, when the vendor also talks to buyers on WhatsApp through Twilio.
    whatsapp_from: str | None = None
    status_callback_url: str | None = Field(None, pattern=URL_PATTERN)
    webhook_url: str | None = Field(None, pattern=URL_PATTERN)
    validity_period: int | None = Field(None, ge=1, le=36000)
    api_base_url: str = DEFAULT_API_BASE

    @field_validator("from_number")
    @classmethod
    def _from_number(cls, value: str | None) -> str | None:
        if value is None or re.fullmatch(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}", value):
            return value
        if value.strip().startswith("+"):
            try:
                return to_e164(value)
            except ValueError:
                pass
        raise ValueError(f"'{value}' is neither an E.164 number like +33757001234 nor an alphanumeric "
                         "sender id (1-11 letters, digits or spaces, not only digits)")

    @field_validator("whatsapp_from")
    @classmethod
    def _whatsapp_from(cls, value: str | None) -> str | None:
        if value is None:
            return None
        bare = value[len(WHATSAPP_PREFIX):] if value.lower().startswith(WHATSAPP_PREFIX) else value
        try:
            return to_e164(bare)
        except ValueError:
            raise ValueError(f"'{value}' is not an E.164 phone number (optionally prefixed 'whatsapp:')") from None

    @model_validator(mode="after")
    def _one_sender(self) -> Config:
        if self.from_number and self.messaging_service_sid:
            raise ValueError("set from_number or messaging_service_sid, not both")
        if not (self.from_number or self.messaging_service_sid or self.whatsapp_from):
            raise ValueError("a sender is needed: from_number, messaging_service_sid or whatsapp_from")
        return self


# inbound: signature
def signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """base64 HMAC-SHA1 over the URL + every parameter sorted by name (values sorted, deduplicated, as the SDK)."""
    grouped: dict[str, set[str]] = {}
    for name, value in params:
        grouped.setdefault(name, set()).add(value)
    message = url + "".join(name + value for name in sorted(grouped) for value in sorted(grouped[name]))
    digest = hmac.new(auth_token.encode(), message.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def url_candidates(url: str) -> list[str]:
    """The URL as Twilio may have signed it: with and without the default port (Twilio is inconsistent,
    the official SDK tries both) and, when a connection-override fragment is configured, with and without it."""
    out: list[str] = []
    bases = [url, url.partition("#")[0]] if "#" in url else [url]
    for base in bases:
        parts = urlsplit(base)
        default = {"https": 443, "http": 80}.get(parts.scheme)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        try:
            port = parts.port
        except ValueError:
            port = None
        variants = [base]
        if default is not None and host:
            if port == default:
                variants.append(urlunsplit(parts._replace(netloc=host)))
            elif port is None:
                variants.append(urlunsplit(parts._replace(netloc=f"{host}:{default}")))
        out.extend(v for v in variants if v not in out)
    return out


def verify(auth_token: str, urls: list[str], params: list[tuple[str, str]], header: str | None) -> bool:
    """True when the header is the signature of one of the candidate URLs; compared in constant time."""
    if not auth_token or not header:
        return False
    return any(hmac.compare_digest(signature(auth_token, u, params).encode(), header.encode()) for u in urls)


# inbound: parsing
def parse_form(raw: bytes) -> list[tuple[str, str]]:
    """The POSTed parameters, decoded from the exact bytes received (the ones Twilio signed)."""
    return parse_qsl(raw.decode("utf-8"), keep_blank_values=True)


def _first_values(params: list[tuple[str, str]]) -> dict[str, str]:
    """Name → value; a repeated name keeps its first value (Twilio sends none, an attacker might)."""
    form: dict[str, str] = {}
    for name, value in params:
        form.setdefault(name, value)
    return form


def is_status_callback(params: list[tuple[str, str]]) -> bool:
    """A StatusCallback about one of our messages, as opposed to a message from the buyer."""
    status = _first_values(params).get("MessageStatus", "").strip().lower()
    return bool(status) and status not in INBOUND_STATUSES


def _split_address(value: str) -> tuple[Channel | None, str]:
    """'whatsapp:+221…' → ('whatsapp', '+221…'); '+221…' → ('sms', …); other prefixes → (None, …)."""
    prefix, sep, rest = value.strip().partition(":")
    if not sep:
        return "sms", value.strip()
    if prefix.lower() == "whatsapp":
        return "whatsapp", rest
    return None, value.strip()


def _media_kind(mime: str | None) -> str:
    major = (mime or "").partition("/")[0]
    return major if major in ("image", "video", "audio") else "document"


def parse_params(params: list[tuple[str, str]], vendor_id: str, *, outbound_id: str | None = None) -> list[Event]:
    """One webhook request → zero or one Event. ValueError when it is not a Twilio messaging webhook."""
    form = _first_values(params)
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid") or ""
    if not _SID.match(sid):
        raise ValueError("MessageSid is missing or malformed")
    base: dict[str, Any] = {"provider": "twilio", "vendor_id": vendor_id, "provider_message_id": sid}
    if is_status_callback(params):
        raw_status = form["MessageStatus"].strip().lower()
        status = STATUSES.get(raw_status)
        if status is None:
            log.info("twilio status %r for %s ignored", raw_status[:32], sid)
            return []
        channel, to = _split_address(form.get("To", ""))
        try:
            address = to_e164(to)
        except ValueError:
            address = "unknown"  # the status still updates our message; the address only orders it
        data: dict[str, Any] = {"twilio_status": raw_status}
        if outbound_id:
            data["outbound_id"] = outbound_id
        return [Event(**base, id=f"tw:{vendor_id}:{sid}:{raw_status}", kind="status", channel=channel or "sms",
                      contact=Contact(address=address), status=status,
                      error_code=form.get("ErrorCode") or None, data=data)]
    channel, sender = _split_address(form.get("From", ""))
    if channel is None:
        log.info("twilio message %s from an unsupported channel ignored", sid)
        return []
    contact = Contact(address=to_e164(sender), name=form.get("ProfileName") or None)
    text = form.get("Body") or None
    media_items: list[Media] = []
    for n in range(10):
        url = form.get(f"MediaUrl{n}")
        if not url:
            break
        mime = form.get(f"MediaContentType{n}") or None
        media_items.append(Media(kind=_media_kind(mime), url=url, mime_type=mime, caption=text))  # type: ignore[arg-type]
    extra: dict[str, Any] = {}
    if len(media_items) > 1:
        extra["media"] = [m.model_dump(exclude_none=True) for m in media_items]
    if text is None and not media_items:
        extra["unsupported"] = "empty"
    return [Event(**base, id=f"tw:{vendor_id}:{sid}", kind="message", channel=channel, contact=contact,
                  text=text, media=media_items[0] if media_items else None, data=extra)]


# outbound: text
def is_gsm7(text: str) -> bool:
    return all(c in GSM7 for c in text)


def gsm7_safe(text: str) -> str | None:
    """The text folded into the GSM-7 alphabet (ç→c, ê→e, ’→', …→..., emojis dropped), or None when a
    character has no GSM-7 equivalent (Arabic, …): then the message has to go out as UCS-2 anyway."""
    out: list[str] = []
    dropped = False
    for c in text:
        if c in GSM7:
            out.append(c)
        elif c in _FOLD:
            out.append(_FOLD[c])
        else:
            folded = "".join(d for d in unicodedata.normalize("NFKD", c) if not unicodedata.combining(d))
            if folded and all(d in GSM7 for d in folded):
                out.append(folded)
            elif unicodedata.category(c)[0] in "LN":
                return None
            else:
                dropped = True  # emoji, pictograph or other symbol: costs UCS-2 for decoration only
    result = "".join(out)
    if dropped:
        result = re.sub(r" {2,}", " ", result)
        result = re.sub(r" *\n *", "\n", result).strip()
    return result


def segments(text: str) -> int:
    """SMS segments a text costs: GSM-7 160 in one / 153 per part (extension chars count 2, never split),
    else UCS-2 70 / 67 (characters outside the BMP count 2)."""
    if is_gsm7(text):
        weights, single, multi = [2 if c in GSM7_EXTENSION else 1 for c in text], 160, 153
    else:
        weights, single, multi = [len(c.encode("utf-16-le")) // 2 for c in text], 70, 67
    if sum(weights) <= single:
        return 1
    count, used = 1, 0
    for w in weights:
        if used + w > multi:
            count, used = count + 1, 0
        used += w
    return count


def render_text(reply: Reply, *, gsm7: bool = True) -> str:
    """The message body: text, buttons and list rows as numbered choices, then the link if not in the text."""
    parts = [reply.text.strip()] if reply.text and reply.text.strip() else []
    choices = [b.title for b in reply.buttons]
    choices += [f"{r.title} - {r.description}" if r.description else r.title
                for s in reply.list_sections for r in s.rows]
    if choices:
        parts.append("\n".join(f"{i}. {title}" for i, title in enumerate(choices, 1)))
    if reply.link and reply.link not in (reply.text or ""):
        parts.append(reply.link)
    body = "\n".join(parts)
    if gsm7:
        body = gsm7_safe(body) or body
    return body


def split_body(body: str, limit: int = BODY_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut after a newline or a space when there is one."""
    pieces: list[str] = []
    while len(body) > limit:
        cut = max(body.rfind("\n", 0, limit + 1), body.rfind(" ", 0, limit + 1))
        cut = cut + 1 if cut > limit // 2 else limit
        pieces.append(body[:cut].rstrip())
        body = body[cut:].lstrip()
    if body:
        pieces.append(body)
    return pieces


def _masked(message: str) -> str:
    """Provider error text with phone numbers masked (it lands in logs and in the transcript)."""
    return _DIGITS.sub(lambda m: mask_address(m.group(0).replace(" ", "")), message)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


# outbound: sending
class TwilioSender:
    """Sends through the Messages API at `api_base_url` (configurable so tests point it at a local server).

    Twilio's create call has no idempotency key, so a send whose outcome is unknown (timeout, dropped
    connection, 5xx) is looked up in the account's recent messages before it is sent again, and the
    parts of a split message already sent are not sent twice (both remembered in this process only).
    """

    MEMORY = 10_000

    def __init__(self, config: Config) -> None:
        self.config = config
        base = config.api_base_url.rstrip("/")
        self._messages_url = f"{base}/2010-04-01/Accounts/{config.account_sid}/Messages.json"
        self._session: aiohttp.ClientSession | None = None
        self._sent_parts: OrderedDict[str, list[str]] = OrderedDict()
        self._unsure: OrderedDict[str, float] = OrderedDict()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=15),
                auth=aiohttp.BasicAuth(self.config.account_sid, self.config.auth_token),
            )
        return self._session

    @staticmethod
    def _remember(store: OrderedDict[str, Any], key: str, value: Any) -> None:
        store[key] = value
        store.move_to_end(key)
        while len(store) > TwilioSender.MEMORY:
            store.popitem(last=False)

    def _is_whatsapp(self, recipient: str, reply: Reply) -> bool:
        if recipient.lower().startswith(WHATSAPP_PREFIX) or reply.data.get("channel") == "whatsapp":
            return True
        return not (self.config.from_number or self.config.messaging_service_sid)

    def _status_callback(self, idempotency_key: str) -> str | None:
        url = self.config.status_callback_url or self.config.webhook_url
        if not url:
            return None
        url, hash_, fragment = url.partition("#")
        url += ("&" if "?" in url else "?") + "outbound_id=" + quote(idempotency_key, safe="")
        return url + hash_ + fragment

    def fields(self, recipient: str, body: str, *, whatsapp: bool, media_url: str | None,
               idempotency_key: str) -> list[tuple[str, str]]:
        """The form fields of one Messages create call, in the order of the fixture."""
        bare = recipient[len(WHATSAPP_PREFIX):] if recipient.lower().startswith(WHATSAPP_PREFIX) else recipient
        try:
            to = to_e164(bare)
        except ValueError:
            raise PermanentSendError(f"twilio: recipient {mask_address(bare)} is not a phone number") from None
        out: list[tuple[str, str]] = []
        if whatsapp:
            out.append(("To", WHATSAPP_PREFIX + to))
            if self.config.whatsapp_from:
                out.append(("From", WHATSAPP_PREFIX + self.config.whatsapp_from))
            elif self.config.messaging_service_sid:
                out.append(("MessagingServiceSid", self.config.messaging_service_sid))
        else:
            out.append(("To", to))
            if self.config.from_number:
                out.append(("From", self.config.from_number))
            elif self.config.messaging_service_sid:
                out.append(("MessagingServiceSid", self.config.messaging_service_sid))
        if len(out) == 1:
            raise PermanentSendError("twilio: no sender configured for this channel")
        if body:
            out.append(("Body", body))
        if media_url:
            out.append(("MediaUrl", media_url))
        callback = self._status_callback(idempotency_key)
        if callback:
            out.append(("StatusCallback", callback))
        if self.config.validity_period:
            out.append(("ValidityPeriod", str(self.config.validity_period)))
        return out

    async def send(self, recipient: str, reply: Reply, *, idempotency_key: str) -> str:
        whatsapp = self._is_whatsapp(recipient, reply)
        body = render_text(reply, gsm7=not whatsapp)
        pieces: list[str] = split_body(body) or ([""] if reply.media_url else [])
        if not pieces:
            if reply.template:
                raise PermanentSendError(f"twilio: template '{reply.template.name}' has no text to send")
            log.info("twilio: nothing to send for %s", idempotency_key)
            return ""
        sent = self._sent_parts.get(idempotency_key, [])
        for i, piece in enumerate(pieces):
            if i < len(sent):
                continue
            fields = self.fields(recipient, piece, whatsapp=whatsapp, media_url=reply.media_url if i == 0 else None,
                                 idempotency_key=idempotency_key)
            sid = await self._create(fields, f"{idempotency_key}#{i}")
            sent = [*sent, sid]
            self._remember(self._sent_parts, idempotency_key, sent)
            if whatsapp:
                log.info("twilio whatsapp sent to=%s sid=%s", mask_address(fields[0][1]), sid)
            else:
                log.info("twilio sms sent to=%s sid=%s segments=%d encoding=%s", mask_address(fields[0][1]), sid,
                         segments(piece), "gsm7" if is_gsm7(piece) else "ucs2")
        self._sent_parts.pop(idempotency_key, None)
        # The last part's delivery is the best sign that the buyer has the whole text.
        return sent[-1]

    async def _create(self, fields: list[tuple[str, str]], attempt_key: str) -> str:
        if attempt_key in self._unsure:
            found = await self._find_sent(fields, self._unsure[attempt_key])
            if found:
                self._unsure.pop(attempt_key, None)
                return found
        started = time.time()
        payload = urlencode(fields).encode()
        try:
            async with self._http().post(self._messages_url, data=payload,
                                         headers={"Content-Type": "application/x-www-form-urlencoded"}) as resp:
                status, retry_header = resp.status, resp.headers.get("Retry-After")
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = {}
        except aiohttp.ClientConnectorError as exc:
            raise SendError(f"twilio: cannot connect ({type(exc).__name__})") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._remember(self._unsure, attempt_key, self._unsure.get(attempt_key, started))
            raise SendError(f"twilio: no answer ({type(exc).__name__}); will check before resending") from None
        data = data if isinstance(data, dict) else {}
        if 200 <= status < 300 and isinstance(data.get("sid"), str):
            self._unsure.pop(attempt_key, None)
            return str(data["sid"])
        code = data.get("code")
        message = str(data.get("message") or f"HTTP {status}")
        if status == 429 or code == 20429:
            self._unsure.pop(attempt_key, None)
            raise SendError(f"twilio {code or 429}: rate limited", retry_after=_retry_after(retry_header))
        if status >= 500 or status < 400:
            self._remember(self._unsure, attempt_key, self._unsure.get(attempt_key, started))
            raise SendError(f"twilio: HTTP {status}")
        self._unsure.pop(attempt_key, None)
        reason = KNOWN_ERRORS.get(code, message) if isinstance(code, int) else message
        raise PermanentSendError(f"twilio {code or status}: {_masked(reason)}")

    async def _find_sent(self, fields: list[tuple[str, str]], since: float) -> str | None:
        """The sid of a message created by an earlier unanswered attempt, if Twilio has it."""
        form = dict(fields)
        query = {"To": form["To"], "PageSize": "20"}
        if "From" in form:
            query["From"] = form["From"]
        try:
            async with self._http().get(self._messages_url, params=query) as resp:
                data = await resp.json(content_type=None) if resp.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            raise SendError("twilio: an earlier attempt may have been sent and cannot be checked yet")
        for m in data["messages"]:
            if not isinstance(m, dict) or m.get("body") != form.get("Body", ""):
                continue
            try:
                created = parsedate_to_datetime(str(m.get("date_created"))).timestamp()
            except (TypeError, ValueError):
                continue
            if created >= since - 120 and isinstance(m.get("sid"), str):  # 2 min for clock skew
                log.info("twilio: earlier attempt found as %s, not resent", m["sid"])
                return str(m["sid"])
        return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def make_sender(config: Config) -> TwilioSender:
    return TwilioSender(config)
