"""Races between processes that only a real MongoDB-wire server shows: several clients on one fresh database."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from storage.mongo import MongoStore
from tests.conftest import MONGO_KIND, mongo_test_uri
from tests.storage.test_store_contract import event

pytestmark = pytest.mark.skipif(MONGO_KIND == "mongomock", reason="needs a MongoDB-wire server: set MONGODB_URI")

PROCESSES = 4
ROUNDS = 5


async def test_the_first_webhooks_of_a_fresh_database_are_stored_by_every_process_at_once() -> None:
    # Each process's first event allocates a sequence number from a counter nobody has created yet: the
    # concurrent first upserts used to fail all but one on FerretDB, and those webhooks answered 503.
    for _ in range(ROUNDS):
        name = f"palabre_test_{uuid.uuid4().hex}"
        stores = [MongoStore(mongo_test_uri(), name) for _ in range(PROCESSES)]
        try:
            await stores[0].start()
            results = await asyncio.gather(*(s.add_events([event(f"first-{i}")]) for i, s in enumerate(stores)),
                                           return_exceptions=True)
            assert results == [[True]] * PROCESSES, results
            assert len(await stores[0].unprocessed_events()) == PROCESSES
        finally:
            await stores[0].drop()
            for s in stores:
                await s.close()
