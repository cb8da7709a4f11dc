"""Agents and their API tokens: creation (the token shown once, stored hashed), revocation, and request auth."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
import uuid
from dataclasses import dataclass

from aiohttp import web

from bot.http import ApiError, bearer_token, route_template
from bot.inbox.roles import ROLES, Action, allowed
from storage.inbox import Agent, AuditEntry, InboxStore

log = logging.getLogger("palabre.inbox")

TOKEN_PREFIX = "plb_"
NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,63}$")


def hash_token(token: str) -> str:
    """Tokens carry 256 random bits, so a plain SHA-256 is enough: nobody can guess one to hash."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class UserError(ValueError):
    """A user cannot be created or revoked as asked; the message says why."""


async def add_user(store: InboxStore, name: str, role: str, vendors: list[str], *, actor: str = "cli",
                   known_vendors: set[str] | None = None) -> str:
    """Create an agent and return their token (the only time it is ever visible)."""
    if not NAME.match(name):
        raise UserError(f"bad name {name[:40]!r}: letters, digits and . _ @ - only, up to 64")
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if known_vendors is not None:
        unknown = sorted(set(vendors) - known_vendors)
        if unknown:
            raise UserError(f"unknown vendor(s): {', '.join(unknown)} (known: {', '.join(sorted(known_vendors))})")
    token = new_token()
    agent = Agent(name=name, role=role, vendors=[] if role == "super_admin" else sorted(set(vendors)),
                  token_hash=hash_token(token))
    if not await store.add_agent(agent):
        raise UserError(f"a user named {name!r} already exists: revoke it first")
    await store.audit(AuditEntry(id=uuid.uuid4().hex, actor=actor, action="user.add",
                                 detail={"user": name, "role": role, "vendors": agent.vendors}))
    return token


async def revoke_user(store: InboxStore, name: str, *, actor: str = "cli") -> None:
    if not await store.revoke_agent(name, time.time()):
        raise UserError(f"no active user named {name!r}")
    await store.audit(AuditEntry(id=uuid.uuid4().hex, actor=actor, action="user.revoke", detail={"user": name}))


@dataclass(frozen=True)
class Caller:
    """Who is calling an `/api` route: the agent behind the bearer token."""

    agent: Agent

    @property
    def name(self) -> str:
        return self.agent.name

    @property
    def role(self) -> str:
        return self.agent.role

    def can(self, resource: str, action: Action) -> bool:
        return allowed(self.agent.role, resource, action)

    def vendors(self, known: list[str]) -> list[str] | None:
        """The vendors this agent works for: None for every vendor."""
        if self.agent.role == "super_admin" or not self.agent.vendors:
            return None
        return [v for v in self.agent.vendors if v in known] if known else list(self.agent.vendors)

    def sees(self, vendor_id: str) -> bool:
        return self.agent.role == "super_admin" or not self.agent.vendors or vendor_id in self.agent.vendors


async def authenticate(request: web.Request, store: InboxStore) -> Caller:
    """The caller behind `Authorization: Bearer <token>`, or 401."""
    token = bearer_token(request)
    agent = await store.agent_by_token(hash_token(token)) if token else None
    if agent is None or not agent.active:
        log.warning("%s %s refused (%s token)", request.method, route_template(request),
                    "unknown" if token else "missing")
        raise ApiError(401, "unauthorized", "send the header Authorization: Bearer <your token> "
                                            "(palabre users add prints one)")
    return Caller(agent)


def require(caller: Caller, resource: str, action: Action) -> None:
    """403 unless the caller's role may do `action` on `resource`."""
    if not caller.can(resource, action):
        raise ApiError(403, "forbidden", f"the role {caller.role} may not {action} {resource}")
