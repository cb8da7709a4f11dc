"""`palabre shell`: chat with a vendor's bot in the terminal; buttons become numbered choices.

With a Palabre server already running on the configured address, the shell talks to it through the
simulator API (the server holds the store); otherwise it runs its own. Either way, messages the bot
pushes later (a reminder, a payment confirmation) are printed as they come, once each.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from bot.settings import Settings
from bot.vendors import Vendor

POLL_SECONDS = 0.5  # how soon a pushed message shows


class ShellError(Exception):
    """The shell cannot talk to the bot (an unknown vendor, a refused token, a store in use)."""


class Chat(Protocol):
    async def send(self, text: str | None, payload: str | None) -> None: ...
    async def outbound(self) -> list[dict[str, Any]]: ...
    async def close(self) -> None: ...


class RemoteChat:
    """The running server's simulator API: POST a message, GET the transcript."""

    def __init__(self, base_url: str, vendor_id: str, contact: str, token: str | None) -> None:
        self.url = f"{base_url}/simulator/{vendor_id}/messages"
        self.contact = contact
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30), headers=headers)

    async def _json(self, resp: aiohttp.ClientResponse) -> Any:
        body = await resp.json(content_type=None)
        if resp.status >= 400:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise ShellError(f"the server answered {resp.status}: {error.get('message', 'no details')}")
        return body

    async def send(self, text: str | None, payload: str | None) -> None:
        body = {"from": self.contact, **({"payload": payload} if payload else {"text": text})}
        async with self.http.post(self.url, json=body) as resp:
            await self._json(resp)

    async def outbound(self) -> list[dict[str, Any]]:
        async with self.http.get(self.url, params={"contact": self.contact}) as resp:
            messages = (await self._json(resp))["messages"]
        return [m for m in messages if m["direction"] == "out"]

    async def close(self) -> None:
        await self.http.close()


class LocalChat:
    """This process's own runtime (no server is running): the store, the pipeline and the HTTP side."""

    def __init__(self, settings: Settings, vendors: dict[str, Vendor], vendor_id: str, contact: str) -> None:
        from bot.runtime import Runtime

        self.runtime = Runtime(settings, vendors)
        self.settings, self.vendor_id, self.contact = settings, vendor_id, contact
        self.key = f"{vendor_id}:web:{contact}"
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        from bot.app import create_app
        from storage.embedded import StoreLocked

        runner = web.AppRunner(create_app(self.runtime), access_log=None)
        try:
            await runner.setup()
        except StoreLocked as exc:
            raise ShellError(f"{exc}; no server answers on {self.settings.base_url} (set PALABRE_PORT / "
                             "PALABRE_HOST to that server's)") from None
        self.runner = runner
        try:  # the HTTP side stays up so payment links open in a browser
            await web.TCPSite(runner, self.settings.host, self.settings.port).start()
        except OSError:
            print(f"(port {self.settings.port} is taken by another program: payment links will not open)")

    async def send(self, text: str | None, payload: str | None) -> None:
        from channels import Contact, Event

        event = Event(id=f"shell:{uuid.uuid4().hex}", kind="postback" if payload else "message", channel="web",
                      provider="simulator", vendor_id=self.vendor_id, contact=Contact(address=self.contact),
                      text=None if payload else text, payload=payload)
        await self.runtime.pipeline.ingest_and_wait(event)

    async def outbound(self) -> list[dict[str, Any]]:
        return [m.reply.public() for m in await self.runtime.store.transcript(self.key)
                if m.direction == "out" and m.reply]

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


class Printer:
    """Prints the bot's messages once each, whoever asks first (the answer to a line, or the poller)."""

    def __init__(self, chat: Chat, write: Callable[[str], None] = print) -> None:
        self.chat, self.write = chat, write
        self.buttons: list[str] = []
        self.seen = 0
        self.lock = asyncio.Lock()

    async def skip_history(self) -> None:
        self.seen = len(await self.chat.outbound())

    async def flush(self) -> None:
        async with self.lock:
            messages = await self.chat.outbound()
            for reply in messages[self.seen:]:
                self.show(reply)
            self.seen = max(self.seen, len(messages))

    def show(self, reply: dict[str, Any]) -> None:
        self.write(f"bot> {reply.get('text') or ''}")
        if reply.get("media_url"):
            self.write(f"     📎 {reply['media_url']}")
        rows = [row for section in reply.get("list") or [] for row in section["rows"]]
        choices = [*(reply.get("buttons") or []), *rows]
        if choices:
            self.buttons = [b["id"] for b in choices]
            for i, b in enumerate(choices, 1):
                detail = f" — {b['description']}" if b.get("description") else ""
                self.write(f"     [{i}] {b['title']}{detail}")
        sys.stdout.flush()


async def _server_up(base_url: str) -> bool:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http, \
                http.get(f"{base_url}/healthz") as resp:
            return resp.status == 200 and (await resp.json(content_type=None)).get("status") == "ok"
    except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError):
        return False


def _lines() -> asyncio.Queue[str | None]:
    """Lines typed on stdin, None at its end: read by the event loop (no thread to block Ctrl-C)."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    buffer = bytearray()

    def readable() -> None:
        chunk = os.read(fd, 4096)
        if not chunk:
            loop.remove_reader(fd)
            if buffer:
                queue.put_nowait(buffer.decode(errors="replace"))
            queue.put_nowait(None)
            return
        buffer.extend(chunk)
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            queue.put_nowait(line.decode(errors="replace"))

    try:
        loop.add_reader(fd, readable)
    except PermissionError:
        # A regular file (`palabre shell < script.txt`): epoll refuses it, and reading it never blocks.
        for line in sys.stdin.buffer.read().decode(errors="replace").splitlines():
            queue.put_nowait(line)
        queue.put_nowait(None)
    return queue


async def _poll(printer: Printer) -> None:
    while True:
        await asyncio.sleep(POLL_SECONDS)
        try:
            await printer.flush()
        except (aiohttp.ClientError, TimeoutError, ShellError):
            continue  # the server is restarting: the next poll catches up


async def run_shell(settings: Settings, vendors: dict[str, Vendor], vendor_id: str, contact: str) -> int:
    name = vendors[vendor_id].config.name
    chat: Chat
    if await _server_up(settings.base_url):
        chat = RemoteChat(settings.base_url, vendor_id, contact, settings.simulator_token)
        where = f"through the server running on {settings.base_url}"
    else:
        chat = LocalChat(settings, vendors, vendor_id, contact)
        where = f"payment links open on {settings.base_url}"
    try:
        if isinstance(chat, LocalChat):
            await chat.start()
        printer = Printer(chat)
        await printer.skip_history()
    except ShellError as exc:
        await chat.close()
        print(f"shell: {exc}", file=sys.stderr)
        return 1
    print(f"Chatting with {name} as {contact} ({where}). Type a message, a number to tap a button; "
          "Ctrl-D or Ctrl-C to quit.", flush=True)
    lines = _lines()
    poller = asyncio.create_task(_poll(printer))
    try:
        while (line := await lines.get()) is not None:
            line = line.strip()
            if not line:
                continue
            b = printer.buttons
            payload = b[int(line) - 1] if line.isdigit() and 0 < int(line) <= len(b) else None
            try:
                await chat.send(None if payload else line, payload)
            except ShellError as exc:
                print(f"shell: {exc}", file=sys.stderr)
                return 1
            await printer.flush()
        return 0
    finally:
        poller.cancel()
        asyncio.get_running_loop().remove_reader(sys.stdin.fileno())
        await chat.close()
