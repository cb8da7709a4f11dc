"""Stream consumers of processes that died are removed once their work is taken over, never before."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from bot.pipeline.partitions import DEAD_AFTER_TTLS, PartitionWorker
from channels import Contact, Event
from storage.streams import GROUP, Entry, Lease, StreamBus

LEASE_TTL = 0.3
PARTITIONS = 2


def event(i: int) -> Event:
    return Event(id=f"tg:{i}", channel="telegram", provider="telegram", vendor_id="shop",
                 contact=Contact(address=str(100_000 + i)), text="ROBE1")


def bus(url: str, prefix: str) -> StreamBus:
    return StreamBus(url, partitions=PARTITIONS, prefix=prefix, lease_ttl=LEASE_TTL)


async def appended_and_read(one: StreamBus, count: int, partitions: int) -> list[Entry]:
    """`count` events appended on a new bus, then read back from every partition."""
    await one.ensure_groups()
    await one.append([(e.conversation_key, e.model_dump_json()) for e in map(event, range(count))])
    read = await one.read({p: ">" for p in range(partitions)}, 100, 100) or []
    assert len(read) == count
    return read


async def consumers(url: str, stream: str) -> dict[str, int]:
    """The group's consumers on `stream`, with how many entries each has pending."""
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        return {c["name"]: int(c["pending"]) for c in await client.xinfo_consumers(stream, GROUP)}
    finally:
        await client.aclose()


async def test_a_dead_process_leaves_the_stream_consumers_once_its_pending_work_is_taken_over(
        redis_url: str) -> None:
    prefix = f"palabre-test-consumers-{uuid.uuid4().hex[:8]}:"
    dead = bus(redis_url, prefix)
    await dead.ensure_groups()
    for p in range(PARTITIONS):
        assert await dead.take_lease(p) is not None
    events = [event(i) for i in range(20)]
    await dead.append([(e.conversation_key, e.model_dump_json()) for e in events])
    read = await dead.read({p: ">" for p in range(PARTITIONS)}, 100, 100)
    assert len(read or []) == len(events)
    await dead.close()  # killed: its leases stay until they expire, its entries stay pending

    done: list[str] = []

    async def process(ev: Event, lease: Lease) -> None:
        done.append(ev.id)

    live = bus(redis_url, prefix)
    worker = PartitionWorker(live, process)
    await worker.start()
    try:
        loop = asyncio.get_running_loop()
        # Takeover after the lease ttl, then removal once the dead consumer has been idle DEAD_AFTER_TTLS ttls.
        deadline = loop.time() + LEASE_TTL * DEAD_AFTER_TTLS * 3 + 5
        listed: list[dict[str, int]] = []
        while loop.time() < deadline:
            listed = [await consumers(redis_url, live.stream(p)) for p in range(PARTITIONS)]
            if sorted(done) == sorted(e.id for e in events) and all(dead.consumer not in c for c in listed):
                break
            await asyncio.sleep(0.1)
    finally:
        await worker.stop()
        await live.close()

    assert sorted(done) == sorted(e.id for e in events)  # its work was taken over first
    for on_partition in listed:
        assert dead.consumer not in on_partition
        assert on_partition.get(live.consumer) == 0


async def test_a_consumer_with_pending_entries_is_never_removed_however_idle(redis_url: str) -> None:
    prefix = f"palabre-test-consumers-{uuid.uuid4().hex[:8]}:"
    busy, idle, cleaner = bus(redis_url, prefix), bus(redis_url, prefix), bus(redis_url, prefix)
    try:
        await busy.ensure_groups()
        e = event(1)
        await busy.append([(e.conversation_key, e.model_dump_json())] * 2)
        partition = busy.partition_of(e.conversation_key)
        assert len(await busy.read({partition: ">"}, 1, 100) or []) == 1  # pending, never acknowledged
        (done,) = await idle.read({partition: ">"}, 1, 100) or []
        await idle.ack(partition, [done.id])  # listed, with nothing pending
        await asyncio.sleep(0.2)

        removed = await cleaner.remove_dead_consumers([partition], idle=0.1)

        listed = await consumers(redis_url, busy.stream(partition))
        assert removed == 1
        assert listed == {busy.consumer: 1}
    finally:
        for b in (busy, idle, cleaner):
            await b.close()


async def test_entries_of_every_partition_acknowledged_at_once_leave_nothing_pending_or_stored(
        redis_url: str) -> None:
    prefix = f"palabre-test-consumers-{uuid.uuid4().hex[:8]}:"
    one = StreamBus(redis_url, partitions=4, prefix=prefix, lease_ttl=LEASE_TTL)
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        read = await appended_and_read(one, 40, 4)
        assert len({entry.partition for entry in read}) == 4

        # Acknowledged in one instant, as a burst of turns ending together does.
        await asyncio.gather(*(one.ack(entry.partition, [entry.id]) for entry in read))

        for p in range(4):
            assert (await client.xpending(one.stream(p), GROUP))["pending"] == 0
            assert await client.xlen(one.stream(p)) == 0
    finally:
        await client.aclose()
        await one.close()


async def test_an_ack_whose_caller_is_cancelled_still_lands_and_the_tick_s_other_acks_complete(redis_url: str) -> None:
    # A turn cancelled at shutdown while its ack waits must not fail the acks of the turns that share its
    # tick's script call (each waits on its own future now, not on one shared behind a shield).
    prefix = f"palabre-test-consumers-{uuid.uuid4().hex[:8]}:"
    one = StreamBus(redis_url, partitions=2, prefix=prefix, lease_ttl=LEASE_TTL)
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        read = await appended_and_read(one, 10, 2)
        acks = [asyncio.create_task(one.ack(entry.partition, [entry.id])) for entry in read]
        await asyncio.sleep(0)  # every ack queued for this tick's script call
        acks[0].cancel()
        async with asyncio.timeout(5):
            outcomes = await asyncio.gather(*acks, return_exceptions=True)

        assert isinstance(outcomes[0], asyncio.CancelledError) and outcomes[1:] == [None] * 9
        for p in range(2):
            assert (await client.xpending(one.stream(p), GROUP))["pending"] == 0
    finally:
        await client.aclose()
        await one.close()
