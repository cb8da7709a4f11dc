"""Meta WhatsApp Cloud API adapter: signed webhooks → Events, Reply → Graph API /messages bodies.

Reference: shared/docs/CHANNELS.md §2. Inbound (`parse`), the body is authenticated with
`X-Hub-Signature-256` (HMAC-SHA256 of the raw bytes, key = the app secret) and one POST may carry
several entries, changes, messages and statuses, for several phone numbers. Outbound (`render`,
`send`), one Reply becomes one or more `POST {api_base}/{version}/{phone_number_id}/messages`
calls from the number the buyer wrote to; the first message's wamid is the provider message id.
"""

from channels.meta.config import (
    DEFAULT_API_BASE,
    DEFAULT_API_VERSION,
    PHONE_NUMBER_ID,
    SIGNATURE_HEADER,
    TEXT_LIMIT,
    Config,
)
from channels.meta.parse import changes, parse_change, parse_webhook, verify_signature, verify_subscription
from channels.meta.render import mark_read_body, recipient_fields, render, split_text
from channels.meta.send import MetaSender, make_sender

__all__ = [
    "DEFAULT_API_BASE",
    "DEFAULT_API_VERSION",
    "PHONE_NUMBER_ID",
    "SIGNATURE_HEADER",
    "TEXT_LIMIT",
    "Config",
    "MetaSender",
    "changes",
    "make_sender",
    "mark_read_body",
    "parse_change",
    "parse_webhook",
    "recipient_fields",
    "render",
    "split_text",
    "verify_signature",
    "verify_subscription",
]
