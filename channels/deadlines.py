"""Timeouts of one fixed length that share one loop timer, instead of a timer per wait."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from types import TracebackType

# How late a wait may expire, as a share of its length: a 10 s deadline is enforced within 10–11.25 s.
SLACK = 8


class Deadlines:
    """Expires waits `seconds` after they began; one timer, ticking every `seconds / SLACK` while any is pending.

    A loop timer per wait (`call_later` + cancel, or `asyncio.timeout`) costs 1.5–4 µs on uvloop, paid by
    every webhook and every Bot API call although nearly none expires; an entry here costs ~0.2 µs. All
    waits have the same length, so the oldest entry (a dict keeps insertion order) is the next to expire.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._waits: dict[object, tuple[float, Callable[[], None]]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, key: object, on_expiry: Callable[[], None]) -> None:
        """Call `on_expiry` once `seconds` have passed, unless `key` is discarded first."""
        self._waits[key] = (time.monotonic() + self.seconds, on_expiry)
        loop = asyncio.get_running_loop()
        if self._timer is None or self._loop is not loop:  # none yet, or one left on a closed loop
            self._loop = loop
            self._timer = loop.call_later(self.seconds / SLACK, self._check)

    def discard(self, key: object) -> None:
        self._waits.pop(key, None)

    def expire(self, waiter: asyncio.Future[object]) -> None:
        """Fail `waiter` with TimeoutError at the deadline if it is still pending (discard it when done)."""
        self.add(waiter, lambda: waiter.done() or waiter.set_exception(TimeoutError()))

    def guard(self) -> _Guard:
        """`async with deadlines.guard():` — TimeoutError when the block outlives the deadline (asyncio.timeout's
        contract: the current task is cancelled and the cancellation turned into TimeoutError)."""
        return _Guard(self)

    def _check(self) -> None:
        now = time.monotonic()
        expired = []
        for key, (deadline, _) in self._waits.items():
            if deadline > now:
                break
            expired.append(key)
        ends = [self._waits.pop(key)[1] for key in expired]
        # The next tick first: an expiry that raises must not leave the waits after it unwatched.
        self._timer = self._loop.call_later(self.seconds / SLACK, self._check) \
            if self._waits and self._loop is not None and not self._loop.is_closed() else None
        for end in ends:
            with contextlib.suppress(RuntimeError):  # a wait left on a loop since closed
                end()


class _Guard:
    __slots__ = ("_cancelling", "_deadlines", "_task", "expired")

    def __init__(self, deadlines: Deadlines) -> None:
        self._deadlines = deadlines
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self.expired = False

    async def __aenter__(self) -> _Guard:
        task = self._task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Deadlines.guard() must be used inside a task")
        self._cancelling = task.cancelling()
        self._deadlines.add(self, self._expire)
        return self

    def _expire(self) -> None:
        if self._task is not None and not self._task.done():
            self.expired = True
            self._task.cancel()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._deadlines.discard(self)
        if self.expired and exc_type is asyncio.CancelledError and self._task is not None \
                and self._task.uncancel() <= self._cancelling:
            raise TimeoutError() from exc
