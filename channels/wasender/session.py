"""Wasender webhooks beyond messages: our own messages echoed back, and the session's state and ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from channels.wasender.config import MEDIA_KINDS, MESSAGE_EVENTS, SESSION_EVENTS
from channels.wasender.parse import (
    as_dict,
    as_str,
    content_of,
    event_name,
    phone_address,
    records_of,
    text_of,
    to_seconds,
)


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
    for rec in records_of(payload.get("data")):
        key = as_dict(rec.get("key"))
        wa_id, to = as_str(key.get("id")), phone_address(key.get("remoteJid"))
        if wa_id is None or to is None or not (key.get("fromMe") is True or name == "message.sent"):
            continue
        msg = content_of(rec.get("message"))
        caption = next((as_str(as_dict(msg.get(p)).get("caption")) for p in MEDIA_KINDS if p in msg), None)
        text = text_of(msg) or caption or as_str(rec.get("messageBody"))
        if text:
            out.append(Echo(wa_id=wa_id, to=to, text=text, at=to_seconds(rec.get("messageTimestamp"))))
    return out


def session_status(payload: Any) -> str | None:
    """The connection state of a `session.status` event ('connected', 'disconnected', 'need_scan', …)."""
    if not isinstance(payload, dict) or event_name(payload) not in SESSION_EVENTS:
        return None
    status = as_dict(payload.get("data")).get("status")
    return status.strip().lower()[:64] if isinstance(status, str) and status.strip() else None


def session_ids(payload: Any) -> list[str]:
    """Identifiers of the Wasender session a payload came from (sessionId, session_id, instanceId…)."""
    if not isinstance(payload, dict):
        return []
    data = as_dict(payload.get("data"))
    found: list[str] = []
    for source in (payload, data):
        for name in ("sessionId", "session_id", "instanceId", "instance_id"):
            value = source.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if isinstance(value, str) and value.strip() and value not in found:
                found.append(value.strip())
    return found


