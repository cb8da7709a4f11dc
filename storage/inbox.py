"""The handoff inbox's persistence contract and records: agents, audit log, inbox threads, notes, canned replies.

Kept apart from `Store` so the inbox can live in its own tables (its own SQLite file next to the embedded
store, its own MongoDB collections): `palabre users add` then works while a server is running.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, Literal

from pydantic import BaseModel, Field

from channels import Contact

ThreadStatus = Literal["open", "assigned", "snoozed", "resolved"]
STATUSES: tuple[str, ...] = ("open", "assigned", "snoozed", "resolved")


def now() -> float:
    return time.time()


class InboxConflict(RuntimeError):
    """The thread changed since it was read (another agent got there first): read it again and retry."""


class Agent(BaseModel):
    """A person using the APIs: a role, the vendors they work for (empty: every vendor) and a hashed token."""

    name: str
    role: str
    vendors: list[str] = Field(default_factory=list)
    token_hash: str
    created_at: float = Field(default_factory=now)
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class AuditEntry(BaseModel):
    """One thing an agent (or the operator's CLI) did; never carries a buyer's address or a token."""

    id: str
    at: float = Field(default_factory=now)
    actor: str
    action: str
    vendor_id: str | None = None
    conversation_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class LastMessage(BaseModel):
    text: str | None = None
    direction: Literal["in", "out", "agent"] = "in"
    at: float = Field(default_factory=now)


class Thread(BaseModel):
    """A conversation the bot handed over, as the inbox sees it; `id` is the conversation's id.

    `version` grows by one per write (optimistic concurrency between agents).
    """

    id: str
    vendor_id: str
    channel: str
    provider: str
    contact: Contact
    status: ThreadStatus = "open"
    assignee: str | None = None
    labels: list[str] = Field(default_factory=list)
    reason: str = "human"
    category: str | None = None
    opened_at: float = Field(default_factory=now)
    waiting_since: float | None = None
    first_response_at: float | None = None
    resolved_at: float | None = None
    snoozed_until: float | None = None
    last_message: LastMessage | None = None
    csat_pending: bool = False
    csat_score: int | None = None
    alerted: bool = False
    version: int = 0

    def effective_status(self, at: float) -> str:
        """A snooze that has run out shows the thread as open (or assigned) again."""
        if self.status == "snoozed" and self.snoozed_until is not None and self.snoozed_until <= at:
            return "assigned" if self.assignee else "open"
        return self.status


class Note(BaseModel):
    """A private note on a thread: seen by agents only, never sent to the buyer."""

    id: str
    conversation_id: str
    author: str
    text: str
    created_at: float = Field(default_factory=now)


class CannedReply(BaseModel):
    """A saved answer an agent inserts by typing `/shortcut`; `vendor_id` None: shared by every vendor."""

    id: str
    vendor_id: str | None = None
    shortcut: str
    text: str
    created_at: float = Field(default_factory=now)
    updated_at: float = Field(default_factory=now)


class ThreadFilter(BaseModel):
    """What a list of threads is narrowed to; `vendors` None means every vendor."""

    vendors: list[str] | None = None
    statuses: list[str] | None = None
    channel: str | None = None
    assignee: str | None = None
    limit: int = 200


class InboxStore(ABC):
    """Persistence of the inbox. Writes are durable when the coroutine returns."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open and create tables or indexes."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""

    # agents
    @abstractmethod
    async def add_agent(self, agent: Agent) -> bool:
        """Create an agent; False when an active agent already has that name."""

    @abstractmethod
    async def get_agent(self, name: str) -> Agent | None: ...

    @abstractmethod
    async def agent_by_token(self, token_hash: str) -> Agent | None:
        """The active agent holding this token hash, or None."""

    @abstractmethod
    async def list_agents(self) -> list[Agent]: ...

    @abstractmethod
    async def revoke_agent(self, name: str, at: float) -> bool:
        """Revoke an active agent's token; False when there is none by that name."""

    # audit
    @abstractmethod
    async def audit(self, entry: AuditEntry) -> None: ...

    @abstractmethod
    async def audit_log(self, vendors: list[str] | None = None, limit: int = 200) -> list[AuditEntry]:
        """Newest first; with `vendors`, only entries about those vendors."""

    # threads
    @abstractmethod
    async def get_thread(self, conversation_id: str) -> Thread | None: ...

    @abstractmethod
    async def save_thread(self, thread: Thread, expected_version: int) -> Thread:
        """Write the thread if the stored one is still at `expected_version` (0: none stored yet);
        returns it at `expected_version + 1`. Raises InboxConflict otherwise."""

    @abstractmethod
    async def list_threads(self, where: ThreadFilter) -> list[Thread]:
        """Threads matching `where`, the longest-waiting first, then the most recently opened."""

    # notes
    @abstractmethod
    async def add_note(self, note: Note) -> None: ...

    @abstractmethod
    async def notes(self, conversation_id: str) -> list[Note]:
        """Oldest first."""

    # canned replies
    @abstractmethod
    async def save_canned(self, canned: CannedReply) -> None:
        """Create or replace by id."""

    @abstractmethod
    async def get_canned(self, canned_id: str) -> CannedReply | None: ...

    @abstractmethod
    async def list_canned(self, vendors: list[str] | None = None) -> list[CannedReply]:
        """Shared replies and, with `vendors`, only those vendors' (every vendor's otherwise); by shortcut."""

    @abstractmethod
    async def delete_canned(self, canned_id: str) -> bool: ...


def sort_threads(threads: list[Thread]) -> list[Thread]:
    """Those waiting for an answer first (longest wait first), then by when they were opened, newest first."""
    waiting = sorted((t for t in threads if t.waiting_since is not None), key=lambda t: t.waiting_since or 0.0)
    rest = sorted((t for t in threads if t.waiting_since is None), key=lambda t: -t.opened_at)
    return waiting + rest


__all__ = [
    "STATUSES",
    "Agent",
    "AuditEntry",
    "CannedReply",
    "InboxConflict",
    "InboxStore",
    "LastMessage",
    "Note",
    "Thread",
    "ThreadFilter",
    "ThreadStatus",
    "sort_threads",
]
