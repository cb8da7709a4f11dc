"""The daily summary: at the vendor's hour, once a day (a durable timer, one per day whatever restarts),
with the figures of the last 24 hours."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.conftest import Server, eventually, plain
from tests.live.conftest import ClockedFactory, live_vendor
from tests.live.test_vendor_number import VENDOR, buy


async def dailies(server: Server) -> list[str]:
    texts = [plain(m["text"]) for m in await server.transcript(VENDOR)]
    return [t for t in texts if "Bilan des dernières 24 h" in t]


async def test_the_daily_summary_comes_at_the_vendors_hour_once_a_day_across_a_restart(
    clocked_server: ClockedFactory, tmp_path: Path
) -> None:
    hour = (time.gmtime().tm_hour + 2) % 24  # Africa/Dakar is UTC: two hours from now at most, over one hour
    vendors = live_vendor(tmp_path, daily_summary_hour=hour)
    data = tmp_path / "data"
    server, clock = await clocked_server(vendors, data_dir=data)
    await buy(server, "+221770000001")
    await buy(server, "+221770000002", "SAC2")
    await server.say("+221770000003", "FOULARD1")  # left to expire
    clock.travel(16 * 60)  # the hour is over an hour away

    async def expired() -> bool:
        return [o.status for o in await server.runtime.store.vendor_orders("demo")].count("expired") == 1

    await eventually(expired, "the reservation to expire")
    timers = [t for t in await server.runtime.store.due_timers(clock() + 3 * 86400) if t.id.startswith("daily")]
    assert len(timers) == 1 and time.gmtime(timers[0].due_at).tm_hour == hour
    clock.travel(timers[0].due_at - clock() + 1)

    async def one() -> bool:
        return len(await dailies(server)) == 1

    await eventually(one, "the daily summary")
    (text,) = await dailies(server)
    assert "Chiffre d'affaires : 27 500 F CFA" in text  # 15 000 + 12 500
    assert "Commandes : 3 — payées 2, expirées 1" in text
    assert "Acheteurs : 3 — 3 nouveau(x), 0 fidèle(s)" in text

    # a restart on the same files does not send today's summary again; tomorrow's comes once
    await clocked_server.stop_all()  # type: ignore[attr-defined]
    server, clock = await clocked_server(vendors, data_dir=data, clock=clock)
    await asyncio.sleep(0.5)
    assert len(await dailies(server)) == 1
    (nxt,) = [t for t in await server.runtime.store.due_timers(clock() + 3 * 86400) if t.id.startswith("daily")]
    assert 86_000 < nxt.due_at - timers[0].due_at < 86_800
    clock.travel(nxt.due_at - clock() + 1)

    async def two() -> bool:
        return len(await dailies(server)) == 2

    await eventually(two, "the next day's summary")
    assert "Commandes : 0" in (await dailies(server))[1]
