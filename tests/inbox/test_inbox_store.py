"""The inbox store contract, run against SQLite and MongoDB (mongomock-motor, or MONGODB_URI when set)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import mongomock_motor
import pytest

from channels import Contact
from storage.inbox import Agent, AuditEntry, CannedReply, InboxConflict, InboxStore, Note, Thread, ThreadFilter
from storage.inbox_mongo import MongoInboxStore
from storage.inbox_sqlite import SqliteInboxStore
from tests.conftest import MONGO_ID, MONGODB_URI


@pytest.fixture(params=["sqlite", MONGO_ID])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[InboxStore]:
    if request.param == "sqlite":
        s: InboxStore = SqliteInboxStore(tmp_path)
    elif MONGODB_URI:
        s = MongoInboxStore(MONGODB_URI, f"palabre_test_{uuid.uuid4().hex}")
    else:
        s = MongoInboxStore("", client=mongomock_motor.AsyncMongoMockClient())
    await s.start()
    yield s
    await s.close()


def thread(conv: str = "demo:web:+221770000001", vendor: str = "demo", **kw: object) -> Thread:
    return Thread(id=conv, vendor_id=vendor, channel="web", provider="simulator",
                  contact=Contact(address=conv.rsplit(":", 1)[-1]), **kw)  # type: ignore[arg-type]


async def test_a_thread_write_is_refused_when_another_agent_wrote_first(store: InboxStore) -> None:
    first = await store.save_thread(thread(), 0)
    assert first.version == 1
    with pytest.raises(InboxConflict):
        await store.save_thread(thread(), 0)
    claimed = await store.save_thread(first.model_copy(update={"assignee": "awa", "status": "assigned"}), 1)
    with pytest.raises(InboxConflict):
        await store.save_thread(first.model_copy(update={"assignee": "binta", "status": "assigned"}), 1)
    stored = await store.get_thread(first.id)
    assert stored is not None and stored.assignee == "awa" and stored.version == claimed.version == 2


async def test_threads_are_filtered_and_the_longest_waiting_come_first(store: InboxStore) -> None:
    await store.save_thread(thread("demo:web:+2217700000a1", opened_at=1.0, waiting_since=50.0), 0)
    await store.save_thread(thread("demo:web:+2217700000a2", opened_at=2.0, waiting_since=10.0), 0)
    await store.save_thread(thread("demo:sms:+2217700000a3", opened_at=3.0, status="resolved"), 0)
    await store.save_thread(thread("shop:web:+2217700000a4", vendor="shop", opened_at=4.0, waiting_since=1.0), 0)
    ids = [t.id[-2:] for t in await store.list_threads(ThreadFilter(vendors=["demo"]))]
    assert ids == ["a2", "a1", "a3"]
    assert [t.id[-2:] for t in await store.list_threads(ThreadFilter(statuses=["resolved"]))] == ["a3"]
    assert [t.id[-2:] for t in await store.list_threads(ThreadFilter(vendors=[]))] == []
    assert len(await store.list_threads(ThreadFilter())) == 4


async def test_agents_tokens_and_revocation(store: InboxStore) -> None:
    assert await store.add_agent(Agent(name="awa", role="support", vendors=["demo"], token_hash="h1"))
    assert not await store.add_agent(Agent(name="awa", role="admin", token_hash="h2"))
    found = await store.agent_by_token("h1")
    assert found is not None and found.name == "awa" and found.vendors == ["demo"]
    assert await store.revoke_agent("awa", 10.0)
    assert await store.agent_by_token("h1") is None
    assert not await store.revoke_agent("awa", 11.0)
    # A revoked name may be given to a new agent, with a new token.
    assert await store.add_agent(Agent(name="awa", role="support", token_hash="h3"))
    assert (await store.agent_by_token("h3")) is not None and await store.agent_by_token("h1") is None
    assert [a.name for a in await store.list_agents()] == ["awa"]


async def test_audit_notes_and_canned_replies(store: InboxStore) -> None:
    for i, vendor in enumerate(("demo", "shop", "demo")):
        await store.audit(AuditEntry(id=f"a{i}", at=float(i), actor="awa", action="claim", vendor_id=vendor))
    assert [e.id for e in await store.audit_log(["demo"])] == ["a2", "a0"]
    assert [e.id for e in await store.audit_log(limit=2)] == ["a2", "a1"]
    await store.add_note(Note(id="n1", conversation_id="c", author="awa", text="un", created_at=1.0))
    await store.add_note(Note(id="n2", conversation_id="c", author="awa", text="deux", created_at=2.0))
    assert [n.text for n in await store.notes("c")] == ["un", "deux"]
    await store.save_canned(CannedReply(id="k1", vendor_id="demo", shortcut="delai", text="48 h"))
    await store.save_canned(CannedReply(id="k2", vendor_id=None, shortcut="bonjour", text="Bonjour"))
    await store.save_canned(CannedReply(id="k3", vendor_id="shop", shortcut="adresse", text="Rue 10"))
    assert [c.id for c in await store.list_canned(["demo"])] == ["k2", "k1"]
    assert [c.id for c in await store.list_canned()] == ["k3", "k2", "k1"]
    assert await store.delete_canned("k1") and not await store.delete_canned("k1")
    assert await store.get_canned("k1") is None
