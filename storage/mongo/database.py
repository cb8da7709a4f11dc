"""The MongoStore's database: its name, write concern and collections, and the document helpers its parts share."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, TypeVar

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection
from pydantic import BaseModel
from pymongo import ReturnDocument, WriteConcern
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.uri_parser import parse_uri

DEFAULT_DB = "palabre"
DUPLICATE_KEY = 11000

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


def record_doc(record: BaseModel, **extra: Any) -> dict[str, Any]:
    """A record as a document keyed by its id."""
    doc = record.model_dump(mode="json")
    doc["_id"] = doc["id"]
    doc.update(extra)
    return doc


def load_record(model: type[M], doc: Mapping[str, Any]) -> M:
    # Bookkeeping fields (seq, held, ...) are dropped by the model's default extra="ignore".
    return model.model_validate({k: v for k, v in doc.items() if k != "_id"})


async def insert_new(collection: AsyncIOMotorCollection, docs: list[dict[str, Any]]) -> list[bool]:
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


class MongoDatabase:
    """The store's database and collections, opened with the write concern every write uses."""

    def __init__(
        self,
        uri: str,
        db_name: str | None = None,
        *,
        client: AsyncIOMotorClient | None = None,
        write_concern: WriteConcern | str | None = None,
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

