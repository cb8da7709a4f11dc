"""Inbox fixtures: a real server with one user per role, and helpers to call the inbox API as them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest

from bot.inbox.roles import ROLES
from bot.inbox.users import add_user
from tests.conftest import Server, ServerFactory

BUYER = "+221770000001"
CONV = f"demo:web:{BUYER}"


@dataclass
class Inbox:
    """A server and a token per role (`tokens[role]`), all working for the demo vendor."""

    server: Server
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    async def call(self, method: str, path: str, role: str | None = "support", *, token: str | None = None,
                   json: Any = None, data: Any = None, headers: dict[str, str] | None = None,
                   params: dict[str, str] | None = None) -> tuple[int, Any]:
        sent = dict(headers or {})
        bearer = token or (self.tokens[role] if role else None)
        if bearer:
            sent["Authorization"] = f"Bearer {bearer}"
        async with self.server.http.request(method, f"{self.url}{path}", json=json, data=data, headers=sent,
                                            params=params) as r:
            body = await r.json(content_type=None) if r.content_type == "application/json" else await r.text()
            return r.status, body

    async def ok(self, method: str, path: str, role: str = "support", **kw: Any) -> Any:
        status, body = await self.call(method, path, role, **kw)
        assert status in (200, 201), (status, body)
        return body

    async def handoff(self, buyer: str = BUYER, text: str = "je veux parler à un conseiller") -> dict[str, Any]:
        """The buyer asks for a human; returns the bot's answer."""
        return await self.server.say(buyer, text)


def conv_path(conv_id: str = CONV, tail: str = "") -> str:
    return f"/api/inbox/conversations/{quote(conv_id, safe='')}{tail}"


@pytest.fixture
async def inbox(start_server: ServerFactory) -> Inbox:
    server = await start_server()
    box = Inbox(server)
    for role in ROLES:
        box.tokens[role] = await add_user(server.runtime.inbox.store, f"{role}-1", role, ["demo"])
    return box


async def next_event(response: Any, timeout: float = 10.0) -> tuple[str, dict[str, Any]]:
    """The next Server-Sent Event of a streaming response as (event, data); comments are skipped."""
    import asyncio
    import json

    async def read() -> tuple[str, dict[str, Any]]:
        kind, data = "message", ""
        for _ in range(1000):
            line = (await response.content.readline()).decode().rstrip("\n")
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif line == "" and data:
                return kind, json.loads(data)
        raise AssertionError("no complete event in 1000 lines")

    return await asyncio.wait_for(read(), timeout)
