"""Live sessions and catalogue changes on MongoDB (motor): collections `live_*`; every driver call lives here."""

from __future__ import annotations

from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError
from pymongo.uri_parser import parse_uri

from storage.live import CatalogueChange, LiveSession, LiveStore

DEFAULT_DB = "palabre"


def _session(doc: dict[str, Any] | None) -> LiveSession | None:
    return LiveSession.model_validate({k: v for k, v in doc.items() if k != "_id"}) if doc else None


class MongoLiveStore(LiveStore):
    """One open live per vendor is a document keyed by the vendor in `live_open`: its unique `_id` is
    what refuses a second LIVE ON from another process (no partial index needed, which FerretDB lacks)."""

    def __init__(self, uri: str, db_name: str | None = None, *, client: AsyncIOMotorClient | None = None) -> None:
        self._owns_client = client is None
        self._client = client if client is not None else AsyncIOMotorClient(uri)
        name = db_name or (parse_uri(uri)["database"] if uri else None) or DEFAULT_DB
        db = self._client.get_database(name)
        self._sessions = db.get_collection("live_sessions")
        self._open = db.get_collection("live_open")
        self._changes = db.get_collection("live_catalogue_changes")

    async def start(self) -> None:
        await self._sessions.create_index([("vendor_id", ASCENDING), ("started_at", DESCENDING)])
        await self._changes.create_index([("vendor_id", ASCENDING), ("code", ASCENDING)])

    async def close(self) -> None:
        if self._owns_client:
            self._client.close()

    async def _get(self, session_id: str) -> LiveSession | None:
        return _session(await self._sessions.find_one({"_id": session_id}))

    async def open_session(self, session: LiveSession) -> tuple[LiveSession, bool]:
        current = await self.current_session(session.vendor_id)
        if current is not None:
            return current, current.id == session.id
        # the session first, then the pointer: a crash in between leaves an unreachable session, never
        # a pointer to nothing
        await self._sessions.replace_one({"_id": session.id}, {"_id": session.id, **session.model_dump()},
                                         upsert=True)
        try:
            await self._open.insert_one({"_id": session.vendor_id, "session_id": session.id})
        except DuplicateKeyError:
            winner = await self.current_session(session.vendor_id)
            if winner is not None and winner.id != session.id:
                await self._sessions.delete_one({"_id": session.id, "ended_at": None})
                return winner, False
        return session, True

    async def close_session(self, vendor_id: str, at: float, by: str, ref: str) -> LiveSession | None:
        pointer = await self._open.find_one({"_id": vendor_id})
        if pointer is None:
            return None
        current = await self._get(pointer["session_id"])
        closed = None
        if current is not None:
            closed = await self._sessions.find_one_and_update(
                {"_id": current.id, "ended_at": None},
                {"$set": {"ended_at": max(at, current.started_at), "ended_by": by, "stop_ref": ref}},
                return_document=ReturnDocument.AFTER)
        await self._open.delete_one({"_id": vendor_id, "session_id": pointer["session_id"]})
        return _session(closed)

    async def save_summary(self, session_id: str, summary: dict[str, Any]) -> None:
        await self._sessions.update_one({"_id": session_id}, {"$set": {"summary": summary}})

    async def current_session(self, vendor_id: str) -> LiveSession | None:
        pointer = await self._open.find_one({"_id": vendor_id})
        return await self._get(pointer["session_id"]) if pointer else None

    async def sessions(self, vendor_id: str, limit: int = 50) -> list[LiveSession]:
        docs = self._sessions.find({"vendor_id": vendor_id}).sort("started_at", DESCENDING).limit(limit)
        current = await self.current_session(vendor_id)
        out = [s async for d in docs if (s := _session(d)) is not None]
        # a session whose pointer insert lost a race (or a crash) is not a live
        return [s for s in out if not s.open or (current is not None and s.id == current.id)]

    async def save_change(self, change: CatalogueChange) -> None:
        key = f"{change.vendor_id}:{change.code}"
        await self._changes.replace_one({"_id": key}, {"_id": key, **change.model_dump()}, upsert=True)

    async def changes(self, vendor_id: str) -> list[CatalogueChange]:
        docs = self._changes.find({"vendor_id": vendor_id}).sort("code", ASCENDING)
        return [CatalogueChange.model_validate({k: v for k, v in d.items() if k != "_id"}) async for d in docs]

    async def drop_change(self, vendor_id: str, code: str) -> None:
        await self._changes.delete_one({"_id": f"{vendor_id}:{code}"})
