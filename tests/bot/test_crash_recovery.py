"""A SIGKILLed server loses nothing it acknowledged: after restart each event gets exactly one reply,
and reservations whose timers fell due while it was down expire and return their stock."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import yaml

from tests.conftest import EXAMPLES, ROOT, free_port


def write_vendors(tmp_path: Path) -> Path:
    vendors = tmp_path / "vendors"
    vendors.mkdir()
    demo = yaml.safe_load((EXAMPLES / "demo.yaml").read_text(encoding="utf-8"))
    demo["catalogue"][0]["stock"] = 50
    (vendors / "demo.yaml").write_text(yaml.safe_dump(demo, allow_unicode=True), encoding="utf-8")
    flash = {**demo, "id": "flash", "settings": {"reservation_minutes": 0.05}}  # 3-second reservations
    flash["catalogue"] = [{**demo["catalogue"][0], "stock": 1}]
    (vendors / "flash.yaml").write_text(yaml.safe_dump(flash, allow_unicode=True), encoding="utf-8")
    return vendors


class ServerProcess:
    def __init__(self, vendors: Path, data_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "PALABRE_TIMER_INTERVAL": "0.1", "PALABRE_LOG_LEVEL": "WARNING"}
        env.pop("REDIS_URL", None)
        env.pop("MONGODB_URI", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(self.port),
             "--vendors", str(vendors), "--data-dir", str(data_dir)],
            cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        )

    async def ready(self, http: aiohttp.ClientSession, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                async with http.get(f"{self.url}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"server did not start:\n{self.log.read_text()}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


async def transcripts(http: aiohttp.ClientSession, url: str, vendor: str, buyers: list[str]) -> dict[str, list]:
    out = {}
    for b in buyers:
        async with http.get(f"{url}/simulator/{vendor}/messages", params={"contact": b}) as r:
            out[b] = (await r.json())["messages"]
    return out


async def test_sigkill_with_100_acknowledged_events_in_flight(tmp_path: Path) -> None:
    vendors, data, log = write_vendors(tmp_path), tmp_path / "data", tmp_path / "server.log"
    buyers = [f"+2217720{i:05d}" for i in range(100)]
    flash_buyer = "+221779999999"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        first = ServerProcess(vendors, data, log)
        try:
            await first.ready(http)
            # A reservation whose 3-second timer will fall due while the server is down.
            async with http.post(f"{first.url}/simulator/flash/messages",
                                 json={"from": flash_buyer, "text": "ROBE1"}) as r:
                assert "Réservé" in (await r.json())["replies"][0]["text"]

            async def send(buyer: str) -> int:
                async with http.post(f"{first.url}/simulator/demo/messages?wait=false",
                                     json={"from": buyer, "text": "ROBE1"}) as r:
                    return r.status

            statuses = await asyncio.gather(*(send(b) for b in buyers))
            assert statuses == [202] * 100  # all 100 acknowledged...
            first.kill()  # ...and the server dies at once, with turns still running
        finally:
            first.stop()
        await asyncio.sleep(3.5)  # the flash reservation falls due while nothing runs

        second = ServerProcess(vendors, data, log)
        try:
            await second.ready(http)
            deadline = time.monotonic() + 20
            while True:
                seen = await transcripts(http, second.url, "demo", buyers)
                if all(sum(m["direction"] == "out" for m in t) >= 1 for t in seen.values()):
                    break
                assert time.monotonic() < deadline, "some acknowledged events never got a reply"
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)  # give any duplicate a chance to show up
            seen = await transcripts(http, second.url, "demo", buyers)
            outs = {b: [m["text"] for m in t if m["direction"] == "out"] for b, t in seen.items()}
            assert all(len(o) == 1 for o in outs.values()), {b: o for b, o in outs.items() if len(o) != 1}
            assert all(sum(m["direction"] == "in" for m in t) == 1 for t in seen.values())
            offers = sum("Réservé" in o[0] for o in outs.values())
            sold_out = sum("épuisé" in o[0] for o in outs.values())
            assert (offers, sold_out) == (50, 50)  # never oversold, never doubled

            deadline = time.monotonic() + 10
            while True:
                flash = (await transcripts(http, second.url, "flash", [flash_buyer]))[flash_buyer]
                if any("a expiré" in (m["text"] or "") for m in flash):
                    break
                assert time.monotonic() < deadline, flash
                await asyncio.sleep(0.1)
            async with http.post(f"{second.url}/simulator/flash/messages",
                                 json={"from": "+221778888888", "text": "ROBE1"}) as r:
                assert "Réservé" in (await r.json())["replies"][0]["text"]  # the unit came back
        finally:
            second.stop()
    # The kill really caught turns in flight: the restart had acknowledged events left to process.
    recovered = [line for line in log.read_text().splitlines() if "recovered" in line]
    assert recovered and int(recovered[0].split("recovered ")[1].split()[0]) > 0
