"""Campaigns on MongoDB (motor): collection `campaign_docs` and `campaign_counters`; every driver call lives here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient
from pydantic import BaseModel
from pymongo import ASCENDING
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.uri_parser import parse_uri

from storage.campaigns import Body, CampaignStore, Row

DEFAULT_DB = "palabre"
CHUNK = 1000
DUPLICATE = 11000  # MongoDB's duplicate key error


def _id(kind: str, key: str) -> str:
    return f"{kind}/{key}"


class MongoCampaignStore(CampaignStore):
    """One document per record, `_id` = kind/key; a conditional change is one `replace_one` on its status."""

    def __init__(self, uri: str, db_name: str | None = None, *, client: AsyncIOMotorClient | None = None) -> None:
        self._owns_client = client is None
        self._client = client if client is not None else AsyncIOMotorClient(uri)
        name = db_name or (parse_uri(uri)["database"] if uri else None) or DEFAULT_DB
        db = self._client.get_database(name)
        self._docs = db.get_collection("campaign_docs")
        self._counters = db.get_collection("campaign_counters")

    async def start(self) -> None:
        await self._docs.create_index([("kind", ASCENDING), ("vendor", ASCENDING), ("key", ASCENDING)])
        await self._docs.create_index([("kind", ASCENDING), ("grp", ASCENDING), ("status", ASCENDING),
                                       ("key", ASCENDING)])

    async def close(self) -> None:
        if self._owns_client:
            self._client.close()

    @staticmethod
    def _doc(kind: str, row: Row) -> dict[str, Any]:
        key, vendor, group, status, body = row
        return {"_id": _id(kind, key), "kind": kind, "key": key, "vendor": vendor, "grp": group, "status": status,
                "body": body.model_dump(mode="json") if isinstance(body, BaseModel) else body}

    async def _get_many(self, kind: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), CHUNK):
            ids = [_id(kind, k) for k in unique[i:i + CHUNK]]
            async for doc in self._docs.find({"_id": {"$in": ids}}, {"key": 1, "body": 1}):
                out[doc["key"]] = doc["body"]
        return out

    async def _put(self, kind: str, rows: list[Row]) -> None:
        # New documents go in bulk (an import is mostly new contacts); the ones that exist are replaced.
        for i in range(0, len(rows), CHUNK):
            docs = [self._doc(kind, r) for r in rows[i:i + CHUNK]]
            existing: list[int] = []
            try:
                await self._docs.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                existing = [e["index"] for e in exc.details.get("writeErrors", []) if e.get("code") == DUPLICATE]
                if len(existing) != len(exc.details.get("writeErrors", [])):
                    raise
            for index in existing:
                await self._docs.replace_one({"_id": docs[index]["_id"]}, docs[index], upsert=True)

    async def _insert_new(self, kind: str, rows: list[Row]) -> int:
        inserted = 0
        for i in range(0, len(rows), CHUNK):
            docs = [self._doc(kind, r) for r in rows[i:i + CHUNK]]
            try:
                result = await self._docs.insert_many(docs, ordered=False)
                inserted += len(result.inserted_ids)
            except BulkWriteError as exc:
                inserted += int(exc.details.get("nInserted", 0))
        return inserted

    async def _scan(self, kind: str, *, vendor: str | None = None, group: str | None = None,
                    status: str | None = None, after: str = "", limit: int = 0) -> list[tuple[str, dict[str, Any]]]:
        query: dict[str, Any] = {"kind": kind, "key": {"$gt": after}}
        for field, value in (("vendor", vendor), ("grp", group), ("status", status)):
            if value is not None:
                query[field] = value
        cursor = self._docs.find(query, {"key": 1, "body": 1}).sort("key", ASCENDING)
        if limit:
            cursor = cursor.limit(limit)
        return [(d["key"], d["body"]) async for d in cursor]

    async def _count(self, kind: str, group: str) -> dict[str, int]:
        pipeline = [{"$match": {"kind": kind, "grp": group}}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}]
        return {d["_id"]: int(d["n"]) async for d in self._docs.aggregate(pipeline)}

    async def _swap(self, kind: str, key: str, statuses: Iterable[str], status: str, body: Body) -> bool:
        current = await self._docs.find_one({"_id": _id(kind, key)}, {"vendor": 1, "grp": 1})
        if current is None:
            return False
        doc = self._doc(kind, (key, current["vendor"], current["grp"], status, body))
        result = await self._docs.replace_one({"_id": doc["_id"], "status": {"$in": list(statuses)}}, doc)
        return result.modified_count == 1

    async def _delete(self, kind: str, key: str) -> bool:
        return (await self._docs.delete_one({"_id": _id(kind, key)})).deleted_count == 1

    async def _incr(self, key: str, by: int, limit: int | None) -> bool:
        query: dict[str, Any] = {"_id": key}
        if limit is not None:
            if by > limit:
                return False
            query["n"] = {"$lte": limit - by}
        try:
            await self._counters.update_one(query, {"$inc": {"n": by}}, upsert=True)
        except DuplicateKeyError:
            # The counter exists and is past the limit: the upsert's insert collided with it.
            return False
        return True

    async def _counter(self, key: str) -> int:
        doc = await self._counters.find_one({"_id": key})
        return int(doc["n"]) if doc else 0
