"""MongoDB writes that acknowledge a webhook are journaled on a majority unless configured otherwise."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import monitoring

from channels import Contact, Event
from storage.mongo import MongoStore, parse_write_concern
from storage.records import Conversation, TurnWrite

MONGODB_URI = os.environ.get("MONGODB_URI")
WRITES = {"insert", "update", "delete", "findAndModify"}


class WriteConcerns(monitoring.CommandListener):
    """Records the write concern the driver sent with each write command."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any] | None]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in WRITES:
            self.seen.append((event.command_name, event.command.get("writeConcern")))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_write_concern_spec_is_parsed_and_bad_ones_are_refused() -> None:
    assert parse_write_concern("w=majority&j=true&wtimeout=10000").document == {
        "w": "majority", "j": True, "wtimeout": 10000}
    assert parse_write_concern("w=1").document == {"w": 1}
    assert parse_write_concern("w=2,j=false").document == {"w": 2, "j": False}
    for bad in ("majority", "w=majority&j=yes", "fsync=true"):
        with pytest.raises(ValueError):
            parse_write_concern(bad)


def test_default_is_majority_journaled_and_the_uri_or_argument_overrides_it() -> None:
    default = MongoStore("mongodb://127.0.0.1:9/palabre")
    assert default.write_concern is not None
    assert default.write_concern.document == {"w": "majority", "j": True, "wtimeout": 10000}
    from_uri = MongoStore("mongodb://127.0.0.1:9/palabre?w=1")
    assert from_uri.write_concern is None  # the URI's own w=1 applies
    explicit = MongoStore("mongodb://127.0.0.1:9/palabre?w=1", write_concern="w=majority&j=true")
    assert explicit.write_concern is not None and explicit.write_concern.document == {"w": "majority", "j": True}


@pytest.mark.skipif(not MONGODB_URI, reason="needs a MongoDB-wire server (MONGODB_URI)")
async def test_webhook_acknowledging_writes_carry_the_majority_journaled_concern() -> None:
    assert MONGODB_URI is not None
    listener = WriteConcerns()
    client: AsyncIOMotorClient = AsyncIOMotorClient(MONGODB_URI, event_listeners=[listener])
    store = MongoStore(MONGODB_URI, db_name=f"palabre_test_{uuid.uuid4().hex}", client=client)
    await store.start()
    try:
        contact = Contact(address="+221770000001")
        await store.add_events([Event(id="wamid.1", channel="whatsapp", provider="meta", vendor_id="v",
                                      contact=contact, text="ROBE1")])
        conv = Conversation(id="v:whatsapp:+221770000001", vendor_id="v", channel="whatsapp",
                            provider="meta", contact=contact)
        await store.commit_turn(TurnWrite(event_id="wamid.1", conversation=conv, expected_version=0))
        assert await store.is_processed("wamid.1")
    finally:
        await store.drop()
        await store.close()
        client.close()
    assert listener.seen, "no write command was observed"
    wanted = {"w": "majority", "j": True, "wtimeout": 10000}
    assert [(name, concern) for name, concern in listener.seen if concern != wanted] == []
