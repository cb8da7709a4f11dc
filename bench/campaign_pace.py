"""Broadcast 1 000 WhatsApp templates at a set rate against a local fake Meta API; one line: achieved pace."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import yaml
from aiohttp import web

from bot.campaigns.contacts import import_contacts
from bot.campaigns.service import command, create
from bot.runtime import Runtime, load_vendors
from bot.settings import Settings
from storage.campaigns import CampaignSettings, CampaignTemplate, TemplateVariable, WhatsAppTemplate

SENDS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
RATE = float(sys.argv[2]) if len(sys.argv) > 2 else 50.0
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def main() -> None:
    times: list[float] = []

    async def messages(request: web.Request) -> web.Response:
        await request.read()
        times.append(time.monotonic())
        return web.json_response({"messages": [{"id": f"wamid.{len(times)}"}]})

    port = free_port()
    app = web.Application()
    app.router.add_post("/{version}/{pnid}/messages", messages)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    os.environ.update({"BENCH_WA_TOKEN": "t", "BENCH_WA_SECRET": "s", "BENCH_WA_VERIFY": "v"})
    with tempfile.TemporaryDirectory() as tmp:
        vendors = Path(tmp) / "vendors"
        vendors.mkdir()
        demo = yaml.safe_load((ROOT / "examples" / "vendors" / "demo.yaml").read_text(encoding="utf-8"))
        demo["channels"] = {"meta": {"phone_number_id": 109876543210987, "access_token": "${BENCH_WA_TOKEN}",
                                     "app_secret": "${BENCH_WA_SECRET}", "verify_token": "${BENCH_WA_VERIFY}",
                                     "api_base_url": f"http://127.0.0.1:{port}"}}
        (vendors / "demo.yaml").write_text(yaml.safe_dump(demo, allow_unicode=True), encoding="utf-8")
        settings = Settings.from_env({}, data_dir=str(Path(tmp) / "data"), vendors_dir=str(vendors),
                                     log_level="WARNING")
        rt = Runtime(settings, load_vendors(str(vendors)))
        await rt.start()
        try:
            store = rt.campaigns.store
            rows = "phone;tags;opt_in\n" + "".join(f"77{i:07d};bench;oui\n" for i in range(SENDS))
            await import_contacts(rows.encode(), "demo", store, region="SN")
            await store.save_template(CampaignTemplate(
                vendor_id="demo", name="bench", variables=[TemplateVariable(field="name", default="client")],
                whatsapp=WhatsAppTemplate(name="bench", components=[{"type": "body", "text": "Bonjour {{1}}"}])))
            await store.save_settings(CampaignSettings(vendor_id="demo", night_allowed=True))
            campaign = await create(store, "demo", {"template": "bench", "tag": "bench", "rate": RATE}, time.time())
            await command(store, campaign, "start", time.time())
            deadline = time.monotonic() + SENDS / RATE * 3 + 30
            while len(times) < SENDS and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        finally:
            await rt.stop()
            await runner.cleanup()
    if len(times) < 2:
        print(f"campaign_pace sends={len(times)}/{SENDS} FAILED")
        return
    achieved = (len(times) - 1) / (times[-1] - times[0])
    error = (achieved - RATE) / RATE * 100
    print(f"campaign_pace sends={len(times)}/{SENDS} rate={RATE:g}/s achieved={achieved:.2f}/s "
          f"error={error:+.2f}% target=±2% {'ok' if abs(error) <= 2 else 'OFF'}")


if __name__ == "__main__":
    asyncio.run(main())
