"""A reservation run again after a crash finds the unit it already holds, even when that was the last one."""

from pathlib import Path

import pytest

from bot.commerce import derived_id
from tests.channels.test_telegram import FakeBotApi, bot_api, message, post_update, telegram_vendor, wait_calls
from tests.conftest import Server

__all__ = ["bot_api"]  # the fixture, used by name


@pytest.fixture(params=["embedded", "mongo"])
async def one_left(request: pytest.FixtureRequest, start_server, bot_api: FakeBotApi, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> Server:
    """A Telegram shop on each store whose ROBE1 has one unit left."""
    server: Server = await start_server(telegram_vendor(tmp_path, bot_api.base, monkeypatch), store=request.param)
    await server.runtime.store.set_stock("demo", "ROBE1", 1)
    return server


async def test_a_turn_run_again_after_its_hold_took_the_last_unit_offers_it_instead_of_sold_out(
    one_left: Server, bot_api: FakeBotApi
) -> None:
    # A reservation reads the product and whether its own hold exists in one read, and a product read as sold
    # out with no hold of its own is answered "sold out" without a stock change. A process that crashed after
    # the hold was written and before the turn's commit left exactly that: the event unprocessed, its hold on
    # the last unit, the stock at 0. The turn run again must find its hold and offer the unit.
    shop = one_left.runtime.store
    order_id = derived_id("o", "tg:demo:31")  # the order id the turn of update 31 derives
    assert await shop.reserve_stock("demo", "ROBE1", 1, order_id)

    assert await post_update(one_left, message(31, "ROBE1", 5123456731)) == 200
    await wait_calls(bot_api, 1)
    await one_left.runtime.pipeline.idle()

    texts = [m["text"] for m in bot_api.sent(5123456731)]
    assert len(texts) == 1 and "Réservé" in texts[0] and "épuisé" not in texts[0], texts
    order = await shop.get_order(order_id)
    assert order is not None and order.status == "reserved" and order.product_code == "ROBE1"
    assert (await shop.get_product("demo", "ROBE1")).stock == 0  # the one unit, held once


async def test_a_buyer_after_the_last_unit_is_told_sold_out_and_the_stock_stays_at_zero(
    one_left: Server, bot_api: FakeBotApi
) -> None:
    for update, chat in ((41, 5123456741), (42, 5123456742)):
        assert await post_update(one_left, message(update, "ROBE1", chat)) == 200
        await wait_calls(bot_api, update - 40)
    await one_left.runtime.pipeline.idle()

    first, second = bot_api.sent(5123456741), bot_api.sent(5123456742)
    assert len(first) == 1 and "Réservé" in first[0]["text"], first
    assert len(second) == 1 and "épuisé" in second[0]["text"], second
    shop = one_left.runtime.store
    assert await shop.get_order(derived_id("o", "tg:demo:42")) is None
    assert (await shop.get_product("demo", "ROBE1")).stock == 0


async def test_a_new_quantity_moves_the_held_units_and_one_the_stock_cannot_cover_changes_nothing(
    one_left: Server, bot_api: FakeBotApi
) -> None:
    shop, chat = one_left.runtime.store, 5123456751
    await shop.set_stock("demo", "ROBE1", 3)
    steps = [(51, "ROBE1", 2, None), (52, "ok je prends 2", 1, "× 2"), (53, "je prends 5", 1, "reste"),
             (54, "je prends 1", 2, "Réservé")]
    for number, (update, text, stock, shown) in enumerate(steps, start=1):
        assert await post_update(one_left, message(update, text, chat)) == 200
        await wait_calls(bot_api, number)
        await one_left.runtime.pipeline.idle()
        assert (await shop.get_product("demo", "ROBE1")).stock == stock, text
        assert shown is None or shown in bot_api.sent(chat)[-1]["text"], bot_api.sent(chat)[-1]
    first, second, refused, last = [await shop.get_order(derived_id("o", f"tg:demo:{u}")) for u in (51, 52, 53, 54)]
    assert first.status == "cancelled" and second.status == "cancelled" and refused is None
    assert last.status == "reserved" and last.quantity == 1
