"""Auto-pipelining on one Redis connection of its own: commands of concurrent tasks share one round trip."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from typing import Any

import hiredis
import redis.asyncio as aioredis
from hiredis import pack_command
from redis.commands.core import AsyncScript
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    DataError,
    NoScriptError,
    ReadOnlyError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeout

__all__ = ["AutoPipeline"]

# A batch larger than this is sent as several pipelines, so one burst cannot build an unbounded buffer.
MAX_BATCH = 1024
# How long one pipeline (its write and every reply) may take before its connection counts as dead: redis-py's
# own per-command socket timeout, applied once per pipeline.
PIPELINE_TIMEOUT = 5.0
# Error replies that redis-py raises as their own classes, which callers tell apart (a restarted Redis still
# loading is transient; a lost script is loaded again).
_ERRORS: tuple[tuple[str, type[Exception]], ...] = (
    ("NOSCRIPT", NoScriptError), ("LOADING", BusyLoadingError), ("READONLY", ReadOnlyError),
    ("NOAUTH", AuthenticationError), ("WRONGPASS", AuthenticationError))


def _reply_error(message: str) -> Exception:
    for prefix, cls in _ERRORS:
        if message.startswith(prefix):
            return cls(message)
    return ResponseError(message)


def _handshake(kwargs: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The commands a new connection starts with: AUTH and SELECT as the URL asks."""
    commands: list[tuple[Any, ...]] = []
    if kwargs.get("password"):
        user = (kwargs["username"],) if kwargs.get("username") else ()
        commands.append(("AUTH", *user, kwargs["password"]))
    if kwargs.get("db"):
        commands.append(("SELECT", kwargs["db"]))
    return commands


class _Resp(asyncio.Protocol):
    """One connection: replies parsed by hiredis as they arrive, handed to the pipeline in order."""

    def __init__(self, owner: AutoPipeline, encoding: str | None) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        options: dict[str, Any] = {"encoding": encoding} if encoding else {}
        self.reader = hiredis.Reader(replyError=_reply_error, **options)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                self.owner._reply(self, reply)
        except hiredis.ProtocolError:
            self.owner._drop(self, RedisConnectionError("Redis sent something that is not RESP"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._drop(self, RedisConnectionError("the connection to Redis was lost"))


class AutoPipeline:
    """Sends the commands issued by concurrent callers together, as ioredis' auto-pipelining does.

    One pipeline is in flight at a time; every command issued meanwhile joins the next one, written as
    soon as the last reply of the one before arrives. An idle client therefore sends a command at the end
    of the current event-loop tick (no added latency), while under load many webhooks, acks, delivery
    claims and token buckets cost one write and one read instead of one each, which on a loaded machine
    is most of what a small Redis command costs. Commands reach Redis in the order they were issued; each
    caller gets its own command's reply or exception. A caller cancelled while its command is queued or in
    flight does not stop the command: like any Redis call it may have run.

    The connection is this object's own (an asyncio protocol; hiredis packs the commands and parses the
    replies in C), opened from `redis`'s URL settings (host and port or unix path, TLS, user, password,
    database) and opened again after a failure. redis-py's connection cost more in Python than the
    commands themselves: a reply read per command with its checks, a task and a timeout scope per
    pipeline. Replies are Redis' own RESP2 ones (decoded to str as the client's `decode_responses`),
    without redis-py's per-command reply callbacks: SET answers "OK" or None, XREADGROUP nested lists; an
    error reply raises as redis-py would (ResponseError, NoScriptError, BusyLoadingError, ReadOnlyError,
    AuthenticationError).
    A pipeline with no answer within `timeout` seconds fails with redis' TimeoutError and its connection
    is dropped, so a blocking command must block for less; a lost connection fails the commands in flight
    with redis' ConnectionError (whether they ran is unknown).
    """

    def __init__(self, redis: aioredis.Redis, *, timeout: float = PIPELINE_TIMEOUT) -> None:
        self.redis = redis
        self.timeout = timeout
        pool = redis.connection_pool
        kwargs = pool.connection_kwargs
        self._path: str | None = kwargs.get("path")
        self._host, self._port = kwargs.get("host", "localhost"), int(kwargs.get("port", 6379))
        # TLS as the client would have it (rediss://): its connection class builds the context from the URL.
        conn = pool.connection_class(**kwargs)
        context = getattr(conn, "ssl_context", None)
        self._ssl = context.get() if context is not None else None
        self._handshake = _handshake(kwargs)
        self._encoding = kwargs.get("encoding", "utf-8") if kwargs.get("decode_responses") else None
        self._resp: _Resp | None = None
        self._waiting: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._inflight: deque[asyncio.Future[Any]] = deque()
        self._deadline: asyncio.TimerHandle | None = None
        self._scheduled = False
        self._connecting: asyncio.Task[None] | None = None
        self._closed = False

    async def execute(self, *args: Any) -> Any:
        """Run one command (its name and arguments: str, bytes, int or float) in the next pipeline."""
        return await self.submit(*args)

    def submit(self, *args: Any) -> asyncio.Future[Any]:
        """Queue one command for the next pipeline; the future gets its reply (await several with gather)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((args, future))
        if not self._scheduled and not self._inflight and self._connecting is None:
            # Written at the end of this tick, so the commands issued in the same tick share the write.
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    async def script(self, script: AsyncScript, keys: list[Any], args: list[Any]) -> Any:
        """EVALSHA of a registered script in the next pipeline; loads it first if Redis lost it (restart)."""
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.redis.script_load(script.script)
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)

    async def close(self) -> None:
        self._closed = True
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(BaseException):
                await self._connecting
        if self._resp is not None:
            self._drop(self._resp, RedisConnectionError("the Redis client was closed"))
        self._fail_waiting(RedisConnectionError("the Redis client was closed"))

    # the pipeline
    def _flush(self) -> None:
        self._scheduled = False
        if self._inflight or self._connecting is not None or not self._waiting:
            return
        if self._closed:
            self._fail_waiting(RedisConnectionError("the Redis client was closed"))
            return
        if self._resp is None:
            self._connecting = asyncio.ensure_future(self._connect())
            return
        batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
        chunks: list[bytes] = []
        for args, future in batch:
            try:
                chunks.append(pack_command(args))
            except TypeError as exc:  # an argument of a type Redis has no form for: that command only
                _settle(future, DataError(str(exc)))
                continue
            self._inflight.append(future)
        if not self._inflight:
            self._flush()  # every command of this batch was refused: on to the next one
            return
        self._deadline = asyncio.get_running_loop().call_later(self.timeout, self._expire, self._resp)
        self._resp.transport.write(b"".join(chunks))  # type: ignore[union-attr]

    def _reply(self, resp: _Resp, reply: Any) -> None:
        if resp is not self._resp or not self._inflight:
            return  # a reply nobody waits for (the connection is being dropped): ignore it
        _settle(self._inflight.popleft(), reply)
        if not self._inflight:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            if self._waiting:
                self._flush()

    def _expire(self, resp: _Resp) -> None:
        self._drop(resp, RedisTimeout(f"no reply from Redis within {self.timeout:g} s"))

    def _drop(self, resp: _Resp, exc: Exception) -> None:
        """The connection failed: no command in flight has a known outcome; the next batch reconnects."""
        if resp is not self._resp:
            return
        self._resp = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if resp.transport is not None:
            resp.transport.abort()
        inflight, self._inflight = self._inflight, deque()
        for future in inflight:
            _settle(future, exc)
        if self._waiting and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        resp: _Resp | None = None
        try:
            async with asyncio.timeout(self.timeout):
                make = functools.partial(_Resp, self, self._encoding)
                if self._path is not None:
                    _, resp = await loop.create_unix_connection(make, self._path)
                else:
                    _, resp = await loop.create_connection(
                        make, self._host, self._port, ssl=self._ssl,
                        server_hostname=self._host if self._ssl is not None else None)
                self._resp = resp
                if self._handshake:
                    futures = [loop.create_future() for _ in self._handshake]
                    self._inflight.extend(futures)
                    resp.transport.write(b"".join(pack_command(args) for args in self._handshake))  # type: ignore[union-attr]
                    for outcome in await asyncio.gather(*futures, return_exceptions=True):
                        if isinstance(outcome, BaseException):
                            raise outcome
        except BaseException as exc:
            if resp is not None:
                self._drop(resp, RedisConnectionError("the Redis handshake failed"))
            self._connecting = None
            if isinstance(exc, asyncio.CancelledError):
                raise
            failure: Exception
            if isinstance(exc, RedisConnectionError | ResponseError):
                failure = exc
            elif isinstance(exc, TimeoutError):
                failure = RedisTimeout(f"Redis did not accept a connection within {self.timeout:g} s")
            else:
                failure = RedisConnectionError(f"cannot reach Redis: {type(exc).__name__}")
            self._fail_waiting(failure)
            return
        self._connecting = None
        self._flush()

    def _fail_waiting(self, exc: Exception) -> None:
        waiting, self._waiting = self._waiting, []
        for _, future in waiting:
            _settle(future, exc)


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.done():  # its caller was cancelled
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
