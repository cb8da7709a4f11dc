"""A vendor reload reaches every `palabre run` process of a deployment (one database, one Redis): the process
asked reloads, announces it, and the others reload their own folder."""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from pathlib import Path

import aiohttp
import pytest
import yaml

from tests.bot.test_mongo_processes import Palabre
from tests.conftest import EXAMPLES, MONGO_KIND, eventually

pytestmark = pytest.mark.skipif(MONGO_KIND == "mongomock", reason="several processes need a MongoDB server")
TOKEN = "admin-token-reload-1234"


def rename(folder: Path, name: str) -> None:
    path = folder / "demo.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["name"] = name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize("how", ["api", "sighup"])
async def test_a_reload_asked_of_one_process_reaches_the_other(
    how: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "vendors"
    folder.mkdir()
    shutil.copy(EXAMPLES / "demo.yaml", folder / "demo.yaml")
    monkeypatch.setenv("PALABRE_VENDORS_DIR", str(folder))
    monkeypatch.setenv("PALABRE_ADMIN_TOKEN", TOKEN)
    database = f"palabre_test_{uuid.uuid4().hex}"
    asked, other = Palabre(tmp_path, database, redis_url), Palabre(tmp_path, database, redis_url)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            await asked.ready(http, timeout=60)
            await other.ready(http, timeout=60)
            rename(folder, "Boutique Awa Deluxe")
            if how == "api":
                async with http.post(f"{asked.url}/api/admin/vendors/reload",
                                     headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                    assert r.status == 200 and (await r.json())["announced"] is True
            else:
                os.kill(asked.proc.pid, signal.SIGHUP)

            async def page_name(process: Palabre) -> bool:
                async with http.get(f"{process.url}/simulator/demo") as r:  # rendered from that process's vendors
                    return "Boutique Awa Deluxe" in await r.text()

            await eventually(lambda: page_name(asked), "the process asked to reload", timeout=30)
            await eventually(lambda: page_name(other), lambda: f"the other process:\n{other.output()}", timeout=30)
    finally:
        asked.stop()
        other.stop()
