"""Provider statuses land on what we sent in a data folder whose index still holds buyers' messages."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from channels import Reply
from storage.embedded import EmbeddedStore
from storage.records import Message, OutboxEntry, TurnWrite

CONV = "boutique-awa:telegram:4242"


def turn(n: int) -> TurnWrite:
    """A buyer's message with its provider id (Telegram's chat:message) and the bot's queued reply."""
    r = Reply(text=f"réponse {n}")
    out = f"e{n}:out:0"
    return TurnWrite(
        event_id=f"e{n}",
        messages=[Message(id=f"e{n}:in", conversation_id=CONV, direction="in", text="ROBE1", event_id=f"e{n}",
                          provider_message_id=f"4242:{2 * n}", status="received"),
                  Message(id=out, conversation_id=CONV, direction="out", text=r.text, reply=r, event_id=f"e{n}")],
        outbox=[OutboxEntry(id=out, message_id=out, conversation_id=CONV, vendor_id="boutique-awa",
                            channel="telegram", provider="telegram", recipient="4242", reply=r)],
    )


def statuses(lines: list[Message]) -> list[tuple[str, str, str | None]]:
    return [(m.id, m.status, m.provider_message_id) for m in lines]


async def test_a_folder_whose_index_holds_buyers_messages_still_takes_statuses(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    await store.start()
    await store.commit_turn(turn(1))
    await store.mark_outbox("e1:out:0", "sent", attempts=1, provider_message_id="4242:3")
    await store.close()
    # The previous version's index: every row with a provider id, the buyer's included.
    db = sqlite3.connect(tmp_path / "palabre.sqlite3")
    db.execute("DROP INDEX messages_outbound_pmid")
    db.execute("CREATE INDEX messages_sent ON messages(provider_message_id) WHERE provider_message_id IS NOT NULL")
    db.commit()
    db.close()

    store = EmbeddedStore(tmp_path)
    await store.start()
    try:
        await store.commit_turn(turn(2))
        await store.mark_outbox("e2:out:0", "sent", attempts=1, provider_message_id="4242:5")
        assert await store.update_message_status("4242:3", "delivered") is True  # sent before the upgrade
        assert await store.update_message_status("4242:5", "read") is True
        assert await store.update_message_status("4242:4", "read") is False
        assert statuses(await store.transcript(CONV)) == [
            ("e1:in", "received", "4242:2"), ("e1:out:0", "delivered", "4242:3"),
            ("e2:in", "received", "4242:4"), ("e2:out:0", "read", "4242:5")]
    finally:
        await store.close()
