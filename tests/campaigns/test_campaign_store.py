"""The campaign store's contract, run against SQLite and MongoDB (FerretDB in CI, else mongomock)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import mongomock_motor
import pytest

from storage.campaigns import Audience, Campaign, CampaignContact, CampaignStore, Recipient, contact_id
from tests.conftest import MONGO_ID, MONGODB_URI, mongo_test_uri


@pytest.fixture(params=["sqlite", MONGO_ID])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CampaignStore]:
    if request.param == "sqlite":
        from storage.campaigns_sqlite import SqliteCampaignStore

        s: CampaignStore = SqliteCampaignStore(tmp_path)
    else:
        from storage.campaigns_mongo import MongoCampaignStore

        s = MongoCampaignStore(mongo_test_uri(), f"palabre_test_{uuid.uuid4().hex}") if MONGODB_URI else \
            MongoCampaignStore("", client=mongomock_motor.AsyncMongoMockClient())
    await s.start()
    yield s
    await s.close()


def person(phone: str, **fields: object) -> CampaignContact:
    return CampaignContact(id=contact_id("v", phone), vendor_id="v", phone=phone, **fields)  # type: ignore[arg-type]


async def test_a_reimport_merges_tags_and_attributes_and_never_undoes_an_opt_out(store: CampaignStore) -> None:
    assert await store.upsert_contacts("v", [person("+221770000001", tags=["a"], consent="opted_out")]) == (1, 0)
    again = person("+221770000001", tags=["b"], attributes={"ville": "Thiès"}, consent="opted_in", name="Awa")
    assert await store.upsert_contacts("v", [again]) == (0, 1)
    [c] = await store.contacts("v")
    assert (c.tags, c.attributes, c.consent, c.name) == (["a", "b"], {"ville": "Thiès"}, "opted_out", "Awa")


async def test_a_contact_is_found_by_any_of_its_addresses(store: CampaignStore) -> None:
    await store.upsert_contacts("v", [person("+221770000002", email="awa@example.sn")])
    by_mail = await store.find_contact("v", "awa@example.sn")
    assert by_mail is not None and by_mail.phone == "+221770000002"
    assert await store.find_contact("other", "awa@example.sn") is None


async def test_recipients_are_added_once_and_move_only_from_the_given_statuses(store: CampaignStore) -> None:
    rows = [Recipient(campaign_id="k", contact_id=f"c{i}") for i in range(3)]
    assert await store.add_recipients(rows) == 3
    assert await store.add_recipients(rows) == 0  # a restart re-adding the list adds nobody twice
    [first, *_] = await store.pending_recipients("k", 10)
    assert await store.mark_recipient(first, "queued", only_from=["pending"])
    assert not await store.mark_recipient(first, "queued", only_from=["pending"])
    assert (await store.recipient_counts("k"))["pending"] == 2


async def test_a_campaign_changes_only_from_the_state_and_version_it_was_read_at(store: CampaignStore) -> None:
    c = Campaign(id="k1", vendor_id="v", templates=["t"], tag="x")
    assert await store.create_campaign(c) and not await store.create_campaign(c)
    running = await store.transition(c, ["draft"], status="running")
    assert running is not None and running.status == "running"
    assert await store.transition(c, ["draft"], status="cancelled") is None  # stale read
    assert await store.transition(running, ["draft"], status="cancelled") is None  # wrong state
    assert [x.status for x in await store.campaigns("v")] == ["running"]


async def test_counters_stop_at_their_limit(store: CampaignStore) -> None:
    assert await store.take("day:v", 2) and await store.take("day:v", 2)
    assert not await store.take("day:v", 2)
    assert await store.counter("day:v") == 2


def test_an_audience_takes_only_consenting_contacts_with_the_tags() -> None:
    audience = Audience(tags_all=["promo"])
    assert audience.matches(person("+1", tags=["promo"], consent="opted_in"), 0)
    assert not audience.matches(person("+1", tags=["promo"], consent="unknown"), 0)
    assert not audience.matches(person("+1", tags=["promo"], consent="opted_out"), 0)
    assert not audience.matches(person("+1", tags=["other"], consent="opted_in"), 0)


async def test_many_addresses_are_looked_up_at_once_each_by_any_address_and_only_for_that_vendor(
        store: CampaignStore) -> None:
    await store.upsert_contacts("v", [person("+221770000005", email="fatou@example.sn"), person("+221770000006")])
    other = CampaignContact(id=contact_id("w", "+221770000007"), vendor_id="w", phone="+221770000007")
    await store.upsert_contacts("w", [other])
    found = await store.find_contacts("v", ["fatou@example.sn", "+221770000006", "+221770000007", "+221779999999"])
    assert {a: c.phone for a, c in found.items()} == {"fatou@example.sn": "+221770000005",
                                                      "+221770000006": "+221770000006"}
    assert await store.find_contacts("v", []) == {}
