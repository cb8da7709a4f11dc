"""Twilio Programmable Messaging adapter: X-Twilio-Signature check, form → Event, Reply → GSM-7-safe SMS via REST.

Reference: shared/docs/CHANNELS.md §4. `parse` authenticates and reads webhooks (SMS, WhatsApp from a
phone number or a business-scoped user id), `render` makes SMS text, `send` calls the Messages API.
"""

from channels.twilio.config import DEFAULT_API_BASE, EMPTY_TWIML, SIGNATURE_HEADER, Config, to_e164
from channels.twilio.parse import (
    is_status_callback,
    parse_form,
    parse_params,
    signature,
    url_candidates,
    verify,
)
from channels.twilio.render import gsm7_safe, is_gsm7, render_text, segments, split_body
from channels.twilio.send import TwilioSender, make_sender

__all__ = [
    "DEFAULT_API_BASE",
    "EMPTY_TWIML",
    "SIGNATURE_HEADER",
    "Config",
    "TwilioSender",
    "gsm7_safe",
    "is_gsm7",
    "is_status_callback",
    "make_sender",
    "parse_form",
    "parse_params",
    "render_text",
    "segments",
    "signature",
    "split_body",
    "to_e164",
    "url_candidates",
    "verify",
]
