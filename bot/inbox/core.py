"""The inbox's core: its store and live-update bus, and the careful writes every inbox action is made of."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.http import ApiError
from bot.inbox.config import InboxSettings
from bot.inbox.events import EventBus, make_bus
from channels import Reply
from dialogs.turn import HANDOFF_REASON_SLOT, HANDOFF_SLOT
from storage import ConflictError, Conversation, Message, OutboxEntry, TurnWrite
from storage.inbox import AuditEntry, InboxConflict, InboxStore, Thread

if TYPE_CHECKING:
    from bot.runtime import Runtime
    from bot.settings import Settings

RETRIES = 5
MAX_TEXT = 4096
# Slots of the bot's dialog that mean nothing once a human has talked with the buyer.
STALE_SLOTS = (HANDOFF_SLOT, HANDOFF_REASON_SLOT, "_misses", "_choices", "_csat")


def make_inbox_store(settings: Settings) -> InboxStore:
    """The inbox next to the conversations: MongoDB when configured, else a SQLite file in the data folder."""
    if settings.mongodb_uri:
        from storage.inbox_mongo import MongoInboxStore

        return MongoInboxStore(settings.mongodb_uri, settings.mongodb_db)
    from storage.inbox_sqlite import SqliteInboxStore

    return SqliteInboxStore(settings.data_dir)


class InboxCore:
    """What every part of the inbox stands on: the runtime, the inbox store, the bus, the settings."""

    def __init__(self, runtime: Runtime, store: InboxStore | None = None, bus: EventBus | None = None) -> None:
        self.rt = runtime
        self.store = store or make_inbox_store(runtime.settings)
        self.bus = bus or make_bus(runtime.settings.redis_url)
        self.settings = InboxSettings.from_env()

    async def start(self) -> None:
        await self.store.start()
        await self.bus.start()

    async def stop(self) -> None:
        await self.bus.close()
        await self.store.close()

    def now(self) -> float:
        return self.rt.clock()

    async def _conversation(self, conversation_id: str) -> Conversation:
        conv = await self.rt.store.get_conversation(conversation_id)
        if conv is None:
            raise ApiError(404, "not_found", "the conversation is not stored")
        return conv

    async def _change(self, conversation_id: str, change: Callable[[Thread], None]) -> Thread:
        """Read, change and write a thread, again if another agent wrote it meanwhile."""
        for _ in range(RETRIES):
            thread = await self.store.get_thread(conversation_id)
            if thread is None:
                raise ApiError(404, "not_found", "no such conversation in the inbox")
            expected = thread.version
            change(thread)
            try:
                return await self.store.save_thread(thread, expected)
            except InboxConflict:
                continue
        raise ApiError(409, "busy", "the conversation keeps changing; try again")

    async def _give_back(self, conversation_id: str, replies: list[Reply], tag: str) -> None:
        def change(conv: Conversation) -> None:
            conv.handoff, conv.assignee = False, None
            vendor = self.rt.vendors.get(conv.vendor_id)
            conv.state = vendor.dialog.spec.initial if vendor else "idle"
            for slot in STALE_SLOTS:
                conv.slots.pop(slot, None)

        await self._update_conversation(conversation_id, change, replies, tag)

    async def _update_conversation(self, conversation_id: str, change: Callable[[Conversation], Any],
                                   replies: list[Reply], tag: str) -> None:
        """Change the conversation as a turn would: under its lock, refused if a turn moved it meanwhile."""
        for _ in range(RETRIES):
            lock = self.rt.coordinator.lock(conversation_id) if self.rt.settings.redis_url else \
                contextlib.nullcontext()
            async with lock:
                conv = await self._conversation(conversation_id)
                expected = conv.version
                change(conv)
                conv.updated_at, conv.version = self.now(), expected + 1
                write = TurnWrite(event_id=f"inbox:{uuid.uuid4().hex}", conversation=conv, expected_version=expected)
                for reply in replies:
                    self._outbound(write, conv, reply, tag)
                try:
                    await self.rt.store.commit_turn(write)
                except ConflictError:
                    continue
            self.rt.delivery.submit(write.outbox)
            return
        raise ApiError(409, "busy", "the conversation keeps changing; try again")

    def _outbound(self, write: TurnWrite, conv: Conversation, reply: Reply, tag: str) -> Message:
        msg_id = f"{write.event_id}:{tag}"
        message = Message(id=msg_id, conversation_id=conv.id, direction="out", text=reply.text, reply=reply,
                          event_id=write.event_id, status="queued", created_at=self.now())
        write.messages.append(message)
        write.outbox.append(OutboxEntry(
            id=msg_id, message_id=msg_id, conversation_id=conv.id, vendor_id=conv.vendor_id, channel=conv.channel,
            provider=conv.provider, recipient=conv.contact.address, reply=reply,
        ))
        return message

    async def _audit(self, actor: str, action: str, thread: Thread, **detail: Any) -> None:
        await self.store.audit(AuditEntry(id=uuid.uuid4().hex, at=self.now(), actor=actor, action=action,
                                          vendor_id=thread.vendor_id, conversation_id=thread.id,
                                          detail={k: v for k, v in detail.items() if v is not None}))

    async def _publish(self, kind: str, thread: Thread) -> None:
        await self.bus.publish({"type": kind, "conversation": thread.id, "vendor": thread.vendor_id,
                                "status": thread.effective_status(self.now()), "assignee": thread.assignee,
                                "origin": os.getpid()})
