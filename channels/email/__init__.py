"""E-mail adapter: SendGrid Inbound Parse (path token) → Event, Reply → SendGrid Mail Send or SMTP.

Reference: shared/docs/CHANNELS.md §6. `form`, `quotes` and `parse` read an inbound mail down to the
buyer's own words; `render` builds the subject, threading headers and bodies; `send` delivers them.
"""

from channels.email.config import DEFAULT_API_BASE, MAX_INBOUND_BYTES, Config, InboundError, verify
from channels.email.parse import parse_inbound
from channels.email.quotes import html_to_text, strip_quoted
from channels.email.render import RenderedMail, render
from channels.email.send import SendGridSender, SmtpSender, make_sender

__all__ = [
    "DEFAULT_API_BASE",
    "MAX_INBOUND_BYTES",
    "Config",
    "InboundError",
    "RenderedMail",
    "SendGridSender",
    "SmtpSender",
    "html_to_text",
    "make_sender",
    "parse_inbound",
    "render",
    "strip_quoted",
    "verify",
]
