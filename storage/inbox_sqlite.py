"""The inbox on SQLite: its own file next to the embedded store, shared safely by the server and the CLI."""

from __future__ import annotations

from storage.inbox import (
    Agent,
    AuditEntry,
    CannedReply,
    InboxConflict,
    InboxStore,
    Note,
    Thread,
    ThreadFilter,
    sort_threads,
)
from storage.sqlite_file import SqliteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (name TEXT PRIMARY KEY, token_hash TEXT NOT NULL, active INTEGER NOT NULL,
    body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS agents_token ON agents(token_hash);
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, vendor TEXT,
    body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS threads (id TEXT PRIMARY KEY, vendor TEXT NOT NULL, status TEXT NOT NULL,
    channel TEXT NOT NULL, assignee TEXT, version INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS threads_vendor_status ON threads(vendor, status);
CREATE TABLE IF NOT EXISTS notes (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,
    conv TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS notes_conv ON notes(conv, seq);
CREATE TABLE IF NOT EXISTS canned (id TEXT PRIMARY KEY, vendor TEXT, shortcut TEXT NOT NULL, body TEXT NOT NULL);
"""

FILE_NAME = "inbox.sqlite3"


def _marks(values: list[str]) -> str:
    return ",".join("?" * len(values))


class SqliteInboxStore(SqliteFile, InboxStore):
    """`inbox.sqlite3` in `data_dir`: a CLI revoking a token while the server runs is safe."""

    file_name, schema = FILE_NAME, SCHEMA

    # agents
    async def add_agent(self, agent: Agent) -> bool:
        self._x("BEGIN IMMEDIATE")
        try:
            row = self._x("SELECT active FROM agents WHERE name = ?", (agent.name,)).fetchone()
            if row and row[0]:
                return False
            self._x("INSERT OR REPLACE INTO agents (name, token_hash, active, body) VALUES (?, ?, 1, ?)",
                    (agent.name, agent.token_hash, agent.model_dump_json()))
            return True
        finally:
            self._x("COMMIT")

    async def get_agent(self, name: str) -> Agent | None:
        row = self._x("SELECT body FROM agents WHERE name = ?", (name,)).fetchone()
        return Agent.model_validate_json(row[0]) if row else None

    async def agent_by_token(self, token_hash: str) -> Agent | None:
        row = self._x("SELECT body FROM agents WHERE token_hash = ? AND active = 1", (token_hash,)).fetchone()
        return Agent.model_validate_json(row[0]) if row else None

    async def list_agents(self) -> list[Agent]:
        return [Agent.model_validate_json(r[0]) for r in self._x("SELECT body FROM agents ORDER BY name")]

    async def revoke_agent(self, name: str, at: float) -> bool:
        self._x("BEGIN IMMEDIATE")
        try:
            row = self._x("SELECT body FROM agents WHERE name = ? AND active = 1", (name,)).fetchone()
            if not row:
                return False
            agent = Agent.model_validate_json(row[0]).model_copy(update={"revoked_at": at})
            self._x("UPDATE agents SET active = 0, body = ? WHERE name = ?", (agent.model_dump_json(), name))
            return True
        finally:
            self._x("COMMIT")

    # audit
    async def audit(self, entry: AuditEntry) -> None:
        self._x("INSERT OR IGNORE INTO audit (id, vendor, body) VALUES (?, ?, ?)",
                (entry.id, entry.vendor_id, entry.model_dump_json()))

    async def audit_log(self, vendors: list[str] | None = None, limit: int = 200) -> list[AuditEntry]:
        if vendors is None:
            rows = self._x("SELECT body FROM audit ORDER BY seq DESC LIMIT ?", (limit,))
        else:
            rows = self._x(f"SELECT body FROM audit WHERE vendor IN ({_marks(vendors)}) ORDER BY seq DESC LIMIT ?",
                           (*vendors, limit))
        return [AuditEntry.model_validate_json(r[0]) for r in rows]

    # threads
    async def get_thread(self, conversation_id: str) -> Thread | None:
        row = self._x("SELECT body FROM threads WHERE id = ?", (conversation_id,)).fetchone()
        return Thread.model_validate_json(row[0]) if row else None

    async def save_thread(self, thread: Thread, expected_version: int) -> Thread:
        saved = thread.model_copy(update={"version": expected_version + 1})
        self._x("BEGIN IMMEDIATE")
        try:
            row = self._x("SELECT version FROM threads WHERE id = ?", (thread.id,)).fetchone()
            if (row[0] if row else 0) != expected_version:
                raise InboxConflict(f"the thread is at version {row[0] if row else 0}, not {expected_version}")
            self._x(
                "INSERT INTO threads (id, vendor, status, channel, assignee, version, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET vendor = excluded.vendor, status = excluded.status, "
                "channel = excluded.channel, assignee = excluded.assignee, version = excluded.version, "
                "body = excluded.body",
                (saved.id, saved.vendor_id, saved.status, saved.channel, saved.assignee, saved.version,
                 saved.model_dump_json()),
            )
        finally:
            self._x("COMMIT")
        return saved

    async def list_threads(self, where: ThreadFilter) -> list[Thread]:
        clauses: list[str] = []
        params: list[object] = []
        if where.vendors is not None:
            clauses.append(f"vendor IN ({_marks(where.vendors)})")
            params.extend(where.vendors)
        if where.statuses:
            clauses.append(f"status IN ({_marks(where.statuses)})")
            params.extend(where.statuses)
        if where.channel:
            clauses.append("channel = ?")
            params.append(where.channel)
        if where.assignee:
            clauses.append("assignee = ?")
            params.append(where.assignee)
        sql = "SELECT body FROM threads" + (f" WHERE {' AND '.join(clauses)}" if clauses else "")
        rows = self._x(sql + " ORDER BY rowid DESC LIMIT ?", (*params, where.limit))
        return sort_threads([Thread.model_validate_json(r[0]) for r in rows])

    # notes
    async def add_note(self, note: Note) -> None:
        self._x("INSERT OR IGNORE INTO notes (id, conv, body) VALUES (?, ?, ?)",
                (note.id, note.conversation_id, note.model_dump_json()))

    async def notes(self, conversation_id: str) -> list[Note]:
        rows = self._x("SELECT body FROM notes WHERE conv = ? ORDER BY seq", (conversation_id,))
        return [Note.model_validate_json(r[0]) for r in rows]

    # canned replies
    async def save_canned(self, canned: CannedReply) -> None:
        self._x("INSERT OR REPLACE INTO canned (id, vendor, shortcut, body) VALUES (?, ?, ?, ?)",
                (canned.id, canned.vendor_id, canned.shortcut, canned.model_dump_json()))

    async def get_canned(self, canned_id: str) -> CannedReply | None:
        row = self._x("SELECT body FROM canned WHERE id = ?", (canned_id,)).fetchone()
        return CannedReply.model_validate_json(row[0]) if row else None

    async def list_canned(self, vendors: list[str] | None = None) -> list[CannedReply]:
        if vendors is None:
            rows = self._x("SELECT body FROM canned ORDER BY shortcut")
        else:
            rows = self._x(f"SELECT body FROM canned WHERE vendor IS NULL OR vendor IN ({_marks(vendors)}) "
                           "ORDER BY shortcut", vendors)
        return [CannedReply.model_validate_json(r[0]) for r in rows]

    async def delete_canned(self, canned_id: str) -> bool:
        return self._x("DELETE FROM canned WHERE id = ?", (canned_id,)).rowcount > 0
