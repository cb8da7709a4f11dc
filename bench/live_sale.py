"""Live-sale benchmark: N buyers race for S units of ROBE1 over the simulator API; prints one JSON line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEMO_YAML = ROOT / "examples" / "vendors" / "demo.yaml"
VENDOR = "demo"
CODE = "ROBE1"
LINK = re.compile(r"https?://\S+")
CLK_TCK = os.sysconf("SC_CLK_TCK")
STOP_GRACE_S = 10.0
WARMUP_MESSAGES = 50
MAX_EXAMPLES = 5


def log(msg: str) -> None:
    print(f"[live_sale] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- server process


@dataclass
class ServerProc:
    """A Palabre server this script started, with its temp dir and log."""

    proc: subprocess.Popen[bytes]
    url: str
    tmp: Path
    data_dir: Path
    log_path: Path
    mongodb_uri: str | None
    mongodb_db: str | None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_vendor(directory: Path, stock: int) -> None:
    data = yaml.safe_load(DEMO_YAML.read_text(encoding="utf-8"))
    found = False
    for product in data["catalogue"]:
        if product["code"] == CODE:
            product["stock"] = stock
            found = True
    if not found:
        raise SystemExit(f"{DEMO_YAML} has no product {CODE}")
    directory.mkdir(parents=True)
    (directory / f"{VENDOR}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def start_server(stock: int) -> ServerProc:
    tmp = Path(tempfile.mkdtemp(prefix="palabre-bench-"))
    vendors_dir, data_dir, log_path = tmp / "vendors", tmp / "data", tmp / "server.log"
    write_vendor(vendors_dir, stock)
    port = free_port()
    env = dict(os.environ)
    mongodb_uri = env.get("MONGODB_URI") or None
    mongodb_db = None
    if mongodb_uri:  # a fresh database, as the data dir is fresh
        mongodb_db = f"palabre_bench_{uuid.uuid4().hex[:12]}"
        env["PALABRE_MONGODB_DB"] = mongodb_db
    cmd = [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port),
           "--data-dir", str(data_dir), "--vendors", str(vendors_dir)]
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    log(f"server pid {proc.pid} on port {port}, tmp {tmp}"
        f" (storage {'mongodb ' + mongodb_db if mongodb_db else 'embedded'},"
        f" redis {'yes' if env.get('REDIS_URL') else 'no'})")
    return ServerProc(proc, f"http://127.0.0.1:{port}", tmp, data_dir, log_path, mongodb_uri, mongodb_db)


def stop_server(server: ServerProc) -> None:
    """SIGTERM, then SIGKILL after STOP_GRACE_S seconds; only this process, by its pid."""
    proc = server.proc
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        log(f"server pid {proc.pid} still running {STOP_GRACE_S:.0f} s after SIGTERM: SIGKILL")
        proc.kill()
        proc.wait(timeout=STOP_GRACE_S)


def server_log_tail(server: ServerProc, lines: int = 20) -> str:
    try:
        text = server.log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process from /proc/<pid>/stat, in seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of the full line


async def wait_healthy(http: aiohttp.ClientSession, url: str, timeout: float,
                       proc: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before /healthz answered")
        try:
            async with http.get(f"{url}/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                if r.status == 200:
                    return
                last = f"HTTP {r.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            last = type(exc).__name__
        await asyncio.sleep(0.1)
    raise RuntimeError(f"/healthz not 200 within {timeout:g} s (last: {last})")


# ---------------------------------------------------------------- the sale


@dataclass
class Stats:
    """Counters of the measured phase."""

    events: int = 0
    latencies: list[float] = field(default_factory=list)
    offers: int = 0
    sold_out: int = 0
    completed: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    done: int = 0
    examples: list[str] = field(default_factory=list)
    # per buyer: the event ids the server returned (for --store-check), and the outcome
    event_ids: dict[str, list[str]] = field(default_factory=dict)
    outcome: dict[str, str] = field(default_factory=dict)

    def note(self, what: str) -> None:
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(what)


class Client:
    """Posts simulator messages with a per-request timeout, bounded by a deadline."""

    def __init__(self, http: aiohttp.ClientSession, url: str, request_timeout: float) -> None:
        self.http = http
        self.endpoint = f"{url}/simulator/{VENDOR}/messages"
        self.request_timeout = request_timeout

    async def say(self, body: dict[str, str], deadline: float) -> tuple[list[dict[str, Any]] | None, str, float]:
        """(replies or None, event id or error, seconds)."""
        timeout = min(self.request_timeout, max(0.05, deadline - time.monotonic()))
        t0 = time.perf_counter()
        try:
            async with self.http.post(self.endpoint, json=body, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
                data = await r.json(content_type=None)
                elapsed = time.perf_counter() - t0
                if r.status != 200 or not isinstance(data, dict) or not isinstance(data.get("replies"), list):
                    return None, f"HTTP {r.status} {str(data)[:200]}", elapsed
                return data["replies"], str(data.get("event_id", "")), elapsed
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:200], time.perf_counter() - t0


def buttons(reply: dict[str, Any]) -> list[str]:
    return [str(b.get("id")) for b in reply.get("buttons") or [] if isinstance(b, dict)]


async def buyer(client: Client, phone: str, stats: Stats, deadline: float) -> None:
    """One buyer's closed loop: ROBE1, then pay and wave if offered."""
    steps: list[tuple[str, dict[str, str]]] = [
        ("offer", {"from": phone, "text": CODE}),
        ("pay", {"from": phone, "payload": "pay"}),
        ("wave", {"from": phone, "payload": "wave"}),
    ]
    ids = stats.event_ids.setdefault(phone, [])
    stats.outcome[phone] = "started"
    for step, body in steps:
        replies, info, elapsed = await client.say(body, deadline)
        stats.events += 1
        stats.latencies.append(elapsed)
        if not replies:
            stats.lost += 1
            stats.outcome[phone] = f"lost at {step}"
            stats.note(f"{phone} {step}: lost ({info if replies is None else 'no reply'})")
            return
        ids.append(info)
        if len(replies) > 1:
            stats.duplicated += 1
            stats.note(f"{phone} {step}: {len(replies)} replies")
        reply = replies[0] if isinstance(replies[0], dict) else {}
        text = str(reply.get("text") or "")
        if step == "offer":
            if CODE in text and "pay" in buttons(reply):
                stats.offers += 1
                stats.outcome[phone] = "offered"
                continue
            if "épuisé" in text and "pay" not in buttons(reply):
                stats.sold_out += 1
                stats.outcome[phone] = "sold_out"
                return
        elif step == "pay" and "wave" in buttons(reply):
            continue
        elif step == "wave" and "Wave" in text and LINK.search(text):
            stats.completed += 1
            stats.outcome[phone] = "completed"
            return
        stats.unexpected += 1
        stats.outcome[phone] = f"unexpected at {step}"
        stats.note(f"{phone} {step}: unexpected reply {text[:160]!r} buttons={buttons(reply)}")
        return


async def warm_up(client: Client, tag: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    bodies = [{"from": f"+2216{tag:02d}{i:06d}", "text": "bonjour"} for i in range(WARMUP_MESSAGES)]
    results = await asyncio.gather(*(client.say(b, deadline) for b in bodies))
    failed = [info for replies, info, _ in results if not replies]
    log(f"warm-up: {len(bodies) - len(failed)}/{len(bodies)} answered"
        + (f" (first failure: {failed[0]})" if failed else ""))


async def progress(stats: Stats, buyers: int, t0: float) -> None:
    while True:
        await asyncio.sleep(5)
        log(f"  {stats.done}/{buyers} buyers done, {stats.events} requests, {time.monotonic() - t0:.1f} s")


async def run_sale(client: Client, phones: list[str], concurrency: int, max_seconds: float,
                   stats: Stats) -> bool:
    """C workers each run one buyer's loop at a time; returns True if the deadline cut the run."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for p in phones:
        queue.put_nowait(p)
    t0 = time.monotonic()
    deadline = t0 + max_seconds

    async def worker() -> None:
        while time.monotonic() < deadline:
            try:
                phone = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await buyer(client, phone, stats, deadline)
            stats.done += 1

    ticker = asyncio.create_task(progress(stats, len(phones), t0))
    try:
        # workers stop at the deadline and requests are cut there too; the margin is for slow sockets only
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), max_seconds + 10)
    except TimeoutError:
        log("measured phase overran --max-seconds: cancelled")
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
    return stats.done < len(phones)


def percentile_ms(sorted_s: list[float], p: float) -> float | None:
    if not sorted_s:
        return None
    k = max(0, math.ceil(p / 100 * len(sorted_s)) - 1)
    return round(sorted_s[k] * 1000, 2)


# ---------------------------------------------------------------- store check


async def store_check(server: ServerProc, stock: int, phones: list[str], stats: Stats) -> dict[str, Any]:
    """Read the stopped server's store through the Store API and compare it with what the buyers saw."""
    from bot.runtime import make_store
    from bot.settings import Settings

    settings = Settings(data_dir=str(server.data_dir), mongodb_uri=server.mongodb_uri,
                        mongodb_db=server.mongodb_db or "palabre")
    store = make_store(settings)
    await store.start()
    problems: list[str] = []
    orders = {"reserved": 0, "awaiting_payment": 0, "other": 0}
    payments_pending = 0
    transcript_mismatch = 0
    unprocessed_ids = 0
    try:
        product = await store.get_product(VENDOR, CODE)
        stock_left = product.stock if product else None
        if stock_left != stock - stats.offers:
            problems.append(f"{CODE} stock left {stock_left}, expected {stock - stats.offers}")
        for phone in phones:
            outcome = stats.outcome.get(phone, "not run")
            conv = await store.get_conversation(f"{VENDOR}:web:{phone}")
            order_id = conv.slots.get("order_id") if conv else None
            if outcome in ("offered", "completed"):
                order = await store.get_order(order_id) if order_id else None
                want = "awaiting_payment" if outcome == "completed" else "reserved"
                if order is None:
                    problems.append(f"{phone}: {outcome} but no open order in the conversation")
                    continue
                orders[order.status if order.status in orders else "other"] += 1
                if order.status != want:
                    problems.append(f"{phone}: order {order.id} is {order.status}, expected {want}")
                if outcome == "completed":
                    payment = await store.get_payment(order.payment_id) if order.payment_id else None
                    if payment is not None and payment.status == "pending" and payment.method == "wave":
                        payments_pending += 1
                    else:
                        problems.append(f"{phone}: no pending wave payment for order {order.id}")
            elif outcome == "sold_out" and order_id:
                problems.append(f"{phone}: sold out but the conversation holds order {order_id}")
            messages = await store.transcript(f"{VENDOR}:web:{phone}")
            sent = len(stats.event_ids.get(phone, []))
            ins = sum(m.direction == "in" for m in messages)
            outs = sum(m.direction == "out" for m in messages)
            if outcome != "not run" and (ins, outs) != (sent, sent):
                transcript_mismatch += 1
                problems.append(f"{phone}: transcript has {ins} in / {outs} out for {sent} answered steps")
            for event_id in stats.event_ids.get(phone, []):
                if not await store.is_processed(event_id):
                    unprocessed_ids += 1
                    problems.append(f"{phone}: event {event_id} answered but not marked processed")
        unprocessed = len(await store.unprocessed_events(limit=1000))
        if unprocessed:
            problems.append(f"{unprocessed} event(s) persisted but never processed")
        if orders["other"]:
            problems.append(f"{orders['other']} order(s) neither reserved nor awaiting payment")
    finally:
        if server.mongodb_db and hasattr(store, "drop"):
            await store.drop()
        await store.close()
    for p in problems[:MAX_EXAMPLES]:
        log(f"store-check: {p}")
    return {
        "ok": not problems,
        "stock_left": stock_left,
        "expected_stock_left": stock - stats.offers,
        "orders_reserved": orders["reserved"],
        "orders_awaiting_payment": orders["awaiting_payment"],
        "payments_pending_wave": payments_pending,
        "transcript_mismatches": transcript_mismatch,
        "unprocessed_events": unprocessed + unprocessed_ids,
        "problems": len(problems),
    }


async def drop_bench_db(server: ServerProc) -> None:
    from storage.mongo import MongoStore

    store = MongoStore(server.mongodb_uri or "", server.mongodb_db)
    try:
        await store.drop()
    finally:
        await store.close()


# ---------------------------------------------------------------- main


async def bench(args: argparse.Namespace, server: ServerProc | None) -> dict[str, Any]:
    url = server.url if server else args.url.rstrip("/")
    pid = server.proc.pid if server else args.server_pid
    tag = uuid.uuid4().int % 100  # numbers differ from run to run against a long-running --url server
    phones = [f"+2217{tag:02d}{i:06d}" for i in range(args.buyers)]
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        await wait_healthy(http, url, args.startup_timeout, server.proc if server else None)
        log(f"{url} is up")
        client = Client(http, url, args.request_timeout)
        await warm_up(client, tag, args.request_timeout)
        stats = Stats()
        log(f"measuring: {args.buyers} buyers, concurrency {args.concurrency}, stock {args.stock}")
        cpu0 = cpu_seconds(pid) if pid else None
        t0 = time.perf_counter()
        cut = await run_sale(client, phones, args.concurrency, args.max_seconds, stats)
        wall = time.perf_counter() - t0
        cpu1 = cpu_seconds(pid) if pid else None
    cpu = round(cpu1 - cpu0, 3) if cpu0 is not None and cpu1 is not None else None
    lat = sorted(stats.latencies)
    expected_offers = min(args.stock, args.buyers)
    result: dict[str, Any] = {
        "buyers": args.buyers,
        "concurrency": args.concurrency,
        "stock": args.stock,
        "events": stats.events,
        "wall_s": round(wall, 3),
        "events_per_s": round(stats.events / wall, 1) if wall > 0 else None,
        "latency_ms": {"p50": percentile_ms(lat, 50), "p99": percentile_ms(lat, 99),
                       "max": round(lat[-1] * 1000, 2) if lat else None},
        "offers": stats.offers,
        "sold_out": stats.sold_out,
        "completed": stats.completed,
        "lost": stats.lost,
        "duplicated": stats.duplicated,
        "unexpected": stats.unexpected,
        "server_cpu_s": cpu,
        "server_cpu_us_per_event": round(cpu * 1e6 / stats.events, 1) if cpu is not None and stats.events else None,
        "ok": (stats.offers == expected_offers and stats.sold_out == args.buyers - stats.offers
               and stats.completed == stats.offers and stats.lost == 0 and stats.duplicated == 0),
        "not_run": args.buyers - stats.done,
        "cut_by_max_seconds": cut,
        "storage": ("mongodb" if server.mongodb_db else "embedded") if server else None,
        "redis": bool(os.environ.get("REDIS_URL")) if server else None,
    }
    for example in stats.examples:
        log(f"example: {example}")
    result["_phones"] = phones
    result["_stats"] = stats
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--buyers", type=int, default=200, help="number of buyers (default 200)")
    p.add_argument("--concurrency", type=int, default=64, help="buyers in flight at once (default 64)")
    p.add_argument("--stock", type=int, default=10, help="units of ROBE1 for sale (default 10)")
    p.add_argument("--max-seconds", type=float, default=120.0, help="bound of the measured phase (default 120)")
    p.add_argument("--request-timeout", type=float, default=30.0, help="per-request timeout in s (default 30)")
    p.add_argument("--startup-timeout", type=float, default=30.0, help="wait for /healthz at most this (default 30)")
    p.add_argument("--url", help="use this running server instead of starting one (it must sell ROBE1 with "
                                 "--stock units, freshly)")
    p.add_argument("--server-pid", type=int, help="with --url: pid of the server, for server_cpu_s")
    p.add_argument("--store-check", action="store_true",
                   help="after the run, stop the server and check its store against what buyers saw")
    p.add_argument("--keep-temp", action="store_true", help="keep the temp dir (data, vendors, server log)")
    args = p.parse_args(argv)
    if not 1 <= args.buyers <= 999_999:
        p.error("--buyers must be 1..999999")
    if args.concurrency < 1 or args.stock < 0 or args.max_seconds <= 0 or args.request_timeout <= 0:
        p.error("--concurrency >= 1, --stock >= 0, --max-seconds > 0 and --request-timeout > 0")
    if args.store_check and args.url:
        p.error("--store-check needs the server this script starts (not --url)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = None if args.url else start_server(args.stock)
    result: dict[str, Any] = {}
    try:
        result = asyncio.run(bench(args, server))
    except (RuntimeError, OSError, aiohttp.ClientError) as exc:
        log(f"error: {exc}")
        if server:
            tail = server_log_tail(server)
            if tail:
                log("server log tail:\n" + tail)
        result = {"buyers": args.buyers, "concurrency": args.concurrency, "stock": args.stock,
                  "ok": False, "error": str(exc)}
    finally:
        if server:
            stop_server(server)
            log(f"server stopped (exit code {server.proc.returncode})")
    phones: list[str] = result.pop("_phones", [])
    stats: Stats | None = result.pop("_stats", None)
    try:
        if server and args.store_check and stats is not None:
            result["store_check"] = asyncio.run(store_check(server, args.stock, phones, stats))
        elif server and server.mongodb_db:
            asyncio.run(drop_bench_db(server))
    except Exception as exc:  # the check must still end with its one JSON line
        log(f"store-check failed: {type(exc).__name__}: {exc}")
        result["store_check"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        if server and not args.keep_temp:
            shutil.rmtree(server.tmp, ignore_errors=True)
        elif server:
            log(f"kept {server.tmp}")
    print(json.dumps(result, ensure_ascii=False), flush=True)
    good = bool(result.get("ok")) and bool(result.get("store_check", {"ok": True}).get("ok"))
    return 0 if good else 1


if __name__ == "__main__":
    raise SystemExit(main())
