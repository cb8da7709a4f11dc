"""Helpers of the cluster tests: a private FerretDB the test may stop, the environment of `python -m bot run`,
and a bounded wait for a condition."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import MONGO_KIND, ROOT, mongo_test_uri

FERRETDB_SCRIPT = ROOT / ".ci" / "ferretdb.sh"


@dataclass
class PrivateFerretDB:
    """A FerretDB of this test's own (the shared one is never stopped): `pause`/`resume` freeze it as a
    host that stops answering would, its port open and silent."""

    port: int
    pid: int

    @property
    def uri(self) -> str:
        # One connection per client, as tests/conftest.py does for FerretDB (docs/decisions.md).
        return f"mongodb://127.0.0.1:{self.port}/?maxPoolSize=1"

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGCONT)
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


@contextlib.contextmanager
def private_ferretdb(directory: Path) -> Iterator[PrivateFerretDB]:
    """Start FerretDB with `.ci/ferretdb.sh` (the binary CI built) on a free port; stopped on exit."""
    for attempt in range(3):  # the free port the script picked may be taken before FerretDB binds it
        done = subprocess.run(["bash", str(FERRETDB_SCRIPT), "start", str(directory / str(attempt))],
                              capture_output=True, text=True, timeout=300, cwd=ROOT,
                              env={**os.environ, "DO_NOT_TRACK": "1"})
        if done.returncode == 0:
            break
    assert done.returncode == 0, f"FerretDB did not start:\n{done.stderr[-3000:]}"
    port, pid = (int(x) for x in done.stdout.split()[-2:])
    server = PrivateFerretDB(port, pid)
    try:
        yield server
    finally:
        server.stop()


def palabre_env(tmp_path: Path, redis_url: str, mongo_uri: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a cluster of `python -m bot run` processes on one database and one Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PALABRE_") and k != "REDIS_URL"}
    env.update({
        "MONGODB_URI": mongo_uri or mongo_test_uri(), "PALABRE_MONGODB_DB": f"palabre_test_{uuid.uuid4().hex}",
        "REDIS_URL": redis_url, "PALABRE_VENDORS_DIR": str(tmp_path / "vendors"), "PALABRE_LOG_LEVEL": "WARNING",
        "PALABRE_LEASE_TTL": "2", "PALABRE_OUTBOX_INTERVAL": "0.2", "PALABRE_TIMER_INTERVAL": "0.2",
        # FerretDB v1 updates are not atomic across connections (docs/decisions.md): stock goes through Redis.
        "PALABRE_STOCK_LOCK": "1" if MONGO_KIND == "ferretdb" else "",
        **extra,
    })
    return env


async def until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll `condition` every 2 ms; False if it still does not hold after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.002)
    return True
