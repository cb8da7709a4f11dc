"""Live inbox updates: a publish/subscribe bus, in-process for one process, Redis pub/sub across several.

Delivery is best effort (a page that misses an update still shows the truth on its next load): a
subscriber too slow to keep up loses the oldest updates rather than slowing publishers down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

log = logging.getLogger("palabre.inbox")

QUEUE_SIZE = 256
CHANNEL = "palabre:inbox:events"


class EventBus:
    """In-process bus: every subscriber of this process gets every update published in it."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[dict[str, Any]]] = set()

    async def start(self) -> None:
        """Start listening (nothing to do in-process)."""

    def hang_up(self) -> None:
        """End every subscription of this process (the server is shutting down)."""
        for queue in self._queues:
            _put(queue, {"type": "bye"})

    async def close(self) -> None:
        self.hang_up()

    async def publish(self, update: dict[str, Any]) -> None:
        self._fan_out(update)

    def _fan_out(self, update: dict[str, Any]) -> None:
        for queue in list(self._queues):
            _put(queue, update)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._queues)


def _put(queue: asyncio.Queue[dict[str, Any]], update: dict[str, Any]) -> None:
    if queue.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
    queue.put_nowait(update)


class RedisEventBus(EventBus):
    """Updates go through one Redis channel; one listener task per process fans them out to its subscribers,
    so an agent connected to any process sees a handoff that happened in another."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        super().__init__()
        self._redis: aioredis.Redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._channel = channel
        self._listener: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen())
        # Subscribed before serving, so an update published right after start-up is not missed;
        # bounded, so a Redis that is down delays start-up by at most a few seconds.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout=5)

    async def close(self) -> None:
        await super().close()
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        await self._redis.aclose()

    async def publish(self, update: dict[str, Any]) -> None:
        try:
            await self._redis.publish(self._channel, json.dumps(update))
        except (aioredis.RedisError, OSError) as exc:
            # Local subscribers still hear it; other processes' pages catch up on their next load.
            log.warning("inbox update not published to Redis (%s); delivered in this process only",
                        type(exc).__name__)
            self._fan_out(update)

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._ready.set()
                delay = 0.1
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        update = json.loads(message["data"])
                    except (TypeError, ValueError):
                        continue
                    if isinstance(update, dict):
                        self._fan_out(update)
            except asyncio.CancelledError:
                raise
            except (aioredis.RedisError, OSError) as exc:
                log.warning("inbox updates: Redis subscription lost (%s); retrying in %.1f s", type(exc).__name__,
                            delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


def make_bus(redis_url: str | None) -> EventBus:
    return RedisEventBus(redis_url) if redis_url else EventBus()
