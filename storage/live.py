"""Live sessions and the vendor's own catalogue changes: their records and persistence contract.

Kept apart from `Store`, like the inbox, in its own SQLite file or MongoDB collections.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from pydantic import BaseModel


class LiveSession(BaseModel):
    """One live video sale of a vendor, from LIVE ON to LIVE OFF; at most one is open per vendor.

    `start_ref` / `stop_ref` name what started and stopped it (an event id or an API request), so a
    replayed command finds the session it already made instead of acting twice.
    """

    id: str
    vendor_id: str
    started_at: float
    ended_at: float | None = None
    started_by: str = "vendor"
    ended_by: str | None = None
    start_ref: str = ""
    stop_ref: str | None = None
    summary: dict[str, Any] | None = None  # the end-of-live figures, written at LIVE OFF

    @property
    def open(self) -> bool:
        return self.ended_at is None


class CatalogueChange(BaseModel):
    """What the vendor changed on one product by message or API, and what the vendor file said then.

    A start-up or a reload re-applies the change while the file still says what it said (`file_name`,
    `file_price`); once the file says something else for that product, the file is the newer word and
    the change is dropped.
    """

    vendor_id: str
    code: str
    name: str | None = None
    price: int | None = None
    added: bool = False  # a product the vendor file does not list
    removed: bool = False  # withdrawn from sale: stock 0, refused until added again
    in_file: bool = False
    file_name: str | None = None
    file_price: int | None = None
    at: float = 0.0
    by: str = "vendor"


class LiveStore(ABC):
    """Persistence of live sessions and catalogue changes. Writes are durable when they return."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open the file or connection and create indexes."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""

    @abstractmethod
    async def open_session(self, session: LiveSession) -> tuple[LiveSession, bool]:
        """Store `session` as the vendor's open live unless one is open already (atomically, across
        processes): (the open session, True when it is `session`)."""

    @abstractmethod
    async def close_session(self, vendor_id: str, at: float, by: str, ref: str) -> LiveSession | None:
        """End the vendor's open live at `at`; the closed session, or None when none was open."""

    @abstractmethod
    async def save_summary(self, session_id: str, summary: dict[str, Any]) -> None:
        """Keep a closed session's end-of-live figures."""

    @abstractmethod
    async def current_session(self, vendor_id: str) -> LiveSession | None:
        """The vendor's open live, or None."""

    @abstractmethod
    async def sessions(self, vendor_id: str, limit: int = 50) -> list[LiveSession]:
        """The vendor's lives, most recent first (the open one included)."""

    @abstractmethod
    async def save_change(self, change: CatalogueChange) -> None:
        """Create or replace the change of (vendor, code)."""

    @abstractmethod
    async def changes(self, vendor_id: str) -> list[CatalogueChange]:
        """The vendor's catalogue changes, by code."""

    @abstractmethod
    async def drop_change(self, vendor_id: str, code: str) -> None:
        """Forget the change of (vendor, code): the vendor file speaks for that product again."""

