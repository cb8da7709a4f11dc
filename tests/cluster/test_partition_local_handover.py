"""The local hand-over: an event this process appended to a partition it leases reaches its own read without
being decoded again, in stream order with the entries other processes appended."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bot.pipeline.partitions import PartitionWorker
from channels import Contact, Event
from storage.streams import Lease, StreamBus
from tests.cluster.support import until

LEASE_TTL = 3.0
PARTITIONS = 2


def event(text: str) -> Event:
    return Event(id=f"tg:handover:{text}", channel="telegram", provider="telegram", vendor_id="shop",
                 contact=Contact(address="300001"), text=text)


@pytest.mark.parametrize("order", [["other", "local"], ["local", "other", "local-2"]])
async def test_a_locally_appended_event_is_handed_over_in_stream_order(redis_url: str, order: list[str]) -> None:
    prefix = f"palabre-test-handover-{uuid.uuid4().hex[:8]}:"
    runs: list[tuple[str, bool]] = []
    kept: dict[str, Event] = {}

    async def process(ev: Event, lease: Lease) -> None:
        text = ev.text or ""
        runs.append((text, kept.get(text) is ev))

    bus = StreamBus(redis_url, partitions=PARTITIONS, prefix=prefix, lease_ttl=LEASE_TTL)
    other = StreamBus(redis_url, partitions=PARTITIONS, prefix=prefix, lease_ttl=LEASE_TTL)
    worker = PartitionWorker(bus, process)
    try:
        await worker.start()
        assert await until(lambda: len(worker.leases) == PARTITIONS, 5)
        # One buyer: every entry goes to one partition; the other process's entries are appended at once,
        # this process's as its intake does (append, then tell the worker).
        for text in order:
            e = event(text)
            if text == "other":
                await other.append([(e.conversation_key, e.model_dump_json())])
                continue
            (entry_id,) = await bus.append([(e.conversation_key, e.model_dump_json())])
            kept[text] = e
            worker.appended(bus.partition_of(e.conversation_key), entry_id, e)
        assert await until(lambda: len(runs) == len(order), 5), runs
        await asyncio.sleep(0.05)  # nothing runs twice
        assert [text for text, _ in runs] == order
        # Other processes' entries are decoded from the stream; this process's own ones are the very events
        # it appended (unless its read got the entry back before the append's reply: then decoded too).
        assert all(not handed for text, handed in runs if text == "other")
        assert all(not lease.local for lease in worker.leases.values()), "kept events must not pile up"
    finally:
        await worker.stop()
        for b in (bus, other):
            await b.close()
