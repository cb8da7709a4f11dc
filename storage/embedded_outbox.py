"""The embedded store's outbox: a reply's delivery columns live in its own message row."""

from __future__ import annotations

from storage.embedded_tables import SqliteTables
from storage.records import Message, OutboxEntry, to_json

# An outbound message that is also an outbox entry carries `route` (the entry without its reply, as JSON),
# `attempts`, `ob_error` (the last attempt's error) and `due` (the next attempt; NULL once sent or failed).
DELIVERY_COLUMNS = (("due", "REAL"), ("attempts", "INTEGER"), ("ob_error", "TEXT"), ("route", "TEXT"))
# Left out of `route`: the columns above, and the reply when it is the message's own (every reply the bot
# writes; an entry with another reply keeps it in `route`).
IN_COLUMNS = frozenset({"status", "attempts", "next_attempt_at", "error"})
# As fields to include: pydantic dumps a model ~40 % faster given what to keep than given what to leave out.
ROUTE = frozenset(OutboxEntry.model_fields) - IN_COLUMNS - {"reply"}
ROUTE_AND_REPLY = ROUTE | {"reply"}

# The provider-id index's condition; a lookup repeats it so that SQLite can use the partial index.
SENT_BY_US = "provider_message_id IS NOT NULL AND status <> 'received'"

_INSERT_PLAIN = ("INSERT OR IGNORE INTO messages (id, conv, provider_message_id, status, error, body) "
                 "VALUES (?, ?, ?, ?, ?, ?)")
_INSERT_QUEUED = ("INSERT OR IGNORE INTO messages (id, conv, provider_message_id, status, error, body, "
                  "due, attempts, ob_error, route) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
# The columns are read as SQL values: a REAL rendered into JSON by SQLite keeps 15 digits, not the float.
_PENDING = ("SELECT json_insert(route, '$.reply', json_extract(body, '$.reply')), due, attempts, ob_error "
            "FROM messages WHERE due IS NOT NULL AND due <= ? ORDER BY due, seq LIMIT ?")
_DONE = ("UPDATE messages SET due = NULL, attempts = ?, ob_error = ?, status = ?, error = ?, "
         "provider_message_id = COALESCE(?, provider_message_id) WHERE id = ? AND route IS NOT NULL")
_RETRY = "UPDATE messages SET due = ?, attempts = ?, ob_error = ? WHERE id = ? AND route IS NOT NULL"


def migrate(db_columns: set[str]) -> list[str]:
    """Statements that bring a messages table of an older version (or a new one) to this layout."""
    adds = [f"ALTER TABLE messages ADD COLUMN {name} {kind}" for name, kind in DELIVERY_COLUMNS
            if name not in db_columns]
    return [*adds,
            "CREATE INDEX IF NOT EXISTS messages_due ON messages(due) WHERE due IS NOT NULL",
            # Statuses only ever target what we sent: a buyer's message (status "received", which no status
            # replaces) stays out of the index, and an outbound row enters it once its provider id is known.
            "DROP INDEX IF EXISTS messages_pmid",
            "DROP INDEX IF EXISTS messages_sent",
            f"CREATE INDEX IF NOT EXISTS messages_outbound_pmid ON messages(provider_message_id) WHERE {SENT_BY_US}"]


class OutboxInMessages(SqliteTables):
    """A turn writes one row per reply, and a delivery attempt updates that one row.

    An entry whose id is its message's id (every reply the bot writes) lives in the message row. Any
    other entry, and the pending entries of a data folder written by an older version, stay in the
    `outbox` table, which is read and updated as before until it drains.
    """

    def _write_messages(self, messages: list[Message], outbox: list[OutboxEntry]) -> None:
        entries = {o.id: o for o in outbox if o.id == o.message_id}
        for m in messages:
            o = entries.get(m.id)
            if o is None:
                self._w(_INSERT_PLAIN, (m.id, m.conversation_id, m.provider_message_id, m.status, m.error,
                                        to_json(m)))
                continue
            done = self._w(_INSERT_QUEUED, (
                m.id, m.conversation_id, m.provider_message_id, m.status, m.error, to_json(m),
                o.next_attempt_at if o.status == "pending" else None, o.attempts, o.error,
                to_json(o, ROUTE if m.reply is o.reply or m.reply == o.reply else ROUTE_AND_REPLY))).rowcount
            if done:
                del entries[m.id]
        for o in outbox:
            if o.id != o.message_id or o.id in entries:
                self._queue(o)

    def _queue(self, o: OutboxEntry) -> None:
        """Queue an entry whose message row is not written with it: on that row if it has none yet and the
        old table has none of that id, else in the old table unless a message row already carries it."""
        due = o.next_attempt_at if o.status == "pending" else None
        if o.id == o.message_id and self._w(
            "UPDATE messages SET due = ?, attempts = ?, ob_error = ?, route = ? WHERE id = ? AND route IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM outbox WHERE id = ?)",
            (due, o.attempts, o.error, to_json(o, ROUTE_AND_REPLY), o.id, o.id),
        ).rowcount:
            return
        self._w(
            "INSERT OR IGNORE INTO outbox (id, status, next_at, attempts, message_id, body) "
            "SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM messages WHERE id = ? AND route IS NOT NULL)",
            (o.id, o.status, o.next_attempt_at, o.attempts, o.message_id, o.model_dump_json(), o.id),
        )

    async def pending_outbox(self, now: float, limit: int = 100) -> list[OutboxEntry]:
        rows = self._x(
            "SELECT body, next_at, attempts, error FROM outbox WHERE status = 'pending' AND next_at <= ? "
            "ORDER BY next_at, rowid LIMIT ?",
            (now, limit),
        ).fetchall()
        old = len(rows)
        rows += self._x(_PENDING, (now, limit)).fetchall()
        entries = [
            OutboxEntry.model_validate_json(body).model_copy(
                update={"next_attempt_at": next_at, "attempts": attempts, "error": error}
            )
            for body, next_at, attempts, error in rows
        ]
        if not old:
            return entries
        # A stable sort: among entries due at once the old table's (written earlier) come first.
        return sorted(entries, key=lambda e: e.next_attempt_at)[:limit]

    async def mark_outbox(
        self,
        entry_id: str,
        status: str,
        *,
        attempts: int,
        next_attempt_at: float = 0.0,
        error: str | None = None,
        provider_message_id: str | None = None,
    ) -> None:
        if status in ("sent", "failed"):
            changed = self._w(_DONE, (attempts, error, status, error, provider_message_id, entry_id)).rowcount
        else:
            changed = self._w(_RETRY, (next_attempt_at, attempts, error, entry_id)).rowcount
        if not changed:
            self._mark_old(entry_id, status, attempts, next_attempt_at, error, provider_message_id)
        await self._durable()

    def _mark_old(self, entry_id: str, status: str, attempts: int, next_attempt_at: float, error: str | None,
                  provider_message_id: str | None) -> None:
        # The entry's body never changes: a delivery attempt only updates these columns.
        self._w(
            "UPDATE outbox SET status = ?, next_at = ?, attempts = ?, error = ? WHERE id = ?",
            (status, next_attempt_at, attempts, error, entry_id),
        )
        if status in ("sent", "failed"):
            self._w(
                "UPDATE messages SET status = ?, error = ?, provider_message_id = COALESCE(?, provider_message_id) "
                "WHERE id = (SELECT message_id FROM outbox WHERE id = ?)",
                (status, error, provider_message_id, entry_id),
            )
