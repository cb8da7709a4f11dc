"""The outbox worker: sends replies through the channel senders with retry, backoff and jitter."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable

from bot.metrics import Metrics
from channels.base import Sender, SendError
from storage import OutboxEntry, Store

log = logging.getLogger("palabre.delivery")


def backoff(attempt: int, base: float = 1.0, cap: float = 300.0, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: a random delay in [0, min(cap, base * 2**attempt)]."""
    return (rng or random).uniform(0, min(cap, base * 2 ** attempt))


class Delivery:
    """Sends outbox entries. Each entry is in flight at most once per process; a failed send is
    rescheduled in the store, so retries survive a restart. Delivery is at-least-once: a crash
    between a send and its record sends again, with the same idempotency key (the entry id).
    """

    def __init__(
        self,
        store: Store,
        senders: dict[str, Sender],  # by "provider:vendor", or by provider for every vendor
        metrics: Metrics,
        *,
        max_attempts: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.senders = senders
        self.metrics = metrics
        self.max_attempts = max_attempts
        self.clock = clock
        self._inflight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, entries: Iterable[OutboxEntry]) -> None:
        for entry in entries:
            if entry.id in self._inflight:
                continue
            self._inflight.add(entry.id)
            task = asyncio.create_task(self._send(entry))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, entry: OutboxEntry) -> None:
        try:
            attempts = entry.attempts + 1
            sender = self.senders.get(f"{entry.provider}:{entry.vendor_id}") or self.senders.get(entry.provider)
            if sender is None:
                await self.store.mark_outbox(entry.id, "failed", attempts=attempts,
                                             error=f"no sender for provider {entry.provider}")
                self.metrics.inc("palabre_replies_failed_total")
                return
            try:
                pmid = await sender.send(entry.recipient, entry.reply, idempotency_key=entry.id)
            except SendError as exc:
                await self._failed(entry, attempts, exc)
                return
            except Exception as exc:  # a sender bug must not lose the reply: retry it later
                log.exception("sender %s crashed on entry=%s", entry.provider, entry.id)
                await self._failed(entry, attempts, SendError(type(exc).__name__))
                return
            await self.store.mark_outbox(entry.id, "sent", attempts=attempts, provider_message_id=pmid)
            self.metrics.inc("palabre_replies_sent_total")
        finally:
            self._inflight.discard(entry.id)

    async def _failed(self, entry: OutboxEntry, attempts: int, exc: SendError) -> None:
        if exc.permanent or attempts >= self.max_attempts:
            await self.store.mark_outbox(entry.id, "failed", attempts=attempts, error=str(exc))
            self.metrics.inc("palabre_replies_failed_total")
            return
        delay = exc.retry_after if exc.retry_after is not None else backoff(attempts)
        await self.store.mark_outbox(entry.id, "pending", attempts=attempts,
                                     next_attempt_at=self.clock() + delay, error=str(exc))
        self.metrics.inc("palabre_replies_retried_total")

    async def sweep(self) -> int:
        """Submit every pending entry that is due (retries, and entries left by a crash)."""
        due = [e for e in await self.store.pending_outbox(self.clock(), limit=500) if e.id not in self._inflight]
        self.submit(due)
        return len(due)

    async def run(self, interval: float) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("outbox sweep failed")
            await asyncio.sleep(interval)

    async def idle(self, timeout: float = 10.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
