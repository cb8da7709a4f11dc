"""Reading inbox requests: the runtime's inbox, the authenticated caller, a JSON object body, text fields."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.http import ApiError, read_json
from bot.inbox.core import MAX_TEXT
from bot.inbox.service import Inbox
from bot.inbox.users import Caller, authenticate
from bot.runtime import RUNTIME


def inbox_of(request: web.Request) -> Inbox:
    return request.app[RUNTIME].inbox


async def caller_of(request: web.Request) -> Caller:
    """The agent behind the request's bearer token, or 401."""
    return await authenticate(request, inbox_of(request).store)


async def body_of(request: web.Request) -> dict[str, Any]:
    body = await read_json(request) if request.body_exists else {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "the body must be a JSON object")
    return body


def text_field(body: dict[str, Any], name: str, *, limit: int = MAX_TEXT) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "invalid_body", f'"{name}" must be a non-empty string')
    if len(value) > limit:
        raise ApiError(400, "too_long", f'"{name}" is longer than {limit} characters')
    return value.strip()
