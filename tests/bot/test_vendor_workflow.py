"""The vendor workflow as a new vendor lives it: the YAML owns names and prices, stock is set by a
command or the admin API, and a changed vendor file is reloaded without a restart."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import yaml

from bot.runtime import Runtime, load_vendors
from bot.settings import Settings
from storage.embedded import EmbeddedStore
from tests.conftest import EXAMPLES, ROOT, ServerFactory, eventually, free_port, plain


def demo_folder(tmp_path: Path, name: str = "vendors") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(EXAMPLES / "demo.yaml", folder / "demo.yaml")
    return folder


def edit_product(folder: Path, code: str, **changes: object) -> None:
    path = folder / "demo.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for product in data["catalogue"]:
        if product["code"] == code:
            product.update(changes)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


async def start(folder: Path, data_dir: Path) -> Runtime:
    settings = Settings.from_env({}, data_dir=str(data_dir), vendors_dir=str(folder),
                                 timer_interval=3600.0, outbox_interval=3600.0)
    rt = Runtime(settings, load_vendors(str(folder)), store=EmbeddedStore(data_dir))
    await rt.start()
    return rt


async def test_a_changed_price_or_name_in_the_yaml_is_not_ignored_after_the_first_start(tmp_path: Path) -> None:
    folder, data = demo_folder(tmp_path), tmp_path / "data"
    rt = await start(folder, data)
    first = await rt.store.get_product("demo", "ROBE1")
    assert first is not None
    await rt.store.set_stock("demo", "ROBE1", 2)  # what sales and `palabre stock` leave
    await rt.stop()

    edit_product(folder, "ROBE1", name="Robe Wax Ankara (nouvelle collection)", price=first.price + 2500,
                 description="Coton 100 %", stock=50)
    rt = await start(folder, data)
    try:
        product = await rt.store.get_product("demo", "ROBE1")
        assert product is not None
        assert product.name == "Robe Wax Ankara (nouvelle collection)"
        assert product.price == first.price + 2500 and product.description == "Coton 100 %"
        assert product.stock == 2  # the YAML's stock is the first stock only: sales are not undone by a restart
    finally:
        await rt.stop()


ADMIN = {"Authorization": "Bearer admin-token-1234"}


async def test_the_admin_api_sets_a_products_stock_and_refuses_bad_input(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    server = await start_server(demo_folder(tmp_path), admin_token="admin-token-1234")
    url = f"{server.url}/api/admin/vendors/demo/products/robe1/stock"
    async with server.http.put(url, json={"stock": 7}, headers=ADMIN) as r:
        assert r.status == 200 and await r.json() == {"vendor": "demo", "code": "ROBE1", "stock": 7}
    await server.say("+221770000301", "ROBE1")  # one reserved: the stock set above is what is on sale
    product = await server.runtime.store.get_product("demo", "ROBE1")
    assert product is not None and product.stock == 6
    for body, status, code in (({"stock": -1}, 400, "invalid_stock"), ({"stock": "dix"}, 400, "invalid_stock"),
                               ({"stock": 1.5}, 400, "invalid_stock"), ({}, 400, "invalid_body")):
        async with server.http.put(url, json=body, headers=ADMIN) as r:
            assert r.status == status and (await r.json())["error"]["code"] == code
    async with server.http.put(f"{server.url}/api/admin/vendors/demo/products/NOPE/stock", json={"stock": 1},
                               headers=ADMIN) as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "unknown_product"
    async with server.http.put(url, json={"stock": 1}) as r:
        assert r.status == 401


def palabre(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


async def test_palabre_stock_sets_the_stock_in_the_store_and_through_a_running_server(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    folder, data = demo_folder(tmp_path), tmp_path / "data"
    rt = await start(folder, data)
    await rt.stop()
    done = palabre("stock", "demo", "robe1", "12", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    assert "ROBE1: stock 12" in done.stdout
    refused = palabre("stock", "demo", "NOPE", "3", "--data-dir", str(data))
    assert refused.returncode == 1 and "no product 'NOPE'" in refused.stderr
    assert palabre("stock", "demo", "ROBE1", "-3", "--data-dir", str(data)).returncode == 2

    server = await start_server(folder, admin_token="admin-token-1234")
    remote = await asyncio.to_thread(palabre, "stock", "demo", "ROBE1", "4", "--url", server.url,
                                     env={"PALABRE_ADMIN_TOKEN": "admin-token-1234"})
    assert remote.returncode == 0, remote.stderr
    product = await server.runtime.store.get_product("demo", "ROBE1")
    assert product is not None and product.stock == 4


async def test_a_vendor_file_is_reloaded_without_a_restart_and_a_broken_one_is_refused(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    folder = demo_folder(tmp_path)
    server = await start_server(folder, admin_token="admin-token-1234")
    edit_product(folder, "ROBE1", price=21000, name="Robe Wax Deluxe")
    reload_url = f"{server.url}/api/admin/vendors/reload"
    async with server.http.post(reload_url, headers=ADMIN) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["vendors"] == ["demo"]
    answer = await server.say("+221770000302", "ROBE1")
    text = plain(" ".join(r["text"] for r in answer["replies"]))
    assert "Robe Wax Deluxe" in text and "21 000 F CFA" in text

    good = (folder / "demo.yaml").read_text(encoding="utf-8")
    (folder / "demo.yaml").write_text(good.replace("segment: live_seller", "segment: no_such_segment"),
                                      encoding="utf-8")
    async with server.http.post(reload_url, headers=ADMIN) as r:
        assert r.status == 422
        error = (await r.json())["error"]
        assert error["code"] == "invalid_vendor_files" and "no_such_segment" in error["message"]
    answer = await server.say("+221770000303", "ROBE1")  # the running vendor is kept
    assert "Robe Wax Deluxe" in plain(" ".join(r["text"] for r in answer["replies"]))
    async with server.http.post(reload_url) as r:
        assert r.status == 401


async def test_sighup_reloads_the_vendor_files_of_a_running_server(tmp_path: Path) -> None:
    folder = demo_folder(tmp_path)
    port = free_port()
    env = {**os.environ, "PALABRE_PORT": str(port), "PALABRE_HOST": "127.0.0.1",
           "PALABRE_DATA_DIR": str(tmp_path / "data"), "PALABRE_VENDORS_DIR": str(folder)}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", cwd=ROOT, env=env,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            async def ready() -> bool:
                try:
                    async with http.get(f"{base}/readyz") as r:
                        return r.status == 200
                except aiohttp.ClientError:
                    return False

            async def offer(sender: str) -> str:
                async with http.post(f"{base}/simulator/demo/messages", json={"from": sender, "text": "ROBE1"}) as r:
                    return plain(" ".join(x["text"] for x in (await r.json())["replies"]))

            await eventually(ready, timeout=60)
            edit_product(folder, "ROBE1", price=19500)
            proc.send_signal(signal.SIGHUP)
            n = 0

            async def new_price() -> bool:
                nonlocal n
                n += 1
                return "19 500 F CFA" in await offer(f"+2217700004{n:02d}")

            await eventually(new_price, timeout=30)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


async def test_bad_input_to_the_new_routes_gets_a_json_4xx_never_a_500(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    server = await start_server(demo_folder(tmp_path), admin_token="admin-token-1234")
    stock = f"{server.url}/api/admin/vendors/demo/products/ROBE1/stock"
    json_headers = {**ADMIN, "Content-Type": "application/json"}
    bodies = [b"", b"{", b"null", b"[]", b'"12"', b'{"stock": null}', b'{"stock": 1e400}', b'{"stock": 99999999999}',
              b'{"stock": "1\\u0000"}', b'{"stock": true}', b"[" * 5000 + b"]" * 5000, "{\"stock\": \"١٢\"}".encode()]
    for body in bodies:
        async with server.http.put(stock, data=body, headers=json_headers) as r:
            assert 400 <= r.status < 500, (body[:40], r.status)
            assert "code" in (await r.json())["error"]
    async with server.http.put(stock, data=b"stock=3", headers={**ADMIN, "Content-Type": "text/plain"}) as r:
        assert r.status == 415
    for path in ("/api/admin/vendors/demo/products/%00/stock", "/api/admin/vendors/ghost/products/ROBE1/stock",
                 "/api/admin/vendors/demo/products/" + "A" * 5000 + "/stock"):
        async with server.http.put(server.url + path, json={"stock": 1}, headers=ADMIN) as r:
            assert 400 <= r.status < 500 and "error" in await r.json()
    for path in ("/quotes/%00.pdf", "/quotes/" + "a" * 5000 + ".pdf", "/quotes/..%2F..%2Fdata.pdf", "/quotes/.pdf"):
        async with server.http.get(server.url + path) as r:
            assert 400 <= r.status < 500 and "error" in await r.json()
    async with server.http.post(f"{server.url}/api/admin/vendors/reload", data=b"\xff" * 100, headers=ADMIN) as r:
        assert r.status == 200  # the body is not read: the folder is what is reloaded


async def test_a_product_dropped_from_the_file_is_no_longer_listed_or_sold_but_its_order_is_paid(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    folder = demo_folder(tmp_path)
    server = await start_server(folder, admin_token="admin-token-1234")
    holder, other = "+221770000311", "+221770000312"

    async def say(buyer: str, text: str | None = None, payload: str | None = None) -> str:
        replies = (await server.say(buyer, text, payload))["replies"]
        rows = [row["title"] for r in replies for section in r.get("list", []) for row in section["rows"]]
        return plain(" ".join([*(r["text"] or "" for r in replies), *rows]))

    assert "Sac en cuir" in await say(other, "menu")
    assert "Réservé" in await say(holder, "SAC2")
    await say(holder, payload="pay")
    link = next(w for w in (await say(holder, payload="wave")).split() if "/pay/" in w)

    path = folder / "demo.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["catalogue"] = [p for p in data["catalogue"] if p["code"] != "SAC2"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    async with server.http.post(f"{server.url}/api/admin/vendors/reload", headers=ADMIN) as r:
        assert r.status == 200 and (await r.json())["withdrawn"] == ["demo:SAC2"]

    menu = await say(other, "menu")
    assert "Sac en cuir" not in menu and "Robe Wax Ankara" in menu
    assert "Réservé" not in await say(other, "SAC2")
    product = await server.runtime.store.get_product("demo", "SAC2")
    assert product is not None and product.stock == 0
    # the order taken before the reload is still paid and confirmed
    async with server.http.post(link, data={"outcome": "paid"}) as r:
        assert r.status == 200

    async def receipt() -> bool:
        return any("Paiement reçu" in plain(m["text"] or "") for m in await server.transcript(holder))

    await eventually(receipt)
