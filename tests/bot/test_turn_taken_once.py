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


async def test_a_turn_cut_short_after_its_conversation_was_written_still_answers_the_buyer_and_keeps_its_timer(
    start_server, bot_api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A process SIGKILLed right after a turn's conversation write (MongoDB writes the turn's documents one by
    # one) left the reply, the buyer's messages and the reservation's expiry timer unwritten; the process that
    # ran the event again saw it already taken and only marked it processed: the buyer was never answered and
    # the unit stayed held for good. Seen in tests/cluster/test_partitions.py. Here a first server runs the
    # turn, and a second one starts on a store holding only what that crash left: the event and the conversation.
    vendors = telegram_vendor(tmp_path, bot_api.base, monkeypatch)
    first: Server = await start_server(vendors, store="mongo")
    chat = 5123456790
    assert await post_update(first, message(11, "ROBE1", chat)) == 200
    await wait_calls(bot_api, 1)
    await first.runtime.pipeline.idle()
    conversation = f"demo:telegram:{chat}"
    left = {"conversations": await first.runtime.store._conversations.find_one({"_id": conversation}),
            "events": await first.runtime.store._events.find_one({"_id": "tg:demo:11"})}

    second: Server = await start_server(vendors, store="mongo")
    store = second.runtime.store
    await store._conversations.insert_one(left["conversations"])
    await store._events.insert_one({**left["events"], "processed": False})
    answered = len(bot_api.sent(chat))

    assert await second.runtime.pipeline.recover() == 1
    await second.runtime.pipeline.idle()
    await second.runtime.delivery.idle()

    again = [m["text"] for m in bot_api.sent(chat)[answered:]]
    assert len(again) == 1 and "ROBE1" in again[0], again
    assert await store.is_processed("tg:demo:11")
    assert await store.due_timers(2e9), "the reservation's expiry timer is written"
    assert [m.direction for m in await store.transcript(conversation)] == ["in", "out"]
