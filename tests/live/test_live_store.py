"""One contract for the live store on SQLite and on MongoDB: one open live per vendor, even when two
starts race; closing, summaries, history; catalogue changes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import mongomock_motor
import pytest

from storage.live import CatalogueChange, LiveSession, LiveStore
from tests.conftest import MONGO_ID, MONGODB_URI, mongo_test_uri


@pytest.fixture(params=["sqlite", MONGO_ID])
async def live(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LiveStore]:
    if request.param == "sqlite":
        from storage.live_sqlite import SqliteLiveStore

        store: LiveStore = SqliteLiveStore(tmp_path)
    else:
        from storage.live_mongo import MongoLiveStore

        store = MongoLiveStore(mongo_test_uri(), db_name=f"palabre_test_{uuid.uuid4().hex}") if MONGODB_URI \
            else MongoLiveStore("", client=mongomock_motor.AsyncMongoMockClient())
    await store.start()
    yield store
    await store.close()


def session(n: int, vendor: str = "demo", at: float = 1000.0) -> LiveSession:
    return LiveSession(id=f"live{n}", vendor_id=vendor, started_at=at + n, start_ref=f"ev{n}")


async def test_a_vendor_has_one_open_live_even_when_two_starts_race(live: LiveStore) -> None:
    results = await asyncio.gather(*(live.open_session(session(n)) for n in range(5)))
    winners = [s for s, started in results if started]
    assert len(winners) == 1
    assert all(s.id == winners[0].id for s, _ in results)
    assert (await live.current_session("demo")).id == winners[0].id
    other, started = await live.open_session(session(9, vendor="other"))
    assert started and (await live.current_session("other")).id == other.id
    again, started = await live.open_session(winners[0])  # the same start replayed
    assert started and again.id == winners[0].id


async def test_closing_keeps_the_session_its_end_and_its_summary(live: LiveStore) -> None:
    assert await live.close_session("demo", 2000.0, "vendor", "stop1") is None
    await live.open_session(session(1))
    closed = await live.close_session("demo", 2000.0, "vendor", "stop1")
    assert closed is not None and (closed.ended_at, closed.ended_by, closed.stop_ref) == (2000.0, "vendor", "stop1")
    assert await live.current_session("demo") is None
    assert await live.close_session("demo", 2001.0, "vendor", "stop2") is None
    await live.save_summary(closed.id, {"paid": 3, "revenue": 45000})
    await live.open_session(session(2, at=3000.0))
    history = await live.sessions("demo")
    assert [s.id for s in history] == ["live2", "live1"]
    assert history[0].open and history[1].summary == {"paid": 3, "revenue": 45000}


async def test_catalogue_changes_are_kept_per_vendor_and_product(live: LiveStore) -> None:
    change = CatalogueChange(vendor_id="demo", code="ROBE1", price=12000, in_file=True, file_name="Robe",
                             file_price=15000, at=5.0)
    await live.save_change(change)
    await live.save_change(change.model_copy(update={"price": 11000}))
    await live.save_change(CatalogueChange(vendor_id="demo", code="JUPE3", name="Jupe", price=9000, added=True))
    await live.save_change(CatalogueChange(vendor_id="other", code="ROBE1", removed=True))
    assert [(c.code, c.price) for c in await live.changes("demo")] == [("JUPE3", 9000), ("ROBE1", 11000)]
    await live.drop_change("demo", "ROBE1")
    assert [c.code for c in await live.changes("demo")] == ["JUPE3"]
    assert [c.removed for c in await live.changes("other")] == [True]
