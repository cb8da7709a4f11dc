"""Meta WhatsApp webhooks: the signature and GET handshake checks, and a notification body → Events."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from typing import Any

from channels.events import Contact, Event, Location, Media
from channels.meta.config import PHONE_NUMBER_ID, STATUSES

log = logging.getLogger("palabre.channels.meta")


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

def changes(payload: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(phone_number_id, value) of every "messages" change of a webhook body, in order.

    Other fields (account_update, templates…) are logged and left out. A change without metadata
    keeps "" as its number.
    """
    found: list[tuple[str, dict[str, Any]]] = []
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            field = change.get("field", "messages")
            if field != "messages":
                log.info("meta webhook: field %r ignored", field)
                continue
            found.append((str((value.get("metadata") or {}).get("phone_number_id") or ""), value))
    return found


def parse_change(value: dict[str, Any], vendor_id: str, phone_number_id: str) -> list[Event]:
    """One change → its Events. A buyer's message remembers the number it was sent to, so that the
    reply goes out from that number (`reply_data`, kept by the pipeline for the conversation)."""
    for error in value.get("errors") or []:
        log.warning("meta webhook: error code=%s title=%r vendor=%s", error.get("code"),
                    error.get("title"), vendor_id)
    names = _contact_names(value.get("contacts") or [])
    found = [_safely(_message, m, names, vendor_id) for m in value.get("messages") or []]
    found += [_safely(_status, s, vendor_id) for s in value.get("statuses") or []]
    events = [e for e in found if e is not None]
    if PHONE_NUMBER_ID.match(phone_number_id):
        for event in events:
            if event.kind != "status":
                event.data["reply_data"] = {"phone_number_id": phone_number_id}
    return events


def parse_webhook(payload: dict[str, Any], vendor: str | Mapping[str, str]) -> list[Event]:
    """One webhook body → Events, in order, each id at most once.

    `vendor` is the vendor id every change belongs to (a per-vendor URL: the app secret proved it),
    or a mapping phone_number_id → vendor id (the shared URL), in which case changes for numbers not
    in it give no Event. `errors[]`, unknown fields and status values give no Event (they are
    logged); the caller still answers 200.
    """
    events: list[Event] = []
    seen: set[str] = set()
    for phone_number_id, value in changes(payload):
        vendor_id = vendor if isinstance(vendor, str) else vendor.get(phone_number_id)
        if vendor_id is None:
            log.info("meta webhook: change for phone_number_id=%s ignored (no vendor lists it)",
                     phone_number_id or "?")
            continue
        for event in parse_change(value, vendor_id, phone_number_id):
            if event.id not in seen:
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


