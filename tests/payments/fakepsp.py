"""A local PSP on 127.0.0.1 speaking Bictorys, Wave and PayDunya, its answers shaped by the fixtures."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.conftest import FIXTURES, free_port

DIR = FIXTURES / "payments"
BICTORYS_PUBLIC = "test_public-fake-key-0001"
BICTORYS_SECRET = "test_secret-fake-key-0001"
BICTORYS_WEBHOOK = "whsec_fake_bictorys_0001"
WAVE_KEY = "wave_sn_prod_fake_key_0001"
WAVE_WEBHOOK = "wave_sn_WHS_fake_secret_0001"
PAYDUNYA_MASTER = "FAKE-MASTER-KEY-0001"
PAYDUNYA_PRIVATE = "test_private_fake_0001"
PAYDUNYA_TOKEN = "faketoken0001"
ENV = {
    "BICTORYS_PUBLIC_KEY": BICTORYS_PUBLIC, "BICTORYS_SECRET_KEY": BICTORYS_SECRET,
    "BICTORYS_WEBHOOK_SECRET": BICTORYS_WEBHOOK, "WAVE_API_KEY": WAVE_KEY, "WAVE_WEBHOOK_SECRET": WAVE_WEBHOOK,
    "PAYDUNYA_MASTER_KEY": PAYDUNYA_MASTER, "PAYDUNYA_PRIVATE_KEY": PAYDUNYA_PRIVATE,
    "PAYDUNYA_TOKEN": PAYDUNYA_TOKEN,
}


def fixture(provider: str, name: str) -> Any:
    return json.loads((DIR / provider / name).read_text(encoding="utf-8"))


def raw(provider: str, name: str) -> bytes:
    return (DIR / provider / name).read_bytes()


def meta(provider: str) -> dict[str, Any]:
    return fixture(provider, "meta.json")  # type: ignore[no-any-return]


def psp_block(provider: str, base_url: str) -> dict[str, Any]:
    """A vendor file's psp block for the fake, secrets as ${ENV} references."""
    if provider == "bictorys":
        return {"provider": "bictorys", "api_key": "${BICTORYS_PUBLIC_KEY}", "secret_key": "${BICTORYS_SECRET_KEY}",
                "webhook_secret": "${BICTORYS_WEBHOOK_SECRET}", "base_url": base_url}
    if provider == "wave":
        return {"provider": "wave", "api_key": "${WAVE_API_KEY}", "webhook_secret": "${WAVE_WEBHOOK_SECRET}",
                "base_url": base_url}
    return {"provider": "paydunya", "master_key": "${PAYDUNYA_MASTER_KEY}",
            "private_key": "${PAYDUNYA_PRIVATE_KEY}", "token": "${PAYDUNYA_TOKEN}", "base_url": base_url,
            "store_name": "Boutique Awa"}


class FakePSP:
    """Checkouts it created, by provider id: {provider, ref (ours), amount, currency, status, paid_amount}."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.checkouts: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.created: list[dict[str, Any]] = []  # request bodies of created checkouts
        self._runner: web.AppRunner | None = None

    # test controls
    def only(self) -> tuple[str, dict[str, Any]]:
        assert len(self.checkouts) == 1, self.checkouts
        return next(iter(self.checkouts.items()))

    def pay(self, provider_ref: str, amount: int | None = None, status: str = "succeeded") -> None:
        c = self.checkouts[provider_ref]
        c["status"], c["paid_amount"] = status, c["amount"] if amount is None else amount

    # Bictorys
    async def bictorys_charge(self, request: web.Request) -> web.Response:
        if request.headers.get("X-Api-Key") != BICTORYS_PUBLIC:
            return web.json_response({"status": "401", "title": "Unauthorized"}, status=401)
        body = await request.json()
        self.created.append({"query": dict(request.query), **body})
        ref = str(uuid.uuid4())
        self.checkouts[ref] = {"provider": "bictorys", "ref": body["paymentReference"], "amount": body["amount"],
                               "currency": body["currency"], "status": "pending"}
        answer = fixture("bictorys", "create_charge.response.202.json")
        answer.update(chargeId=ref, link=f"{self.url}/checkout/{ref}")
        return web.json_response(answer, status=202)

    async def bictorys_transaction(self, request: web.Request) -> web.Response:
        self.calls.append(("bictorys", request.path))
        if request.headers.get("X-Api-Key") != BICTORYS_SECRET:
            return web.json_response({"status": "403", "details": "E403-1"}, status=403)
        c = self.checkouts.get(request.match_info["id"])
        if c is None:
            return web.json_response({"status": "404"}, status=404)
        answer = fixture("bictorys", "transaction.succeeded.response.json")
        paid = c.get("paid_amount", c["amount"])
        fees = answer["merchantFees"]
        answer.update(id=request.match_info["id"], paymentReference=c["ref"], merchantReference=c["ref"],
                      amount=paid - fees, currency=c["currency"], status=c["status"])
        return web.json_response(answer)

    # Wave
    async def wave_create(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {WAVE_KEY}":
            return web.json_response({"code": "invalid-auth", "message": "Invalid API key"}, status=401)
        body = await request.json()
        self.created.append(body)
        if not isinstance(body["amount"], str) or not body["amount"].isdigit():
            return web.json_response(fixture("wave", "create_session.error.400.json"), status=400)
        ref = f"cos-{uuid.uuid4().hex[:13]}"
        self.checkouts[ref] = {"provider": "wave", "ref": body["client_reference"], "amount": int(body["amount"]),
                               "currency": body["currency"], "status": "pending"}
        return web.json_response(self._session(ref))

    def _session(self, ref: str) -> dict[str, Any]:
        c = self.checkouts[ref]
        name = "get_session.complete.response.json" if c["status"] == "succeeded" else "create_session.response.json"
        answer = fixture("wave", name)
        answer.update(id=ref, client_reference=c["ref"], currency=c["currency"],
                      amount=str(c.get("paid_amount", c["amount"])), wave_launch_url=f"{self.url}/checkout/{ref}")
        return answer  # type: ignore[no-any-return]

    async def wave_get(self, request: web.Request) -> web.Response:
        self.calls.append(("wave", request.path))
        if request.headers.get("Authorization") != f"Bearer {WAVE_KEY}":
            return web.json_response({"code": "invalid-auth"}, status=401)
        if request.match_info["id"] not in self.checkouts:
            return web.json_response({"code": "not-found"}, status=404)
        return web.json_response(self._session(request.match_info["id"]))

    async def wave_expire(self, request: web.Request) -> web.Response:
        self.calls.append(("wave", request.path))
        self.checkouts[request.match_info["id"]]["status"] = "expired"
        return web.json_response({})

    async def wave_refund(self, request: web.Request) -> web.Response:
        self.calls.append(("wave", request.path))
        c = self.checkouts.get(request.match_info["id"])
        if c is None or c["status"] != "succeeded":
            return web.json_response({"code": "checkout-session-not-succeeded"}, status=409)
        c["status"] = "refunded"
        return web.Response(status=200)

    async def bictorys_refund(self, request: web.Request) -> web.Response:
        self.calls.append(("bictorys", request.path))
        if request.headers.get("X-Api-Key") != BICTORYS_SECRET:
            return web.json_response({"status": "403"}, status=403)
        c = self.checkouts.get(request.match_info["id"])
        if c is None or c["status"] != "succeeded":
            return web.json_response({"status": "400", "details": "E400: not refundable"}, status=400)
        c["status"] = "reversed"
        return web.json_response({"status": "accepted"}, status=202)

    # PayDunya
    def _paydunya_auth(self, request: web.Request) -> bool:
        return (request.headers.get("PAYDUNYA-MASTER-KEY"), request.headers.get("PAYDUNYA-PRIVATE-KEY"),
                request.headers.get("PAYDUNYA-TOKEN")) == (PAYDUNYA_MASTER, PAYDUNYA_PRIVATE, PAYDUNYA_TOKEN)

    async def paydunya_create(self, request: web.Request) -> web.Response:
        if not self._paydunya_auth(request):
            return web.json_response(fixture("paydunya", "create_invoice.error.json"))
        body = await request.json()
        self.created.append(body)
        token = f"test_{uuid.uuid4().hex[:10]}"
        self.checkouts[token] = {"provider": "paydunya", "ref": body["custom_data"]["order_ref"],
                                 "amount": body["invoice"]["total_amount"], "currency": "XOF", "status": "pending"}
        answer = fixture("paydunya", "create_invoice.response.json")
        answer.update(token=token, response_text=f"{self.url}/checkout/{token}")
        return web.json_response(answer)

    def confirm_body(self, token: str) -> dict[str, Any]:
        c = self.checkouts[token]
        name = "confirm.completed.response.json" if c["status"] == "succeeded" else "confirm.pending.response.json"
        answer = fixture("paydunya", name)
        answer["invoice"].update(token=token, total_amount=c.get("paid_amount", c["amount"]))
        answer["custom_data"] = {"order_ref": c["ref"], "vendor": "demo"}
        if c["status"] not in ("succeeded", "pending"):
            answer["status"] = c["status"]
        return answer  # type: ignore[no-any-return]

    async def paydunya_confirm(self, request: web.Request) -> web.Response:
        self.calls.append(("paydunya", request.path))
        if not self._paydunya_auth(request) or request.match_info["token"] not in self.checkouts:
            return web.json_response({"response_code": "1001", "response_text": "Invoice Not Found"})
        return web.json_response(self.confirm_body(request.match_info["token"]))

    # webhooks as each provider would send them for a checkout, signed with the test secrets
    def webhook(self, provider_ref: str, *, now: float | None = None) -> tuple[dict[str, str], bytes]:
        c = self.checkouts[provider_ref]
        now = time.time() if now is None else now
        if c["provider"] == "bictorys":
            data = json.loads(raw("bictorys", "webhook.succeeded.json"))
            data.update(id=provider_ref, paymentReference=c["ref"], merchantReference=c["ref"],
                        amount=c.get("paid_amount", c["amount"]), status=c["status"].upper())
            return {"Content-Type": "application/json", "X-Secret-Key": BICTORYS_WEBHOOK}, _compact(data)
        if c["provider"] == "wave":
            event = json.loads(raw("wave", "webhook.checkout_session_completed.json"))
            event["data"] = self._session(provider_ref)
            body = _compact(event)
            t = str(int(now))
            sig = hmac.new(WAVE_WEBHOOK.encode(), t.encode() + body, hashlib.sha256).hexdigest()
            return {"Content-Type": "application/json", "Wave-Signature": f"t={t},v1={sig}"}, body
        fields = _flatten("data", {**self.confirm_body(provider_ref),
                                   "hash": hashlib.sha512(PAYDUNYA_MASTER.encode()).hexdigest()})
        return {"Content-Type": "application/x-www-form-urlencoded"}, urlencode(fields).encode()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/pay/v1/charges", self.bictorys_charge)
        app.router.add_get("/pay/v1/transactions/{id}", self.bictorys_transaction)
        app.router.add_post("/v1/checkout/sessions", self.wave_create)
        app.router.add_get("/v1/checkout/sessions/{id}", self.wave_get)
        app.router.add_post("/v1/checkout/sessions/{id}/expire", self.wave_expire)
        app.router.add_post("/v1/checkout/sessions/{id}/refund", self.wave_refund)
        app.router.add_put("/pay/v1/transactions/{id}/refund", self.bictorys_refund)
        app.router.add_post("/checkout-invoice/create", self.paydunya_create)
        app.router.add_get("/checkout-invoice/confirm/{token}", self.paydunya_confirm)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _compact(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _flatten(prefix: str, value: Any) -> list[tuple[str, str]]:
    """PHP-style bracket keys, as PayDunya posts its IPN."""
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _flatten(f"{prefix}[{k}]", v)]
    if isinstance(value, list):
        return [pair for i, v in enumerate(value) for pair in _flatten(f"{prefix}[{i}]", v)]
    return [(prefix, "" if value is None else str(value))]
