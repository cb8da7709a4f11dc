"""A vendor that runs its own Rasa server: the bot asks it first, and falls back to the local parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from tests.conftest import EXAMPLES, Server, free_port

BUYER = "+221770000001"


async def start_fake_rasa(answer: dict[str, Any]) -> tuple[str, list[str], web.AppRunner]:
    seen: list[str] = []

    async def parse(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body["text"])
        return web.json_response({"text": body["text"], **answer})

    app = web.Application()
    app.router.add_post("/model/parse", parse)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return f"http://127.0.0.1:{port}", seen, runner


def rasa_vendor(tmp_path: Path, url: str) -> Path:
    data = yaml.safe_load((EXAMPLES / "demo.yaml").read_text(encoding="utf-8"))
    data["nlu"] = {"rasa": {"url": url, "timeout": 0.5}}
    d = tmp_path / f"rasa-{len(list(tmp_path.glob('rasa-*')))}"
    d.mkdir()
    (d / "demo.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return d


async def test_the_vendors_rasa_server_decides_the_intent(start_server, tmp_path: Path) -> None:
    url, seen, runner = await start_fake_rasa(
        {"intent": {"name": "greeting", "confidence": 0.97}, "entities": [],
         "intent_ranking": [{"name": "greeting", "confidence": 0.97}]})
    try:
        server: Server = await start_server(rasa_vendor(tmp_path, url))
        reply = (await server.say(BUYER, "kaay nanu waxtaan"))["replies"][0]["text"]
        assert "Bienvenue chez Boutique Awa" in reply  # Rasa's "greeting" is our greet
        assert seen == ["kaay nanu waxtaan"]
        await server.say(BUYER, payload="help")  # button payloads are exact: never sent to Rasa
        assert seen == ["kaay nanu waxtaan"]
    finally:
        await runner.cleanup()


async def test_when_rasa_is_down_the_local_parser_answers(start_server, tmp_path: Path) -> None:
    server: Server = await start_server(rasa_vendor(tmp_path, f"http://127.0.0.1:{free_port()}"))
    offer = (await server.say(BUYER, "ROBE1"))["replies"][0]
    assert [b["id"] for b in offer["buttons"]] == ["pay", "cancel"]
