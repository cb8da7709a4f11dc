"""CPU per update of the turn path alone (intake, turn, commit; no HTTP; sends with --send), on the harness's live sale.

    .venv/bin/python bench/turn_cpu.py [--tree DIR] [--buyers 1000] [--profile FILE] [--intake] [--uvloop] [--send]
                                       [--redis URL]

The same scenario as ../shared/bench (1000 buyers send ROBE1, 64 at a time, stock 100; the 100 offered
ones then tap `pay` and `wave`; a warm-up of 200 `/start` first), played in process against the bench
bot's vendor (bench/telegram_bot.py) on a fresh embedded store. Replies are committed to the outbox but
not sent, so the figure is the turn's share of the harness's "bot CPU µs/update", free of the HTTP
stacks on both sides. `--tree` runs another checkout (a `git worktree` of an older commit) to compare.
Prints one JSON line: updates, CPU µs/update, the cyclic GC's share and its collections per generation.
`--intake` hands each event to the pipeline as the webhook does (`Pipeline.ingest`, its own task per
conversation, the turn awaited), so the intake's own Python is measured too. `--send` also sends the replies
(through the outbox, to a Bot API answering at once from another process) and waits for them: the delivery's
Python is measured too, still without the webhook's HTTP server. `--redis URL` runs the partitioned mode (streams,
leases, claims on that Redis, as `PALABRE_BENCH_REDIS=1`); Redis' own CPU is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

CONCURRENCY = 64
STOCK = 100
# A Bot API that answers every call at once (aiohttp's low-level server), run apart so that its CPU is not counted.
FAKE_BOT_API = """
import asyncio, itertools, sys
from aiohttp import web
ids = itertools.count(1)
async def answer(request):
    await request.read()
    return web.Response(body=b'{"ok":true,"result":{"message_id":%d}}' % next(ids), content_type="application/json")
async def main():
    runner = web.ServerRunner(web.Server(answer), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1])).start()
    print("ready", flush=True)
    await asyncio.sleep(600)
asyncio.run(main())
"""


def update(update_id: int, user: int, text: str | None = None, data: str | None = None) -> dict[str, Any]:
    who = {"id": user, "is_bot": False, "first_name": "Buyer", "language_code": "fr"}
    chat = {"id": user, "first_name": "Buyer", "type": "private"}
    if text is not None:
        return {"update_id": update_id, "message": {"message_id": update_id, "from": who, "chat": chat,
                                                    "date": 1763730000, "text": text}}
    return {"update_id": update_id, "callback_query": {
        "id": f"{user}{data}", "from": who, "chat_instance": "c", "data": data,
        "message": {"message_id": update_id, "chat": chat, "date": 1763730000, "text": "offer"}}}


async def run(buyers: int, profile: str | None = None, intake: bool = False, api_base: str | None = None,
              redis_url: str | None = None) -> dict[str, Any]:
    # imported here, once --tree is first on sys.path
    import yaml
    from telegram_bot import vendor_yaml

    from bot.runtime import Runtime, load_vendors
    from bot.settings import Settings
    from channels import telegram

    os.environ.update(BENCH_BOT_TOKEN="1:bench", BENCH_WEBHOOK_SECRET="bench",
                      BENCH_API_BASE=api_base or "http://127.0.0.1:9")
    work = Path(tempfile.mkdtemp(prefix="palabre-turn-cpu-"))
    (work / "vendors").mkdir()
    (work / "vendors" / "bench.yaml").write_text(yaml.safe_dump(vendor_yaml(STOCK, "ROBE1")))
    settings = Settings.from_env(host="127.0.0.1", port=0, data_dir=str(work / "data"),
                                 vendors_dir=str(work / "vendors"), redis_url=redis_url, mongodb_uri=None)
    rt = Runtime(settings, load_vendors(settings.vendors_dir))
    pipeline = rt.pipeline

    async def nothing(*_: Any, **__: Any) -> None:
        return None

    if api_base is None:  # the turn alone
        pipeline.delivery.submit = lambda entries: None  # type: ignore[method-assign]
    pipeline.delivery.sweep = nothing  # type: ignore[method-assign]
    await rt.start()
    ids = iter(range(1, 10 * (buyers + 1000)))
    done = 0

    async def one(body: dict[str, Any]) -> None:
        nonlocal done
        events = telegram.parse_update(body, "bench")
        if intake:
            for event in events:
                await pipeline.ingest_and_wait(event)
        else:
            await pipeline.store.add_events(events)
            for event in events:
                await pipeline._process(event)
        done += 1

    for i in range(200):
        await one(update(next(ids), 900_000_000 + i, text="/start"))
    done = 0
    collections = [0, 0, 0]
    gc_cpu = 0.0
    started = 0.0

    def timing(phase: str, info: dict[str, int]) -> None:
        nonlocal gc_cpu, started
        if phase == "start":
            started = time.process_time()
        else:
            gc_cpu += time.process_time() - started
            collections[info["generation"]] += 1

    gc.callbacks.append(timing)
    todo = iter(range(buyers))

    async def buyer_loop() -> None:
        for b in todo:
            user = 100_000_000 + b
            await one(update(next(ids), user, text="ROBE1"))
            if b < STOCK:
                await one(update(next(ids), user, data="pay"))
                await one(update(next(ids), user, data="wave"))

    profiler = cProfile.Profile(time.process_time) if profile else None
    cpu = time.process_time()
    if profiler:
        profiler.enable()
    await asyncio.gather(*(buyer_loop() for _ in range(CONCURRENCY)))
    await pipeline.delivery.idle(60)  # nothing when replies are not sent
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    cpu = time.process_time() - cpu
    gc.callbacks.remove(timing)
    # With --send every reply must have gone out: a figure without them would flatter the delivery.
    unsent = len(await pipeline.store.pending_outbox(time.time() + 3600, limit=100_000)) if api_base else 0
    await rt.stop()
    return {"updates": done, "unsent": unsent, "cpu_us_per_update": round(cpu / done * 1e6, 1),
            "gc_us_per_update": round(gc_cpu / done * 1e6, 1), "gc_collections": collections}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--buyers", type=int, default=1000)
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the measured window (CPU clock) to FILE")
    parser.add_argument("--intake", action="store_true", help="through Pipeline.ingest, as the webhook does")
    parser.add_argument("--uvloop", action="store_true", help="on uvloop, the bench bot's loop")
    parser.add_argument("--send", action="store_true", help="send the replies too, to a local fake Bot API")
    parser.add_argument("--redis", metavar="URL", help="partitioned mode on this Redis (use with --intake)")
    args = parser.parse_args()
    loop_run = uvloop.run if args.uvloop else asyncio.run
    sys.path[:0] = [args.tree, str(Path(args.tree) / "bench")]
    api = None
    if args.send:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        api = subprocess.Popen([sys.executable, "-c", FAKE_BOT_API, str(port)], stdout=subprocess.PIPE, text=True)
        assert api.stdout is not None and api.stdout.readline().strip() == "ready"
    try:
        result = loop_run(run(args.buyers, args.profile, args.intake, f"http://127.0.0.1:{port}" if api else None,
                              args.redis))
    finally:
        if api is not None:
            api.kill()
            api.wait()
    print(json.dumps({"tree": args.tree, "send": args.send, **result}))


if __name__ == "__main__":
    main()
