"""The auto-pipeline's own Redis connection: replies in order, the URL's password and database, restarts, timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, NoScriptError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeout

from storage.redis_batch import AutoPipeline
from tests.redis_server import RedisProcess


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RedisProcess]:
    srv = RedisProcess(tmp_path, *getattr(request, "param", ()))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


async def test_commands_issued_together_get_their_own_replies_in_order_and_an_error_stays_with_its_command(
        redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    batch = AutoPipeline(client)
    try:
        await client.delete("rb:n", "rb:text")
        await client.set("rb:text", "not a number")
        futures = [batch.submit("INCR", "rb:n") for _ in range(50)]
        bad = batch.submit("INCR", "rb:text")
        unknown = batch.submit("EVALSHA", "0" * 40, 0)
        last = batch.submit("GET", "rb:n")
        assert await asyncio.gather(*futures) == list(range(1, 51))
        with pytest.raises(ResponseError):
            await bad
        with pytest.raises(NoScriptError):
            await unknown
        assert await last == "50"
        assert await batch.execute("GET", "rb:missing") is None
    finally:
        await batch.close()
        await client.aclose()


@pytest.mark.parametrize("server", [("--requirepass", "s3cret")], indirect=True)
async def test_the_password_and_database_of_the_url_are_used(server: RedisProcess) -> None:
    url = f"redis://:s3cret@127.0.0.1:{server.port}/5"
    client = aioredis.Redis.from_url(url, decode_responses=True)
    batch = AutoPipeline(client)
    wrong = AutoPipeline(aioredis.Redis.from_url(f"redis://:nope@127.0.0.1:{server.port}/0"))
    try:
        assert await batch.execute("SET", "rb:key", "in five") == "OK"
        assert await client.get("rb:key") == "in five"
        assert await aioredis.Redis.from_url(f"redis://:s3cret@127.0.0.1:{server.port}/0").exists("rb:key") == 0
        with pytest.raises(AuthenticationError):  # as redis-py raises it: a connection error, retried
            await asyncio.wait_for(wrong.execute("GET", "rb:key"), 5)
    finally:
        await batch.close()
        await wrong.close()
        await client.aclose()


async def test_after_redis_restarted_empty_commands_are_answered_again_and_scripts_loaded_again(
        server: RedisProcess) -> None:
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{server.port}/0", decode_responses=True)
    batch = AutoPipeline(client)
    script = client.register_script("return redis.call('INCR', KEYS[1])")
    try:
        assert await batch.script(script, ["rb:count"], []) == 1
        server.stop()
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(batch.execute("INCR", "rb:count"), 5)
        server.start()
        assert await asyncio.wait_for(batch.script(script, ["rb:count"], []), 5) == 1  # empty: loaded again
        assert await batch.execute("GET", "rb:count") == "1"
    finally:
        await batch.close()
        await client.aclose()


async def test_a_pipeline_redis_never_answers_fails_with_a_timeout_and_the_next_one_reconnects() -> None:
    connections: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        with contextlib.suppress(ConnectionError):
            await reader.read(1 << 16)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    batch = AutoPipeline(aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0"), timeout=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(RedisTimeout):
            await asyncio.wait_for(batch.execute("PING"), 5)
        assert time.monotonic() - started < 3
        with pytest.raises(RedisTimeout):
            await asyncio.wait_for(batch.execute("PING"), 5)
        assert len(connections) == 2  # the silent connection was dropped, a new one opened
    finally:
        await batch.close()
        server.close()
        for writer in connections:
            writer.close()
        await server.wait_closed()
