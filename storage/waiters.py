"""Callers waiting for one shared outcome (a group commit, a tick's acks), each on a future of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

# One future per caller, settled together, instead of one shared future behind an `asyncio.shield` per
# caller: a cancelled caller still cancels only its own wait, and a shield cost ~1.5 µs a wait.


def settle(waiters: Iterable[asyncio.Future[None]], exc: BaseException | None = None) -> None:
    """Tell each caller still waiting (a cancelled one is done already) how the shared step went."""
    for waiter in waiters:
        if not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)
