"""The vendor's catalogue changes and the vendor file: a change stands across restarts and reloads until the
file itself says something new about that product; then the file wins."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import Server, eventually, plain
from tests.live.conftest import ADMIN, ClockedFactory, live_vendor
from tests.live.test_vendor_number import vendor_says


async def price(server: Server, code: str) -> int:
    product = await server.runtime.store.get_product("demo", code)
    assert product is not None
    return product.price


def set_file_price(folder: Path, code: str, value: int) -> None:
    path = folder / "demo.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for product in data["catalogue"]:
        if product["code"] == code:
            product["price"] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


async def reload(server: Server) -> None:
    async with server.http.post(f"{server.url}/api/admin/vendors/reload",
                                headers={"Authorization": f"Bearer {ADMIN}"}) as r:
        assert r.status == 200, await r.text()


async def test_vendor_changes_survive_a_restart_and_a_reload_until_the_file_changes_that_product(
    clocked_server: ClockedFactory, tmp_path: Path
) -> None:
    folder, data = live_vendor(tmp_path), tmp_path / "data"
    server, clock = await clocked_server(folder, data_dir=data)
    await vendor_says(server, "PRIX ROBE1 12000")
    await vendor_says(server, "PRIX SAC2 11000")
    await vendor_says(server, "AJOUT JUPE3 Jupe plissée 9000 4")

    await clocked_server.stop_all()  # type: ignore[attr-defined]
    server, clock = await clocked_server(folder, data_dir=data, clock=clock)

    async def vendor_prices() -> bool:
        return (await price(server, "ROBE1"), await price(server, "SAC2")) == (12000, 11000)

    await eventually(vendor_prices, "the vendor's prices after a restart")
    offer = plain((await server.say("+221770000001", "JUPE3"))["replies"][0]["text"])
    assert "Jupe plissée" in offer and "9 000 F CFA" in offer  # the added product is still known by name

    set_file_price(folder, "ROBE1", 14000)  # the file now says something new about ROBE1, nothing about SAC2
    await reload(server)

    async def file_wins_for_robe1_only() -> bool:
        return (await price(server, "ROBE1"), await price(server, "SAC2")) == (14000, 11000)

    await eventually(file_wins_for_robe1_only, "ROBE1 at the file's new price, SAC2 at the vendor's", timeout=15)
    tries = iter(range(2, 100))

    async def jupe_offered() -> bool:  # a reload keeps the added product too, once its NLU is taught again
        reply = (await server.say(f"+2217700000{next(tries):02d}", "JUPE3"))["replies"][0]
        return "9 000 F CFA" in plain(reply["text"])

    await eventually(jupe_offered, "JUPE3 known again after the reload", timeout=15)
    codes = {c.code for c in await server.runtime.pipeline.turns.vendor_desk.live.changes("demo")}
    assert codes == {"SAC2", "JUPE3"}
