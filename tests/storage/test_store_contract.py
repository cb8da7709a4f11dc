"""The `Store` contract, run against every backend: embedded SQLite and MongoDB (a server or mongomock)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import mongomock_motor
import pytest

from channels import Contact, Event, Reply
from storage.base import ConflictError, Store
from storage.embedded import EmbeddedStore, StoreLocked
from storage.mongo import MongoStore
from storage.records import (
    Conversation,
    Message,
    Order,
    OutboxEntry,
    Payment,
    Product,
    Timer,
    TurnWrite,
)
from tests.conftest import MONGO_ID, MONGO_KIND, mongo_store

BACKENDS = ["embedded", MONGO_ID]

VENDOR = "boutique-awa"
BUYER = Contact(address="+221770000001", name="Fatou")
CONV = f"{VENDOR}:whatsapp:{BUYER.address}"


def interleave_mongomock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every mongomock collection call yield to the event loop before it runs.

    mongomock-motor runs each call synchronously, so `asyncio.gather` could never interleave
    two store calls and a read-then-write race would go unseen; a real server interleaves them.
    """
    collection = mongomock_motor.AsyncMongoMockCollection
    for name in ("find_one", "find_one_and_update", "insert_many", "replace_one",
                 "update_one", "update_many", "delete_one", "delete_many"):
        original = getattr(collection, name)

        async def yielding(self: object, *args: object, _original=original, **kwargs: object) -> object:
            await asyncio.sleep(0)
            return await _original(self, *args, **kwargs)

        monkeypatch.setattr(collection, name, yielding)


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Store]:
    backend: Store
    if request.param == "embedded":
        backend = EmbeddedStore(tmp_path)
    else:
        if MONGO_KIND == "mongomock":
            interleave_mongomock(monkeypatch)
        backend = mongo_store()
    await backend.start()
    try:
        yield backend
    finally:
        if isinstance(backend, MongoStore) and MONGO_KIND != "mongomock":
            await backend.drop()
        await backend.close()


def event(event_id: str, text: str = "bonjour", address: str = BUYER.address) -> Event:
    return Event(
        id=event_id,
        channel="whatsapp",
        provider="meta",
        vendor_id=VENDOR,
        contact=Contact(address=address),
        text=text,
    )


def conversation(conv_id: str = CONV, state: str = "idle") -> Conversation:
    return Conversation(
        id=conv_id, vendor_id=VENDOR, channel="whatsapp", provider="meta", contact=BUYER, state=state
    )


def message(msg_id: str, conv_id: str = CONV, direction: str = "out", created_at: float = 0.0) -> Message:
    return Message(
        id=msg_id,
        conversation_id=conv_id,
        direction=direction,
        text=f"texte {msg_id}",
        created_at=created_at or time.time(),
    )


def outbox(entry_id: str, msg_id: str, next_at: float, conv_id: str = CONV) -> OutboxEntry:
    return OutboxEntry(
        id=entry_id,
        message_id=msg_id,
        conversation_id=conv_id,
        vendor_id=VENDOR,
        channel="whatsapp",
        provider="meta",
        recipient=BUYER.address,
        reply=Reply(text=f"réponse {msg_id}"),
        next_attempt_at=next_at,
    )


def timer(timer_id: str, due_at: float) -> Timer:
    return Timer(
        id=timer_id,
        due_at=due_at,
        conversation_id=CONV,
        event=Event(
            id=f"timer:{timer_id}",
            kind="system",
            channel="whatsapp",
            provider="system",
            vendor_id=VENDOR,
            contact=BUYER,
            payload="reservation_expired",
        ),
    )


def product(code: str = "WAX-01", stock: int = 10) -> Product:
    return Product(vendor_id=VENDOR, code=code, name="Pagne wax", price=15000, stock=stock)


def order(order_id: str = "ord-1") -> Order:
    return Order(
        id=order_id,
        vendor_id=VENDOR,
        conversation_id=CONV,
        contact=BUYER,
        channel="whatsapp",
        product_code="WAX-01",
        product_name="Pagne wax",
        quantity=2,
        unit_price=15000,
    )


def payment(payment_id: str = "pay-1") -> Payment:
    return Payment(
        id=payment_id, psp="sandbox", vendor_id=VENDOR, order_id="ord-1", amount=30000, method="wave"
    )


def full_turn(now: float) -> TurnWrite:
    return TurnWrite(
        event_id="evt-1",
        conversation=conversation(state="browsing"),
        messages=[message("m-in", direction="in"), message("m-out-1"), message("m-out-2")],
        outbox=[outbox("o-1", "m-out-1", now - 1), outbox("o-2", "m-out-2", now - 1)],
        timers=[timer("t-expire", now - 1)],
    )


# inbox


async def test_add_events_reports_new_ones_and_refuses_duplicates(store: Store) -> None:
    assert await store.add_events([event("e1"), event("e2")]) == [True, True]
    assert await store.add_events([event("e2"), event("e3"), event("e3")]) == [False, True, False]
    assert [e.id for e in await store.unprocessed_events()] == ["e1", "e2", "e3"]
    assert (await store.unprocessed_events())[0].text == "bonjour"
    assert [e.id for e in await store.unprocessed_events(limit=2)] == ["e1", "e2"]


async def test_committed_event_is_processed_and_not_replayed(store: Store) -> None:
    await store.add_events([event("e1"), event("e2")])
    assert not await store.is_processed("e1")

    await store.commit_turn(TurnWrite(event_id="e1"))

    assert await store.is_processed("e1")
    assert not await store.is_processed("e2")
    assert [e.id for e in await store.unprocessed_events()] == ["e2"]
    assert await store.add_events([event("e1")]) == [False]
    assert [e.id for e in await store.unprocessed_events()] == ["e2"]


# turns


async def test_commit_turn_writes_conversation_messages_outbox_and_timers(store: Store) -> None:
    now = time.time()
    await store.add_events([event("evt-1")])

    await store.commit_turn(full_turn(now))

    conv = await store.get_conversation(CONV)
    assert conv is not None and conv.state == "browsing" and conv.contact == BUYER
    assert await store.get_conversation("nobody") is None
    assert [m.id for m in await store.transcript(CONV)] == ["m-in", "m-out-1", "m-out-2"]
    pending = await store.pending_outbox(now)
    assert [o.id for o in pending] == ["o-1", "o-2"]
    assert pending[0].reply.text == "réponse m-out-1"
    assert [t.id for t in await store.due_timers(now)] == ["t-expire"]
    assert (await store.due_timers(now))[0].event.payload == "reservation_expired"
    assert await store.is_processed("evt-1")
    assert await store.unprocessed_events() == []


async def test_replayed_turn_writes_each_message_and_outbox_entry_once(store: Store) -> None:
    now = time.time()
    await store.add_events([event("evt-1")])
    await store.commit_turn(full_turn(now))
    first = await store.transcript(CONV)

    await store.commit_turn(full_turn(now))

    again = await store.transcript(CONV)
    assert [m.id for m in again] == ["m-in", "m-out-1", "m-out-2"]
    assert [m.seq for m in again] == [m.seq for m in first]
    assert [o.id for o in await store.pending_outbox(now)] == ["o-1", "o-2"]
    assert [t.id for t in await store.due_timers(now)] == ["t-expire"]


async def test_commit_turn_refuses_a_stale_conversation_version(store: Store) -> None:
    now = time.time()
    await store.commit_turn(TurnWrite(event_id="evt-1", conversation=conversation(state="browsing"),
                                      expected_version=0))
    assert (stored := await store.get_conversation(CONV)) is not None and stored.version == 1
    await store.add_events([event("evt-stale")])
    # A turn that loaded the conversation before evt-1's turn committed, e.g. one that outlived its lock.
    stale = TurnWrite(
        event_id="evt-stale", conversation=conversation(state="paying"), expected_version=0,
        messages=[message("stale-out")], outbox=[outbox("stale-o", "stale-out", now - 1)],
        timers=[timer("stale-t", now - 1)],
    )

    with pytest.raises(ConflictError):
        await store.commit_turn(stale)

    conv = await store.get_conversation(CONV)
    assert conv is not None and conv.state == "browsing" and conv.version == 1
    assert await store.transcript(CONV) == []
    assert await store.pending_outbox(now) == []
    assert await store.due_timers(now) == []
    assert not await store.is_processed("evt-stale")
    await store.commit_turn(TurnWrite(event_id="evt-stale", conversation=conversation(state="paying"),
                                      expected_version=1))
    conv = await store.get_conversation(CONV)
    assert conv is not None and conv.state == "paying" and conv.version == 2
    assert await store.is_processed("evt-stale")


async def test_concurrent_turns_on_one_conversation_have_one_winner(store: Store) -> None:
    turns = [TurnWrite(event_id=f"evt-{i}", conversation=conversation(state=f"s{i}"), expected_version=0)
             for i in range(2)]
    results = await asyncio.gather(*(store.commit_turn(t) for t in turns), return_exceptions=True)

    assert sorted(type(r).__name__ for r in results) == ["ConflictError", "NoneType"]
    winner = results.index(None)
    conv = await store.get_conversation(CONV)
    assert conv is not None and conv.state == f"s{winner}" and conv.version == 1
    assert [await store.is_processed(t.event_id) for t in turns] == [i == winner for i in range(2)]


async def test_transcript_keeps_write_order_across_turns(store: Store) -> None:
    other = f"{VENDOR}:whatsapp:+221770000002"
    # Ids and timestamps run backwards so only the write order can explain the result.
    turns = [
        TurnWrite(event_id="a", messages=[message("z-in", direction="in", created_at=300.0),
                                          message("y-out", created_at=290.0)]),
        TurnWrite(event_id="b", messages=[message("x-other", conv_id=other, created_at=280.0)]),
        TurnWrite(event_id="c", messages=[message("w-in", direction="in", created_at=270.0)]),
        TurnWrite(event_id="d", messages=[message("v-out", created_at=260.0),
                                          message("u-out", created_at=250.0)]),
    ]
    for turn in turns:
        await store.commit_turn(turn)

    transcript = await store.transcript(CONV)
    assert [m.id for m in transcript] == ["z-in", "y-out", "w-in", "v-out", "u-out"]
    assert [m.direction for m in transcript] == ["in", "out", "in", "out", "out"]
    seqs = [m.seq for m in transcript]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert [m.id for m in await store.transcript(other)] == ["x-other"]
    assert await store.transcript("nobody") == []


async def test_cancel_timers_removes_them(store: Store) -> None:
    now = time.time()
    await store.commit_turn(TurnWrite(event_id="a", timers=[timer("t1", now - 2), timer("t2", now - 1)]))

    await store.commit_turn(TurnWrite(event_id="b", cancel_timers=["t1", "never-set"]))

    assert [t.id for t in await store.due_timers(now)] == ["t2"]


async def test_rescheduled_timer_replaces_the_old_one(store: Store) -> None:
    now = time.time()
    await store.commit_turn(TurnWrite(event_id="a", timers=[timer("t1", now - 1)]))

    await store.commit_turn(TurnWrite(event_id="b", timers=[timer("t1", now + 600)]))

    assert await store.due_timers(now) == []
    assert [t.id for t in await store.due_timers(now + 601)] == ["t1"]


# delivery status


async def test_provider_status_updates_the_transcript(store: Store) -> None:
    now = time.time()
    await store.commit_turn(full_turn(now))
    await store.mark_outbox("o-1", "sent", attempts=1, provider_message_id="wamid.1")

    sent = {m.id: m for m in await store.transcript(CONV)}
    assert sent["m-out-1"].status == "sent" and sent["m-out-1"].provider_message_id == "wamid.1"
    assert sent["m-out-2"].status == "queued"

    assert await store.update_message_status("wamid.1", "delivered") is True
    assert {m.id: m.status for m in await store.transcript(CONV)}["m-out-1"] == "delivered"

    assert await store.update_message_status("wamid.unknown", "read") is False


async def test_statuses_arriving_out_of_order_never_move_backwards(store: Store) -> None:
    now = time.time()
    await store.commit_turn(full_turn(now))
    await store.mark_outbox("o-1", "sent", attempts=1, provider_message_id="wamid.1")

    async def status() -> str:
        return {m.id: m.status for m in await store.transcript(CONV)}["m-out-1"]

    assert await store.update_message_status("wamid.1", "read") is True
    assert await store.update_message_status("wamid.1", "delivered") is True  # late, and ignored
    assert await store.update_message_status("wamid.1", "sent") is True
    assert await status() == "read"

    await store.mark_outbox("o-2", "sent", attempts=1, provider_message_id="wamid.2")
    assert await store.update_message_status("wamid.2", "failed", error="131026 undeliverable") is True
    failed = {m.id: m for m in await store.transcript(CONV)}["m-out-2"]
    assert (failed.status, failed.error) == ("failed", "131026 undeliverable")
    assert await store.update_message_status("wamid.2", "delivered") is True  # the provider retried and won
    assert {m.id: m.status for m in await store.transcript(CONV)}["m-out-2"] == "delivered"


async def test_failed_delivery_marks_the_message_failed(store: Store) -> None:
    now = time.time()
    await store.commit_turn(full_turn(now))

    await store.mark_outbox("o-2", "failed", attempts=5, error="recipient blocked")

    msg = {m.id: m for m in await store.transcript(CONV)}["m-out-2"]
    assert (msg.status, msg.error) == ("failed", "recipient blocked")
    assert [o.id for o in await store.pending_outbox(now + 3600)] == ["o-1"]


# outbox


async def test_pending_outbox_returns_only_due_entries_oldest_first(store: Store) -> None:
    now = time.time()
    await store.commit_turn(
        TurnWrite(
            event_id="a",
            messages=[message("m1"), message("m2"), message("m3")],
            outbox=[outbox("o-late", "m1", now + 60), outbox("o-due", "m2", now - 5),
                    outbox("o-older", "m3", now - 10)],
        )
    )

    assert [o.id for o in await store.pending_outbox(now)] == ["o-older", "o-due"]
    assert [o.id for o in await store.pending_outbox(now + 61)] == ["o-older", "o-due", "o-late"]
    assert [o.id for o in await store.pending_outbox(now + 61, limit=1)] == ["o-older"]


async def test_retry_hides_entry_until_due_and_sent_removes_it(store: Store) -> None:
    now = time.time()
    await store.commit_turn(
        TurnWrite(event_id="a", messages=[message("m1")], outbox=[outbox("o1", "m1", now - 1)])
    )

    await store.mark_outbox("o1", "pending", attempts=1, next_attempt_at=now + 30, error="timeout")

    assert await store.pending_outbox(now) == []
    retry = await store.pending_outbox(now + 31)
    assert [(o.id, o.attempts, o.error) for o in retry] == [("o1", 1, "timeout")]

    await store.mark_outbox("o1", "sent", attempts=2, provider_message_id="wamid.9")

    assert await store.pending_outbox(now + 10_000) == []
    await store.mark_outbox("no-such-entry", "sent", attempts=1)


def reply_of(msg_id: str, next_at: float, reply: Reply | None = None) -> tuple[Message, OutboxEntry]:
    """A reply as the bot writes it: the entry's id is its message's id, both hold the same reply."""
    reply = reply or Reply(text=f"réponse {msg_id}", buttons=[{"id": "pay", "title": "Payer"}])
    msg = Message(id=msg_id, conversation_id=CONV, direction="out", text=reply.text, reply=reply, event_id="a")
    entry = OutboxEntry(id=msg_id, message_id=msg_id, conversation_id=CONV, vendor_id=VENDOR, channel="whatsapp",
                        provider="meta", recipient=BUYER.address, reply=reply, next_attempt_at=next_at)
    return msg, entry


async def test_a_reply_is_queued_once_and_its_delivery_shows_on_its_transcript_line(store: Store) -> None:
    now = time.time()
    (m1, o1), (m2, o2) = reply_of("a:out:0", now - 2), reply_of("a:out:1", now - 1)
    turn = TurnWrite(event_id="a", messages=[message("a:in", direction="in"), m1, m2], outbox=[o1, o2])
    await store.commit_turn(turn)
    await store.commit_turn(turn)  # a turn replayed after a crash writes the same entries, not new ones

    assert await store.pending_outbox(now) == [o1, o2]
    await store.mark_outbox(o1.id, "pending", attempts=1, next_attempt_at=now + 30, error="timeout")
    assert await store.pending_outbox(now) == [o2]
    assert await store.pending_outbox(now + 31) == [o2, o1.model_copy(update={
        "attempts": 1, "next_attempt_at": now + 30, "error": "timeout"})]
    line = {m.id: m for m in await store.transcript(CONV)}
    assert (line[o1.id].status, line[o1.id].error) == ("queued", None)  # a retry is not the buyer's business

    await store.mark_outbox(o1.id, "sent", attempts=2, provider_message_id="wamid.s1")
    await store.mark_outbox(o2.id, "failed", attempts=8, error="recipient blocked")
    assert await store.pending_outbox(now + 10_000) == []
    assert await store.update_message_status("wamid.s1", "read") is True
    lines = [(m.id, m.status, m.provider_message_id, m.error, m.reply) for m in await store.transcript(CONV)]
    assert lines == [("a:in", "queued", None, None, None), (o1.id, "read", "wamid.s1", None, o1.reply),
                     (o2.id, "failed", None, "recipient blocked", o2.reply)]


async def test_a_status_naming_a_buyers_message_finds_nothing_and_changes_nothing(store: Store) -> None:
    now = time.time()
    msg, entry = reply_of("a:out:0", now - 1)
    inbound = message("a:in", direction="in").model_copy(update={"provider_message_id": "wamid.in",
                                                                 "status": "received"})
    await store.commit_turn(TurnWrite(event_id="a", messages=[inbound, msg], outbox=[entry]))
    await store.mark_outbox(entry.id, "sent", attempts=1, provider_message_id="wamid.out")

    assert await store.update_message_status("wamid.in", "read") is False  # the buyer's own message
    assert await store.update_message_status("wamid.out", "read") is True
    lines = [(m.id, m.status, m.provider_message_id) for m in await store.transcript(CONV)]
    assert lines == [("a:in", "received", "wamid.in"), (entry.id, "read", "wamid.out")]


async def test_an_entry_with_another_reply_than_its_message_sends_its_own(store: Store) -> None:
    now = time.time()
    msg, _ = reply_of("m-x", now - 1)
    _, entry = reply_of("m-x", now - 1, Reply(text="autre chose"))
    await store.commit_turn(TurnWrite(event_id="a", messages=[msg], outbox=[entry]))

    assert [o.reply.text for o in await store.pending_outbox(now)] == ["autre chose"]


# timers


async def test_due_timers_and_delete_timer(store: Store) -> None:
    now = time.time()
    await store.commit_turn(
        TurnWrite(
            event_id="a",
            timers=[timer("later", now + 100), timer("second", now - 1), timer("first", now - 5)],
        )
    )

    assert [t.id for t in await store.due_timers(now)] == ["first", "second"]
    assert [t.id for t in await store.due_timers(now, limit=1)] == ["first"]

    await store.delete_timer("first")
    await store.delete_timer("never-existed")

    assert [t.id for t in await store.due_timers(now + 101)] == ["second", "later"]


# catalogue and stock


async def test_ensure_products_does_not_reset_stock(store: Store) -> None:
    await store.ensure_products([product("WAX-01", 10), product("BAZIN-02", 4)])
    assert await store.reserve_stock(VENDOR, "WAX-01", 3, "h1")

    await store.ensure_products([product("WAX-01", 10), product("KENTE-03", 2)])

    wax = await store.get_product(VENDOR, "WAX-01")
    assert wax is not None and wax.stock == 7 and wax.price == 15000
    assert [p.code for p in await store.list_products(VENDOR)] == ["WAX-01", "BAZIN-02", "KENTE-03"]
    assert await store.list_products("other-vendor") == []
    assert await store.get_product(VENDOR, "NOPE") is None


async def test_set_stock(store: Store) -> None:
    await store.ensure_products([product(stock=10)])

    await store.set_stock(VENDOR, "WAX-01", 25)

    assert (await store.get_product(VENDOR, "WAX-01")).stock == 25


async def test_concurrent_reservations_never_oversell(store: Store) -> None:
    await store.ensure_products([product(stock=10)])

    results = await asyncio.gather(
        *(store.reserve_stock(VENDOR, "WAX-01", 1, f"hold-{i}") for i in range(200))
    )

    assert results.count(True) == 10
    assert (await store.get_product(VENDOR, "WAX-01")).stock == 0


async def test_reservation_beyond_stock_or_of_unknown_product_fails(store: Store) -> None:
    await store.ensure_products([product(stock=2)])

    assert await store.reserve_stock(VENDOR, "WAX-01", 3, "h1") is False
    assert await store.reserve_stock(VENDOR, "NOPE", 1, "h2") is False
    assert (await store.get_product(VENDOR, "WAX-01")).stock == 2
    assert await store.release_stock(VENDOR, "WAX-01", "h1") is False


async def test_same_hold_reserves_once(store: Store) -> None:
    await store.ensure_products([product(stock=5)])

    assert await store.reserve_stock(VENDOR, "WAX-01", 2, "h1")
    assert await store.reserve_stock(VENDOR, "WAX-01", 2, "h1")
    assert all(await asyncio.gather(*(store.reserve_stock(VENDOR, "WAX-01", 1, "h2") for _ in range(5))))

    assert (await store.get_product(VENDOR, "WAX-01")).stock == 2


async def test_release_returns_stock_exactly_once(store: Store) -> None:
    await store.ensure_products([product(stock=5)])
    await store.reserve_stock(VENDOR, "WAX-01", 2, "h1")
    await store.reserve_stock(VENDOR, "WAX-01", 1, "h2")

    assert await store.release_stock(VENDOR, "WAX-01", "h1") is True
    assert await store.release_stock(VENDOR, "WAX-01", "h1") is False
    assert (await store.get_product(VENDOR, "WAX-01")).stock == 4

    both = await asyncio.gather(*(store.release_stock(VENDOR, "WAX-01", "h2") for _ in range(2)))
    assert sorted(both) == [False, True]
    assert (await store.get_product(VENDOR, "WAX-01")).stock == 5


async def test_consumed_hold_keeps_stock_sold(store: Store) -> None:
    await store.ensure_products([product(stock=5)])
    await store.reserve_stock(VENDOR, "WAX-01", 2, "h1")

    assert await store.consume_hold(VENDOR, "WAX-01", "h1") is True
    assert (await store.get_product(VENDOR, "WAX-01")).stock == 3
    assert await store.consume_hold(VENDOR, "WAX-01", "h1") is False
    assert await store.release_stock(VENDOR, "WAX-01", "h1") is False
    assert (await store.get_product(VENDOR, "WAX-01")).stock == 3


async def test_product_and_hold_read_together_say_whether_that_hold_has_units(store: Store) -> None:
    # A reservation reads both at once: sold out and not held, it changes nothing; held, it was run before.
    await store.ensure_products([product(stock=2), product("BAZIN-02", 4)])
    hold = "o.1$a%2E"  # a MongoDB field name needs escaping for `.` and `$`
    assert await store.reserve_stock(VENDOR, "WAX-01", 2, hold)

    wax, held = await store.get_product_and_hold(VENDOR, "WAX-01", hold)
    assert held is True and wax == await store.get_product(VENDOR, "WAX-01") and wax.stock == 0
    assert wax.price == 15000
    assert (await store.get_product_and_hold(VENDOR, "WAX-01", "o.1$a.2E"))[1] is False
    bazin = await store.get_product(VENDOR, "BAZIN-02")
    assert await store.get_product_and_hold(VENDOR, "BAZIN-02", hold) == (bazin, False)
    assert await store.get_product_and_hold(VENDOR, "NOPE", hold) == (None, False)

    assert await store.release_stock(VENDOR, "WAX-01", hold)
    released = await store.get_product(VENDOR, "WAX-01")
    assert await store.get_product_and_hold(VENDOR, "WAX-01", hold) == (released, False)


# orders and payments


async def test_order_transition_only_from_listed_statuses(store: Store) -> None:
    await store.save_order(order())

    assert await store.transition_order("ord-1", ["awaiting_payment"], "paid") is None
    assert (await store.get_order("ord-1")).status == "reserved"

    moved = await store.transition_order("ord-1", ["reserved"], "awaiting_payment", payment_method="wave")

    assert moved is not None and (moved.status, moved.payment_method) == ("awaiting_payment", "wave")
    stored = await store.get_order("ord-1")
    assert stored == moved and stored.total == 30000
    assert await store.transition_order("no-such-order", ["reserved"], "paid") is None
    assert await store.get_order("no-such-order") is None


async def test_vendor_orders_lists_one_vendors_orders_since_a_time_oldest_first(store: Store) -> None:
    for i, created in enumerate((300.0, 100.0, 200.0)):
        await store.save_order(order(f"ord-{i}").model_copy(update={"created_at": created}))
    await store.save_order(order("other").model_copy(update={"vendor_id": "someone-else", "created_at": 150.0}))

    assert [o.id for o in await store.vendor_orders(VENDOR)] == ["ord-1", "ord-2", "ord-0"]
    assert [o.id for o in await store.vendor_orders(VENDOR, since=200.0)] == ["ord-2", "ord-0"]
    assert [o.id for o in await store.vendor_orders(VENDOR, limit=1)] == ["ord-0"]
    assert await store.vendor_orders("nobody") == []


async def test_vendor_paid_totals_count_and_sum_one_vendors_paid_orders_since_a_time(store: Store) -> None:
    for i, (created, status, qty) in enumerate([(100.0, "paid", 1), (200.0, "paid", 2), (300.0, "expired", 1),
                                                (400.0, "paid", 3), (500.0, "reserved", 1)]):
        await store.save_order(order(f"ord-{i}").model_copy(update={"created_at": created, "status": status,
                                                                    "quantity": qty}))
    await store.save_order(order("other").model_copy(update={"vendor_id": "someone-else", "status": "paid"}))
    unit = order().unit_price
    assert await store.vendor_paid_totals(VENDOR) == (3, 6 * unit)
    assert await store.vendor_paid_totals(VENDOR, since=200.0) == (2, 5 * unit)
    await store.transition_order("ord-4", ["reserved"], "paid")
    assert await store.vendor_paid_totals(VENDOR, since=450.0) == (1, unit)
    assert await store.vendor_paid_totals("nobody") == (0, 0)


async def test_concurrent_order_transitions_have_one_winner(store: Store) -> None:
    await store.save_order(order())
    await store.transition_order("ord-1", ["reserved"], "awaiting_payment")

    paid, expired = await asyncio.gather(
        store.transition_order("ord-1", ["awaiting_payment"], "paid", paid_at=1234.5),
        store.transition_order("ord-1", ["reserved", "awaiting_payment"], "expired"),
    )

    assert (paid is None) != (expired is None)
    winner = paid or expired
    assert (await store.get_order("ord-1")).status == winner.status


async def test_payment_transition_is_conditional(store: Store) -> None:
    await store.save_payment(payment())

    assert await store.transition_payment("pay-1", "paid", "failed") is None
    assert (await store.get_payment("pay-1")).status == "pending"
    moved = await store.transition_payment("pay-1", "pending", "paid")
    assert moved is not None and moved.status == "paid"
    assert await store.get_payment("pay-1") == moved
    assert await store.transition_payment("no-such-payment", "pending", "paid") is None
    assert await store.get_payment("no-such-payment") is None


async def test_concurrent_payment_transitions_have_one_winner(store: Store) -> None:
    await store.save_payment(payment())

    results = await asyncio.gather(
        store.transition_payment("pay-1", "pending", "paid"),
        store.transition_payment("pay-1", "pending", "expired"),
    )

    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert (await store.get_payment("pay-1")).status == winners[0].status


# embedded only: one process owns a data directory that outlives it


async def test_embedded_data_survives_a_restart(tmp_path: Path) -> None:
    now = time.time()
    first = EmbeddedStore(tmp_path)
    await first.start()
    await first.add_events([event("evt-1"), event("evt-2")])
    await first.commit_turn(full_turn(now))
    await first.ensure_products([product(stock=10)])
    await first.reserve_stock(VENDOR, "WAX-01", 3, "h1")
    await first.close()

    second = EmbeddedStore(tmp_path)
    await second.start()
    try:
        assert (await second.get_conversation(CONV)).state == "browsing"
        assert [m.id for m in await second.transcript(CONV)] == ["m-in", "m-out-1", "m-out-2"]
        assert [e.id for e in await second.unprocessed_events()] == ["evt-2"]
        assert (await second.get_product(VENDOR, "WAX-01")).stock == 7
        assert await second.release_stock(VENDOR, "WAX-01", "h1") is True
        assert (await second.get_product(VENDOR, "WAX-01")).stock == 10
    finally:
        await second.close()


async def test_embedded_refuses_a_second_owner_of_the_directory(tmp_path: Path) -> None:
    first = EmbeddedStore(tmp_path)
    await first.start()
    try:
        with pytest.raises(StoreLocked):
            await EmbeddedStore(tmp_path).start()
    finally:
        await first.close()

    again = EmbeddedStore(tmp_path)
    await again.start()
    await again.close()


# the same buyer on several channels


async def test_a_buyers_conversations_on_every_channel_are_found_by_address(store: Store) -> None:
    for channel, last in (("whatsapp", 100.0), ("sms", 300.0), ("telegram", 200.0)):
        address = BUYER.address if channel != "telegram" else "5123456789"
        conv = Conversation(id=f"{VENDOR}:{channel}:{address}", vendor_id=VENDOR, channel=channel, provider="x",
                            contact=Contact(address=address), last_inbound_at=last)
        await store.commit_turn(TurnWrite(event_id=f"e-{channel}", conversation=conv))
    other = Conversation(id=f"other:sms:{BUYER.address}", vendor_id="other", channel="sms", provider="x",
                         contact=BUYER)
    await store.commit_turn(TurnWrite(event_id="e-other", conversation=other))
    found = await store.conversations_with(VENDOR, BUYER.address)
    assert [c.channel for c in found] == ["sms", "whatsapp"]  # most recent first; other vendors not mixed in
    assert await store.conversations_with(VENDOR, "+221779999999") == []


async def test_channel_accounts_are_saved_replaced_and_listed(store: Store) -> None:
    from storage import ChannelAccount

    await store.save_channel_account(ChannelAccount(provider="wasender", vendor_id="awa",
                                                    settings={"phone_number": "+221770000001", "api_key": "k1"}))
    await store.save_channel_account(ChannelAccount(provider="wasender", vendor_id="binta",
                                                    settings={"phone_number": "+221770000002", "api_key": "k2"}))
    await store.save_channel_account(ChannelAccount(provider="wasender", vendor_id="awa",
                                                    settings={"phone_number": "+221770000001", "api_key": "k3"}))
    accounts = await store.channel_accounts("wasender")
    assert [(a.vendor_id, a.settings["api_key"]) for a in accounts] == [("awa", "k3"), ("binta", "k2")]
    assert await store.channel_accounts("meta") == []
    assert len(await store.channel_accounts()) == 2


# dead letters


async def test_dead_letters_are_listed_by_vendor_replayed_once_and_poison_events_set_aside(store: Store) -> None:
    from storage.dead_letters import DeadLetter

    other = event("ev-other").model_copy(update={"vendor_id": "binta"})
    await store.add_events([event("ev-dead"), other, event("ev-live")])
    apology = Message(id="ev-dead:apology:0", conversation_id=CONV, direction="out", text="Désolé", event_id="ev-dead")
    await store.dead_letter(DeadLetter(event_id="ev-dead", vendor_id=VENDOR, conversation_id=CONV, kind="message",
                                       error="RuntimeError: boom", attempts=3),
                            TurnWrite(event_id="ev-dead", messages=[apology]))
    await store.dead_letter(DeadLetter(event_id="ev-other", vendor_id="binta", error="KeyError: 'x'", attempts=3),
                            TurnWrite(event_id="ev-other"))
    # A dead event counts as processed (a redelivery is not run again) and its apology is in the transcript.
    assert await store.is_processed("ev-dead")
    assert [e.id for e in await store.unprocessed_events()] == ["ev-live"]
    assert [m.text for m in await store.transcript(CONV)] == ["Désolé"]
    assert [(d.event_id, d.error, d.attempts) for d in await store.dead_letters(VENDOR)] == [
        ("ev-dead", "RuntimeError: boom", 3)]
    assert {d.event_id for d in await store.dead_letters()} == {"ev-dead", "ev-other"}

    revived = await store.revive_event("ev-dead")
    assert revived is not None and revived.text == "bonjour"
    assert await store.revive_event("ev-dead") is None  # replayed once, not twice
    assert await store.revive_event("ev-never-dead") is None
    assert not await store.is_processed("ev-dead")
    assert [e.id for e in await store.unprocessed_events()] == ["ev-dead", "ev-live"]
    assert [d.event_id for d in await store.dead_letters()] == ["ev-other"]

    # What the Telegram adapter accepted before it checked dates: an event dated 1e400 (infinity).
    poison = event("ev-poison").model_copy(update={"received_at": float("inf")})
    await store.add_events([poison])
    set_aside = await store.quarantine_unloadable()
    # Whether a backend can store infinity differs (SQLite's JSON cannot, BSON can); either way the
    # inbox loads again afterwards, and what could not be loaded is a dead letter.
    loaded = [e.id for e in await store.unprocessed_events()]
    assert {d.event_id for d in set_aside} | set(loaded) >= {"ev-poison", "ev-dead", "ev-live"}
    assert all(d.error.startswith("cannot be loaded") and d.vendor_id == VENDOR for d in set_aside)
    if isinstance(store, EmbeddedStore):
        assert [d.event_id for d in set_aside] == ["ev-poison"]
    assert {d.event_id for d in set_aside} <= {d.event_id for d in await store.dead_letters(VENDOR)}
    assert await store.quarantine_unloadable() == []
