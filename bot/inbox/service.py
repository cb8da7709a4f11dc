"""What agents do in the inbox: claim, assign, reply on the buyer's channel, note, release, resolve, snooze, label.

Every action is checked against the thread's state, written with optimistic concurrency, audited and
published on the live-update bus.
"""

from __future__ import annotations

import uuid

from bot.http import ApiError
from bot.inbox import texts
from bot.inbox.handoff import HandoffSide
from bot.inbox.roles import AGENT_ROLES
from bot.inbox.users import Caller
from channels import Button, Reply
from storage import Message, TurnWrite
from storage.inbox import LastMessage, Note, Thread


class Inbox(HandoffSide):
    """The inbox of one process: its store, its live-update bus, and what agents can do."""

    async def thread_for(self, caller: Caller, conversation_id: str) -> Thread:
        """The thread, or 404 when it does not exist or belongs to a vendor the caller does not work for."""
        thread = await self.store.get_thread(conversation_id)
        if thread is None or not caller.sees(thread.vendor_id):
            raise ApiError(404, "not_found", "no such conversation in the inbox")
        return thread

    async def claim(self, caller: Caller, conversation_id: str) -> Thread:
        thread = await self.thread_for(caller, conversation_id)

        def change(t: Thread) -> None:
            if t.status == "resolved":
                raise ApiError(409, "resolved", "this conversation is resolved")
            if t.assignee and t.assignee != caller.name and not caller.can("assignments", "update"):
                raise ApiError(409, "already_claimed", f"{t.assignee} already handles this conversation")
            t.assignee, t.status, t.snoozed_until = caller.name, "assigned", None

        thread = await self._change(thread.id, change)
        await self._audit(caller.name, "claim", thread)
        await self._publish("assignment", thread)
        return thread

    async def assign(self, caller: Caller, conversation_id: str, user: str | None) -> Thread:
        thread = await self.thread_for(caller, conversation_id)
        if user is not None:
            agent = await self.store.get_agent(user)
            if agent is None or not agent.active or agent.role not in AGENT_ROLES:
                raise ApiError(400, "unknown_user", f"no active agent named {user[:64]!r} who can reply to buyers")
            if not Caller(agent).sees(thread.vendor_id):
                raise ApiError(400, "wrong_vendor", f"{user} does not work for vendor {thread.vendor_id}")

        def change(t: Thread) -> None:
            if t.status == "resolved":
                raise ApiError(409, "resolved", "this conversation is resolved")
            t.assignee = user
            t.status = "assigned" if user else "open"
            t.snoozed_until = None

        thread = await self._change(thread.id, change)
        await self._audit(caller.name, "assign", thread, user=user)
        await self._publish("assignment", thread)
        return thread

    async def reply(self, caller: Caller, conversation_id: str, text: str, buttons: list[Button]) -> Message:
        """Send the agent's message on the buyer's own channel, through the outbox."""
        thread = await self.thread_for(caller, conversation_id)
        conv = await self._conversation(thread.id)
        if not conv.handoff or thread.csat_pending:
            raise ApiError(409, "not_in_handoff", "the bot owns this conversation again: claim a new handoff first")
        text = await self.expand(text, thread.vendor_id)

        def change(t: Thread) -> None:
            if t.assignee and t.assignee != caller.name and not caller.can("assignments", "update"):
                raise ApiError(409, "already_claimed", f"{t.assignee} handles this conversation")
            at = self.now()
            if not t.assignee:  # answering a conversation is taking it
                t.assignee, t.status = caller.name, "assigned"
            t.first_response_at = t.first_response_at or at
            t.waiting_since, t.alerted = None, False
            t.last_message = LastMessage(text=text, direction="agent", at=at)

        thread = await self._change(thread.id, change)
        reply = Reply(text=text, buttons=buttons, data={"agent": caller.name})
        thread_data = conv.slots.get("_thread")
        if isinstance(thread_data, dict):  # e-mail threading, as the bot's own replies carry it
            reply.data.update({k: v for k, v in thread_data.items() if v})
        write = TurnWrite(event_id=f"inbox:{uuid.uuid4().hex}")
        message = self._outbound(write, conv, reply, "agent")
        await self.rt.store.commit_turn(write)
        self.rt.delivery.submit(write.outbox)
        await self._audit(caller.name, "reply", thread, message=message.id)
        await self._publish("message", thread)
        return message

    async def note(self, caller: Caller, conversation_id: str, text: str) -> Note:
        thread = await self.thread_for(caller, conversation_id)
        note = Note(id=uuid.uuid4().hex, conversation_id=thread.id, author=caller.name, text=text,
                    created_at=self.now())
        await self.store.add_note(note)
        await self._audit(caller.name, "note", thread, note=note.id)
        await self._publish("note", thread)
        return note

    async def release(self, caller: Caller, conversation_id: str) -> Thread:
        """Back to the bot: the dialog resumes at its initial state on the buyer's next message."""
        thread = await self.thread_for(caller, conversation_id)
        if thread.status == "resolved":
            raise ApiError(409, "resolved", "this conversation is resolved")
        # The bot first: a buyer's message arriving in between is then answered by the bot, and does
        # not find a handed-over conversation with a resolved thread (which would reopen it).
        await self._give_back(thread.id, [], "release")

        def change(t: Thread) -> None:
            t.status, t.resolved_at, t.waiting_since, t.snoozed_until = "resolved", self.now(), None, None
            t.csat_pending = False

        thread = await self._change(thread.id, change)
        await self._audit(caller.name, "release", thread)
        await self._publish("status", thread)
        return thread

    async def resolve(self, caller: Caller, conversation_id: str) -> Thread:
        """Close the thread and ask the buyer for a 1–5 score; the bot takes over once they answer."""
        thread = await self.thread_for(caller, conversation_id)
        conv = await self._conversation(thread.id)

        def change(t: Thread) -> None:
            if t.status == "resolved":
                raise ApiError(409, "resolved", "this conversation is already resolved")
            t.status, t.resolved_at, t.waiting_since, t.snoozed_until = "resolved", self.now(), None, None
            t.csat_pending = conv.handoff

        thread = await self._change(thread.id, change)
        if thread.csat_pending:
            question = texts.csat_question(conv.locale)
            await self._update_conversation(thread.id, lambda c: c.slots.update(
                _csat=True, _choices=[b.id for b in question.buttons]), [question], "survey")
        await self._audit(caller.name, "resolve", thread)
        await self._publish("status", thread)
        return thread

    async def snooze(self, caller: Caller, conversation_id: str, until: float | None) -> Thread:
        thread = await self.thread_for(caller, conversation_id)

        def change(t: Thread) -> None:
            if t.status == "resolved":
                raise ApiError(409, "resolved", "this conversation is resolved")
            t.status, t.snoozed_until = "snoozed", until

        thread = await self._change(thread.id, change)
        await self._audit(caller.name, "snooze", thread, until=until)
        await self._publish("status", thread)
        return thread

    async def set_labels(self, caller: Caller, conversation_id: str, labels: list[str]) -> Thread:
        thread = await self.thread_for(caller, conversation_id)
        clean = sorted({label.strip().lower() for label in labels if label.strip()})

        def change(t: Thread) -> None:
            t.labels = clean

        thread = await self._change(thread.id, change)
        await self._audit(caller.name, "labels", thread, labels=clean)
        await self._publish("labels", thread)
        return thread

    async def expand(self, text: str, vendor_id: str) -> str:
        """A reply that is exactly `/shortcut` becomes that canned reply's text."""
        word = text.strip()
        if word.startswith("/") and " " not in word:
            for canned in await self.store.list_canned([vendor_id]):
                if canned.shortcut == word[1:] and canned.vendor_id in (None, vendor_id):
                    return canned.text
        return text

