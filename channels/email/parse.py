"""Inbound Parse → Event: sender, threading ids, text, attachments; automatic mails ignored."""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import logging
from email.message import EmailMessage, Message
from email.parser import BytesParser, HeaderParser
from email.policy import default as default_policy
from typing import Any

from channels.base import NotAMessage, mask_address
from channels.email.config import ADDRESS, MAX_TEXT, MSG_ID, REPLY_PREFIX, Config, InboundError
from channels.email.form import decode_field, decoded_words, header_of, json_field, read_form
from channels.email.quotes import html_to_text, strip_quoted
from channels.events import Contact, Event

log = logging.getLogger("palabre.channels.email")


def msg_ids(value: str | None) -> list[str]:
    return MSG_ID.findall(value or "")


def _is_automatic(headers: Message, envelope_from: str | None, content_type: str | None) -> bool:
    """Auto-replies and bounces: answering them could loop with another robot."""
    auto = (header_of(headers, "Auto-Submitted") or "no").lower()
    precedence = (header_of(headers, "Precedence") or "").lower()
    if auto != "no" or precedence in ("bulk", "junk", "list", "auto_reply"):
        return True
    if header_of(headers, "X-Autoreply") or header_of(headers, "X-Autorespond"):
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
    Raises InboundError when the body is not an Inbound Parse form, NotAMessage when it is a mail
    with no sender address (nobody to answer: the endpoint acknowledges it).
    """
    form = await read_form(raw, content_type)
    charsets = {str(k): str(v) for k, v in json_field(form, "charsets").items()}
    envelope = json_field(form, "envelope")
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
        header_block = decode_field(form, "headers", charsets) or ""
        try:
            headers = HeaderParser(policy=default_policy).parsestr(header_block)
        except Exception:
            raise InboundError("the 'headers' field cannot be parsed") from None
        text = decode_field(form, "text", charsets)
        if not (text and text.strip()):
            text = html_to_text(decode_field(form, "html", charsets) or "")
        files = form.files
        hashed = b"\0".join(form.fields.get(n, b"") for n in ("headers", "from", "subject", "text", "html"))
        content_hash = hashlib.sha256(hashed).hexdigest()
    else:
        raise InboundError("neither 'email' nor 'headers'/'from' in the form")

    from_value = header_of(headers, "From") or decode_field(form, "from", charsets) or envelope_from or ""
    name, address = email.utils.parseaddr(from_value)
    if not ADDRESS.match(address.strip()) and envelope_from:
        address = email.utils.parseaddr(envelope_from)[1]
    address = address.strip().lower()
    if not ADDRESS.match(address):
        # SendGrid posts whatever reached the MX: with no sender there is nobody to answer.
        raise NotAMessage("no sender address")
    if address == config.from_address.lower() or address.split("@")[0] in ("mailer-daemon", "postmaster"):
        log.info("e-mail from %s ignored (our own or a mailer daemon)", mask_address(address))
        return []
    if _is_automatic(headers, envelope_from, header_of(headers, "Content-Type")):
        log.info("automatic e-mail from %s ignored (auto-reply or bounce)", mask_address(address))
        return []

    subject = (header_of(headers, "Subject") or decode_field(form, "subject", charsets) or "").strip()[:300]
    body = strip_quoted(text or "")
    if not body and subject and not REPLY_PREFIX.match(subject):
        # A new mail with the product code in the subject and an empty body.
        body = subject[:MAX_TEXT]
    message_ids = msg_ids(header_of(headers, "Message-ID"))
    message_id = message_ids[0] if message_ids else None
    if message_id and len(message_id) <= 200:
        key = message_id
    else:
        key = "sha256:" + (hashlib.sha256(message_id.encode()).hexdigest() if message_id else content_hash)
    references = msg_ids(header_of(headers, "References"))[-20:]
    in_reply_to = (msg_ids(header_of(headers, "In-Reply-To")) or references[-1:] or [None])[0]
    # received_at stays the arrival time: the Date header is the sender's clock, and a wrong one
    # would misplace the mail among our replies in the transcript.
    data: dict[str, Any] = {"subject": subject or None, "date": (header_of(headers, "Date") or "")[:100] or None}
    if message_id:
        # What a reply to this mail needs to thread under it (RFC 5322 §3.6.4).
        data["reply_data"] = {"in_reply_to": message_id, "references": " ".join([*references, message_id]),
                              "subject": subject or None}
    if files:
        data["attachments"] = [{k: f.get(k) for k in ("filename", "type", "size")} for f in files[:20]]
    display = decoded_words(name).strip()[:128] or None
    return [Event(
        id=f"em:{vendor_id}:{key}", kind="message", channel="email", provider="email", vendor_id=vendor_id,
        contact=Contact(address=address, name=display), text=body or None, data=data,
        reply_to=in_reply_to, provider_message_id=message_id,
    )]


