"""A turn run again for an event whose conversation already took it answers nothing twice (issue 11 §2)."""

from pathlib import Path

import pytest

from tests.channels.test_telegram import FakeBotApi, bot_api, message, post_update, telegram_vendor, wait_calls
from tests.conftest import Server

__all__ = ["bot_api"]  # the fixture, used by name


async def test_a_turn_rerun_after_its_conversation_was_written_but_before_its_processed_mark_is_not_answered_twice(
    start_server, bot_api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MongoDB writes a turn's documents one by one, the event's processed mark last. A process that checked
    # "processed?" before that mark landed (or a restart after a crash between the two) used to run the turn
    # again on the conversation it had already moved: the buyer got the offer, then "vous avez déjà une
    # réservation". Seen in tests/cluster/test_partitions.py under load.
    server: Server = await start_server(telegram_vendor(tmp_path, bot_api.base, monkeypatch), store="mongo")
    chat = 5123456789
    assert await post_update(server, message(10, "ROBE1", chat)) == 200
    await wait_calls(bot_api, 1)
    await server.runtime.pipeline.idle()
    await server.runtime.delivery.idle()
    store = server.runtime.store
    held = await store.get_product("demo", "ROBE1")
    # The state between the conversation's write and the event's mark: the stored event reads unprocessed.
    await store._events.update_one({"_id": "tg:demo:10"}, {"$set": {"processed": False}})
    assert not await store.is_processed("tg:demo:10")

    assert await server.runtime.pipeline.recover() == 1  # what the next start-up or a takeover runs again
    await server.runtime.pipeline.idle()
    await server.runtime.delivery.idle()

    texts = [m["text"] for m in bot_api.sent(chat)]
    assert len(texts) == 1 and "ROBE1" in texts[0], texts
    assert await store.is_processed("tg:demo:10")
    assert await store.get_product("demo", "ROBE1") == held  # one unit held, not two
