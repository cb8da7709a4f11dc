"""A data folder written by the version with a separate outbox table opens, sends what it left, and keeps working."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from channels import Reply
from storage.embedded import EmbeddedStore
from storage.records import Message, OutboxEntry, TurnWrite

CONV = "boutique-awa:telegram:4242"

# The tables of messages and outbox as the previous version created them (its SCHEMA, verbatim).
PREVIOUS_SCHEMA = """
CREATE TABLE events (id TEXT PRIMARY KEY, processed INTEGER NOT NULL DEFAULT 0, body TEXT);
CREATE INDEX events_unprocessed ON events(processed) WHERE processed = 0;
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, conv TEXT NOT NULL,
    provider_message_id TEXT, status TEXT NOT NULL, error TEXT, body TEXT NOT NULL);
CREATE INDEX messages_conv ON messages(conv, seq);
CREATE INDEX messages_pmid ON messages(provider_message_id);
CREATE TABLE outbox (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, next_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT, message_id TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX outbox_due ON outbox(status, next_at);
"""


def reply(msg_id: str, due: float) -> tuple[Message, OutboxEntry]:
    r = Reply(text=f"réponse {msg_id}")
    return (Message(id=msg_id, conversation_id=CONV, direction="out", text=r.text, reply=r, event_id="e"),
            OutboxEntry(id=msg_id, message_id=msg_id, conversation_id=CONV, vendor_id="boutique-awa",
                        channel="telegram", provider="telegram", recipient="4242", reply=r, next_attempt_at=due))


def write_previous_version(path: Path, rows: list[tuple[Message, OutboxEntry, str, str | None]]) -> None:
    """Rows as the previous version's `commit_turn` and `mark_outbox` left them."""
    db = sqlite3.connect(path)
    db.executescript(PREVIOUS_SCHEMA)
    for m, o, status, pmid in rows:
        db.execute("INSERT INTO messages (id, conv, provider_message_id, status, error, body) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   (m.id, m.conversation_id, pmid, "queued" if status == "pending" else status, None,
                    m.model_dump_json()))
        db.execute("INSERT INTO outbox (id, status, next_at, attempts, message_id, body) VALUES (?, ?, ?, ?, ?, ?)",
                   (o.id, status, o.next_attempt_at, o.attempts, o.message_id, o.model_dump_json()))
    db.commit()
    db.close()


async def test_a_data_folder_of_the_previous_version_sends_its_pending_replies_once(tmp_path: Path) -> None:
    now = time.time()
    (sent_m, sent_o), (left_m, left_o) = reply("e0:out:0", now - 9), reply("e1:out:0", now - 5)
    write_previous_version(tmp_path / "palabre.sqlite3",
                           [(sent_m, sent_o, "sent", "tg.1"), (left_m, left_o, "pending", None)])
    new_m, new_o = reply("e2:out:0", now - 1)

    store = EmbeddedStore(tmp_path)
    await store.start()
    try:
        assert await store.pending_outbox(now) == [left_o]
        await store.commit_turn(TurnWrite(event_id="e2", messages=[new_m], outbox=[new_o]))
        # The old turn replayed (its event was not marked processed before the crash): still one entry.
        await store.commit_turn(TurnWrite(event_id="e1", messages=[left_m], outbox=[left_o]))
        assert await store.pending_outbox(now) == [left_o, new_o]
        await store.mark_outbox(left_o.id, "sent", attempts=1, provider_message_id="tg.2")
        assert await store.update_message_status("tg.1", "read") is True
        assert await store.update_message_status("tg.2", "delivered") is True
    finally:
        await store.close()

    store = EmbeddedStore(tmp_path)  # a second start finds the folder already converted
    await store.start()
    try:
        assert await store.pending_outbox(now) == [new_o]  # not sent before the restart: sent after it
        await store.mark_outbox(new_o.id, "sent", attempts=1, provider_message_id="tg.3")
        assert await store.pending_outbox(now + 3600) == []
        lines = [(m.id, m.status, m.provider_message_id) for m in await store.transcript(CONV)]
        assert lines == [(sent_m.id, "read", "tg.1"), (left_m.id, "delivered", "tg.2"), (new_m.id, "sent", "tg.3")]
    finally:
        await store.close()
