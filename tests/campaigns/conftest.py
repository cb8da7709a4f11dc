"""Campaign test helpers: a fake WhatsApp Cloud API counting messages per recipient, a vendor pointed at it."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from tests.conftest import EXAMPLES, free_port, serving

TOKEN = "admin-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PNID = "109876543210987"


class FakeWhatsApp:
    """Meta's /messages endpoint on 127.0.0.1: counts template messages per recipient; can answer 429/5xx."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.per_recipient: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.fail_with: list[int] = []
        self.times: list[float] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.fail_with:
            status = self.fail_with.pop(0)
            return web.json_response({"error": {"code": 130429 if status == 429 else 1, "message": "busy"}},
                                     status=status, headers={"Retry-After": "0.2"} if status == 429 else {})
        self.bodies.append(body)
        self.per_recipient[body["to"]] += 1
        self.times.append(asyncio.get_running_loop().time())
        return web.json_response({"messaging_product": "whatsapp", "contacts": [{"wa_id": body["to"]}],
                                  "messages": [{"id": f"wamid.C{len(self.bodies)}"}]})


@pytest.fixture
async def whatsapp() -> AsyncIterator[FakeWhatsApp]:
    api = FakeWhatsApp()
    app = web.Application()
    app.router.add_post("/{version}/{pnid}/messages", api.handle)
    async with serving(app, api.port):
        yield api


def meta_vendor_dir(tmp_path: Path, api_base: str, monkeypatch: pytest.MonkeyPatch | None = None) -> Path:
    """The demo vendor with its WhatsApp number at a (fake) Meta API; secrets from the environment."""
    if monkeypatch is not None:
        monkeypatch.setenv("WA_TOKEN_DEMO", "EAAG-token")
        monkeypatch.setenv("WA_APP_SECRET_DEMO", "app-secret")
        monkeypatch.setenv("WA_VERIFY_DEMO", "verify")
    data = yaml.safe_load((EXAMPLES / "demo.yaml").read_text(encoding="utf-8"))
    data["channels"] = {"meta": {"phone_number_id": int(PNID), "access_token": "${WA_TOKEN_DEMO}",
                                 "app_secret": "${WA_APP_SECRET_DEMO}", "verify_token": "${WA_VERIFY_DEMO}",
                                 "api_base_url": api_base}}
    d = tmp_path / f"vendors-{len(list(tmp_path.glob('vendors-*')))}"
    d.mkdir()
    (d / "demo.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return d


def contacts_csv(n: int, *, tag: str = "promo", opt_in: str = "oui") -> bytes:
    lines = ["telephone;nom;tags;opt_in;ville"]
    lines += [f"77{i:07d};Client {i};{tag};{opt_in};Dakar" for i in range(n)]
    return "\n".join(lines).encode()


TEMPLATE = {
    "whatsapp": {"name": "promo_noel", "language": "fr",
                 "components": [{"type": "body", "text": "Bonjour {{1}}, -20 % à {{2}} !"}]},
    "sms": "Bonjour {{1}}, -20 % a {{2}} ! STOP pour ne plus recevoir",
    "telegram": "Bonjour {{1}}, -20 % à {{2}} !",
    "variables": [{"field": "name", "default": "cher client"}, {"field": "attributes.ville", "default": "Dakar"}],
}
