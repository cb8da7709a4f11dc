"""The MongoDB store on motor; every motor/pymongo call lives in this module."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection
from pydantic import BaseModel, TypeAdapter
from pymongo import ASCENDING, ReturnDocument, WriteConcern
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError
from pymongo.uri_parser import parse_uri

from channels import Event
from storage.base import ConflictError, Store
from storage.dead_letters import DeadLetter, unloadable
from storage.records import (
    CHANNELS,
    STATUS_REPLACES,
    ChannelAccount,
    Conversation,
    Document,
    Message,
    Order,
    OrderStatus,
    OutboxEntry,
    Payment,
    Product,
    Timer,
    TurnWrite,
)

DEFAULT_DB = "palabre"
DUPLICATE_KEY = 11000
LEASE_ID = "single-process"
LEASE_TTL = 30.0

log = logging.getLogger("palabre.storage")


class StoreLeaseHeld(RuntimeError):
    """Another process serves from this database without Redis to coordinate with: refuse to start."""


# An acknowledged webhook must survive a primary's crash and a failover: journaled on a majority.
# The timeout turns a replica set that lost its majority into an error (the webhook answers 503 and
# the provider retries) instead of a request that hangs.
DEFAULT_WRITE_CONCERN = "w=majority&j=true&wtimeout=10000"
_URI_WRITE_CONCERN = {"w", "journal", "wtimeoutms"}


def parse_write_concern(spec: str) -> WriteConcern:
    """`w=majority&j=true&wtimeout=10000` (any subset; w is a number or a tag) as a WriteConcern."""
    options: dict[str, Any] = {}
    for part in filter(None, spec.replace(",", "&").split("&")):
        name, sep, value = part.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not sep or name not in {"w", "j", "journal", "wtimeout", "wtimeoutms"}:
            raise ValueError(f"bad write concern option {part!r}: expected w=, j= or wtimeout=")
        if name == "w":
            options["w"] = int(value) if value.isdigit() else value
        elif name in {"j", "journal"}:
            if value.lower() not in {"true", "false"}:
                raise ValueError(f"bad write concern option {part!r}: j is true or false")
            options["j"] = value.lower() == "true"
        else:
            options["wtimeout"] = int(value)
    return WriteConcern(**options)

M = TypeVar("M", bound=BaseModel)


def _doc(record: BaseModel, **extra: Any) -> dict[str, Any]:
    """A record as a document keyed by its id."""
    doc = record.model_dump(mode="json")
    doc["_id"] = doc["id"]
    doc.update(extra)
    return doc


def _load(model: type[M], doc: Mapping[str, Any]) -> M:
    # Bookkeeping fields (seq, held, ...) are dropped by the model's default extra="ignore".
    return model.model_validate({k: v for k, v in doc.items() if k != "_id"})


async def _insert_new(collection: AsyncIOMotorCollection, docs: list[dict[str, Any]]) -> list[bool]:
    """Insert documents, skipping those whose unique key exists; True for each one inserted."""
    if not docs:
        return []
    fresh = [True] * len(docs)
    mark = uuid.uuid4().hex  # tells this call's writes from another process's, should the server not say
    for doc in docs:
        doc["_batch"] = mark
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        for err in exc.details.get("writeErrors", []):
            if err.get("code") != DUPLICATE_KEY:
                raise
            fresh[err["index"]] = False
    except DuplicateKeyError:
        # FerretDB, racing another process's insert, reports a bare duplicate without saying which
        # document: try each again (insert_many gave each an _id); a duplicate carrying this call's
        # mark was written by the batch before it stopped.
        for i, doc in enumerate(docs):
            try:
                await collection.insert_one(doc)
            except DuplicateKeyError:
                fresh[i] = await collection.count_documents({"_id": doc["_id"], "_batch": mark}, limit=1) > 0
    return fresh


class MongoStore(Store):
    """MongoDB, for several server processes sharing one database.

    A standalone server has no multi-document transactions, so every multi-record write
    relies on deterministic ids instead: a turn replayed after a crash upserts or
    skip-inserts the same documents, and the event is marked processed last. Each stock or
    status change is a single conditional update on one document, which MongoDB applies
    atomically (FerretDB v1 does not: docs/decisions.md). Durability is the write concern every
    write uses: `write_concern` (a WriteConcern or a `parse_write_concern` spec), else the URI's
    own `w`/`journal`/`wTimeoutMS` if it has any, else DEFAULT_WRITE_CONCERN (journaled on a
    majority), so an acknowledged webhook survives a failover.

    With `single_process` (a server without Redis to share its work) `start` takes the database's
    single-process lease, renewed in the background, or raises StoreLeaseHeld.
    """

    def __init__(
        self,
        uri: str,
        db_name: str | None = None,
        *,
        client: AsyncIOMotorClient | None = None,
        write_concern: WriteConcern | str | None = None,
        single_process: bool = False,
        lease_ttl: float = LEASE_TTL,
    ) -> None:
        # A client passed in (a test double, a shared pool) belongs to the caller: not closed here.
        self._owns_client = client is None
        self._client = client if client is not None else AsyncIOMotorClient(uri)
        parsed = parse_uri(uri) if uri else {"database": None, "options": {}}
        name = db_name or parsed["database"] or DEFAULT_DB
        if isinstance(write_concern, str):
            write_concern = parse_write_concern(write_concern)
        elif write_concern is None and not _URI_WRITE_CONCERN & {k.lower() for k in parsed["options"]}:
            write_concern = parse_write_concern(DEFAULT_WRITE_CONCERN)
        self.write_concern = write_concern
        self._db = self._client.get_database(name, write_concern=write_concern)
        self._events = self._db.get_collection("events")
        self._conversations = self._db.get_collection("conversations")
        self._messages = self._db.get_collection("messages")
        self._outbox = self._db.get_collection("outbox")
        self._timers = self._db.get_collection("timers")
        self._products = self._db.get_collection("products")
        self._orders = self._db.get_collection("orders")
        self._payments = self._db.get_collection("payments")
        self._counters = self._db.get_collection("counters")
        self._accounts = self._db.get_collection("channel_accounts")
        self._leases = self._db.get_collection("leases")
        self._single_process = single_process
        self._lease_ttl = lease_ttl
        self._lease_owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lease_task: asyncio.Task[None] | None = None
        self._lease_fault: str | None = None

    async def start(self) -> None:
        if self._single_process:
            # First, so that a refused second process changes nothing in the database.
            await self._take_lease()
            self._lease_task = asyncio.create_task(self._keep_lease())
        # De-dup of events, messages and outbox entries rests on the built-in unique `_id` index.
        await self._events.create_index([("processed", ASCENDING), ("seq", ASCENDING)])
        await self._messages.create_index([("conversation_id", ASCENDING), ("seq", ASCENDING)])
        await self._messages.create_index([("provider_message_id", ASCENDING)])
        await self._outbox.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self._timers.create_index([("due_at", ASCENDING)])
        await self._payments.create_index([("status", ASCENDING), ("created_at", ASCENDING)])
        await self._orders.create_index([("vendor_id", ASCENDING), ("contact.address", ASCENDING),
                                         ("created_at", ASCENDING)])
        await self._orders.create_index([("vendor_id", ASCENDING), ("created_at", ASCENDING)])
        await self._products.create_index([("vendor_id", ASCENDING), ("code", ASCENDING)], unique=True)
        await self._migrate_hold_arrays()

    async def close(self) -> None:
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease_task
            self._lease_task = None
            # Released at once, so that a restart does not wait for the lease to expire.
            with contextlib.suppress(PyMongoError):
                await self._leases.delete_one({"_id": LEASE_ID, "owner": self._lease_owner})
        if self._owns_client:
            self._client.close()

    def fault(self) -> str | None:
        return self._lease_fault

    # single-process lease: without Redis nothing shares the work between processes, so one holds it all
    async def _take_lease(self) -> None:
        """Hold the database's single-process lease, or raise StoreLeaseHeld naming its holder."""
        now = time.time()
        # A lease whose holder stopped renewing it (killed, frozen) is free to take.
        await self._leases.delete_one({"_id": LEASE_ID, "expires_at": {"$lt": now}})
        try:
            await self._leases.insert_one({"_id": LEASE_ID, "owner": self._lease_owner, "host": socket.gethostname(),
                                           "pid": os.getpid(), "expires_at": now + self._lease_ttl})
        except DuplicateKeyError:
            holder = await self._leases.find_one({"_id": LEASE_ID}) or {}
            left = max(0.0, float(holder.get("expires_at", now)) - now)
            raise StoreLeaseHeld(
                f"another Palabre process (host {holder.get('host', '?')}, pid {holder.get('pid', '?')}) serves "
                f"from MongoDB database {self._db.name!r} without REDIS_URL. Several processes must share a "
                f"Redis: set REDIS_URL on every one. Otherwise stop the other process (a dead one's claim "
                f"lapses {left:.0f} s from now)."
            ) from None
        self._lease_fault = None

    async def _keep_lease(self) -> None:
        while True:
            await asyncio.sleep(self._lease_ttl / 3)
            try:
                renewed = await self._leases.update_one(
                    {"_id": LEASE_ID, "owner": self._lease_owner},
                    {"$set": {"expires_at": time.time() + self._lease_ttl}},
                )
                if renewed.matched_count == 0:
                    # Lapsed (the database was out of reach, or this process froze): take it again if free.
                    await self._take_lease()
            except StoreLeaseHeld as exc:
                self._lease_fault = "single-process lease lost to another process (REDIS_URL unset)"
                log.error("single-process lease lost: %s", exc)
            except PyMongoError as exc:
                log.warning("single-process lease not renewed: %s", type(exc).__name__)

    async def drop(self) -> None:
        """Delete this store's whole database (test teardown)."""
        await self._client.drop_database(self._db.name)

    async def _allocate(self, counter: str, count: int) -> range:
        """Reserve `count` consecutive sequence numbers in one atomic step."""
        for attempt in range(3):
            try:
                doc = await self._counters.find_one_and_update(
                    {"_id": counter}, {"$inc": {"n": count}}, upsert=True, return_document=ReturnDocument.AFTER
                )
                break
            except DuplicateKeyError:
                # Two first upserts raced and the other one created the counter: it exists now. MongoDB
                # retries this itself; FerretDB reports it (a fresh database's first webhooks got a 503).
                if attempt == 2:
                    raise
        last = int(doc["n"])
        return range(last - count + 1, last + 1)

    # inbox
    async def add_events(self, events: Iterable[Event]) -> list[bool]:
        events = list(events)
        if not events:
            return []
        seqs = await self._allocate("events", len(events))
        # The event sits under its own key: its fields (e.g. `status`) must not mix with ours. It is stored
        # as its JSON form, as the embedded store keeps it: a non-finite number becomes null (FerretDB
        # refuses infinity in a document; MongoDB would keep an event that no other backend can).
        docs = [
            {"_id": e.id, "processed": False, "seq": seq, "event": json.loads(e.model_dump_json())}
            for e, seq in zip(events, seqs, strict=True)
        ]
        return await _insert_new(self._events, docs)

    async def is_processed(self, event_id: str) -> bool:
        doc = await self._events.find_one({"_id": event_id}, {"processed": 1})
        return bool(doc and doc.get("processed"))

    async def unprocessed_events(self, limit: int = 1000) -> list[Event]:
        cursor = self._events.find({"processed": False}).sort("seq", ASCENDING).limit(limit)
        return [Event.model_validate(d["event"]) for d in await cursor.to_list(None)]

    # conversations and turns
    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        doc = await self._conversations.find_one({"_id": conversation_id})
        return _load(Conversation, doc) if doc else None

    async def conversations_with(self, vendor_id: str, address: str) -> list[Conversation]:
        ids = [f"{vendor_id}:{channel}:{address}" for channel in CHANNELS]
        found = [_load(Conversation, d) async for d in self._conversations.find({"_id": {"$in": ids}})]
        return sorted(found, key=lambda c: c.last_inbound_at or 0.0, reverse=True)

    async def commit_turn(self, turn: TurnWrite) -> None:
        expected = turn.expected_version
        if turn.conversation is not None and expected is None:
            await self._conversations.replace_one(
                {"_id": turn.conversation.id}, _doc(turn.conversation), upsert=True
            )
        elif turn.conversation is not None and expected is not None:
            # One conditional write on the version, first, so a stale turn writes nothing at all: when
            # the version moved the filter matches nothing and the upsert's insert hits the `_id` index.
            try:
                await self._conversations.replace_one(
                    {"_id": turn.conversation.id, "version": expected},
                    _doc(turn.conversation, version=expected + 1),
                    upsert=True,
                )
            except DuplicateKeyError:
                raise ConflictError(f"conversation version moved past {expected}") from None
        if turn.messages or turn.outbox:
            # One block for the turn; a message that already exists keeps its first seq.
            seqs = iter(await self._allocate("seq", len(turn.messages) + len(turn.outbox)))
            await _insert_new(self._messages, [_doc(m, seq=next(seqs)) for m in turn.messages])
            await _insert_new(self._outbox, [_doc(o, seq=next(seqs)) for o in turn.outbox])
        for t in turn.timers:
            await self._timers.replace_one({"_id": t.id}, _doc(t), upsert=True)
        if turn.cancel_timers:
            await self._timers.delete_many({"_id": {"$in": list(turn.cancel_timers)}})
        await self._events.update_one({"_id": turn.event_id}, {"$set": {"processed": True}}, upsert=True)

    async def transcript(self, conversation_id: str) -> list[Message]:
        cursor = self._messages.find({"conversation_id": conversation_id}).sort("seq", ASCENDING)
        return [_load(Message, d) for d in await cursor.to_list(None)]

    async def update_message_status(
        self, provider_message_id: str, status: str, error: str | None = None
    ) -> bool:
        changes: dict[str, Any] = {"status": status}
        if error is not None:
            changes["error"] = error
        await self._messages.update_many(
            {"provider_message_id": provider_message_id, "status": {"$in": list(STATUS_REPLACES.get(status, ()))}},
            {"$set": changes},
        )
        return await self._messages.find_one({"provider_message_id": provider_message_id}, {"_id": 1}) is not None

    # outbox
    async def pending_outbox(self, now: float, limit: int = 100) -> list[OutboxEntry]:
        cursor = (
            self._outbox.find({"status": "pending", "next_attempt_at": {"$lte": now}})
            .sort([("next_attempt_at", ASCENDING), ("seq", ASCENDING)])
            .limit(limit)
        )
        return [_load(OutboxEntry, d) for d in await cursor.to_list(None)]

    async def mark_outbox(
        self,
        entry_id: str,
        status: str,
        *,
        attempts: int,
        next_attempt_at: float = 0.0,
        error: str | None = None,
        provider_message_id: str | None = None,
    ) -> None:
        # No projection: FerretDB v1 rejects findAndModify's `fields` (NotImplemented); entries are small.
        entry = await self._outbox.find_one_and_update(
            {"_id": entry_id},
            {"$set": {"status": status, "attempts": attempts, "next_attempt_at": next_attempt_at,
                      "error": error}},
        )
        msg_status = {"sent": "sent", "failed": "failed"}.get(status)
        if entry is None or msg_status is None:
            return
        changes: dict[str, Any] = {"status": msg_status, "error": error}
        if provider_message_id is not None:
            changes["provider_message_id"] = provider_message_id
        await self._messages.update_one({"_id": entry["message_id"]}, {"$set": changes})

    # timers
    async def due_timers(self, now: float, limit: int = 100) -> list[Timer]:
        cursor = self._timers.find({"due_at": {"$lte": now}}).sort("due_at", ASCENDING).limit(limit)
        return [_load(Timer, d) for d in await cursor.to_list(None)]

    async def delete_timer(self, timer_id: str) -> None:
        await self._timers.delete_one({"_id": timer_id})

    # catalogue and stock
    # A product's holds are a map `held: {hold key: qty}`, not an array of {id, qty}: FerretDB v1 cannot
    # query or $pull through an array of documents ("holds.id", $elemMatch on fields), and a map
    # needs neither on MongoDB either.
    async def ensure_products(self, products: Iterable[Product]) -> None:
        # The unique (vendor_id, code) index turns an existing product into a skipped insert.
        await _insert_new(self._products, [{**p.model_dump(mode="json"), "held": {}} for p in products])

    async def _migrate_hold_arrays(self) -> None:
        """Products written by an older version keep their holds in an array: move them to the map."""
        legacy = self._products.find({"holds": {"$exists": True}}, {"holds": 1, "held": 1})
        for doc in await legacy.to_list(None):
            held = dict(doc.get("held") or {})
            held.update({_hold_key(h["id"]): h["qty"] for h in doc["holds"]})
            await self._products.update_one(
                {"_id": doc["_id"]}, {"$set": {"held": held}, "$unset": {"holds": ""}}
            )

    async def get_product(self, vendor_id: str, code: str) -> Product | None:
        doc = await self._products.find_one({"vendor_id": vendor_id, "code": code}, {"held": 0})
        return _load(Product, doc) if doc else None

    async def list_products(self, vendor_id: str) -> list[Product]:
        cursor = self._products.find({"vendor_id": vendor_id}, {"held": 0}).sort("_id", ASCENDING)
        return [_load(Product, d) for d in await cursor.to_list(None)]

    async def set_stock(self, vendor_id: str, code: str, stock: int) -> None:
        await self._products.update_one({"vendor_id": vendor_id, "code": code}, {"$set": {"stock": stock}})

    async def reserve_stock(self, vendor_id: str, code: str, qty: int, hold_id: str) -> bool:
        hold = f"held.{_hold_key(hold_id)}"
        taken = await self._products.update_one(
            {"vendor_id": vendor_id, "code": code, "stock": {"$gte": qty}, hold: {"$exists": False}},
            {"$inc": {"stock": -qty}, "$set": {hold: qty}},
        )
        if taken.modified_count == 1:
            return True
        held = await self._products.find_one(
            {"vendor_id": vendor_id, "code": code, hold: {"$exists": True}}, {"_id": 1}
        )
        return held is not None

    async def release_stock(self, vendor_id: str, code: str, hold_id: str) -> bool:
        key = _hold_key(hold_id)
        doc = await self._products.find_one(
            {"vendor_id": vendor_id, "code": code, f"held.{key}": {"$exists": True}}, {"held": 1}
        )
        if doc is None:
            return False
        qty = doc["held"][key]
        # Matching the hold itself makes a concurrent second release (or consume) find nothing.
        result = await self._products.update_one(
            {"vendor_id": vendor_id, "code": code, f"held.{key}": qty},
            {"$inc": {"stock": qty}, "$unset": {f"held.{key}": ""}},
        )
        return result.modified_count == 1

    async def consume_hold(self, vendor_id: str, code: str, hold_id: str) -> bool:
        hold = f"held.{_hold_key(hold_id)}"
        result = await self._products.update_one(
            {"vendor_id": vendor_id, "code": code, hold: {"$exists": True}}, {"$unset": {hold: ""}}
        )
        return result.modified_count == 1

    # provider accounts
    async def save_channel_account(self, account: ChannelAccount) -> None:
        doc = account.model_dump(mode="json")
        await self._accounts.replace_one({"_id": account.id}, {**doc, "_id": account.id}, upsert=True)

    async def channel_accounts(self, provider: str | None = None) -> list[ChannelAccount]:
        query = {} if provider is None else {"provider": provider}
        cursor = self._accounts.find(query).sort([("provider", ASCENDING), ("vendor_id", ASCENDING)])
        return [_load(ChannelAccount, d) async for d in cursor]

    # orders and payments
    async def save_order(self, order: Order) -> None:
        await self._orders.replace_one({"_id": order.id}, _doc(order), upsert=True)

    async def get_order(self, order_id: str) -> Order | None:
        doc = await self._orders.find_one({"_id": order_id})
        return _load(Order, doc) if doc else None

    async def buyer_orders(self, vendor_id: str, address: str, limit: int = 1000) -> list[Order]:
        cursor = self._orders.find({"vendor_id": vendor_id, "contact.address": address})
        recent = [_load(Order, d) async for d in cursor.sort("created_at", -1).limit(limit)]
        return recent[::-1]

    async def vendor_orders(self, vendor_id: str, since: float = 0.0, limit: int = 100_000) -> list[Order]:
        cursor = self._orders.find({"vendor_id": vendor_id, "created_at": {"$gte": since}})
        recent = [_load(Order, d) async for d in cursor.sort("created_at", -1).limit(limit)]
        return recent[::-1]

    async def vendor_paid_totals(self, vendor_id: str, since: float = 0.0) -> tuple[int, int]:
        # two fields per order rather than $group/$multiply, which FerretDB v1 does not run
        cursor = self._orders.find({"vendor_id": vendor_id, "created_at": {"$gte": since}, "status": "paid"},
                                   {"_id": 0, "unit_price": 1, "quantity": 1})
        count = revenue = 0
        async for d in cursor:
            count, revenue = count + 1, revenue + int(d["unit_price"]) * int(d["quantity"])
        return count, revenue

    async def transition_order(
        self, order_id: str, from_statuses: Iterable[OrderStatus], to_status: OrderStatus, **fields: object
    ) -> Order | None:
        changes = {**_order_fields(fields), "status": to_status}
        doc = await self._orders.find_one_and_update(
            {"_id": order_id, "status": {"$in": list(from_statuses)}},
            {"$set": changes},
            return_document=ReturnDocument.AFTER,
        )
        return _load(Order, doc) if doc else None

    async def save_payment(self, payment: Payment) -> None:
        await self._payments.replace_one({"_id": payment.id}, _doc(payment), upsert=True)

    async def get_payment(self, payment_id: str) -> Payment | None:
        doc = await self._payments.find_one({"_id": payment_id})
        return _load(Payment, doc) if doc else None

    async def pending_payments(self, created_before: float, limit: int = 100, status: str = "pending"
                               ) -> list[Payment]:
        cursor = self._payments.find({"status": status, "created_at": {"$lt": created_before}})
        return [_load(Payment, d) async for d in cursor.sort("created_at", ASCENDING).limit(limit)]

    async def transition_payment(self, payment_id: str, from_status: str, to_status: str) -> Payment | None:
        doc = await self._payments.find_one_and_update(
            {"_id": payment_id, "status": from_status},
            {"$set": {"status": to_status}},
            return_document=ReturnDocument.AFTER,
        )
        return _load(Payment, doc) if doc else None

    # dead letters
    @property
    def _dead(self) -> AsyncIOMotorCollection:
        return self._db.get_collection("dead_letters")

    async def dead_letter(self, letter: DeadLetter, turn: TurnWrite) -> None:
        # The letter first: a crash before the turn leaves the event unprocessed, and listed as dead.
        doc = {**letter.model_dump(mode="json"), "_id": letter.event_id}
        await self._dead.replace_one({"_id": letter.event_id}, doc, upsert=True)
        await self.commit_turn(turn)

    async def dead_letters(self, vendor_id: str | None = None, limit: int = 1000) -> list[DeadLetter]:
        query = {} if vendor_id is None else {"vendor_id": vendor_id}
        cursor = self._dead.find(query).sort([("dead_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [_load(DeadLetter, d) for d in await cursor.to_list(None)]

    async def revive_event(self, event_id: str) -> Event | None:
        if await self._dead.find_one({"_id": event_id}, {"_id": 1}) is None:
            return None
        doc = await self._events.find_one({"_id": event_id})
        if doc is None or "event" not in doc:
            raise ValueError(f"event {event_id} is not in the inbox")
        event = Event.model_validate(doc["event"])
        await self._events.update_one({"_id": event_id}, {"$set": {"processed": False}})
        await self._dead.delete_one({"_id": event_id})
        return event

    async def quarantine_unloadable(self, limit: int = 100_000) -> list[DeadLetter]:
        cursor = self._events.find({"processed": False}).sort("seq", ASCENDING).limit(limit)
        letters = []
        for doc in await cursor.to_list(None):
            try:
                Event.model_validate(doc.get("event"))
            except ValueError as exc:
                letters.append(unloadable(doc["_id"], doc.get("event"), exc))
        for letter in letters:
            await self._dead.replace_one({"_id": letter.event_id},
                                         {**letter.model_dump(mode="json"), "_id": letter.event_id}, upsert=True)
            await self._events.update_one({"_id": letter.event_id}, {"$set": {"processed": True}})
        return letters


    # documents
    async def save_document(self, document: Document) -> None:
        doc = {**document.model_dump(exclude={"body"}), "body": document.body, "_id": document.id}
        await self._db.get_collection("documents").replace_one({"_id": document.id}, doc, upsert=True)

    async def get_document(self, document_id: str) -> Document | None:
        doc = await self._db.get_collection("documents").find_one({"_id": document_id})
        if doc is None:
            return None
        doc.pop("_id", None)
        return Document.model_validate({**doc, "body": bytes(doc["body"])})

    async def sync_products(self, products: Iterable[Product]) -> None:
        for p in products:
            details = p.model_dump(mode="json", exclude={"stock"})
            query = {"vendor_id": p.vendor_id, "code": p.code}
            update = {"$set": details, "$setOnInsert": {"stock": p.stock, "held": {}}}
            try:
                await self._products.update_one(query, update, upsert=True)
            except DuplicateKeyError:
                # Another process inserted it between our match and our insert: now it matches.
                await self._products.update_one(query, update, upsert=True)


def _hold_key(hold_id: str) -> str:
    """A hold id as a field name: no `.` (a path separator) and no leading `$` (an operator)."""
    return hold_id.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def _order_fields(fields: Mapping[str, object]) -> dict[str, Any]:
    """Validate extra order fields before they reach the database, as JSON-ready values.

    The update is applied server-side, so a bad value would otherwise be stored and only
    fail when the order is next read.
    """
    out: dict[str, Any] = {}
    for name, value in fields.items():
        field = Order.model_fields.get(name)
        if field is None or name == "id":
            raise TypeError(f"transition_order cannot set {name!r}")
        adapter: TypeAdapter[Any] = TypeAdapter(field.annotation)
        out[name] = adapter.dump_python(adapter.validate_python(value), mode="json")
    return out
