"""Reading a request without trusting it: size limit, content type, bounded JSON, ASCII headers, forms.

Every route reads through here, so that a malformed request is a 4xx JSON error everywhere and never
a 500: aiohttp hands headers over as str decoded with surrogate escapes, `json.loads` recurses on
nesting, and the multipart parser raises assorted errors on a broken body.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from bot.http.errors import ApiError

MAX_JSON_DEPTH = 64  # provider payloads nest about 8 deep; a hostile one can nest a million
CHUNK = 64 * 1024
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
DEFAULT_BODY_LIMIT = 1_048_576
# The app-wide body limit (PALABRE_MAX_BODY_BYTES), set by the app factory for `read_body`'s default.
BODY_LIMIT = web.AppKey("body_limit", int)


def header(request: web.Request, name: str) -> str | None:
    """A header's value, or None when absent; 400 when it holds anything but printable ASCII.

    Every header we read (secrets, signatures, bearer tokens) is ASCII by its specification; refusing
    the rest here means no comparison or `.encode()` further on can meet a surrogate or a non-ASCII str.
    """
    value = request.headers.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isprintable()):
        raise ApiError(400, "invalid_header", f"the {name} header must be printable ASCII")
    return value


async def read_body(request: web.Request, limit: int | None = None, *, what: str = "the request body") -> bytes:
    """The raw body, exactly as sent (signatures cover these bytes), refused with 413 past `limit` bytes.

    Read from the stream, so a route may accept more than the app-wide limit (a mail with attachments,
    a CSV of numbers) or less; `limit` defaults to the app's `client_max_size`.
    """
    cap = request.app.get(BODY_LIMIT, DEFAULT_BODY_LIMIT) if limit is None else limit
    length = request.content_length  # parsed from the header on every access
    if length is not None and length > cap:
        raise _too_large(what, cap)
    # The common case: one read of the declared length. Not for a compressed body: aiohttp inflates it,
    # so what it yields is not Content-Length bytes long.
    if length is not None and "Content-Encoding" not in request.headers:
        if length == 0:
            return b""  # aiohttp's stream of an empty body refuses even readexactly(0)
        try:
            return await request.content.readexactly(length)
        except asyncio.IncompleteReadError:
            raise ApiError(400, "incomplete_body", f"{what} is shorter than its Content-Length") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > cap:
            raise _too_large(what, cap)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(what: str, cap: int) -> ApiError:
    return ApiError(413, "body_too_large", f"{what} is larger than the {_size(cap)} this endpoint accepts")


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n} bytes"


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in item if isinstance(child, dict | list))
    return False


_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_refuse_constant)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_json(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Bytes → JSON value, or a 400: not UTF-8, not JSON, NaN/Infinity/1e400, an unpaired surrogate
    (`"\\ud800"`), or nested past `max_depth`.

    Infinite numbers and lone surrogates are refused here because they survive parsing and then break
    whatever stores, compares or serialises them later (a Telegram `"date": 1e400` once broke start-up
    recovery; no database takes a string that is not valid UTF-8).
    """
    try:
        # What json.loads does with bytes, with a decoder built once: loads builds one per call given options.
        value = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except RecursionError:
        raise ApiError(400, "too_deep", f"the JSON body nests deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {str(exc)[:120]}") from None
    # Nesting needs an opening bracket per level: a body with fewer of them cannot be too deep (every
    # webhook), and counting bytes costs far less than walking the parsed value.
    if raw.count(b"{") + raw.count(b"[") > max_depth and _depth_exceeds(value, max_depth):
        raise ApiError(400, "too_deep", f"the JSON body nests deeper than {max_depth} levels")
    if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(value):
        raise ApiError(400, "invalid_json", "the body holds an unpaired UTF-16 surrogate escape, which is not text")
    return value


async def read_json(request: web.Request, *, limit: int | None = None) -> Any:
    """The JSON body of a request people make (simulator, admin): 415 unless `application/json`, then
    `read_body` and `parse_json`. Provider webhooks use those two directly: their signature, not their
    declared type, says the body is theirs."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    return parse_json(await read_body(request, limit))


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    """A urlencoded or multipart form: 415 for another type, 400 when it cannot be parsed, 413 when too large."""
    if request.content_type not in FORM_TYPES:
        raise ApiError(415, "unsupported_media_type", "send a form (application/x-www-form-urlencoded)")
    try:
        return await request.post()
    except web.HTTPException:
        raise
    except Exception:
        # aiohttp's form and multipart readers signal a broken body with a different exception each time
        # (ValueError, AssertionError, LookupError for a charset, InvalidHeader, ...): all mean the same.
        raise ApiError(400, "invalid_form", "the form body cannot be read") from None
