"""Auto-pipelining for redis-py's asyncio client: commands of concurrent tasks share one round trip."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

__all__ = ["AutoPipeline"]

# A batch larger than this is sent as several pipelines, so one burst cannot build an unbounded buffer.
MAX_BATCH = 1024


class AutoPipeline:
    """Sends the commands issued by concurrent callers together, as ioredis' auto-pipelining does.

    One pipeline is in flight at a time; every command issued meanwhile joins the next one. An idle
    client therefore sends a command at once (no added latency), while under load many webhooks, acks,
    delivery claims and token buckets cost one write and one read instead of one each, which on a
    loaded machine is most of what a small Redis command costs. Commands reach Redis in the order they
    were issued; each caller gets its own command's reply or exception. A caller cancelled while its
    command is queued or in flight does not stop the command: like any Redis call it may have run.
    """

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._waiting: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]] = []
        self._running: asyncio.Task[None] | None = None

    async def execute(self, *args: Any, **options: Any) -> Any:
        """Run one command (as `Redis.execute_command`) in the next pipeline; returns its reply."""
        return await self.submit(*args, **options)

    def submit(self, *args: Any, **options: Any) -> asyncio.Future[Any]:
        """Queue one command for the next pipeline; the future gets its reply (await several with gather)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((args, options, future))
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

    async def _send(self, batch: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]]) -> None:
        if len(batch) == 1:
            args, options, future = batch[0]
            try:
                result = await self.redis.execute_command(*args, **options)
            except Exception as exc:
                _settle(future, exc)
            else:
                _settle(future, result)
            return
        pipe = self.redis.pipeline(transaction=False)
        for args, options, _ in batch:
            pipe.execute_command(*args, **options)
        try:
            results = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # the connection failed: no command's outcome is known
            for _, _, future in batch:
                _settle(future, exc)
            return
        for (_, _, future), result in zip(batch, results, strict=True):
            _settle(future, result)


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.done():  # its caller was cancelled
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
