"""What every adapter shares: bounded JSON calls, XOF amounts, header and body reading, the account base."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, Protocol, TypeVar

import aiohttp

from bot.http import parse_json
from bot.payments.port import Gateway, MalformedWebhook, ProviderError

log = logging.getLogger("palabre.payments")
TIMEOUT = aiohttp.ClientTimeout(total=15)


def xof(value: Any) -> int | None:
    """An amount in francs as the provider wrote it (15000, "15000", 15000.0); None when it has a
    fractional part or is not a number: XOF has no minor unit, so "15000.50" is not a XOF amount."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number)


def json_object(body: bytes) -> dict[str, Any]:
    """A webhook body that must be one JSON object; MalformedWebhook otherwise."""
    try:
        data = parse_json(body)
    except Exception as exc:
        raise MalformedWebhook("the body is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedWebhook("the body is not a JSON object")
    return data


def text(value: Any) -> str | None:
    """A string field of a provider's answer, or None when it is missing or not a string."""
    return value if isinstance(value, str) else None


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


class JsonClient:
    """An aiohttp session for one provider account; created on first use, closed by `close`."""

    def __init__(self, provider: str, base_url: str) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def call(self, method: str, path: str, *, headers: Mapping[str, str], body: Any = None,
                   params: Mapping[str, str] | None = None) -> tuple[int, Any]:
        """The status and decoded JSON (or None) of one call; ProviderError when unreachable or 5xx."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        sent = {"Accept": "application/json", **headers, **({"Content-Type": "application/json"} if data else {})}
        try:
            async with self._session.request(method, self.base_url + path, data=data, headers=sent,
                                             params=params) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderError(f"{self.provider} unreachable: {type(exc).__name__}", transient=True) from None
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = None  # e.g. an HTML page from a rate limiter in front of the API
        if status >= 500 or (status in (403, 429) and payload is None):
            raise ProviderError(f"{self.provider} answered {status}", status=status, transient=True)
        return status, payload

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Account(Protocol):
    base_url: str


AccountT = TypeVar("AccountT", bound=_Account)


class HttpGateway(Gateway, Generic[AccountT]):
    """An adapter for one account at a provider: its `psp` block as `config`, one HTTP client."""

    def __init__(self, config: AccountT) -> None:
        self.config = config
        self.client = JsonClient(self.name, config.base_url)

    def _auth(self) -> dict[str, str]:
        """The headers that authenticate every call of this account; none where the body carries the keys."""
        return {}

    async def call(self, method: str, path: str, *, headers: Mapping[str, str] | None = None, body: Any = None,
                   params: Mapping[str, str] | None = None) -> tuple[int, Any]:
        """One call as this account (`JsonClient.call`): the `_auth` headers, then the call's own."""
        return await self.client.call(method, path, headers={**self._auth(), **(headers or {})}, body=body,
                                      params=params)

    async def close(self) -> None:
        await self.client.close()
