"""Live sessions and catalogue changes on SQLite: `live.sqlite3` next to the embedded store."""

from __future__ import annotations

from typing import Any

from storage.live import CatalogueChange, LiveSession, LiveStore
from storage.sqlite_file import SqliteFile

# The partial unique index is what keeps a vendor to one open live, whichever process starts it.
SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, vendor TEXT NOT NULL, started_at REAL NOT NULL,
    ended_at REAL, body TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS sessions_one_open ON sessions(vendor) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS sessions_vendor ON sessions(vendor, started_at);
CREATE TABLE IF NOT EXISTS catalogue_changes (vendor TEXT NOT NULL, code TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (vendor, code));
"""


class SqliteLiveStore(SqliteFile, LiveStore):
    file_name, schema = "live.sqlite3", SCHEMA

    def _open(self, vendor_id: str) -> LiveSession | None:
        row = self._x("SELECT body FROM sessions WHERE vendor = ? AND ended_at IS NULL", (vendor_id,)).fetchone()
        return LiveSession.model_validate_json(row[0]) if row else None

    async def open_session(self, session: LiveSession) -> tuple[LiveSession, bool]:
        self._x("BEGIN IMMEDIATE")
        try:
            current = self._open(session.vendor_id)
            if current is not None:
                return current, current.id == session.id
            self._x("INSERT INTO sessions (id, vendor, started_at, ended_at, body) VALUES (?, ?, ?, NULL, ?)",
                    (session.id, session.vendor_id, session.started_at, session.model_dump_json()))
            return session, True
        finally:
            self._x("COMMIT")

    async def close_session(self, vendor_id: str, at: float, by: str, ref: str) -> LiveSession | None:
        self._x("BEGIN IMMEDIATE")
        try:
            current = self._open(vendor_id)
            if current is None:
                return None
            closed = current.model_copy(update={"ended_at": max(at, current.started_at), "ended_by": by,
                                                "stop_ref": ref})
            self._x("UPDATE sessions SET ended_at = ?, body = ? WHERE id = ?",
                    (closed.ended_at, closed.model_dump_json(), closed.id))
            return closed
        finally:
            self._x("COMMIT")

    async def save_summary(self, session_id: str, summary: dict[str, Any]) -> None:
        self._x("BEGIN IMMEDIATE")
        try:
            row = self._x("SELECT body FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row:
                session = LiveSession.model_validate_json(row[0]).model_copy(update={"summary": summary})
                self._x("UPDATE sessions SET body = ? WHERE id = ?", (session.model_dump_json(), session_id))
        finally:
            self._x("COMMIT")

    async def current_session(self, vendor_id: str) -> LiveSession | None:
        return self._open(vendor_id)

    async def sessions(self, vendor_id: str, limit: int = 50) -> list[LiveSession]:
        rows = self._x("SELECT body FROM sessions WHERE vendor = ? ORDER BY started_at DESC LIMIT ?",
                       (vendor_id, limit))
        return [LiveSession.model_validate_json(r[0]) for r in rows]

    async def save_change(self, change: CatalogueChange) -> None:
        self._x("INSERT OR REPLACE INTO catalogue_changes (vendor, code, body) VALUES (?, ?, ?)",
                (change.vendor_id, change.code, change.model_dump_json()))

    async def changes(self, vendor_id: str) -> list[CatalogueChange]:
        rows = self._x("SELECT body FROM catalogue_changes WHERE vendor = ? ORDER BY code", (vendor_id,))
        return [CatalogueChange.model_validate_json(r[0]) for r in rows]

    async def drop_change(self, vendor_id: str, code: str) -> None:
        self._x("DELETE FROM catalogue_changes WHERE vendor = ? AND code = ?", (vendor_id, code))
