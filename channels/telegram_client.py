"""A lean keep-alive HTTP/1.1 client for the Bot API: JSON POSTs to one host, httptools' C parser.

aiohttp's ClientSession spent ~75 µs of CPU per Bot API call (URL, headers, cookie jar, tracing, timers
built anew for every request): at 2.2 calls per update, the largest single share of a live sale's CPU.
Sending to one host needs none of that; this client writes one pre-built request per call on a reused
connection and reads the answer with the parser uvicorn uses (bench/RESULTS.md, docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from urllib.parse import urlsplit

import httptools

from channels.deadlines import Deadlines

# How long an unused connection is kept: below the 60-90 s after which servers and proxies drop them,
# so a request rarely meets a connection the other end has just closed.
IDLE_SECONDS = 15.0


class ExchangeError(ConnectionError):
    """The request got no complete answer: the connection dropped, or the answer was not HTTP."""


class _Connection(asyncio.Protocol):
    """One connection; one exchange at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.closed = False
        self.idle_since = 0.0
        self.headers_done = False
        self.delimited = False  # the answer says where its body ends (Content-Length or chunked)

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # bytes nobody asked for: the connection's state is unknown, drop it
            self.abort()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(ExchangeError("the answer is not HTTP/1.1"))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and self.headers_done and not self.delimited:
            self.on_message_complete()  # an HTTP/1.0-style answer: its body ends with the connection
        else:
            self._fail(ExchangeError("the connection closed before the answer was complete"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self.delimited = True

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        if not self.parser.should_keep_alive():
            self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), b"".join(self.body)))

    # used by the client
    def start(self, waiter: asyncio.Future[tuple[int, bytes]], request: bytes) -> None:
        self.waiter, self.body, self.headers_done, self.delimited = waiter, [], False, False
        self.transport.write(request)  # type: ignore[union-attr]

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class BotApiClient:
    """POSTs JSON to `base_url` + a path, over at most `limit` keep-alive connections.

    `post` returns (status, body) for any complete answer, whatever its status; it raises ExchangeError
    (an OSError) when the connection fails or drops mid-exchange, TimeoutError past `timeout` seconds.
    Such a request is not retried here: the caller's outbox retries it, as it does any failed send.
    """

    def __init__(self, base_url: str, *, timeout: float = 20.0, limit: int = 100,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._tls = url.scheme == "https"
        self._prefix = url.path.rstrip("/") + "/"
        self._host_header = url.netloc.rpartition("@")[2]
        self._timeout = timeout
        self._deadlines = Deadlines(timeout)  # one timer for every call in flight, not one per call
        self._limit = limit
        self._idle: list[_Connection] = []
        self._busy: set[_Connection] = set()
        self._slots: asyncio.Semaphore | None = None
        self._heads: dict[str, bytes] = {}
        self._ssl = ssl_context  # None: the system's CAs, made on the first https connection

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = self._heads.get(path)
        if head is None:
            head = self._heads[path] = (
                f"POST {self._prefix}{path} HTTP/1.1\r\nHost: {self._host_header}\r\n"
                "Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: "
            ).encode()
        request = b"%s%d\r\n\r\n%s" % (head, len(body), body)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._limit)
        async with self._slots:
            loop = asyncio.get_running_loop()
            conn = self._take_idle(time.monotonic())
            if conn is None:
                conn = await self._connect(loop)
            waiter: asyncio.Future[tuple[int, bytes]] = loop.create_future()
            self._deadlines.expire(waiter)
            self._busy.add(conn)
            try:
                conn.start(waiter, request)
                answer = await waiter
            except BaseException:
                conn.abort()  # left mid-exchange (timeout, drop, cancelled): its next bytes belong to no one
                raise
            finally:
                self._deadlines.discard(waiter)
                self._busy.discard(conn)
            if not conn.closed:
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
            return answer

    def _take_idle(self, now: float) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()  # the most recently used: the least likely to have been closed by the server
            if not conn.closed and now - conn.idle_since < IDLE_SECONDS:
                return conn
            conn.abort()
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        if self._tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        async with asyncio.timeout(self._timeout):
            _, conn = await loop.create_connection(
                _Connection, self._host, self._port, ssl=self._ssl if self._tls else None,
                server_hostname=self._host if self._tls else None)
        return conn

    async def close(self) -> None:
        for conn in [*self._idle, *self._busy]:
            conn.abort()
        self._idle.clear()
        self._busy.clear()
