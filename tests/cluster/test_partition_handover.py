"""A partition handed over between two processes loses no entry appended during the hand-over."""

from __future__ import annotations

import asyncio
import uuid

from bot.pipeline.partitions import PartitionWorker
from channels import Contact, Event
from storage.streams import Lease, StreamBus
from tests.cluster.support import until

LEASE_TTL = 0.6
PARTITIONS = 2


def event(i: int) -> Event:
    return Event(id=f"tg:{i}", channel="telegram", provider="telegram", vendor_id="shop",
                 contact=Contact(address=str(200_000 + i)), text="ROBE1")


async def test_an_entry_appended_while_the_giving_process_still_reads_the_partition_is_processed(
        redis_url: str) -> None:
    prefix = f"palabre-test-handover-{uuid.uuid4().hex[:8]}:"
    done: list[str] = []

    async def process(ev: Event, lease: Lease) -> None:
        done.append(ev.id)

    first_bus = StreamBus(redis_url, partitions=PARTITIONS, prefix=prefix, lease_ttl=LEASE_TTL)
    second_bus = StreamBus(redis_url, partitions=PARTITIONS, prefix=prefix, lease_ttl=LEASE_TTL)
    appender = StreamBus(redis_url, partitions=PARTITIONS, prefix=prefix, lease_ttl=LEASE_TTL)
    first, second = PartitionWorker(first_bus, process), PartitionWorker(second_bus, process)
    sent: list[str] = []
    try:
        await first.start()
        assert await until(lambda: len(first.leases) == PARTITIONS, 5)
        await asyncio.sleep(0.3)  # the first process now blocks reading both partitions, idle
        await second.start()
        # The second process joins: the first gives one partition back, the second takes it over...
        assert await until(lambda: len(second.leases) == 1, 5)
        (moved,) = second.leases
        # ...and a buyer writes at once, while the first's read of that partition may still be blocked.
        for i in range(200):
            e = event(i)
            if appender.partition_of(e.conversation_key) == moved:
                await appender.append([(e.conversation_key, e.model_dump_json())])
                sent.append(e.id)
                break
        assert sent
        assert await until(lambda: set(sent) <= set(done), 5), "the entry was read and dropped by the process " \
            "that gave the partition back: nobody processes it"
    finally:
        for w in (first, second):
            await w.stop()
        for b in (first_bus, second_bus, appender):
            await b.close()
