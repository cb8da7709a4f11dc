"""A reply's claim and its rate-limit tokens in one step: claimed once, and tokens taken all or none."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from storage.coordination import Coordinator, InProcessCoordinator, RedisCoordinator


@pytest.fixture(params=["in-process", "redis"])
async def coordinator(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Coordinator]:
    if request.param == "in-process":
        made: Coordinator = InProcessCoordinator()
    else:
        made = RedisCoordinator(redis_url, prefix=f"palabre-test-claims-{uuid.uuid4().hex[:8]}:")
    try:
        yield made
    finally:
        await made.close()


async def test_a_reply_claimed_by_many_senders_at_once_goes_to_exactly_one(coordinator: Coordinator) -> None:
    buckets = [("rcpt:telegram:shop:b1", 1.0, 3), ("send:telegram:shop", 30.0, 30)]

    results = await asyncio.gather(*(coordinator.claim_and_take("outbox:e1:0:0.0", 300.0, buckets)
                                     for _ in range(20)))

    assert sorted(r is None for r in results) == [False] + [True] * 19
    assert [r for r in results if r is not None] == [0.0]


async def test_a_reply_held_back_by_the_buyers_limit_leaves_the_numbers_token_to_others(
        coordinator: Coordinator) -> None:
    buyer, number = ("rcpt:telegram:shop:b2", 0.5, 1), ("send:telegram:shop:2", 1.0, 1)
    assert await coordinator.acquire_tokens(*buyer) == 0.0  # the buyer just got a reply

    wait = await coordinator.claim_and_take("outbox:e2:0:0.0", 300.0, [buyer, number])

    assert wait is not None and 1.0 < wait <= 2.0  # claimed, and told how long the buyer's bucket needs
    # The number's only token was not spent on a reply that could not go out: another buyer gets it now.
    assert await coordinator.acquire_tokens(*number) == 0.0
    # The claim holds meanwhile: nobody else sends this version of the entry.
    assert await coordinator.claim_and_take("outbox:e2:0:0.0", 300.0, [number]) is None


async def test_replies_claimed_in_the_same_instant_are_each_answered_as_if_claimed_alone(
        coordinator: Coordinator) -> None:
    buyer = ("rcpt:telegram:shop:b3", 0.5, 1)  # one token, the next in 2 s
    number = ("send:telegram:shop:3", 100.0, 100)

    first, again, second, unpaced = await asyncio.gather(
        coordinator.claim_and_take("outbox:e3:0:0.0", 300.0, [buyer, number]),
        coordinator.claim_and_take("outbox:e3:0:0.0", 300.0, [buyer, number]),
        coordinator.claim_and_take("outbox:e4:0:0.0", 300.0, [buyer, number]),
        coordinator.claim_and_take("outbox:e5:0:0.0", 300.0, []))

    assert first == 0.0  # claimed with the buyer's only token
    assert again is None  # the same version: claimed already, nothing taken
    assert second is not None and 1.0 < second <= 2.0  # claimed, waits for the buyer's next token
    assert unpaced == 0.0
    # The number gave exactly one token (to the first reply): 99 are left of its 100.
    assert await coordinator.acquire_tokens(number[0], number[1], number[2], 99) == 0.0
    assert await coordinator.acquire_tokens(number[0], number[1], number[2], 1) > 0.0
