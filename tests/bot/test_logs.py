"""`palabre run` at DEBUG: libraries that print payloads stay quiet enough to keep buyers' numbers out."""

from __future__ import annotations

import logging

import pytest

from bot import logs


@pytest.mark.parametrize("library_logger", ["push_response", "redis.asyncio.connection", "redis"])
def test_debug_level_does_not_open_redis_pubsub_payload_logging(library_logger: str) -> None:
    # redis-py's hiredis parser logs each pub/sub message ("Push response: [...]") on `push_response`:
    # at DEBUG that printed inbox updates naming "demo:web:+2217…" conversations.
    root, library = logging.getLogger(), logging.getLogger(library_logger)
    levels = root.level, library.level
    library.setLevel(logging.DEBUG)
    try:
        logs.configure("DEBUG")
        assert logging.getLogger("palabre.pipeline").isEnabledFor(logging.DEBUG)
        assert not library.isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(levels[0])
        library.setLevel(levels[1])
