"""Operator settings reach the parts they configure."""

from __future__ import annotations

import pytest

from bot.runtime import make_store
from bot.settings import Settings


async def test_mongodb_write_concern_setting_reaches_the_store() -> None:
    settings = Settings.from_env({"MONGODB_URI": "mongodb://127.0.0.1:1/",
                                  "PALABRE_MONGODB_WRITE_CONCERN": "w=1&j=false"})
    store = make_store(settings)
    assert store.write_concern.document == {"w": 1, "j": False}  # type: ignore[attr-defined]
    default = make_store(Settings.from_env({"MONGODB_URI": "mongodb://127.0.0.1:1/"}))
    assert default.write_concern.document["w"] == "majority"  # type: ignore[attr-defined]


def test_a_misspelt_write_concern_is_refused() -> None:
    with pytest.raises(ValueError, match="write concern"):
        make_store(Settings.from_env({"MONGODB_URI": "mongodb://127.0.0.1:1/",
                                      "PALABRE_MONGODB_WRITE_CONCERN": "w=majority&jounral=true"}))
