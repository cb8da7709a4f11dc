"""Signed webhook requests that carry nothing to answer: acknowledged with 200, counted, logged once, never stored."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

from bot.runtime import Runtime
from channels import Event
from channels.base import NotAMessage

log = logging.getLogger("palabre.webhooks")


async def unless_not_a_message(rt: Runtime, provider: str, vendor_id: str,
                               parse: Callable[[], list[Event] | Awaitable[list[Event]]]) -> list[Event]:
    """Run a provider parser; when it says the request is no message (NotAMessage), give no Event.

    A 4xx would make the provider retry the same request for days; a 200 ends it. The count is
    `palabre_webhooks_not_a_message_total{provider="…"}` in /metrics.
    """
    try:
        result = parse()
        return await result if inspect.isawaitable(result) else result
    except NotAMessage as exc:
        rt.metrics.inc("palabre_webhooks_not_a_message_total", provider=provider)
        log.info("%s webhook for vendor=%s: nothing to answer (%s), acknowledged", provider, vendor_id, exc)
        return []
