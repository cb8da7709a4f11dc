"""Comparing secrets and reading bearer tokens without ever raising on what a client sent."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from bot.http.errors import ApiError, route_template
from bot.http.reading import header

log = logging.getLogger("palabre.http")


def _bytes(value: str | bytes) -> bytes:
    # surrogatepass: a JSON string or a header may hold lone surrogates; they must compare unequal, not raise.
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def secure_equal(given: str | bytes | None, expected: str | bytes | None) -> bool:
    """Constant-time equality of two secrets; anything missing, empty or unencodable is simply unequal.

    `hmac.compare_digest` raises TypeError on a non-ASCII str, which a client controls: compare bytes.
    """
    if not given or not expected:
        return False
    return hmac.compare_digest(_bytes(given), _bytes(expected))


def bearer_token(request: web.Request) -> str | None:
    """The token of `Authorization: Bearer <token>`, or None when absent or of another scheme."""
    scheme, _, token = (header(request, "Authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def require_bearer(request: web.Request, expected: str, setting: str) -> None:
    """401 unless the request carries `Authorization: Bearer <expected>`; `setting` names where it is set."""
    given = bearer_token(request)
    if not secure_equal(given, expected):
        log.warning("%s %s refused (%s token)", request.method, route_template(request),
                    "wrong" if given else "missing")
        raise ApiError(401, "unauthorized", f"send the header Authorization: Bearer <{setting}>")
