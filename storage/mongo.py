"""The MongoDB store on motor; every motor/pymongo call lives in this module."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection
from pydantic import BaseModel, TypeAdapter
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import BulkWriteError
from pymongo.uri_parser import parse_uri

from channels import Event
from storage.base import Store
from storage.records import (
    CHANNELS,
    STATUS_REPLACES,
    ChannelAccount,
    Conversation,
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

M = TypeVar("M", bound=BaseModel)


def _doc(record: BaseModel, **extra: Any) -> dict[str, Any]:
    """A record as a document keyed by its id."""
    doc = record.model_dump(mode="json")
    doc["_id"] = doc["id"]
    doc.update(extra)
    return doc


def _load(model: type[M], doc: Mapping[str, Any]) -> M:
    # Bookkeeping fields (seq, holds, ...) are dropped by the model's default extra="ignore".
    return model.model_validate({k: v for k, v in doc.items() if k != "_id"})


async def _insert_new(collection: AsyncIOMotorCollection, docs: list[dict[str, Any]]) -> list[bool]:
    """Insert documents, skipping those whose unique key exists; True for each one inserted."""
    if not docs:
        return []
    fresh = [True] * len(docs)
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        for err in exc.details.get("writeErrors", []):
            if err.get("code") != DUPLICATE_KEY:
                raise
            fresh[err["index"]] = False
    return fresh


class MongoStore(Store):
    """MongoDB, for several server processes sharing one database.

    A standalone server has no multi-document transactions, so every multi-record write
    relies on deterministic ids instead: a turn replayed after a crash upserts or
    skip-inserts the same documents, and the event is marked processed last. Each stock or
    status change is a single conditional update on one document, which MongoDB applies
    atomically. Durability is the client's write concern (set it in the URI, e.g.
    `w=majority&journal=true`); the default acknowledged write already survives a crash of
    this process.
    """

    def __init__(
        self, uri: str, db_name: str | None = None, *, client: AsyncIOMotorClient | None = None
    ) -> None:
        # A client passed in (a test double, a shared pool) belongs to the caller: not closed here.
        self._owns_client = client is None
        self._client = client if client is not None else AsyncIOMotorClient(uri)
        name = db_name or (parse_uri(uri)["database"] if uri else None) or DEFAULT_DB
        self._db = self._client.get_database(name)
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

    async def start(self) -> None:
        # De-dup of events, messages and outbox entries rests on the built-in unique `_id` index.
        await self._events.create_index([("processed", ASCENDING), ("seq", ASCENDING)])
        await self._messages.create_index([("conversation_id", ASCENDING), ("seq", ASCENDING)])
        await self._messages.create_index([("provider_message_id", ASCENDING)])
        await self._outbox.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self._timers.create_index([("due_at", ASCENDING)])
        await self._products.create_index([("vendor_id", ASCENDING), ("code", ASCENDING)], unique=True)

    async def close(self) -> None:
        if self._owns_client:
            self._client.close()

    async def drop(self) -> None:
        """Delete this store's whole database (test teardown)."""
        await self._client.drop_database(self._db.name)

    async def _allocate(self, counter: str, count: int) -> range:
        """Reserve `count` consecutive sequence numbers in one atomic step."""
        doc = await self._counters.find_one_and_update(
            {"_id": counter}, {"$inc": {"n": count}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        last = int(doc["n"])
        return range(last - count + 1, last + 1)

    # inbox
    async def add_events(self, events: Iterable[Event]) -> list[bool]:
        events = list(events)
        if not events:
            return []
        seqs = await self._allocate("events", len(events))
        # The event sits under its own key: its fields (e.g. `status`) must not mix with ours.
        docs = [
            {"_id": e.id, "processed": False, "seq": seq, "event": e.model_dump(mode="json")}
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
        if turn.conversation is not None:
            await self._conversations.replace_one(
                {"_id": turn.conversation.id}, _doc(turn.conversation), upsert=True
            )
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
        entry = await self._outbox.find_one_and_update(
            {"_id": entry_id},
            {"$set": {"status": status, "attempts": attempts, "next_attempt_at": next_attempt_at,
                      "error": error}},
            projection={"message_id": 1},
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
    async def ensure_products(self, products: Iterable[Product]) -> None:
        # The unique (vendor_id, code) index turns an existing product into a skipped insert.
        await _insert_new(self._products, [{**p.model_dump(mode="json"), "holds": []} for p in products])

    async def get_product(self, vendor_id: str, code: str) -> Product | None:
        doc = await self._products.find_one({"vendor_id": vendor_id, "code": code}, {"holds": 0})
        return _load(Product, doc) if doc else None

    async def list_products(self, vendor_id: str) -> list[Product]:
        cursor = self._products.find({"vendor_id": vendor_id}, {"holds": 0}).sort("_id", ASCENDING)
        return [_load(Product, d) for d in await cursor.to_list(None)]

    async def set_stock(self, vendor_id: str, code: str, stock: int) -> None:
        await self._products.update_one({"vendor_id": vendor_id, "code": code}, {"$set": {"stock": stock}})

    async def reserve_stock(self, vendor_id: str, code: str, qty: int, hold_id: str) -> bool:
        taken = await self._products.find_one_and_update(
            {"vendor_id": vendor_id, "code": code, "stock": {"$gte": qty}, "holds.id": {"$ne": hold_id}},
            {"$inc": {"stock": -qty}, "$push": {"holds": {"id": hold_id, "qty": qty}}},
            projection={"_id": 1},
        )
        if taken is not None:
            return True
        held = await self._products.find_one(
            {"vendor_id": vendor_id, "code": code, "holds.id": hold_id}, {"_id": 1}
        )
        return held is not None

    async def release_stock(self, vendor_id: str, code: str, hold_id: str) -> bool:
        doc = await self._products.find_one(
            {"vendor_id": vendor_id, "code": code, "holds.id": hold_id}, {"holds": 1}
        )
        if doc is None:
            return False
        qty = next(h["qty"] for h in doc["holds"] if h["id"] == hold_id)
        # Matching the hold itself makes a concurrent second release (or consume) find nothing.
        result = await self._products.update_one(
            {"vendor_id": vendor_id, "code": code, "holds": {"$elemMatch": {"id": hold_id, "qty": qty}}},
            {"$inc": {"stock": qty}, "$pull": {"holds": {"id": hold_id}}},
        )
        return result.modified_count == 1

    async def consume_hold(self, vendor_id: str, code: str, hold_id: str) -> bool:
        result = await self._products.update_one(
            {"vendor_id": vendor_id, "code": code, "holds.id": hold_id},
            {"$pull": {"holds": {"id": hold_id}}},
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

    async def transition_payment(self, payment_id: str, from_status: str, to_status: str) -> Payment | None:
        doc = await self._payments.find_one_and_update(
            {"_id": payment_id, "status": from_status},
            {"$set": {"status": to_status}},
            return_document=ReturnDocument.AFTER,
        )
        return _load(Payment, doc) if doc else None


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
