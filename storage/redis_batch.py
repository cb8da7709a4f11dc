"""Auto-pipelining for redis-py's asyncio client: commands of concurrent tasks share one round trip."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from hiredis import pack_command
from redis.commands.core import AsyncScript
from redis.exceptions import DataError, NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeout

__all__ = ["AutoPipeline"]

# A batch larger than this is sent as several pipelines, so one burst cannot build an unbounded buffer.
MAX_BATCH = 1024
# How long one pipeline (its write and every reply) may take before its connection counts as dead: redis-py's
# own per-command socket timeout, applied once per pipeline.
PIPELINE_TIMEOUT = 5.0


class AutoPipeline:
    """Sends the commands issued by concurrent callers together, as ioredis' auto-pipelining does.

    One pipeline is in flight at a time; every command issued meanwhile joins the next one. An idle
    client therefore sends a command at once (no added latency), while under load many webhooks, acks,
    delivery claims and token buckets cost one write and one read instead of one each, which on a
    loaded machine is most of what a small Redis command costs. Commands reach Redis in the order they
    were issued; each caller gets its own command's reply or exception. A caller cancelled while its
    command is queued or in flight does not stop the command: like any Redis call it may have run.

    Replies are Redis' own (decoded to str, as the client's `decode_responses`), without redis-py's
    per-command reply callbacks: SET answers "OK" or None, XREADGROUP nested lists. Commands are packed
    by hiredis in one C call each: redis-py's packer encodes every argument in Python, which cost more
    than the rest of a small command's round trip (a 64-stream XREADGROUP has 136 arguments).
    A pipeline with no answer within `timeout` seconds fails with redis' TimeoutError (its connection is
    dropped), so a blocking command must block for less.
    """

    def __init__(self, redis: aioredis.Redis, *, timeout: float = PIPELINE_TIMEOUT) -> None:
        self.redis = redis
        self.timeout = timeout
        # One connection of its own (one pipeline is in flight at a time), like `redis`'s but without a socket
        # timeout: redis-py times every write and every reply separately (a task per write), where one deadline
        # per pipeline bounds the same wait. Kept, not taken from a pool per pipeline; reconnected when dropped.
        pool = redis.connection_pool
        self._conn = pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": None})
        self._waiting: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._running: asyncio.Task[None] | None = None

    async def execute(self, *args: Any) -> Any:
        """Run one command (its name and arguments: str, bytes, int or float) in the next pipeline."""
        return await self.submit(*args)

    def submit(self, *args: Any) -> asyncio.Future[Any]:
        """Queue one command for the next pipeline; the future gets its reply (await several with gather)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((args, future))
        if self._running is None:
            self._running = asyncio.ensure_future(self._run())
        return future

    async def script(self, script: AsyncScript, keys: list[Any], args: list[Any]) -> Any:
        """EVALSHA of a registered script in the next pipeline; loads it first if Redis lost it (restart)."""
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.redis.script_load(script.script)
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                await self._send(batch)
        finally:
            self._running = None

    async def _send(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        chunks: list[bytes] = []
        futures: list[asyncio.Future[Any]] = []
        for args, future in batch:
            try:
                chunks.append(pack_command(args))
            except TypeError as exc:  # an argument of a type Redis has no form for: that command only
                _settle(future, DataError(str(exc)))
                continue
            futures.append(future)
        if not futures:
            return
        packed = b"".join(chunks)
        conn = self._conn
        try:
            async with asyncio.timeout(self.timeout):
                replies = await _exchange(conn, packed, len(futures))
        except BaseException as exc:
            # Replies may still be on their way: the connection cannot serve another pipeline as it is.
            await conn.disconnect(nowait=True)
            if isinstance(exc, asyncio.CancelledError):
                raise
            if isinstance(exc, TimeoutError) and not isinstance(exc, RedisTimeout):
                exc = RedisTimeout(f"no reply from Redis within {self.timeout:g} s")
            # The connection failed: no command's outcome is known.
            for future in futures:
                _settle(future, exc)
            return
        for future, reply in zip(futures, replies, strict=True):
            _settle(future, reply)

    async def close(self) -> None:
        await self._conn.disconnect()


async def _exchange(conn: Any, packed: bytes, count: int) -> list[Any]:
    """Write the packed commands, then read their `count` replies (an error reply is returned, not raised)."""
    await conn.send_packed_command(packed, check_health=False)
    replies: list[Any] = []
    for _ in range(count):
        try:
            replies.append(await conn.read_response())
        except ResponseError as exc:
            replies.append(exc)
    return replies


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.done():  # its caller was cancelled
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
