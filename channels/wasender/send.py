"""Wasender sending: POST /api/send-message with the session's rate limits kept here."""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from channels.base import PermanentSendError, SendError, mask_address
from channels.replies import Reply
from channels.wasender.config import DEFAULT_RETRY_AFTER, Config
from channels.wasender.parse import as_dict, to_seconds
from channels.wasender.render import render

log = logging.getLogger("palabre.channels.wasender")


def _reset_at(headers: Any, now: float) -> float | None:
    """X-RateLimit-Reset as an absolute time (documented as unix seconds; small values read as a delay)."""
    reset = to_seconds(headers.get("X-RateLimit-Reset"))
    if reset is None:
        return None
    return now + reset if reset < 1e9 else reset


def _retry_after(headers: Any, data: dict[str, Any], now: float) -> float:
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError):
                pass
    body_value = data.get("retry_after")
    if isinstance(body_value, int | float) and not isinstance(body_value, bool) and body_value >= 0:
        return float(body_value)
    reset = _reset_at(headers, now)
    if reset and reset > now:
        return reset - now
    return DEFAULT_RETRY_AFTER


class WasenderSender:
    """Sends with one vendor's session API key. Rate limits are per session, so they live here: after a 429
    or a response saying no request is left, further sends wait (SendError with retry_after) without
    calling Wasender until the window resets."""

    def __init__(self, config: Config, *, clock: Any = time.time) -> None:
        self._url = f"{config.api_base_url}/api/send-message"
        self._api_key = config.api_key
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._blocked_until = 0.0
        # Pieces of a long reply already sent, per idempotency key: a retry resumes instead of repeating them.
        self._progress: OrderedDict[str, list[str]] = OrderedDict()

    def _hold(self, seconds: float) -> None:
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    async def _post(self, body: dict[str, Any]) -> str:
        now = self._clock()
        if now < self._blocked_until:
            raise SendError("wasender: rate limited (waiting for the window to reset)",
                            retry_after=self._blocked_until - now)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=20),
                headers={"Authorization": f"Bearer {self._api_key}", "Content-Type": "application/json"},
            )
        try:
            async with self._session.post(self._url, data=json.dumps(body, ensure_ascii=False).encode()) as resp:
                status, headers = resp.status, resp.headers
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            # No idempotency key exists at Wasender: after a timeout the message may have gone out, and the
            # retry may repeat it. A repeated reply is better than a lost payment link.
            raise SendError(f"wasender send-message: {type(exc).__name__}") from None
        data = data if isinstance(data, dict) else {}
        now = self._clock()
        if status == 429:
            wait = _retry_after(headers, data, now)
            self._hold(wait)
            raise SendError("wasender send-message: rate limited (429)", retry_after=wait)
        message = str(data.get("message") or data.get("error") or status)[:200]
        if status >= 500:
            raise SendError(f"wasender send-message: {status} {message}")
        if status in (401, 403):
            raise PermanentSendError(f"wasender send-message: API key rejected ({status}) {message}",
                                    code=str(status))
        if status >= 400 or data.get("success") is False:
            raise PermanentSendError(f"wasender send-message: {status} {message}", code=str(status))
        remaining, reset = headers.get("X-RateLimit-Remaining"), _reset_at(headers, now)
        if remaining is not None and remaining.strip() == "0" and reset and reset > now:
            self._hold(reset - now)
        result = as_dict(data.get("data"))
        msg_id = result.get("msgId", result.get("id"))
        if isinstance(msg_id, int | str) and not isinstance(msg_id, bool) and str(msg_id):
            return str(msg_id)
        return ""

    async def send(self, recipient: str, reply: Reply, *, idempotency_key: str) -> str:
        bodies = render(recipient, reply)
        if not bodies:
            if reply.template is not None:
                raise PermanentSendError("wasender has no message templates and the reply has no text")
            return f"empty:{idempotency_key}"
        done = self._progress.get(idempotency_key, [])
        ids = list(done)
        for body in bodies[len(done):]:
            msg_id = await self._post(body)
            ids.append(msg_id or f"{idempotency_key}:{len(ids)}")
            if len(bodies) > 1:
                self._progress[idempotency_key] = list(ids)
                while len(self._progress) > 1000:
                    self._progress.popitem(last=False)
        self._progress.pop(idempotency_key, None)
        log.debug("wasender sent %d request(s) to %s", len(bodies), mask_address(recipient))
        return ids[-1]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def make_sender(config: Config) -> WasenderSender:
    return WasenderSender(config)
