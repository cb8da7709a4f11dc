"""The delivery policy as a vendor sees it: rate limits, retries, Meta → Wasender fallback, the 24-hour window."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from bot.delivery.outbox import Delivery
from bot.delivery.policy import DEFAULT_LIMITS, NOT_SENDABLE, DeliverySettings, RateLimit, backoff
from bot.metrics import Metrics
from bot.runtime import Runtime, load_vendors
from bot.settings import Settings
from channels import Contact, Reply, TemplateRef
from channels.base import PermanentSendError, SendError
from storage import Conversation, Message, OutboxEntry, TurnWrite, coordination
from storage.coordination import InProcessCoordinator, RedisCoordinator
from storage.embedded import EmbeddedStore
from tests.conftest import EXAMPLES, vendor_dir

VENDOR = "shop"
START = 1_750_000_000.0
HOUR = 3600.0
EPS = 1e-6


class FakeTime:
    """Virtual time for rate limits and backoff: `sleep` waits for `drive` to move the clock to its wake-up.

    `drive` lets every runnable task run, then jumps to the earliest wake-up, so concurrent sleepers
    overlap as they would in real time, and a test of seconds of waiting takes milliseconds.
    """

    def __init__(self) -> None:
        self.now = START
        self.slept: list[float] = []
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._seq += 1
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), self._seq, wake))
        await wake

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def drive(self, *deliveries: Delivery) -> None:
        """Run until no send is in flight, waking the sleepers in time order."""
        for _ in range(100_000):
            for _ in range(50):  # enough loop turns for store commits and coordinator calls to settle
                await asyncio.sleep(0)
            if not any(d.in_flight for d in deliveries):
                return
            if self._sleepers:
                wake, _, sleeper = heapq.heappop(self._sleepers)
                self.now = max(self.now, wake)
                sleeper.set_result(None)
            else:
                await asyncio.sleep(0.001)  # something real is pending (a held sender)
        raise AssertionError("the deliveries did not finish")


@dataclass
class Call:
    recipient: str
    reply: Reply
    key: str
    at: float


class FakeSender:
    """Our stand-in for a provider's API (the HTTP adapters have their own tests): records every call,
    fails on demand — the next calls from `fail_next`, or every call while `down` is set."""

    def __init__(self, name: str, clock: Callable[[], float]) -> None:
        self.name = name
        self.clock = clock
        self.calls: list[Call] = []
        self.fail_next: list[SendError] = []
        self.down: SendError | None = None
        self.hold: asyncio.Event | None = None

    async def send(self, recipient: str, reply: Reply, *, idempotency_key: str) -> str:
        self.calls.append(Call(recipient, reply, idempotency_key, self.clock()))
        if self.hold is not None:
            await self.hold.wait()
        await asyncio.sleep(0)  # a real send yields to the event loop
        if self.fail_next:
            raise self.fail_next.pop(0)
        if self.down is not None:
            raise self.down
        return f"{self.name}-{idempotency_key}"

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.calls]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    clock = FakeTime()
    # The in-process coordinator clocks its token buckets and claims with time.monotonic: the fake
    # clock must drive them too, or virtual sleeps would never refill a bucket.
    monkeypatch.setattr(coordination.in_process, "time", SimpleNamespace(monotonic=clock))
    return clock


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EmbeddedStore]:
    s = EmbeddedStore(tmp_path / "data")
    await s.start()
    yield s
    await s.close()


def make_delivery(store: EmbeddedStore, senders: dict[str, Any], fake: FakeTime, *,
                  coordinator: coordination.Coordinator | None = None, **settings: Any) -> Delivery:
    return Delivery(store, senders, Metrics(), coordinator=coordinator or InProcessCoordinator(),
                    settings={VENDOR: DeliverySettings.model_validate(settings)},
                    clock=fake, sleep=fake.sleep, rng=random.Random(7))


async def queue(store: EmbeddedStore, clock: Callable[[], float], count: int = 1, *, provider: str = "meta",
                channel: str = "whatsapp", to: str | None = None, text: str = "Votre robe est réservée",
                inbound_age: float | None = 60.0, first: int = 0) -> list[OutboxEntry]:
    """Write `count` replies to the outbox as a turn would, one buyer each (numbered from `first`) unless
    `to` is given.

    The buyers' conversations get their last message `inbound_age` seconds ago (None: no conversation).
    """
    batch = uuid.uuid4().hex[:8]
    write = TurnWrite(event_id=f"ev-{batch}")
    conversations: dict[str, Conversation] = {}
    for i in range(count):
        recipient = to or f"+22177{first + i:07d}"
        conv_id = f"{VENDOR}:{channel}:{recipient}"
        if inbound_age is not None:
            conversations[conv_id] = Conversation(
                id=conv_id, vendor_id=VENDOR, channel=channel, provider=provider,
                contact=Contact(address=recipient), last_inbound_at=clock() - inbound_age)
        msg_id = f"{batch}:out:{i}"
        reply = Reply(text=f"{text} #{i}")
        write.messages.append(Message(id=msg_id, conversation_id=conv_id, direction="out", text=reply.text,
                                      reply=reply, event_id=write.event_id))
        write.outbox.append(OutboxEntry(id=msg_id, message_id=msg_id, conversation_id=conv_id, vendor_id=VENDOR,
                                        channel=channel, provider=provider, recipient=recipient, reply=reply,
                                        next_attempt_at=clock()))
    for n, conv in enumerate(conversations.values()):
        await store.commit_turn(TurnWrite(event_id=f"conv-{batch}-{n}", conversation=conv))
    await store.commit_turn(write)
    return write.outbox


async def message(store: EmbeddedStore, entry: OutboxEntry) -> Message:
    """The transcript line of an outbox entry: its delivery status, error and provider id."""
    return next(m for m in await store.transcript(entry.conversation_id) if m.id == entry.message_id)


async def run(delivery: Delivery, entries: list[OutboxEntry], fake: FakeTime) -> None:
    delivery.submit(entries)
    await fake.drive(delivery)


# rate limits

async def test_200_messages_at_80_per_second_are_spaced_to_the_rate_and_none_is_lost(
        store: EmbeddedStore, fake: FakeTime) -> None:
    meta = FakeSender("meta", fake)
    delivery = make_delivery(store, {f"meta:{VENDOR}": meta}, fake)
    entries = await queue(store, fake, 200)

    await run(delivery, entries, fake)

    assert sorted(meta.keys) == sorted(e.id for e in entries)  # every one, exactly once
    times = sorted(c.at for c in meta.calls)
    # 200 sends at 80/s occupy 200/80 = 2.5 s of the number's capacity: the bucket starts full
    # (burst 1), so the first goes at once and each of the 199 others waits its 1/80 s.
    assert times[-1] - times[0] + 1 / 80 >= 2.5 - EPS
    assert fake() - START < 3.0
    for i, t in enumerate(times):  # never more than 80 (+ the burst of 1) in any second
        assert sum(1 for u in times[i:] if u < t + 1.0) <= 81
    assert {(await message(store, e)).status for e in entries} == {"sent"}


async def test_one_buyer_gets_a_burst_of_three_then_one_a_second_in_order(
        store: EmbeddedStore, fake: FakeTime) -> None:
    telegram = FakeSender("telegram", fake)
    delivery = make_delivery(store, {f"telegram:{VENDOR}": telegram}, fake)
    chatty = await queue(store, fake, 6, provider="telegram", channel="telegram", to="555001")
    other = await queue(store, fake, 1, provider="telegram", channel="telegram", to="555002")

    await run(delivery, chatty + other, fake)

    mine = [c for c in telegram.calls if c.recipient == "555001"]
    assert [c.reply.text for c in mine] == [e.reply.text for e in chatty]  # in the order written
    offsets = [c.at - START for c in mine]
    assert offsets[2] < 0.5  # the burst
    for n in (3, 4, 5):  # then 1/s (Telegram: about one message per second per chat)
        assert offsets[n] >= n - 2 - EPS
    assert offsets[5] < 4.0
    [theirs] = [c for c in telegram.calls if c.recipient == "555002"]
    assert theirs.at - START < 0.5  # another buyer is not slowed down by this one


async def test_a_wait_longer_than_max_wait_goes_back_to_the_store_instead_of_holding_a_task(
        store: EmbeddedStore, fake: FakeTime) -> None:
    wasender = FakeSender("wasender", fake)  # default pace: 1 send every 5 s (Account Protection)
    delivery = make_delivery(store, {f"wasender:{VENDOR}": wasender}, fake, max_wait=5)
    entries = await queue(store, fake, 6, provider="wasender")

    await run(delivery, entries, fake)

    assert 0 < len(wasender.calls) < 6
    deferred = await store.pending_outbox(fake() + HOUR)
    assert len(deferred) == 6 - len(wasender.calls)
    assert all(e.attempts == 0 and e.next_attempt_at > fake() for e in deferred)  # not a failed attempt
    comebacks = sorted(e.next_attempt_at for e in deferred)
    assert all(b - a >= 5 - EPS for a, b in itertools.pairwise(comebacks))  # spread at the pace, not a stampede
    assert max(fake.slept) <= 5 + EPS
    while pending := await store.pending_outbox(fake() + HOUR):
        fake.now = max(fake(), min(e.next_attempt_at for e in pending))
        await delivery.sweep()
        await fake.drive(delivery)
    assert sorted(wasender.keys) == sorted(e.id for e in entries)
    times = [c.at for c in wasender.calls]
    assert all(b - a >= 5 - EPS for a, b in itertools.pairwise(times))


# retries

def test_backoff_doubles_with_full_jitter_within_bounds() -> None:
    rng = random.Random(1)
    for attempt in range(1, 12):
        bound = min(300.0, 1.0 * 2 ** (attempt - 1))
        samples = [backoff(attempt, 1.0, 300.0, rng) for _ in range(300)]
        assert all(0.0 <= s <= bound for s in samples)
        assert max(samples) > 0.9 * bound  # the bound is really reached: 1, 2, 4 … 300 s
        assert min(samples) < 0.1 * bound  # and the jitter spreads retries over all of it


async def test_a_transient_failure_is_retried_with_backoff_then_after_retry_after(
        store: EmbeddedStore, fake: FakeTime) -> None:
    meta = FakeSender("meta", fake)
    meta.fail_next = [SendError("meta error 500: Internal"),
                      SendError("meta error 130429: Rate limit hit", retry_after=7.0)]
    delivery = make_delivery(store, {f"meta:{VENDOR}": meta}, fake)
    [entry] = await queue(store, fake)

    await run(delivery, [entry], fake)
    [retry] = await store.pending_outbox(fake() + HOUR)
    assert retry.attempts == 1 and retry.error == "meta error 500: Internal"
    assert 0.0 <= retry.next_attempt_at - fake() <= 1.0  # first retry within retry_base (1 s)

    fake.now = retry.next_attempt_at
    await delivery.sweep()
    await fake.drive(delivery)
    [retry] = await store.pending_outbox(fake() + HOUR)
    assert retry.attempts == 1  # the provider pacing us spends none of the reply's attempts
    assert retry.next_attempt_at == pytest.approx(fake() + 7.0)  # the provider's retry_after, as told

    assert await delivery.sweep() == 0  # not due yet
    fake.now = retry.next_attempt_at
    await delivery.sweep()
    await fake.drive(delivery)
    assert len(meta.calls) == 3
    sent = await message(store, entry)
    assert sent.status == "sent" and sent.provider_message_id == f"meta-{entry.id}"


async def test_a_permanent_error_fails_the_entry_with_the_reason_and_is_not_retried(
        store: EmbeddedStore, fake: FakeTime) -> None:
    meta = FakeSender("meta", fake)
    meta.fail_next = [PermanentSendError("meta error 131026: Message undeliverable")]
    delivery = make_delivery(store, {f"meta:{VENDOR}": meta}, fake)
    [entry] = await queue(store, fake)

    await run(delivery, [entry], fake)
    fake.advance(HOUR)
    assert await delivery.sweep() == 0

    failed = await message(store, entry)
    assert (failed.status, failed.error) == ("failed", "meta error 131026: Message undeliverable")
    assert len(meta.calls) == 1


async def test_a_reply_that_keeps_failing_fails_after_max_attempts(store: EmbeddedStore, fake: FakeTime) -> None:
    meta = FakeSender("meta", fake)
    meta.down = SendError("meta error 503: Service Unavailable")
    delivery = make_delivery(store, {f"meta:{VENDOR}": meta}, fake, max_attempts=3)
    [entry] = await queue(store, fake)

    await run(delivery, [entry], fake)
    for _ in range(5):
        fake.advance(HOUR)
        await delivery.sweep()
        await fake.drive(delivery)

    assert len(meta.calls) == 3
    failed = await message(store, entry)
    assert (failed.status, failed.error) == ("failed", "meta error 503: Service Unavailable")


# Meta → Wasender fallback

async def test_the_breaker_sends_through_wasender_while_meta_is_down_and_returns_after_a_good_probe(
        store: EmbeddedStore, fake: FakeTime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="palabre.delivery")
    meta, wasender = FakeSender("meta", fake), FakeSender("wasender", fake)
    delivery = make_delivery(store, {f"meta:{VENDOR}": meta, f"wasender:{VENDOR}": wasender}, fake,
                             fallback="wasender", breaker={"failures": 5, "probe_after": 30},
                             limits={"wasender": {"sending": {"per_second": 50}}})
    meta.down = SendError("meta error 503: Service Unavailable")

    failing = await queue(store, fake, 5)
    await run(delivery, failing, fake)
    assert len(meta.calls) == 5 and not wasender.calls  # five failures in a row: the circuit opens

    during = await queue(store, fake, 3, first=5)  # other buyers: theirs wait for nothing
    await run(delivery, during, fake)
    assert len(meta.calls) == 5  # Meta is left alone
    assert sorted(wasender.keys) == sorted(e.id for e in during)
    note = await message(store, during[0])
    assert note.status == "sent" and note.error is not None and "wasender" in note.error
    assert note.provider_message_id == f"wasender-{during[0].id}"

    fake.advance(10)  # the five failed replies are retried, through Wasender too
    await delivery.sweep()
    await fake.drive(delivery)
    assert sorted(wasender.keys) == sorted(e.id for e in during + failing)

    meta.down = None
    fake.advance(30)  # probe_after: the next reply tries Meta again
    [probe] = await queue(store, fake)
    await run(delivery, [probe], fake)
    assert meta.keys[-1] == probe.id
    assert (await message(store, probe)).error is None

    after = await queue(store, fake, 2)
    await run(delivery, after, fake)
    assert meta.keys[-2:] == [e.id for e in after]  # back on Meta
    assert len(wasender.calls) == 8

    logged = [r.getMessage() for r in caplog.records]
    assert any("circuit open" in m for m in logged)
    assert any("half-open" in m for m in logged)
    assert any("circuit closed" in m for m in logged)
    assert not any("+22177" in m for m in logged)  # no buyer's number in the logs


async def test_a_failed_probe_keeps_the_circuit_open(store: EmbeddedStore, fake: FakeTime) -> None:
    meta, wasender = FakeSender("meta", fake), FakeSender("wasender", fake)
    delivery = make_delivery(store, {f"meta:{VENDOR}": meta, f"wasender:{VENDOR}": wasender}, fake,
                             fallback="wasender", breaker={"failures": 2, "probe_after": 30},
                             limits={"wasender": {"sending": {"per_second": 50}}})
    meta.down = SendError("meta error 502: Bad Gateway")
    await run(delivery, await queue(store, fake, 2), fake)

    fake.advance(30)
    [probe] = await queue(store, fake, first=2)
    await run(delivery, [probe], fake)
    assert meta.keys[-1] == probe.id  # the probe went to Meta, and failed

    [next_one] = await queue(store, fake, first=3)
    await run(delivery, [next_one], fake)
    assert wasender.keys == [next_one.id]  # open again for another probe_after


async def test_throttling_is_not_an_outage_and_does_not_open_the_breaker(
        store: EmbeddedStore, fake: FakeTime) -> None:
    meta, wasender = FakeSender("meta", fake), FakeSender("wasender", fake)
    delivery = make_delivery(store, {f"meta:{VENDOR}": meta, f"wasender:{VENDOR}": wasender}, fake,
                             fallback="wasender", breaker={"failures": 2})
    meta.fail_next = [SendError("meta error 130429: Rate limit hit", retry_after=1.0) for _ in range(4)]
    await run(delivery, await queue(store, fake, 4), fake)

    [entry] = await queue(store, fake, first=4)
    await run(delivery, [entry], fake)
    assert meta.keys[-1] == entry.id and not wasender.calls


async def test_without_fallback_configured_meta_failures_are_only_retried(
        store: EmbeddedStore, fake: FakeTime) -> None:
    meta, wasender = FakeSender("meta", fake), FakeSender("wasender", fake)
    delivery = make_delivery(store, {f"meta:{VENDOR}": meta, f"wasender:{VENDOR}": wasender}, fake,
                             breaker={"failures": 1})
    meta.down = SendError("meta error 503: Service Unavailable")
    await run(delivery, await queue(store, fake, 3), fake)
    await run(delivery, await queue(store, fake, 1, first=3), fake)
    assert len(meta.calls) == 4 and not wasender.calls


# the WhatsApp 24-hour window

@pytest.mark.parametrize(("age", "as_template"), [
    (23 * HOUR, False),  # inside the window: the reply goes out as written
    (24 * HOUR - 60, True),  # within the margin (5 min): it might land after 24 h
    (25 * HOUR, True),
])
async def test_outside_the_window_the_vendors_template_is_sent_instead(
        store: EmbeddedStore, fake: FakeTime, age: float, as_template: bool) -> None:
    meta = FakeSender("meta", fake)
    delivery = make_delivery(store, {f"meta:{VENDOR}": meta}, fake,
                             whatsapp_template={"name": "suite_commande", "language": "fr"})
    [entry] = await queue(store, fake, text="Votre robe est réservée.\n\n  Payez ici :\thttps://pay.example/x",
                          inbound_age=age)

    await run(delivery, [entry], fake)

    [call] = meta.calls
    sent = await message(store, entry)
    assert sent.status == "sent"
    if as_template:
        assert call.reply.template == TemplateRef(
            name="suite_commande", language="fr",
            parameters=["Votre robe est réservée. Payez ici : https://pay.example/x #0"])
        assert sent.error is not None and "template suite_commande" in sent.error
    else:
        assert call.reply == entry.reply and call.reply.template is None
        assert sent.error is None


async def test_a_long_reply_is_cut_to_a_safe_template_parameter(store: EmbeddedStore, fake: FakeTime) -> None:
    meta = FakeSender("meta", fake)
    delivery = make_delivery(store, {f"meta:{VENDOR}": meta}, fake,
                             whatsapp_template={"name": "suite_commande", "parameters": ["Awa", "{text}"]})
    [entry] = await queue(store, fake, text="mot " * 1000, inbound_age=2 * 24 * HOUR)

    await run(delivery, [entry], fake)

    [call] = meta.calls
    assert call.reply.template is not None
    first, text = call.reply.template.parameters
    assert first == "Awa"
    assert len(text) <= 600 and text.endswith("…") and "  " not in text


@pytest.mark.parametrize("age", [25 * HOUR, None])  # None: the buyer never wrote (e.g. a vendor notification)
async def test_outside_the_window_without_a_template_the_reply_is_recorded_as_not_sendable(
        store: EmbeddedStore, fake: FakeTime, age: float | None) -> None:
    meta = FakeSender("meta", fake)
    delivery = make_delivery(store, {f"meta:{VENDOR}": meta}, fake)
    [entry] = await queue(store, fake, inbound_age=age)

    await run(delivery, [entry], fake)

    assert not meta.calls  # never free-form outside the window
    failed = await message(store, entry)
    assert (failed.status, failed.error) == ("failed", NOT_SENDABLE)
    assert NOT_SENDABLE == "outside the WhatsApp 24-hour window and no template configured"
    assert await store.pending_outbox(fake() + HOUR) == []


async def test_when_meta_says_the_window_is_closed_the_template_is_sent_once(
        store: EmbeddedStore, fake: FakeTime) -> None:
    meta = FakeSender("meta", fake)
    meta.fail_next = [PermanentSendError("meta error 131047: Re-engagement message")]
    delivery = make_delivery(store, {f"meta:{VENDOR}": meta}, fake,
                             whatsapp_template={"name": "suite_commande"})
    [entry] = await queue(store, fake, inbound_age=HOUR)  # our record says inside the window

    await run(delivery, [entry], fake)

    first, second = meta.calls
    assert first.reply.template is None
    assert second.reply.template is not None and second.reply.template.name == "suite_commande"
    assert (await message(store, entry)).status == "sent"


async def test_when_meta_says_the_window_is_closed_and_there_is_no_template_the_reply_fails(
        store: EmbeddedStore, fake: FakeTime) -> None:
    meta = FakeSender("meta", fake)
    meta.fail_next = [PermanentSendError("meta error 131047: Re-engagement message")]
    delivery = make_delivery(store, {f"meta:{VENDOR}": meta}, fake)
    [entry] = await queue(store, fake, inbound_age=HOUR)

    await run(delivery, [entry], fake)

    assert len(meta.calls) == 1
    failed = await message(store, entry)
    assert (failed.status, failed.error) == ("failed", NOT_SENDABLE)


# never twice, and cheap where the policy does not apply

async def test_an_entry_is_never_sent_twice_by_sweeps_racing_submits_or_a_second_worker(
        store: EmbeddedStore, fake: FakeTime) -> None:
    telegram = FakeSender("telegram", fake)
    telegram.hold = asyncio.Event()
    coordinator = InProcessCoordinator()
    first, second = (make_delivery(store, {f"telegram:{VENDOR}": telegram}, fake, coordinator=coordinator)
                     for _ in range(2))
    entries = await queue(store, fake, 20, provider="telegram", channel="telegram")

    first.submit(entries)
    await asyncio.sleep(0)
    await first.sweep()
    await second.sweep()
    telegram.hold.set()
    await fake.drive(first, second)
    await first.sweep()
    await second.sweep()
    await fake.drive(first, second)

    assert sorted(telegram.keys) == sorted(e.id for e in entries)
    assert {(await message(store, e)).status for e in entries} == {"sent"}


class CountingStore(EmbeddedStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.lookups = 0

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        self.lookups += 1
        return await super().get_conversation(conversation_id)


class CountingCoordinator(InProcessCoordinator):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def acquire_tokens(self, bucket: str, rate: float, burst: int, tokens: int = 1) -> float:
        self.calls += 1
        return await super().acquire_tokens(bucket, rate, burst, tokens)

    async def seen(self, key: str, ttl: float = 86400.0) -> bool:
        self.calls += 1
        return await super().seen(key, ttl)


async def test_only_whatsapp_through_meta_pays_for_the_window_and_the_simulator_for_nothing(
        tmp_path: Path, fake: FakeTime) -> None:
    store = CountingStore(tmp_path / "data")
    await store.start()
    try:
        coordinator = CountingCoordinator()
        senders = {"simulator": FakeSender("sim", fake), f"telegram:{VENDOR}": FakeSender("telegram", fake),
                   f"meta:{VENDOR}": FakeSender("meta", fake)}
        delivery = make_delivery(store, senders, fake, coordinator=coordinator)

        await run(delivery, await queue(store, fake, 3, provider="simulator", channel="web"), fake)
        assert (store.lookups, coordinator.calls) == (0, 0)

        await run(delivery, await queue(store, fake, 3, provider="telegram", channel="telegram"), fake)
        assert store.lookups == 0 and coordinator.calls > 0

        await run(delivery, await queue(store, fake, 3), fake)
        assert store.lookups == 3
    finally:
        await store.close()


# two processes on Redis

async def test_two_workers_on_redis_share_the_numbers_bucket_and_never_send_an_entry_twice(
        store: EmbeddedStore, redis_url: str) -> None:
    prefix = f"palabre-test-delivery-{uuid.uuid4().hex[:8]}:"
    telegram = FakeSender("telegram", time.monotonic)
    coordinators = [RedisCoordinator(redis_url, prefix=prefix) for _ in range(2)]
    settings = {VENDOR: DeliverySettings.model_validate({"limits": {"telegram": {"sending": {"per_second": 40}}}})}
    workers = [Delivery(store, {f"telegram:{VENDOR}": telegram}, Metrics(), coordinator=c, settings=settings)
               for c in coordinators]
    try:
        entries = await queue(store, time.time, 30, provider="telegram", channel="telegram")
        workers[0].submit(entries[:15])
        workers[1].submit(entries[15:])
        await asyncio.gather(workers[0].sweep(), workers[1].sweep())  # both also see every pending entry
        await asyncio.gather(workers[0].idle(), workers[1].idle())
    finally:
        for c in coordinators:
            await c.close()

    assert sorted(telegram.keys) == sorted(e.id for e in entries)
    times = sorted(c.at for c in telegram.calls)
    # One bucket for the number: 30 sends at 40/s take 29/40 s between the first and the last. With a
    # bucket per process, each worker's 15 would have gone out in 14/40 s.
    assert times[-1] - times[0] >= 29 / 40 - 0.05


# settings

def test_an_existing_vendor_needs_no_delivery_block() -> None:
    vendor = load_vendors(str(EXAMPLES))["demo"]
    assert vendor.config.delivery == DeliverySettings()
    policy = vendor.config.delivery
    assert policy.fallback is None and policy.whatsapp_template is None
    assert policy.limits_for("meta") == (RateLimit(per_second=80), RateLimit(per_second=1, burst=3))
    assert policy.limits_for("wasender") == (RateLimit(per_second=0.2), None)
    assert policy.limits_for("twilio")[0] == RateLimit(per_second=1)
    assert policy.limits_for("telegram")[0] == RateLimit(per_second=30)
    assert policy.limits_for("simulator") == (None, None)
    assert set(DEFAULT_LIMITS) == {"meta", "wasender", "twilio", "telegram"}


def test_a_vendor_configures_delivery_in_its_yaml_and_the_runtime_uses_it(tmp_path: Path) -> None:
    folder = vendor_dir(tmp_path, delivery={
        "limits": {"meta": {"sending": {"per_second": 20}}},  # a coexistence number (CHANNELS.md §2.3)
        "fallback": "wasender",
        "breaker": {"failures": 3, "probe_after": 60},
        "whatsapp_template": {"name": "suite_commande", "language": "fr"},
        "max_attempts": 5,
    })
    [vendor] = load_vendors(str(folder)).values()
    policy = vendor.config.delivery
    assert policy.limits_for("meta") == (RateLimit(per_second=20), RateLimit(per_second=1, burst=3))
    assert policy.breaker.failures == 3 and policy.whatsapp_template is not None
    runtime = Runtime(Settings.from_env({}, data_dir=str(tmp_path / "data")), {vendor.id: vendor})
    assert runtime.delivery.settings[vendor.id] is policy
    assert runtime.delivery.coordinator is runtime.coordinator


@pytest.mark.parametrize("bad", [
    {"limits": {"signal": {"sending": {"per_second": 1}}}},
    {"limits": {"meta": {"sending": {"per_second": 0}}}},
    {"fallback": "twilio"},
    {"whatsapp_template": {"name": "Suite Commande"}},
    {"max_wait": 600},
    {"retries": 3},
])
def test_bad_delivery_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        DeliverySettings.model_validate(bad)
