"""The embedded store: SQLite on local disk, one process, group-committed writes."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from channels import Event
from storage.base import ConflictError, Store
from storage.dead_letters import DeadLetter, unloadable
from storage.embedded_commerce import CommerceTables
from storage.embedded_outbox import SENT_BY_US, OutboxInMessages, migrate
from storage.records import (
    CHANNELS,
    STATUS_REPLACES,
    Conversation,
    Message,
    Timer,
    TurnWrite,
    to_json,
)
from storage.sqlite_wal import WalWriter

# The database inside the store's folder (data_dir).
DB_FILE = "palabre.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, processed INTEGER NOT NULL DEFAULT 0, body TEXT);
CREATE INDEX IF NOT EXISTS events_unprocessed ON events(processed) WHERE processed = 0;
CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, conv TEXT NOT NULL,
    provider_message_id TEXT, status TEXT NOT NULL, error TEXT, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_conv ON messages(conv, seq);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, next_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT, message_id TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(status, next_at);
CREATE TABLE IF NOT EXISTS timers (id TEXT PRIMARY KEY, due_at REAL NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS timers_due ON timers(due_at);
CREATE TABLE IF NOT EXISTS products (
    vendor TEXT NOT NULL, code TEXT NOT NULL, stock INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (vendor, code));
CREATE TABLE IF NOT EXISTS holds (
    id TEXT NOT NULL, vendor TEXT NOT NULL, code TEXT NOT NULL, qty INTEGER NOT NULL,
    PRIMARY KEY (vendor, code, id));
CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, status TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS orders_buyer
    ON orders(json_extract(body, '$.vendor_id'), json_extract(body, '$.contact.address'));
CREATE INDEX IF NOT EXISTS orders_vendor
    ON orders(json_extract(body, '$.vendor_id'), json_extract(body, '$.created_at'));
CREATE TABLE IF NOT EXISTS channel_accounts (
    provider TEXT NOT NULL, vendor TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (provider, vendor));
CREATE TABLE IF NOT EXISTS payments (id TEXT PRIMARY KEY, status TEXT NOT NULL, body TEXT NOT NULL);
"""


class StoreLocked(RuntimeError):
    """Another process already owns this data directory."""


class EmbeddedStore(OutboxInMessages, CommerceTables, Store):
    """SQLite (WAL) in `data_dir`, for one process with no database server.

    Writes run on the event loop (each takes microseconds) and are committed together once per
    loop iteration (while an fsync runs, once as it returns); a write method returns once its
    commit is durable: with `synchronous="FULL"` (the default) fsynced, so it survives a power
    cut (see `WalWriter`). Every sequence of statements inside one method runs without an await,
    so it is atomic for this process. A lock file refuses a second process on the same directory.
    `fault()` reports a WAL that cannot be checkpointed or fsynced.
    """

    def __init__(
        self, data_dir: str | os.PathLike[str], *, synchronous: str = "FULL", checkpoint_interval: float = 1.0
    ) -> None:
        self._dir = Path(data_dir)
        self._checkpoint_interval = checkpoint_interval
        self._synchronous = synchronous
        self._db: sqlite3.Connection | None = None
        self._wal: WalWriter | None = None
        self._lockfile: int | None = None

    async def start(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._dir / "palabre.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreLocked(f"{self._dir} is in use by another Palabre process") from None
        self._lockfile = fd
        path = self._dir / DB_FILE
        try:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            try:
                wal = WalWriter(db, path, synchronous=self._synchronous,
                                checkpoint_interval=self._checkpoint_interval)
                db.execute("PRAGMA busy_timeout=2000")
                db.executescript(SCHEMA)
                columns = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
                for statement in migrate(columns):
                    db.execute(statement)
                wal.start()
            except BaseException:
                db.close()
                raise
        except BaseException:
            self._release_lock()
            raise
        self._db, self._wal = db, wal

    @property
    def synchronous(self) -> str:
        """What an acknowledged write survives: FULL (a power cut: the WAL was fsynced), else SQLite's
        own setting on the store's connection (NORMAL or OFF: a crash of this process)."""
        assert self._db is not None and self._wal is not None, "store not started"
        if self._wal.fsyncs:
            return "FULL"
        level = self._db.execute("PRAGMA synchronous").fetchone()[0]
        return ("OFF", "NORMAL", "FULL", "EXTRA")[level]

    def fault(self) -> str | None:
        return self._wal.fault() if self._wal is not None else None

    def counters(self) -> dict[str, float]:
        return self._wal.counters() if self._wal is not None else {}

    async def close(self) -> None:
        """Commit, checkpoint and close; the directory lock is released even if any of that fails."""
        try:
            if self._wal is not None:
                await self._wal.close()
        finally:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._release_lock()

    def _release_lock(self) -> None:
        if self._lockfile is not None:
            os.close(self._lockfile)
            self._lockfile = None

    # inbox
    async def add_events(self, events: Iterable[Event]) -> list[bool]:
        fresh = [
            self._w(
                "INSERT OR IGNORE INTO events (id, body) VALUES (?, ?)", (e.id, to_json(e))
            ).rowcount
            == 1
            for e in events
        ]
        await self._durable()
        return fresh

    async def is_processed(self, event_id: str) -> bool:
        row = self._x("SELECT processed FROM events WHERE id = ?", (event_id,)).fetchone()
        return bool(row and row[0])

    async def unprocessed_events(self, limit: int = 1000) -> list[Event]:
        rows = self._x(
            "SELECT body FROM events WHERE processed = 0 ORDER BY rowid LIMIT ?", (limit,)
        ).fetchall()
        return [Event.model_validate_json(r[0]) for r in rows]

    # conversations and turns
    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        row = self._x("SELECT body FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        return Conversation.model_validate_json(row[0]) if row else None

    async def conversations_with(self, vendor_id: str, address: str) -> list[Conversation]:
        ids = [f"{vendor_id}:{channel}:{address}" for channel in CHANNELS]
        rows = self._x(f"SELECT body FROM conversations WHERE id IN ({','.join('?' * len(ids))})", ids).fetchall()
        found = [Conversation.model_validate_json(r[0]) for r in rows]
        return sorted(found, key=lambda c: c.last_inbound_at or 0.0, reverse=True)

    async def commit_turn(self, turn: TurnWrite) -> None:
        if turn.conversation is not None:
            c = turn.conversation
            expected = turn.expected_version
            if expected is None:
                self._w("INSERT INTO conversations (id, body) VALUES (?, ?) "
                        "ON CONFLICT(id) DO UPDATE SET body = excluded.body", (c.id, to_json(c)))
            else:
                # The version check is the write's own condition (one statement, the version read by SQLite):
                # a new conversation (expected 0) is inserted unless one was stored meanwhile.
                if c.version != expected + 1:  # the turn builder already moved it on: no copy needed
                    c = c.model_copy(update={"version": expected + 1})
                if expected == 0:
                    sql = ("INSERT INTO conversations (id, body) VALUES (?, ?) ON CONFLICT(id) DO UPDATE "
                           "SET body = excluded.body WHERE COALESCE(json_extract(conversations.body, '$.version'), 0) "
                           "= ?")
                    params: tuple = (c.id, to_json(c), expected)
                else:
                    sql = ("UPDATE conversations SET body = ? WHERE id = ? "
                           "AND COALESCE(json_extract(body, '$.version'), 0) = ?")
                    params = (to_json(c), c.id, expected)
                if self._w(sql, params).rowcount != 1:
                    row = self._x("SELECT json_extract(body, '$.version') FROM conversations WHERE id = ?",
                                  (c.id,)).fetchone()
                    # No conversation id in the message: it holds the buyer's address.
                    raise ConflictError(f"conversation is at version {int(row[0] or 0) if row else 0}, the turn "
                                        f"expected {expected}")
        self._write_messages(turn.messages, turn.outbox)
        for t in turn.timers:
            self._w(
                "INSERT OR REPLACE INTO timers (id, due_at, body) VALUES (?, ?, ?)",
                (t.id, t.due_at, t.model_dump_json()),
            )
        for timer_id in turn.cancel_timers:
            self._w("DELETE FROM timers WHERE id = ?", (timer_id,))
        self._w(
            "INSERT INTO events (id, processed) VALUES (?, 1) "
            "ON CONFLICT(id) DO UPDATE SET processed = 1",
            (turn.event_id,),
        )
        await self._durable()

    async def transcript(self, conversation_id: str) -> list[Message]:
        rows = self._x(
            "SELECT seq, body, provider_message_id, status, error FROM messages WHERE conv = ? ORDER BY seq",
            (conversation_id,),
        ).fetchall()
        out = []
        for seq, body, pmid, status, error in rows:
            m = Message.model_validate_json(body)
            out.append(m.model_copy(update={"seq": seq, "provider_message_id": pmid, "status": status,
                                             "error": error}))
        return out

    async def update_message_status(
        self, provider_message_id: str, status: str, error: str | None = None
    ) -> bool:
        replaceable = STATUS_REPLACES.get(status, ())
        self._w(
            "UPDATE messages SET status = ?, error = COALESCE(?, error) "
            f"WHERE provider_message_id = ? AND {SENT_BY_US} AND status IN ({','.join('?' * len(replaceable))})",
            (status, error, provider_message_id, *replaceable),
        )
        await self._durable()
        return self._x(f"SELECT 1 FROM messages WHERE provider_message_id = ? AND {SENT_BY_US}",
                       (provider_message_id,)).fetchone() is not None

    # timers
    async def due_timers(self, now: float, limit: int = 100) -> list[Timer]:
        rows = self._x(
            "SELECT body FROM timers WHERE due_at <= ? ORDER BY due_at LIMIT ?", (now, limit)
        ).fetchall()
        return [Timer.model_validate_json(r[0]) for r in rows]

    async def delete_timer(self, timer_id: str) -> None:
        self._w("DELETE FROM timers WHERE id = ?", (timer_id,))
        await self._durable()

    # dead letters
    def _dead_letter_table(self) -> None:
        # Created on first use rather than in SCHEMA: data folders made by older versions gain it too.
        self._x("CREATE TABLE IF NOT EXISTS dead_letters (id TEXT PRIMARY KEY, vendor TEXT NOT NULL, "
                "dead_at REAL NOT NULL, body TEXT NOT NULL)")

    async def dead_letter(self, letter: DeadLetter, turn: TurnWrite) -> None:
        self._dead_letter_table()
        self._w("INSERT OR REPLACE INTO dead_letters (id, vendor, dead_at, body) VALUES (?, ?, ?, ?)",
                (letter.event_id, letter.vendor_id, letter.dead_at, letter.model_dump_json()))
        # Same group commit as the turn: the letter and the processed mark land together.
        await self.commit_turn(turn)

    async def dead_letters(self, vendor_id: str | None = None, limit: int = 1000) -> list[DeadLetter]:
        self._dead_letter_table()
        if vendor_id is None:
            rows = self._x("SELECT body FROM dead_letters ORDER BY dead_at, rowid LIMIT ?", (limit,)).fetchall()
        else:
            rows = self._x("SELECT body FROM dead_letters WHERE vendor = ? ORDER BY dead_at, rowid LIMIT ?",
                           (vendor_id, limit)).fetchall()
        return [DeadLetter.model_validate_json(r[0]) for r in rows]

    async def revive_event(self, event_id: str) -> Event | None:
        self._dead_letter_table()
        row = self._x("SELECT e.body FROM dead_letters d LEFT JOIN events e ON e.id = d.id WHERE d.id = ?",
                      (event_id,)).fetchone()
        if row is None:
            return None
        if row[0] is None:
            raise ValueError(f"event {event_id} is not in the inbox")
        event = Event.model_validate_json(row[0])
        self._w("DELETE FROM dead_letters WHERE id = ?", (event_id,))
        self._w("UPDATE events SET processed = 0 WHERE id = ?", (event_id,))
        await self._durable()
        return event

    async def quarantine_unloadable(self, limit: int = 100_000) -> list[DeadLetter]:
        self._dead_letter_table()
        rows = self._x("SELECT id, body FROM events WHERE processed = 0 ORDER BY rowid LIMIT ?", (limit,)).fetchall()
        letters = []
        for event_id, body in rows:
            try:
                Event.model_validate_json(body)
            except ValueError as exc:
                letters.append(unloadable(event_id, body, exc))
        for letter in letters:
            self._w("INSERT OR REPLACE INTO dead_letters (id, vendor, dead_at, body) VALUES (?, ?, ?, ?)",
                    (letter.event_id, letter.vendor_id, letter.dead_at, letter.model_dump_json()))
            self._w("UPDATE events SET processed = 1 WHERE id = ?", (letter.event_id,))
        if letters:
            await self._durable()
        return letters
