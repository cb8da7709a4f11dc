"""The inbox on MongoDB (motor): collections `inbox_*` in the store's database; every driver call lives here."""

from __future__ import annotations

import contextlib
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError
from pymongo.uri_parser import parse_uri

from storage.inbox import (
    Agent,
    AuditEntry,
    CannedReply,
    InboxConflict,
    InboxStore,
    Note,
    Thread,
    ThreadFilter,
    sort_threads,
)

DEFAULT_DB = "palabre"


def _doc(key: str, model: Any, **extra: Any) -> dict[str, Any]:
    return {"_id": key, "body": model.model_dump(mode="json"), **extra}


class MongoInboxStore(InboxStore):
    """The inbox in MongoDB. A thread's conditional write is one `replace_one` filtered on its version."""

    def __init__(self, uri: str, db_name: str | None = None, *, client: AsyncIOMotorClient | None = None) -> None:
        self._owns_client = client is None
        self._client = client if client is not None else AsyncIOMotorClient(uri)
        name = db_name or (parse_uri(uri)["database"] if uri else None) or DEFAULT_DB
        db = self._client.get_database(name)
        self._agents = db.get_collection("inbox_agents")
        self._audit = db.get_collection("inbox_audit")
        self._threads = db.get_collection("inbox_threads")
        self._notes = db.get_collection("inbox_notes")
        self._canned = db.get_collection("inbox_canned")

    async def start(self) -> None:
        await self._agents.create_index([("token_hash", ASCENDING)])
        await self._audit.create_index([("vendor", ASCENDING), ("seq", DESCENDING)])
        await self._threads.create_index([("vendor", ASCENDING), ("status", ASCENDING)])
        await self._notes.create_index([("conv", ASCENDING), ("at", ASCENDING)])

    async def close(self) -> None:
        if self._owns_client:
            self._client.close()

    # agents
    async def add_agent(self, agent: Agent) -> bool:
        existing = await self._agents.find_one({"_id": agent.name})
        if existing and existing["active"]:
            return False
        doc = _doc(agent.name, agent, token_hash=agent.token_hash, active=True)
        if existing:
            result = await self._agents.replace_one({"_id": agent.name, "active": False}, doc)
            return result.matched_count == 1
        try:
            await self._agents.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def get_agent(self, name: str) -> Agent | None:
        doc = await self._agents.find_one({"_id": name})
        return Agent.model_validate(doc["body"]) if doc else None

    async def agent_by_token(self, token_hash: str) -> Agent | None:
        doc = await self._agents.find_one({"token_hash": token_hash, "active": True})
        return Agent.model_validate(doc["body"]) if doc else None

    async def list_agents(self) -> list[Agent]:
        return [Agent.model_validate(d["body"]) async for d in self._agents.find().sort("_id", ASCENDING)]

    async def revoke_agent(self, name: str, at: float) -> bool:
        result = await self._agents.update_one({"_id": name, "active": True},
                                               {"$set": {"active": False, "body.revoked_at": at}})
        return result.modified_count == 1

    # audit
    async def audit(self, entry: AuditEntry) -> None:
        with contextlib.suppress(DuplicateKeyError):
            await self._audit.insert_one(_doc(entry.id, entry, vendor=entry.vendor_id, seq=entry.at))

    async def audit_log(self, vendors: list[str] | None = None, limit: int = 200) -> list[AuditEntry]:
        query: dict[str, Any] = {} if vendors is None else {"vendor": {"$in": vendors}}
        cursor = self._audit.find(query).sort("seq", DESCENDING).limit(limit)
        return [AuditEntry.model_validate(d["body"]) async for d in cursor]

    # threads
    async def get_thread(self, conversation_id: str) -> Thread | None:
        doc = await self._threads.find_one({"_id": conversation_id})
        return Thread.model_validate(doc["body"]) if doc else None

    async def save_thread(self, thread: Thread, expected_version: int) -> Thread:
        saved = thread.model_copy(update={"version": expected_version + 1})
        doc = _doc(saved.id, saved, vendor=saved.vendor_id, status=saved.status, channel=saved.channel,
                   assignee=saved.assignee, version=saved.version)
        if expected_version == 0:
            try:
                await self._threads.insert_one(doc)
            except DuplicateKeyError:
                raise InboxConflict("the thread already exists") from None
            return saved
        result = await self._threads.replace_one({"_id": saved.id, "version": expected_version}, doc)
        if result.matched_count != 1:
            raise InboxConflict(f"the thread is no longer at version {expected_version}")
        return saved

    async def list_threads(self, where: ThreadFilter) -> list[Thread]:
        query: dict[str, Any] = {}
        if where.vendors is not None:
            query["vendor"] = {"$in": where.vendors}
        if where.statuses:
            query["status"] = {"$in": where.statuses}
        if where.channel:
            query["channel"] = where.channel
        if where.assignee:
            query["assignee"] = where.assignee
        cursor = self._threads.find(query).sort("body.opened_at", DESCENDING).limit(where.limit)
        return sort_threads([Thread.model_validate(d["body"]) async for d in cursor])

    # notes
    async def add_note(self, note: Note) -> None:
        with contextlib.suppress(DuplicateKeyError):
            await self._notes.insert_one(_doc(note.id, note, conv=note.conversation_id, at=note.created_at))

    async def notes(self, conversation_id: str) -> list[Note]:
        cursor = self._notes.find({"conv": conversation_id}).sort("at", ASCENDING)
        return [Note.model_validate(d["body"]) async for d in cursor]

    # canned replies
    async def save_canned(self, canned: CannedReply) -> None:
        await self._canned.replace_one({"_id": canned.id},
                                       _doc(canned.id, canned, vendor=canned.vendor_id, shortcut=canned.shortcut),
                                       upsert=True)

    async def get_canned(self, canned_id: str) -> CannedReply | None:
        doc = await self._canned.find_one({"_id": canned_id})
        return CannedReply.model_validate(doc["body"]) if doc else None

    async def list_canned(self, vendors: list[str] | None = None) -> list[CannedReply]:
        query: dict[str, Any] = {} if vendors is None else {"$or": [{"vendor": None}, {"vendor": {"$in": vendors}}]}
        cursor = self._canned.find(query).sort("shortcut", ASCENDING)
        return [CannedReply.model_validate(d["body"]) async for d in cursor]

    async def delete_canned(self, canned_id: str) -> bool:
        result = await self._canned.delete_one({"_id": canned_id})
        return result.deleted_count == 1
