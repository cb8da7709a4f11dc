"""Durable timers: due rows in the store become system events through the normal pipeline."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.pipeline import IntakeUnavailable, Pipeline
from storage import Store


class TimerWorker:
    """Polls the store for due timers. Firing is idempotent: the event id is the timer id, so a
    timer fired twice (two processes, or a crash before its row is deleted) runs one turn.

    A timer's row is deleted only once its event is durable in the inbox; from there the pipeline
    retries a failing turn in process (a payment confirmation or an expiry needs no restart).
    """

    def __init__(self, store: Store, pipeline: Pipeline, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.pipeline = pipeline
        self.clock = clock

    async def fire_due(self) -> int:
        timers = await self.store.due_timers(self.clock(), limit=500)
        if timers:
            try:
                await self.pipeline.ingest([t.event for t in timers])
            except IntakeUnavailable:
                return 0  # already logged; the rows stay due and the next sweep fires them
            for t in timers:
                await self.store.delete_timer(t.id)
        return len(timers)
