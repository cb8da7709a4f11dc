"""MongoStore's conversations: inbound events, turns, messages and their status, the outbox, timers, dead letters."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from channels import Event
from storage.base import ConflictError
from storage.dead_letters import DeadLetter, unloadable
from storage.mongo.database import MongoDatabase, insert_new, load_record, record_doc
from storage.records import CHANNELS, STATUS_REPLACES, Conversation, Message, OutboxEntry, Timer, TurnWrite

# The conversation document's copy of its last turn's other writes (never part of the Conversation record).
PENDING = "_turn_rest"


class ConversationRecords(MongoDatabase):
    """Events, conversations, messages, outbox entries, timers and dead letters (collections of the same names)."""

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
        return await insert_new(self._events, docs)

    async def is_processed(self, event_id: str) -> bool:
        doc = await self._events.find_one({"_id": event_id}, {"processed": 1})
        return bool(doc and doc.get("processed"))

    async def unprocessed_events(self, limit: int = 1000) -> list[Event]:
        cursor = self._events.find({"processed": False}).sort("seq", ASCENDING).limit(limit)
        return [Event.model_validate(d["event"]) for d in await cursor.to_list(None)]

    # conversations and turns
    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        doc = await self._conversations.find_one({"_id": conversation_id})
        return load_record(Conversation, doc) if doc else None

    async def conversations_with(self, vendor_id: str, address: str) -> list[Conversation]:
        ids = [f"{vendor_id}:{channel}:{address}" for channel in CHANNELS]
        found = [load_record(Conversation, d) async for d in self._conversations.find({"_id": {"$in": ids}})]
        return sorted(found, key=lambda c: c.last_inbound_at or 0.0, reverse=True)

    async def commit_turn(self, turn: TurnWrite) -> None:
        if turn.already_taken:
            await self._finish_taken(turn)
            return
        expected = turn.expected_version
        messages = [record_doc(m) for m in turn.messages]
        outbox = [record_doc(o) for o in turn.outbox]
        timers = [record_doc(t) for t in turn.timers]
        # MongoDB writes this turn's documents one by one (no transaction on FerretDB v1): the conversation
        # carries the rest of the turn, so a crash after its write leaves what a rerun needs to finish it.
        rest = {"event_id": turn.event_id, "messages": messages, "outbox": outbox, "timers": timers,
                "cancel_timers": list(turn.cancel_timers)}
        if turn.conversation is not None and expected is None:
            await self._conversations.replace_one(
                {"_id": turn.conversation.id}, record_doc(turn.conversation, **{PENDING: rest}), upsert=True
            )
        elif turn.conversation is not None and expected is not None:
            # One conditional write on the version, first, so a stale turn writes nothing at all: when
            # the version moved the filter matches nothing and the upsert's insert hits the `_id` index.
            try:
                await self._conversations.replace_one(
                    {"_id": turn.conversation.id, "version": expected},
                    record_doc(turn.conversation, version=expected + 1, **{PENDING: rest}),
                    upsert=True,
                )
            except DuplicateKeyError:
                raise ConflictError(f"conversation version moved past {expected}") from None
        await self._write_rest(turn.event_id, messages, outbox, timers, turn.cancel_timers)

    async def _write_rest(self, event_id: str, messages: list[dict[str, Any]], outbox: list[dict[str, Any]],
                          timers: list[dict[str, Any]], cancel_timers: list[str]) -> None:
        """A turn's writes after its conversation's, the event's processed mark last; each keeps what exists."""
        if messages or outbox:
            # One block for the turn; a message that already exists keeps its first seq.
            seqs = iter(await self._allocate("seq", len(messages) + len(outbox)))
            await insert_new(self._messages, [{**d, "seq": next(seqs)} for d in messages])
            await insert_new(self._outbox, [{**d, "seq": next(seqs)} for d in outbox])
        for t in timers:
            await self._timers.replace_one({"_id": t["_id"]}, t, upsert=True)
        if cancel_timers:
            await self._timers.delete_many({"_id": {"$in": list(cancel_timers)}})
        await self._events.update_one({"_id": event_id}, {"$set": {"processed": True}}, upsert=True)

    async def _finish_taken(self, turn: TurnWrite) -> None:
        """A turn whose conversation was written but maybe not the rest (a crash between): the rest is written
        again from the conversation's copy, while no later turn has replaced it."""
        doc = None
        if turn.conversation_id is not None:
            doc = await self._conversations.find_one({"_id": turn.conversation_id}, {PENDING: 1})
        rest = (doc or {}).get(PENDING) or {}
        if rest.get("event_id") != turn.event_id:
            rest = {}
        await self._write_rest(turn.event_id, rest.get("messages", []), rest.get("outbox", []),
                               rest.get("timers", []), rest.get("cancel_timers", []))

    async def transcript(self, conversation_id: str) -> list[Message]:
        cursor = self._messages.find({"conversation_id": conversation_id}).sort("seq", ASCENDING)
        return [load_record(Message, d) for d in await cursor.to_list(None)]

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
        # As the embedded store: a status names what we sent, never a buyer's message.
        return await self._messages.find_one(
            {"provider_message_id": provider_message_id, "status": {"$ne": "received"}}, {"_id": 1}) is not None

    # outbox
    async def pending_outbox(self, now: float, limit: int = 100) -> list[OutboxEntry]:
        cursor = (
            self._outbox.find({"status": "pending", "next_attempt_at": {"$lte": now}})
            .sort([("next_attempt_at", ASCENDING), ("seq", ASCENDING)])
            .limit(limit)
        )
        return [load_record(OutboxEntry, d) for d in await cursor.to_list(None)]

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
        return [load_record(Timer, d) for d in await cursor.to_list(None)]

    async def delete_timer(self, timer_id: str) -> None:
        await self._timers.delete_one({"_id": timer_id})

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
        return [load_record(DeadLetter, d) for d in await cursor.to_list(None)]

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
