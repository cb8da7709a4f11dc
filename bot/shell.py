"""`palabre shell`: chat with a vendor's bot in the terminal; buttons become numbered choices."""

from __future__ import annotations

import asyncio
import sys
import uuid

from aiohttp import web

from bot.app import create_app
from bot.runtime import Runtime
from bot.settings import Settings
from bot.vendors import Vendor
from channels import Contact, Event, Reply


def show(reply: Reply, out: list[str]) -> None:
    print(f"bot> {reply.text}")
    out.clear()
    for i, button in enumerate(reply.buttons, 1):
        print(f"     [{i}] {button.title}")
        out.append(button.id)


async def run_shell(settings: Settings, vendors: dict[str, Vendor], vendor_id: str, contact: str) -> int:
    runtime = Runtime(settings, vendors)
    runner = web.AppRunner(create_app(runtime), access_log=None)
    await runner.setup()  # the HTTP side stays up so payment links open in a browser
    await web.TCPSite(runner, settings.host, settings.port).start()
    print(f"Chatting with {vendors[vendor_id].config.name} as {contact}. Type a message, a number to tap a "
          f"button, or Ctrl-D to quit. Payment links open on {settings.base_url}.")
    buttons: list[str] = []
    key = f"{vendor_id}:web:{contact}"
    seen = len(await runtime.store.transcript(key))
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return 0
            line = line.strip()
            for m in (await runtime.store.transcript(key))[seen:]:
                if m.direction == "out" and m.reply:
                    show(m.reply, buttons)  # pushed while you were typing (reminder, payment…)
            if not line:
                continue
            payload = buttons[int(line) - 1] if line.isdigit() and 0 < int(line) <= len(buttons) else None
            event = Event(
                id=f"shell:{uuid.uuid4().hex}", kind="postback" if payload else "message", channel="web",
                provider="simulator", vendor_id=vendor_id, contact=Contact(address=contact),
                text=None if payload else line, payload=payload,
            )
            for reply in await runtime.pipeline.ingest_and_wait(event):
                show(reply, buttons)
            seen = len(await runtime.store.transcript(key))
    finally:
        await runner.cleanup()
