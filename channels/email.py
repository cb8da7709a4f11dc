"""E-mail adapter: SendGrid Inbound Parse (path token) → Event, Reply → SendGrid Mail Send or SMTP."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import hmac
import json
import logging
import re
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser, HeaderParser
from email.policy import SMTP as SMTP_POLICY
from email.policy import default as default_policy
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

import aiohttp
from aiohttp.base_protocol import BaseProtocol
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, Field, model_validator

from channels.base import PermanentSendError, SendError, mask_address
from channels.events import Contact, Event
from channels.replies import Reply

log = logging.getLogger("palabre.channels.email")

DEFAULT_API_BASE = "https://api.sendgrid.com"
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "email"
# SendGrid documents 20 MB and 30 MB in different places (CHANNELS.md §6.1.4): accept the larger.
MAX_INBOUND_BYTES = 32 * 1024 * 1024
MAX_TEXT = 8000
# Quote stripping and HTML parsing are pure Python on the event loop: bound the work per mail.
MAX_SCAN = 200_000
MAX_FIELDS = 200
ADDRESS = re.compile(r"^[^@\s<>,;\"]{1,64}@[^@\s<>,;\"]{1,255}\.[^@\s<>,;\"]{1,63}$")
MSG_ID = re.compile(r"<[^<>\s]{1,500}>")
URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
TRAILING_PUNCT = ".,;:!?)]}»'\""
REPLY_PREFIX = re.compile(r"^\s*(?:re|tr|fw|fwd|réf)\s*:", re.IGNORECASE)
EMAIL_IN_TEXT = re.compile(r"[^@\s<>\"'(),;:]+@[^@\s<>\"'(),;:]+")

STRINGS: dict[str, dict[str, str]] = {
    "fr": {"hint": "Répondez à cet e-mail avec le numéro de votre choix (par exemple 1).",
           "subject": "{name} — votre commande", "photo": "Photo", "link": "Lien"},
    "en": {"hint": "Reply to this e-mail with the number of your choice (for example 1).",
           "subject": "{name} — your order", "photo": "Photo", "link": "Link"},
}


class Config(BaseModel):
    """A vendor's e-mail channel: `channels.email` in the vendor YAML (secrets as ${ENV} references)."""

    # hide_input_in_errors: a validation error must not print the secrets it was given.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    from_address: str = Field(pattern=ADDRESS.pattern)
    from_name: str = Field(min_length=1, max_length=120)
    reply_to: str | None = Field(default=None, pattern=ADDRESS.pattern)
    locale: Literal["fr", "en"] = "fr"
    transport: Literal["sendgrid", "smtp"] = "sendgrid"
    api_key: str | None = Field(default=None, min_length=1, repr=False)
    api_base_url: str = DEFAULT_API_BASE
    smtp_host: str | None = Field(default=None, min_length=1)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_starttls: bool = True
    # The Parse webhook has no signature by default: this token in the URL path is the authentication.
    inbound_token: str = Field(pattern=r"^[A-Za-z0-9_-]{16,128}$", repr=False)

    @model_validator(mode="after")
    def _transport_settings(self) -> Config:
        if self.transport == "sendgrid" and not self.api_key:
            raise ValueError("api_key is required when transport is 'sendgrid'")
        if self.transport == "smtp" and not self.smtp_host:
            raise ValueError("smtp_host is required when transport is 'smtp'")
        if self.smtp_password and not self.smtp_username:
            raise ValueError("smtp_password is set but smtp_username is missing")
        return self


def verify(config: Config, token: str | None) -> bool:
    """The token from the Parse URL must equal the configured one (constant-time compare)."""
    expected = config.inbound_token
    return bool(expected) and bool(token) and hmac.compare_digest(expected.encode(), (token or "").encode())


class InboundError(ValueError):
    """An Inbound Parse request that is not an e-mail we can read."""


# ---------------------------------------------------------------------------------------------- inbound


@dataclass
class _Form:
    fields: dict[str, bytes] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)


async def read_form(raw: bytes, content_type: str) -> _Form:
    """The multipart/form-data fields of the POST, read from the bytes we received."""
    if not content_type.lower().lstrip().startswith("multipart/form-data"):
        raise InboundError("expected multipart/form-data")
    loop = asyncio.get_running_loop()
    stream = aiohttp.StreamReader(BaseProtocol(loop), limit=len(raw) + 1, loop=loop)
    stream.feed_data(raw)
    stream.feed_eof()
    form = _Form()
    try:
        reader = aiohttp.MultipartReader({"Content-Type": content_type}, stream)
        count = 0
        while (part := await reader.next()) is not None:
            count += 1
            if count > MAX_FIELDS:
                raise InboundError("too many form fields")
            if not isinstance(part, aiohttp.BodyPartReader):
                await part.release()
                continue
            data = bytes(await part.read())
            if part.filename is not None:
                form.files.append({"field": part.name, "filename": part.filename,
                                   "type": part.headers.get("Content-Type"), "size": len(data)})
            elif part.name and part.name not in form.fields:
                form.fields[part.name] = data
    except InboundError:
        raise
    except Exception as exc:
        # aiohttp's reader signals malformed bodies with many exception types (ValueError,
        # AssertionError, RuntimeError, LineTooLong…): all of them mean "not a form we can read".
        raise InboundError(f"malformed multipart body ({type(exc).__name__})") from None
    return form


def _decode(form: _Form, name: str, charsets: dict[str, str]) -> str | None:
    data = form.fields.get(name)
    if data is None:
        return None
    charset = charsets.get(name) or "utf-8"
    try:
        return data.decode(charset, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def _json_field(form: _Form, name: str) -> dict[str, Any]:
    try:
        value = json.loads(form.fields.get(name) or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _header(msg: Message, name: str) -> str | None:
    try:
        value = msg.get(name)
    except Exception:
        # The default policy parses a header when it is read, and a few malformed values make
        # that parser raise instead of recording a defect: treat such a header as absent.
        return None
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _decoded_words(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except Exception:
        return value


class _HtmlText(HTMLParser):
    """Visible text of an HTML mail, without the quoted history clients put in blockquotes."""

    BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"})
    HIDDEN = frozenset({"blockquote", "style", "script", "head", "title"})
    QUOTE_CLASSES = ("gmail_quote", "moz-cite-prefix", "yahoo_quoted", "divRplyFwdMsg")
    # Only elements that have an end tag can open a skipped region (an <img class=…> never closes).
    CONTAINERS = frozenset({"div", "span", "table", "section", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_tag: str | None = None
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth += 1
            return
        marks = " ".join(v or "" for k, v in attrs if k in ("class", "id"))
        quote = tag in self.CONTAINERS and any(c in marks for c in self.QUOTE_CLASSES)
        if tag in self.HIDDEN or quote:
            self._skip_tag, self._skip_depth = tag, 1
            return
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_tag = None
            return
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip_tag is None:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(markup[:MAX_SCAN * 5])
        parser.close()
    except Exception:
        return ""
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_ATTRIBUTION = re.compile(r"^\s*(?:le\s.{0,400}a\s+[ée]crit|on\s.{0,400}wrote)\s*:\s*$", re.IGNORECASE | re.DOTALL)
_SEPARATOR = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|message d'origine|message original|forwarded message|message transf[ée]r[ée])"
    r"\s*-{2,}|_{10,})\s*$", re.IGNORECASE)
_HEADER_FROM = re.compile(r"^\s*\*?(?:de|from)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\s*\*?(?:envoy[ée]|sent|date|à|to|objet|subject)\s*:", re.IGNORECASE)
_MOBILE_SIGNATURE = re.compile(r"^\s*(?:envoy[ée]|sent)\s+(?:de|depuis|from)\s+(?:mon|my)\s.{0,40}$", re.IGNORECASE)


def _quote_start(lines: list[str]) -> int:
    """Index of the first line of the quoted history (len(lines) when there is none)."""
    for i, line in enumerate(lines):
        if _SEPARATOR.match(line):
            return i
        if _HEADER_FROM.match(line) and i + 1 < len(lines) and _HEADER_NEXT.match(lines[i + 1]):
            return i
        # Clients wrap a long "Le … a écrit :" line, so look at up to three lines joined.
        for span in (1, 2, 3):
            if i + span <= len(lines) and lines[i].strip() and _ATTRIBUTION.match(" ".join(lines[i:i + span])):
                return i
    return len(lines)


def strip_quoted(text: str) -> str:
    """The new part of a reply: no quoted history, no "> " lines, no signature."""
    lines = [line.rstrip() for line in text[:MAX_SCAN].replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    cut = _quote_start(lines)
    new = [line for line in lines[:cut] if not line.lstrip().startswith(">")]
    if not "".join(new).strip():
        # Bottom-posted answer: the new text comes after the quote.
        new = [line for line in lines[cut + 1:] if not line.lstrip().startswith(">")]
    if "--" in new:
        new = new[:new.index("--")]
    new = [line for line in new if not _MOBILE_SIGNATURE.match(line)]
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(new)).strip()
    return out[:MAX_TEXT]


def _msg_ids(value: str | None) -> list[str]:
    return MSG_ID.findall(value or "")


def _is_automatic(headers: Message, envelope_from: str | None, content_type: str | None) -> bool:
    """Auto-replies and bounces: answering them could loop with another robot."""
    auto = (_header(headers, "Auto-Submitted") or "no").lower()
    precedence = (_header(headers, "Precedence") or "").lower()
    if auto != "no" or precedence in ("bulk", "junk", "list", "auto_reply"):
        return True
    if _header(headers, "X-Autoreply") or _header(headers, "X-Autorespond"):
        return True
    if (content_type or "").lower().startswith("multipart/report"):
        return True
    return envelope_from is not None and envelope_from.strip() in ("", "<>")


def _raw_mime_body(msg: EmailMessage) -> tuple[str | None, list[dict[str, Any]]]:
    text: str | None = None
    try:
        body = msg.get_body(preferencelist=("plain", "html"))
    except Exception:
        body = None
    if body is not None:
        try:
            content = body.get_content()
        except Exception:
            payload = body.get_payload(decode=True)
            content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
        if isinstance(content, str):
            text = html_to_text(content) if body.get_content_subtype() == "html" else content
    files: list[dict[str, Any]] = []
    with contextlib.suppress(Exception):
        for part in msg.iter_attachments():
            payload = part.get_payload(decode=True)
            files.append({"filename": part.get_filename(), "type": part.get_content_type(),
                          "size": len(payload) if isinstance(payload, bytes) else 0})
    return text, files


async def parse_inbound(raw: bytes, content_type: str, vendor_id: str, config: Config) -> list[Event]:
    """One Inbound Parse POST (parsed or raw-MIME mode) → zero or one Event.

    Auto-replies, bounces and our own mails give no event: they are acknowledged and dropped.
    Raises InboundError when the body is not an Inbound Parse form with a sender.
    """
    form = await read_form(raw, content_type)
    charsets = {str(k): str(v) for k, v in _json_field(form, "charsets").items()}
    envelope = _json_field(form, "envelope")
    envelope_from = envelope.get("from") if isinstance(envelope.get("from"), str) else None
    if "email" in form.fields:
        mime = form.fields["email"]
        try:
            parsed = BytesParser(policy=default_policy).parsebytes(mime)
        except Exception:
            raise InboundError("the 'email' field is not a MIME message") from None
        if not isinstance(parsed, EmailMessage):
            raise InboundError("the 'email' field is not a MIME message")
        headers: Message = parsed
        text, files = _raw_mime_body(parsed)
        content_hash = hashlib.sha256(mime).hexdigest()
    elif "headers" in form.fields or "from" in form.fields:
        header_block = _decode(form, "headers", charsets) or ""
        try:
            headers = HeaderParser(policy=default_policy).parsestr(header_block)
        except Exception:
            raise InboundError("the 'headers' field cannot be parsed") from None
        text = _decode(form, "text", charsets)
        if not (text and text.strip()):
            text = html_to_text(_decode(form, "html", charsets) or "")
        files = form.files
        hashed = b"\0".join(form.fields.get(n, b"") for n in ("headers", "from", "subject", "text", "html"))
        content_hash = hashlib.sha256(hashed).hexdigest()
    else:
        raise InboundError("neither 'email' nor 'headers'/'from' in the form")

    from_value = _header(headers, "From") or _decode(form, "from", charsets) or envelope_from or ""
    name, address = email.utils.parseaddr(from_value)
    if not ADDRESS.match(address.strip()) and envelope_from:
        address = email.utils.parseaddr(envelope_from)[1]
    address = address.strip().lower()
    if not ADDRESS.match(address):
        raise InboundError("no sender address")
    if address == config.from_address.lower() or address.split("@")[0] in ("mailer-daemon", "postmaster"):
        log.info("e-mail from %s ignored (our own or a mailer daemon)", mask_address(address))
        return []
    if _is_automatic(headers, envelope_from, _header(headers, "Content-Type")):
        log.info("automatic e-mail from %s ignored (auto-reply or bounce)", mask_address(address))
        return []

    subject = (_header(headers, "Subject") or _decode(form, "subject", charsets) or "").strip()[:300]
    body = strip_quoted(text or "")
    if not body and subject and not REPLY_PREFIX.match(subject):
        # A new mail with the product code in the subject and an empty body.
        body = subject[:MAX_TEXT]
    message_ids = _msg_ids(_header(headers, "Message-ID"))
    message_id = message_ids[0] if message_ids else None
    if message_id and len(message_id) <= 200:
        key = message_id
    else:
        key = "sha256:" + (hashlib.sha256(message_id.encode()).hexdigest() if message_id else content_hash)
    references = _msg_ids(_header(headers, "References"))[-20:]
    in_reply_to = (_msg_ids(_header(headers, "In-Reply-To")) or references[-1:] or [None])[0]
    # received_at stays the arrival time: the Date header is the sender's clock, and a wrong one
    # would misplace the mail among our replies in the transcript.
    data: dict[str, Any] = {"subject": subject or None, "date": (_header(headers, "Date") or "")[:100] or None}
    if message_id:
        # What a reply to this mail needs to thread under it (RFC 5322 §3.6.4).
        data["reply_data"] = {"in_reply_to": message_id, "references": " ".join([*references, message_id]),
                              "subject": subject or None}
    if files:
        data["attachments"] = [{k: f.get(k) for k in ("filename", "type", "size")} for f in files[:20]]
    display = _decoded_words(name).strip()[:128] or None
    return [Event(
        id=f"em:{vendor_id}:{key}", kind="message", channel="email", provider="email", vendor_id=vendor_id,
        contact=Contact(address=address, name=display), text=body or None, data=data,
        reply_to=in_reply_to, provider_message_id=message_id,
    )]


# --------------------------------------------------------------------------------------------- outbound


@dataclass
class RenderedMail:
    subject: str
    text: str
    html: str
    headers: dict[str, str]


def _linkify(value: str) -> Markup:
    """Escaped text with http(s) URLs as links and line breaks as <br>."""
    out: list[str] = []
    pos = 0
    for m in URL.finditer(value):
        url = m.group(0).rstrip(TRAILING_PUNCT)
        end = m.start() + len(url)
        out.append(str(escape(value[pos:m.start()])))
        out.append(f'<a href="{escape(url)}" style="color:#0b6e4f">{escape(url)}</a>')
        pos = end
    out.append(str(escape(value[pos:])))
    return Markup("<br>\n".join("".join(out).split("\n")))


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=StrictUndefined,
                      keep_trailing_newline=True)
    env.filters["linkify"] = _linkify
    return env


def _one_line(value: Any, limit: int) -> str:
    return " ".join(str(value).split())[:limit]


def _subject(config: Config, reply: Reply) -> str:
    last = _one_line(reply.data.get("subject") or "", 250)
    if last:
        return last if REPLY_PREFIX.match(last) else f"Re: {last}"
    return STRINGS[config.locale]["subject"].format(name=config.from_name)


def _threading_headers(reply: Reply) -> dict[str, str]:
    headers: dict[str, str] = {}
    # Only well-formed <id> tokens: anything else could smuggle header lines into the mail.
    parent = _msg_ids(str(reply.data.get("in_reply_to") or ""))
    if parent:
        headers["In-Reply-To"] = parent[0]
        refs = _msg_ids(str(reply.data.get("references") or ""))[-20:] or parent[:1]
        headers["References"] = " ".join(refs)
    # RFC 3834: marks our mails as automatic so vacation responders do not answer them.
    headers["Auto-Submitted"] = "auto-replied"
    headers["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    return headers


def render(config: Config, reply: Reply) -> RenderedMail:
    """The plain-text and HTML bodies of a Reply: buttons and list rows become numbered choices."""
    strings = STRINGS[config.locale]
    choices: list[dict[str, Any]] = [{"number": i, "title": b.title, "description": None, "section": None}
                                     for i, b in enumerate(reply.buttons, start=1)]
    for section in reply.list_sections:
        for row in section.rows:
            choices.append({"number": len(choices) + 1, "title": row.title, "description": row.description,
                            "section": section.title})
    links: list[dict[str, str]] = []
    if reply.media_url:
        links.append({"label": strings["photo"], "url": reply.media_url})
    if reply.link and reply.link not in (reply.text or ""):
        links.append({"label": strings["link"], "url": reply.link})
    body = (reply.text or "").strip()
    if not body and reply.template:
        body = " ".join(reply.template.parameters)
    if not (body or choices or links):
        raise PermanentSendError("e-mail: nothing to send (empty reply)")

    colon = " :" if config.locale == "fr" else ":"
    text_parts = [body] if body else []
    if choices:
        lines: list[str] = []
        section = None
        for c in choices:
            if c["section"] and c["section"] != section:
                section = c["section"]
                lines.append(f"{section}{colon}")
            lines.append(f"{c['number']}. {c['title']}" + (f" — {c['description']}" if c["description"] else ""))
        text_parts.append("\n".join(lines))
        text_parts.append(strings["hint"])
    for link in links:
        text_parts.append(f"{link['label']}{colon} {link['url']}")
    text_parts.append(f"— {config.from_name}")
    text = "\n\n".join(text_parts) + "\n"

    subject = _subject(config, reply)
    paragraphs = [p.strip("\n") for p in re.split(r"\n\s*\n", body) if p.strip()]
    markup = _environment().get_template("base.html.j2").render(
        lang=config.locale, subject=subject, colon=colon, paragraphs=paragraphs, choices=choices, hint=strings["hint"],
        links=[{**link, "clickable": bool(URL.fullmatch(link["url"]))} for link in links],
        from_name=config.from_name,
    )
    return RenderedMail(subject=subject, text=text, html=markup, headers=_threading_headers(reply))


def _masked(message: str) -> str:
    return EMAIL_IN_TEXT.sub(lambda m: mask_address(m.group(0)), message)[:300]


def _recipient(recipient: str) -> str:
    address = recipient.strip().lower()
    if not ADDRESS.match(address):
        raise PermanentSendError(f"e-mail: not an e-mail address: {mask_address(address)}")
    return address


class SendGridSender:
    """Sends through SendGrid's v3 Mail Send API at `api_base` (configurable so tests use a local server)."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._url = f"{config.api_base_url.rstrip('/')}/v3/mail/send"
        self._session: aiohttp.ClientSession | None = None

    def body(self, recipient: str, reply: Reply, idempotency_key: str) -> dict[str, Any]:
        """The Mail Send JSON for a Reply (shape of fixtures/channels/sendgrid_email/outbound/mail_send.json)."""
        mail = render(self._config, reply)
        to: dict[str, str] = {"email": _recipient(recipient)}
        name = _one_line(reply.data.get("name") or "", 120)
        if name:
            to["name"] = name
        out: dict[str, Any] = {
            "personalizations": [{"to": [to]}],
            "from": {"email": self._config.from_address, "name": self._config.from_name},
        }
        if self._config.reply_to:
            out["reply_to"] = {"email": self._config.reply_to}
        out["subject"] = mail.subject
        out["headers"] = mail.headers
        out["content"] = [{"type": "text/plain", "value": mail.text}, {"type": "text/html", "value": mail.html}]
        # Echoed by SendGrid's Event Webhook, so delivery events can be matched to our outbox entry.
        out["custom_args"] = {"palabre_outbox_id": idempotency_key[:200]}
        return out

    async def _post(self, body: dict[str, Any]) -> tuple[int, str | None, float | None, str]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        headers = {"Authorization": f"Bearer {self._config.api_key}", "Content-Type": "application/json"}
        payload = json.dumps(body, ensure_ascii=False).encode()
        try:
            async with self._session.post(self._url, data=payload, headers=headers) as resp:
                return (resp.status, resp.headers.get("X-Message-Id"), _retry_after(resp.headers),
                        await resp.text(errors="replace"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendError(f"sendgrid mail/send: {type(exc).__name__}") from None

    async def send(self, recipient: str, reply: Reply, *, idempotency_key: str) -> str:
        body = self.body(recipient, reply, idempotency_key)
        status, message_id, retry_after, text = await self._post(body)
        if status == 400 and "In-Reply-To" in body["headers"] and _rejects_headers(text):
            # Whether Mail Send accepts In-Reply-To/References is unconfirmed (CHANNELS.md §8 #21):
            # if it refuses them, an unthreaded mail is better than no mail at all.
            log.warning("sendgrid refused the threading headers; sending without them")
            body["headers"] = {k: v for k, v in body["headers"].items() if k not in ("In-Reply-To", "References")}
            status, message_id, retry_after, text = await self._post(body)
        if 200 <= status < 300:
            log.debug("mail sent to %s", mask_address(recipient))
            return message_id or f"sendgrid:{idempotency_key}"
        detail = _sendgrid_errors(text) or str(status)
        if status == 429:
            raise SendError(f"sendgrid mail/send: rate limited ({detail})", retry_after=retry_after)
        if status >= 500:
            raise SendError(f"sendgrid mail/send: {status} {detail}")
        raise PermanentSendError(f"sendgrid mail/send: {status} {detail}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After")
    with contextlib.suppress(TypeError, ValueError):
        if value is not None:
            return max(0.0, float(value))
    reset = headers.get("X-RateLimit-Reset")
    with contextlib.suppress(TypeError, ValueError):
        if reset is not None:
            return max(0.0, float(reset) - time.time())
    return None


def _rejects_headers(body: str) -> bool:
    try:
        errors = json.loads(body).get("errors") or []
        return any(str(e.get("field") or "").startswith("headers") for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        return False


def _sendgrid_errors(body: str) -> str:
    try:
        errors = json.loads(body).get("errors") or []
        text = "; ".join(f"{e.get('field') or '-'}: {e.get('message')}" for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        text = ""
    return _masked(text)


class SmtpSender:
    """Sends through any SMTP relay with the blocking stdlib client in a thread (e-mail is not the hot path)."""

    def __init__(self, config: Config) -> None:
        self._config = config

    def message(self, recipient: str, reply: Reply, idempotency_key: str) -> EmailMessage:
        """The MIME message for a Reply: text/plain + text/html alternatives, threading headers set."""
        mail = render(self._config, reply)
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["From"] = email.utils.formataddr((self._config.from_name, self._config.from_address))
        to = _recipient(recipient)
        name = _one_line(reply.data.get("name") or "", 120)
        msg["To"] = email.utils.formataddr((name, to)) if name else to
        if self._config.reply_to:
            msg["Reply-To"] = self._config.reply_to
        msg["Subject"] = mail.subject
        msg["Date"] = email.utils.formatdate(localtime=False)
        # Derived from the outbox id: a resend after a crash carries the same Message-ID.
        domain = self._config.from_address.rsplit("@", 1)[1]
        msg["Message-ID"] = f"<out.{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}@{domain}>"
        for key, value in mail.headers.items():
            msg[key] = value
        msg.set_content(mail.text)
        msg.add_alternative(mail.html, subtype="html")
        return msg

    def _deliver(self, msg: EmailMessage, recipient: str) -> None:
        cfg = self._config
        if not cfg.smtp_host:
            raise smtplib.SMTPNotSupportedError("no smtp_host configured")
        context = ssl.create_default_context()
        client: smtplib.SMTP
        # Port 465 is implicit TLS ("SMTPS"); every other port starts in clear text.
        if cfg.smtp_port == 465:
            client = smtplib.SMTP_SSL(cfg.smtp_host, cfg.smtp_port, timeout=30, context=context)
        else:
            client = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=30)
        with client:
            if cfg.smtp_starttls and cfg.smtp_port != 465:
                client.starttls(context=context)
            if cfg.smtp_username:
                client.login(cfg.smtp_username, cfg.smtp_password or "")
            client.send_message(msg, from_addr=cfg.from_address, to_addrs=[recipient])

    async def send(self, recipient: str, reply: Reply, *, idempotency_key: str) -> str:
        msg = self.message(recipient, reply, idempotency_key)
        try:
            await asyncio.to_thread(self._deliver, msg, _recipient(recipient))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            error = PermanentSendError if codes and min(codes) >= 500 else SendError
            raise error(f"smtp: recipient refused ({', '.join(map(str, codes))})") from None
        except smtplib.SMTPResponseException as exc:
            raw = exc.smtp_error
            detail = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            error = PermanentSendError if exc.smtp_code >= 500 else SendError
            raise error(f"smtp: {exc.smtp_code} {_masked(detail)}") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentSendError(f"smtp: {_masked(str(exc))}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SendError(f"smtp: {type(exc).__name__}") from None
        log.debug("mail sent to %s", mask_address(recipient))
        return str(msg["Message-ID"])

    async def close(self) -> None:
        return None


def make_sender(config: Config) -> SendGridSender | SmtpSender:
    return SendGridSender(config) if config.transport == "sendgrid" else SmtpSender(config)

