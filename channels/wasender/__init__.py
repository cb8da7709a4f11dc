"""Wasender (wasenderapi.com) adapter: shared-secret webhook, payload → Event, Reply → send-message.

Reference: shared/docs/CHANNELS.md §3. `parse` turns webhooks into Events (a buyer is answered at the
phone number WhatsApp gives, a LID only when nothing else exists), `session` reads echoes and session
state, `render` and `send` deliver replies as numbered text.
"""

from channels.wasender.config import DEFAULT_API_BASE, SIGNATURE_HEADER, TEXT_LIMIT, Config
from channels.wasender.parse import event_name, parse_payload, to_e164, to_seconds, verify
from channels.wasender.render import outgoing_texts, render, render_text, split_text
from channels.wasender.send import WasenderSender, make_sender
from channels.wasender.session import Echo, echoes, session_ids, session_status

__all__ = [
    "DEFAULT_API_BASE",
    "SIGNATURE_HEADER",
    "TEXT_LIMIT",
    "Config",
    "Echo",
    "WasenderSender",
    "echoes",
    "event_name",
    "make_sender",
    "outgoing_texts",
    "parse_payload",
    "render",
    "render_text",
    "session_ids",
    "session_status",
    "split_text",
    "to_e164",
    "to_seconds",
    "verify",
]
