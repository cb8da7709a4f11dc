"""Test helper owning a throwaway redis-server process (or the one named by REDIS_URL)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
_PORT_ATTEMPTS = 3


def start_redis() -> tuple[str, Callable[[], None]]:
    """Return (url, stop) for a Redis usable by tests.

    If REDIS_URL is set it is returned as is, with a no-op stop. Otherwise a fresh `redis-server`
    (no persistence) is started on a free 127.0.0.1 port and this returns once it answers PING,
    within 10 s or RuntimeError. `stop` terminates it and waits for it to exit; calling it again is
    harmless. Raises RuntimeError if redis-server is not installed.
    """
    url = os.environ.get("REDIS_URL")
    if url:
        return url, lambda: None
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server not found: apt-get install -y redis-server")
    failure = ""
    for _ in range(_PORT_ATTEMPTS):
        port = _free_port()
        with tempfile.TemporaryFile() as log:
            proc = subprocess.Popen(
                [exe, "--save", "", "--appendonly", "no", "--port", str(port), "--bind", "127.0.0.1"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            if _wait_for_ping(proc, port, time.monotonic() + _START_TIMEOUT):
                return f"redis://127.0.0.1:{port}/0", _stopper(proc)
            _stop(proc)
            log.seek(0)
            failure = log.read().decode(errors="replace")[-2000:]
    raise RuntimeError(f"redis-server did not answer PING within {_START_TIMEOUT} s:\n{failure}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_ping(proc: subprocess.Popen[bytes], port: int, deadline: float) -> bool:
    """True once the server on `port` answers PING; False if it exits or `deadline` passes."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                # A server with a password answers NOAUTH: it is up all the same.
                if sock.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


class RedisProcess:
    """A real redis-server that a test stops and starts again on the same port (`args`: more redis-server options)."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed")
        self.port, self.log = _free_port(), tmp_path / "redis.log"
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.cmd = [exe, "--save", "", "--appendonly", "no", "--port", str(self.port), "--bind", "127.0.0.1", *args]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self.log.open("ab"),
                                     stderr=subprocess.STDOUT)
        if not _wait_for_ping(self.proc, self.port, time.monotonic() + _START_TIMEOUT):
            raise AssertionError(f"redis-server did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
        self.proc = None


def _stopper(proc: subprocess.Popen[bytes]) -> Callable[[], None]:
    def stop() -> None:
        _stop(proc)

    return stop


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(_STOP_TIMEOUT)
