"""Fixtures of the multi-process tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis_server import start_redis


@pytest.fixture
def own_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A redis-server of this test's own, even when the suite shares one (REDIS_URL)."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    url, stop = start_redis()
    try:
        yield url
    finally:
        stop()
