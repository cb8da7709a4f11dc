"""Meta WhatsApp sending: POST /messages with retries classified from Graph API errors."""

from __future__ import annotations

import json
import random
from collections import OrderedDict
from typing import Any

import aiohttp

from channels.base import PermanentSendError, SendError
from channels.meta.config import CALLBACK_DATA_LIMIT, PHONE_NUMBER_ID, RATE_LIMITED_DEFAULT, RETRY_AFTER, Config
from channels.meta.render import mark_read_body, render
from channels.replies import Reply

# outbound: sending

class MetaSender:
    """Sends through the Graph API of a vendor's numbers. Safe to call concurrently.

    A reply goes out from the number the buyer wrote to (`Reply.data["phone_number_id"]`, set from
    the inbound message), anything else from the vendor's first number.

    A Reply that needs several messages (long text, media before a list…) is sent in order; when a
    later part fails, the parts already sent are remembered (in this process) under the idempotency
    key, so the retry continues where it stopped instead of repeating them.
    """

    def __init__(self, config: Config, *, progress_size: int = 1000) -> None:
        self._base = f"{config.api_base_url.rstrip('/')}/{config.api_version}"
        self._sender_id = config.sender_id
        self._token = config.access_token
        self._session: aiohttp.ClientSession | None = None
        self._progress: OrderedDict[str, list[str]] = OrderedDict()
        self._progress_size = progress_size

    def _url(self, phone_number_id: Any = None) -> str:
        number = phone_number_id if isinstance(phone_number_id, str) and PHONE_NUMBER_ID.match(phone_number_id) \
            else self._sender_id
        return f"{self._base}/{number}/messages"

    async def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=20),
                headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
            )
        try:
            async with self._session.post(url, data=json.dumps(body, ensure_ascii=False).encode()) as resp:
                status = resp.status
                retry_header = resp.headers.get("Retry-After")
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = {}
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SendError(f"meta: {type(exc).__name__}") from None
        data = data if isinstance(data, dict) else {}
        if 200 <= status < 300:
            return data
        raise _error(status, data.get("error") if isinstance(data.get("error"), dict) else {}, retry_header)

    async def send(self, recipient: str, reply: Reply, *, idempotency_key: str) -> str:
        bodies = render(recipient, reply)
        if not bodies:
            return f"none:{idempotency_key}"
        url = self._url(reply.data.get("phone_number_id"))
        done = self._progress.pop(idempotency_key, [])
        for body in bodies[len(done):]:
            if len(idempotency_key) <= CALLBACK_DATA_LIMIT:
                body["biz_opaque_callback_data"] = idempotency_key  # echoed in status webhooks
            try:
                data = await self._post(url, body)
            except SendError as exc:
                if done and not exc.permanent:
                    self._remember(idempotency_key, done)
                raise
            messages = data.get("messages") or [{}]
            done.append(str(messages[0].get("id") or ""))
        return done[0]

    def _remember(self, key: str, done: list[str]) -> None:
        self._progress[key] = done
        while len(self._progress) > self._progress_size:
            self._progress.popitem(last=False)

    async def mark_read(self, message_id: str, *, typing: bool = True, phone_number_id: str | None = None) -> None:
        """Blue ticks for an inbound wamid, plus the typing indicator (dismissed by our next message)."""
        await self._post(self._url(phone_number_id), mark_read_body(message_id, typing))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _error(status: int, error: dict[str, Any], retry_header: str | None) -> SendError:
    """HTTP status + Graph error object → SendError (retry) or PermanentSendError (do not)."""
    code = error.get("code")
    code = int(code) if isinstance(code, int) or (isinstance(code, str) and code.isdigit()) else None
    details = (error.get("error_data") or {}).get("details")
    text = error.get("message") or error.get("title") or f"HTTP {status}"
    message = f"meta error {code if code is not None else status}: {text}" + (f" ({details})" if details else "")
    if status == 429 or code in RETRY_AFTER:
        retry_after = _retry_after(retry_header)
        if retry_after is None:
            base = RETRY_AFTER.get(code or 0, RATE_LIMITED_DEFAULT)
            retry_after = base * random.uniform(1.0, 1.5)  # jitter: do not come back all at once
        exc = SendError(message, retry_after=retry_after)
    elif status >= 500:
        exc = SendError(message)
    else:
        exc = PermanentSendError(message)
    exc.code = str(code) if code is not None else None
    return exc


def _retry_after(header: str | None) -> float | None:
    try:
        value = float(header) if header else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None


def make_sender(config: Config) -> MetaSender:
    return MetaSender(config)
