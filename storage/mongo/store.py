"""MongoStore: the store for several processes sharing one MongoDB database, composed of its parts here."""

from __future__ import annotations

from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import ASCENDING, WriteConcern

from storage.base import Store
from storage.mongo.conversations import ConversationRecords
from storage.mongo.database import load_record
from storage.mongo.lease import LEASE_TTL, SingleProcessLease
from storage.mongo.orders import OrderRecords
from storage.mongo.stock import StockRecords
from storage.records import ChannelAccount


class MongoStore(ConversationRecords, StockRecords, OrderRecords, Store):
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
        super().__init__(uri, db_name, client=client, write_concern=write_concern)
        self._lease = (
            SingleProcessLease(self._db.get_collection("leases"), self._db.name, lease_ttl) if single_process else None
        )

    async def start(self) -> None:
        if self._lease is not None:
            # First, so that a refused second process changes nothing in the database.
            await self._lease.hold()
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
        if self._lease is not None:
            await self._lease.release()
        if self._owns_client:
            self._client.close()

    def fault(self) -> str | None:
        return self._lease.fault if self._lease is not None else None

    # provider accounts
    async def save_channel_account(self, account: ChannelAccount) -> None:
        doc = account.model_dump(mode="json")
        await self._accounts.replace_one({"_id": account.id}, {**doc, "_id": account.id}, upsert=True)

    async def channel_accounts(self, provider: str | None = None) -> list[ChannelAccount]:
        query = {} if provider is None else {"provider": provider}
        cursor = self._accounts.find(query).sort([("provider", ASCENDING), ("vendor_id", ASCENDING)])
        return [load_record(ChannelAccount, d) async for d in cursor]
