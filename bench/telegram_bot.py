"""Palabre as a bot under ../shared/bench's live-sale harness: Telegram webhook, BENCH_* settings."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import yaml
from aiohttp import web

from bot.app import create_app, tune_collector
from bot.http.webhooks.telegram import handle_telegram
from bot.runtime import Runtime, load_vendors, server_loop
from bot.settings import Settings


def vendor_yaml(stock: int, code: str) -> dict:
    return {
        "id": "bench", "name": "Bench Shop", "segment": "live_seller", "locale": "fr",
        "catalogue": [{"code": code, "name": "Robe Wax Ankara", "price": 15000, "stock": stock}],
        "channels": {"telegram": {"bot_token": "${BENCH_BOT_TOKEN}", "webhook_secret": "${BENCH_WEBHOOK_SECRET}",
                                  "api_base_url": "${BENCH_API_BASE}"}},
        # The fake Bot API has no flood limits; real Telegram's (30/s) would make this measure the limiter.
        "delivery": {"limits": {"telegram": {"sending": {"per_second": 100_000, "burst": 100_000}}}},
    }


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    env = os.environ
    work = Path(tempfile.mkdtemp(prefix="palabre-bench-"))  # start clean: a fresh store every run
    (work / "vendors").mkdir()
    (work / "vendors" / "bench.yaml").write_text(
        yaml.safe_dump(vendor_yaml(int(env.get("BENCH_STOCK", "100")), env.get("BENCH_PRODUCT", "ROBE1"))))
    # Modes: embedded (default); PALABRE_BENCH_REDIS=1 adds the harness's Redis (partitioned work);
    # PALABRE_BENCH_MONGO=<uri> stores in MongoDB (a fresh database per run) instead of the embedded store.
    mongo = env.get("PALABRE_BENCH_MONGO")
    settings = Settings.from_env(host=env.get("BENCH_WEBHOOK_HOST", "127.0.0.1"),
                                 port=int(env.get("BENCH_WEBHOOK_PORT", "8081")),
                                 data_dir=str(work / "data"), vendors_dir=str(work / "vendors"),
                                 redis_url=env.get("PALABRE_BENCH_REDIS") and env.get("BENCH_REDIS_URL"),
                                 mongodb_uri=mongo or None,
                                 mongodb_db=f"palabre_bench_{work.name.rsplit('-', 1)[-1]}" if mongo else None)
    app = create_app(Runtime(settings, load_vendors(settings.vendors_dir)))

    async def hook(request: web.Request) -> web.Response:
        return await handle_telegram(request, "bench")

    app.router.add_post(env.get("BENCH_WEBHOOK_PATH", "/webhook"), hook)
    tune_collector()  # as `palabre run` does
    loop = server_loop(settings.event_loop)  # PALABRE_LOOP=asyncio for the stock loop
    print(f"palabre bench bot on {type(loop).__module__}.{type(loop).__name__}", flush=True)
    try:
        web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None, loop=loop)
    finally:  # the harness starts a bot per run: thousands of runs would fill /tmp with their stores
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
