"""Shared deadlines: a wait past its deadline fails with TimeoutError, one that ends in time is left alone."""

from __future__ import annotations

import asyncio
import time

import pytest

from channels.deadlines import SLACK, Deadlines


async def test_a_block_that_outlives_its_deadline_raises_timeout_and_the_task_goes_on() -> None:
    deadlines = Deadlines(0.2)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with deadlines.guard():
            await asyncio.sleep(5)
    took = time.monotonic() - started
    assert 0.2 <= took < 0.2 + 2 * 0.2 / SLACK + 0.2  # at the deadline, at most a tick late
    await asyncio.sleep(0.01)  # the task is not left cancelled: it can await again
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_block_that_ends_in_time_is_never_cancelled_afterwards() -> None:
    deadlines = Deadlines(0.1)
    async with deadlines.guard():
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)  # well past the deadline: no late cancellation lands here
    waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    deadlines.expire(waiter)  # type: ignore[arg-type]
    waiter.set_result(1)
    deadlines.discard(waiter)
    await asyncio.sleep(0.3)
    assert waiter.result() == 1


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    deadlines = Deadlines(10)

    async def guarded() -> None:
        async with deadlines.guard():
            await asyncio.sleep(5)

    task = asyncio.create_task(guarded())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_each_pending_future_fails_at_its_own_deadline() -> None:
    deadlines = Deadlines(0.2)
    loop = asyncio.get_running_loop()
    first: asyncio.Future[bytes] = loop.create_future()
    deadlines.expire(first)  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    second: asyncio.Future[bytes] = loop.create_future()
    deadlines.expire(second)  # type: ignore[arg-type]
    await asyncio.sleep(0.1 + 2 * 0.2 / SLACK)
    assert isinstance(first.exception(), TimeoutError)
    assert not second.done()  # about half its time left
    await asyncio.sleep(0.1 + 2 * 0.2 / SLACK)
    assert isinstance(second.exception(), TimeoutError)
