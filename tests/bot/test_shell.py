"""`palabre shell` as a vendor uses it: beside a running server, with messages pushed later, and Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import ROOT, eventually

CONTACT = "+221770000501"


class Proc:
    """A `python -m bot …` child whose output is collected as it comes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.out = ""
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(1024):
            self.out += chunk.decode(errors="replace")

    async def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def wait(self, timeout: float = 20) -> int:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await asyncio.wait_for(self._reader, timeout)
        return code

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self._reader.cancel()


@pytest.fixture
def env(demo_env: dict[str, str]) -> dict[str, str]:
    return demo_env


async def spawn(env: dict[str, str], *args: str) -> Proc:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    return Proc(proc)


@pytest.fixture
async def server(env: dict[str, str]) -> AsyncIterator[str]:
    proc = await spawn(env, "run")
    base = f"http://127.0.0.1:{env['PALABRE_PORT']}"

    async def ready() -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{base}/readyz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    try:
        await eventually(ready, timeout=60)
        yield base
    finally:
        proc.proc.terminate()
        await proc.wait(30)


async def test_shell_while_the_server_runs_talks_to_it_instead_of_crashing(server: str, env: dict[str, str]) -> None:
    shell = await spawn(env, "shell", "--contact", CONTACT)
    try:
        await eventually(lambda: "Chatting with" in shell.out, timeout=30)
        assert "through the server running on" in shell.out
        await shell.type("ROBE1")
        await eventually(lambda: "[1] PAYER" in shell.out, timeout=20)
        shell.proc.stdin.close()  # type: ignore[union-attr]
        assert await shell.wait() == 0
    finally:
        await shell.stop()
    assert "Traceback" not in shell.out and "locked" not in shell.out.lower()
    async with aiohttp.ClientSession() as http, \
            http.get(f"{server}/simulator/demo/messages", params={"contact": CONTACT}) as r:
        messages = (await r.json())["messages"]
    assert [m["direction"] for m in messages][:2] == ["in", "out"]  # the server handled the shell's message


async def test_shell_shows_a_pushed_message_once_without_enter(server: str, env: dict[str, str]) -> None:
    shell = await spawn(env, "shell", "--contact", CONTACT)
    try:
        await eventually(lambda: "Chatting with" in shell.out, timeout=30)
        # the bot speaks to this buyer without the shell typing anything (as a reminder or a payment would)
        async with aiohttp.ClientSession() as http, \
                http.post(f"{server}/simulator/demo/messages", json={"from": CONTACT, "text": "ROBE1"}) as r:
            assert r.status == 200
        await eventually(lambda: "[1] PAYER" in shell.out, timeout=10)
        await asyncio.sleep(1.5)  # a few more polls: still shown once
        assert shell.out.count("[1] PAYER") == 1, shell.out
    finally:
        await shell.stop()


async def test_shell_exits_on_ctrl_c(env: dict[str, str]) -> None:
    shell = await spawn(env, "shell", "--contact", CONTACT)
    try:
        await eventually(lambda: "Chatting with" in shell.out, timeout=60)
        shell.proc.send_signal(signal.SIGINT)
        assert await shell.wait(15) == 0
    finally:
        await shell.stop()
    assert "Traceback" not in shell.out


async def test_shell_reads_a_script_file_on_stdin_instead_of_crashing(env: dict[str, str], tmp_path: Path) -> None:
    # `palabre shell < script.txt` crashed: epoll refuses a regular file (PermissionError from add_reader).
    script = tmp_path / "script.txt"
    script.write_text("ROBE1\n1\n")
    with script.open("rb") as stdin:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "shell", "--contact", CONTACT, cwd=ROOT, env=env, stdin=stdin,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    shell = Proc(proc)
    try:
        assert await shell.wait(60) == 0, shell.out
    finally:
        await shell.stop()
    assert "Traceback" not in shell.out
    assert "Robe Wax Ankara (ROBE1)" in shell.out  # the first line's offer
    assert "Comment voulez-vous payer" in shell.out  # "1" tapped its first button, PAYER
