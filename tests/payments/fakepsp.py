"""A local PSP on 127.0.0.1 speaking Bictorys, Wave, PayDunya, Flutterwave and CinetPay, shaped by the fixtures."""

from __future__ import annotations

import base64
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
FLW_SECRET = "FLWSECK_TEST-fake0000000000000000000000000001-X"
FLW_HASH = "flw-fake-secret-hash-0001"
CINETPAY_APIKEY = "FAKE000000000000000000.00000001"
CINETPAY_SITE = "105000001"
CINETPAY_SECRET = "fake_cinetpay_secret_key_0001"
ENV = {
    "FLW_SECRET_KEY": FLW_SECRET, "FLW_SECRET_HASH": FLW_HASH, "CINETPAY_APIKEY": CINETPAY_APIKEY,
    "CINETPAY_SECRET_KEY": CINETPAY_SECRET,
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
    if provider == "flutterwave":
        return {"provider": "flutterwave", "secret_key": "${FLW_SECRET_KEY}", "secret_hash": "${FLW_SECRET_HASH}",
                "customer_email": "ventes@boutique-awa.example", "base_url": base_url}
    if provider == "cinetpay":
        return {"provider": "cinetpay", "apikey": "${CINETPAY_APIKEY}", "site_id": CINETPAY_SITE,
                "secret_key": "${CINETPAY_SECRET_KEY}", "base_url": base_url}
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
        self.refund_keys: list[str] = []  # idempotency keys of refund calls, where the provider takes one
        self.refund_outages = 0  # the next refund calls that meet a provider outage (503)
        self._runner: web.AppRunner | None = None

    # test controls
    def only(self) -> tuple[str, dict[str, Any]]:
        assert len(self.checkouts) == 1, self.checkouts
        return next(iter(self.checkouts.items()))

    def pay(self, provider_ref: str, amount: int | None = None, status: str = "succeeded") -> None:
        c = self.checkouts[provider_ref]
        c["status"], c["paid_amount"] = status, c["amount"] if amount is None else amount

    def _outage(self) -> web.Response | None:
        if self.refund_outages <= 0:
            return None
        self.refund_outages -= 1
        return web.Response(status=503, text="<html>Service Unavailable</html>", content_type="text/html")

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
        if outage := self._outage():
            return outage
        c = self.checkouts.get(request.match_info["id"])
        if c is None or c["status"] != "succeeded":
            return web.json_response({"code": "checkout-session-not-succeeded"}, status=409)
        c["status"] = "refunded"
        return web.Response(status=200)

    async def bictorys_refund(self, request: web.Request) -> web.Response:
        self.calls.append(("bictorys", request.path))
        self.refund_keys.append(request.headers.get("Request-Id", ""))
        if outage := self._outage():
            return outage
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

    # Flutterwave: the checkout is known by our tx_ref until the buyer pays; then a transaction id exists
    async def flutterwave_create(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {FLW_SECRET}":
            return web.json_response(fixture("flutterwave", "create_payment.error.401.json"), status=401)
        body = await request.json()
        self.created.append(body)
        ref = body["tx_ref"]
        self.checkouts[ref] = {"provider": "flutterwave", "ref": ref, "amount": body["amount"],
                               "currency": body.get("currency", "NGN"), "status": "pending", "id": 1163068}
        answer = fixture("flutterwave", "create_payment.response.json")
        answer["data"]["link"] = f"{self.url}/checkout/{ref}"
        return web.json_response(answer)

    def flutterwave_transaction(self, ref: str) -> dict[str, Any]:
        c = self.checkouts[ref]
        answer = fixture("flutterwave", "verify.successful.response.json")
        paid = c.get("paid_amount", c["amount"])
        status = {"succeeded": "successful"}.get(c["status"], c["status"])
        answer["data"].update(id=c["id"], tx_ref=ref, amount=paid, charged_amount=paid, currency=c["currency"],
                              status=status)
        return answer  # type: ignore[no-any-return]

    async def flutterwave_verify(self, request: web.Request) -> web.Response:
        self.calls.append(("flutterwave", request.path))
        if request.headers.get("Authorization") != f"Bearer {FLW_SECRET}":
            return web.json_response(fixture("flutterwave", "create_payment.error.401.json"), status=401)
        c = self.checkouts.get(request.query.get("tx_ref", ""))
        if c is None or c["status"] == "pending":  # no transaction until the buyer tries to pay
            return web.json_response({"status": "error", "message": "No transaction was found for this id",
                                      "data": None}, status=400)
        return web.json_response(self.flutterwave_transaction(c["ref"]))

    async def flutterwave_refund(self, request: web.Request) -> web.Response:
        self.calls.append(("flutterwave", request.path))
        self.refund_keys.append(request.headers.get("X-Idempotency-Key", ""))
        if outage := self._outage():
            return outage
        c = next((c for c in self.checkouts.values() if str(c.get("id")) == request.match_info["id"]), None)
        if c is None or c["status"] != "succeeded":
            return web.json_response({"status": "error", "message": "Transaction cannot be refunded"}, status=400)
        c["status"] = "refunded"
        return web.json_response({"status": "success", "message": "Transaction refund initiated",
                                  "data": {"id": 75923, "status": "completed", "amount_refunded": c["amount"]}})

    # CinetPay
    async def cinetpay_init(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (body.get("apikey"), body.get("site_id")) != (CINETPAY_APIKEY, CINETPAY_SITE):
            return web.json_response({"code": "608", "message": "MINIMUM_REQUIRED_FIELDS"})
        self.created.append(body)
        ref = body["transaction_id"]
        self.checkouts[ref] = {"provider": "cinetpay", "ref": ref, "amount": body["amount"],
                               "currency": body["currency"], "status": "pending", "metadata": body.get("metadata")}
        answer = fixture("cinetpay", "init.response.json")
        answer["data"]["payment_url"] = f"{self.url}/checkout/{ref}"
        return web.json_response(answer)

    async def cinetpay_check(self, request: web.Request) -> web.Response:
        self.calls.append(("cinetpay", request.path))
        body = await request.json()
        c = self.checkouts.get(body.get("transaction_id", ""))
        if (body.get("apikey"), body.get("site_id")) != (CINETPAY_APIKEY, CINETPAY_SITE) or c is None:
            return web.json_response({"code": "627", "message": "TRANSACTION_NOT_FOUND"})
        name = "check.accepted.response.json" if c["status"] == "succeeded" else "check.refused.response.json"
        answer = fixture("cinetpay", name)
        if c["status"] == "pending":
            answer.update(code="662", message="WAITING_CUSTOMER_PAYMENT")
            answer["data"]["status"] = "WAITING_FOR_CUSTOMER"
        answer["data"].update(amount=str(c.get("paid_amount", c["amount"])), currency=c["currency"],
                              metadata=c["metadata"])
        return web.json_response(answer)

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
        if c["provider"] == "flutterwave":
            event = json.loads(raw("flutterwave", "webhook.charge_completed.successful.json"))
            event["data"].update({k: v for k, v in self.flutterwave_transaction(provider_ref)["data"].items()
                                  if k in event["data"]})
            body = _compact(event)
            sig = base64.b64encode(hmac.new(FLW_HASH.encode(), body, hashlib.sha256).digest()).decode()
            return {"Content-Type": "application/json", "flutterwave-signature": sig}, body
        if c["provider"] == "cinetpay":
            return cinetpay_notification(CINETPAY_SITE, provider_ref, c.get("paid_amount", c["amount"]),
                                         CINETPAY_SECRET)
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
        app.router.add_post("/v3/payments", self.flutterwave_create)
        app.router.add_get("/v3/transactions/verify_by_reference", self.flutterwave_verify)
        app.router.add_post("/v3/transactions/{id}/refund", self.flutterwave_refund)
        app.router.add_post("/v2/payment", self.cinetpay_init)
        app.router.add_post("/v2/payment/check", self.cinetpay_check)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def cinetpay_notification(site_id: str, trans_id: str, amount: int, secret: str) -> tuple[dict[str, str], bytes]:
    """The fixture's notification for another transaction, form-encoded and signed (x-token)."""
    fields = fixture("cinetpay", "notify.accepted.decoded.json")
    fields.update(cpm_site_id=site_id, cpm_trans_id=trans_id, cpm_amount=str(amount))
    signed = "".join(fields.values()).encode()  # the decoded fixture keeps the documented field order
    token = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/x-www-form-urlencoded", "x-token": token}, urlencode(fields).encode()


def _compact(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _flatten(prefix: str, value: Any) -> list[tuple[str, str]]:
    """PHP-style bracket keys, as PayDunya posts its IPN."""
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _flatten(f"{prefix}[{k}]", v)]
    if isinstance(value, list):
        return [pair for i, v in enumerate(value) for pair in _flatten(f"{prefix}[{i}]", v)]
    return [(prefix, "" if value is None else str(value))]
