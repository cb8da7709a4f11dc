"""Payment tests: a local fake PSP, and the environment holding the vendor's PSP secrets."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.payments.fakepsp import ENV, FakePSP


@pytest.fixture
async def fake_psp(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakePSP]:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    fake = FakePSP()
    await fake.start()
    yield fake
    await fake.stop()
