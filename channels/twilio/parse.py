"""Twilio webhooks: X-Twilio-Signature over the public URL, and a form → Event."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from channels.base import BSUID, NotAMessage
from channels.events import Channel, Contact, Event, Media
from channels.twilio.config import INBOUND_STATUSES, SID_PATTERN, STATUSES, to_e164

log = logging.getLogger("palabre.channels.twilio")


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


def _address(channel: Channel | None, value: str) -> str:
    """E.164 for a phone; on WhatsApp, a business-scoped user id (`US.1234…`) as Twilio gave it.
    ValueError for anything else."""
    if channel == "whatsapp" and BSUID.match(value.strip()):
        return value.strip()
    return to_e164(value)


def _media_kind(mime: str | None) -> str:
    major = (mime or "").partition("/")[0]
    return major if major in ("image", "video", "audio") else "document"


def parse_params(params: list[tuple[str, str]], vendor_id: str, *, outbound_id: str | None = None) -> list[Event]:
    """One webhook request → zero or one Event. ValueError when it is not a Twilio messaging webhook."""
    form = _first_values(params)
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid") or ""
    if not SID_PATTERN.match(sid):
        # Signed by Twilio, yet nothing to answer or to track (a test ping, a misrouted callback).
        raise NotAMessage("no MessageSid" if not sid else "a malformed MessageSid")
    base: dict[str, Any] = {"provider": "twilio", "vendor_id": vendor_id, "provider_message_id": sid}
    if is_status_callback(params):
        raw_status = form["MessageStatus"].strip().lower()
        status = STATUSES.get(raw_status)
        if status is None:
            log.info("twilio status %r for %s ignored", raw_status[:32], sid)
            return []
        channel, to = _split_address(form.get("To", ""))
        try:
            address = _address(channel, to)
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
    contact = Contact(address=_address(channel, sender), name=form.get("ProfileName") or None)
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


