"""A whole sale through each real PSP adapter, against a local fake PSP: link, webhook, status check, receipt."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from bot.app import create_app
from bot.runtime import Runtime, load_vendors
from bot.settings import Settings
from tests.bot.test_live_sale import wait_for_text
from tests.conftest import Server, eventually, vendor_dir
from tests.payments.fakepsp import FLW_HASH, FakePSP, psp_block

BUYER = "+221770000001"
PROVIDERS = ["bictorys", "wave", "paydunya", "flutterwave", "cinetpay"]


async def open_checkout(server: Server, fake: FakePSP, method: str = "wave") -> tuple[str, dict]:
    await server.say(BUYER, "ROBE1")
    await server.say(BUYER, payload="pay")
    reply = (await server.say(BUYER, payload=method))["replies"][0]
    ref, checkout = fake.only()
    assert f"{fake.url}/checkout/{ref}" in reply["text"]
    return ref, checkout


async def post_webhook(server: Server, provider: str, headers: dict, body: bytes) -> tuple[int, dict]:
    async with server.http.post(f"{server.url}/webhooks/payments/{provider}/demo", data=body, headers=headers) as r:
        return r.status, await r.json()


async def order_of(server: Server):
    conv = await server.runtime.store.get_conversation(f"demo:web:{BUYER}")
    order_id = conv.slots.get("order_id") or conv.slots.get("last_order_id")
    return await server.runtime.store.get_order(order_id)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_sale_is_paid_once_through_the_provider(start_server, fake_psp: FakePSP, tmp_path: Path,
                                                        provider: str) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, psp=psp_block(provider, fake_psp.url)))
    ref, checkout = await open_checkout(server, fake_psp)
    payment = await server.runtime.store.get_payment(checkout["ref"])
    assert payment is not None and payment.provider_ref == ref and payment.psp == provider
    assert checkout["amount"] == 15000 and checkout["currency"] == "XOF"
    created = fake_psp.created[0]
    if provider == "wave":
        assert created["amount"] == "15000" and created["restrict_payer_mobile"] == BUYER  # a string, no decimals
    if provider == "bictorys":
        assert created["amount"] == 15000 and created["query"] == {"payment_type": "wave_money"}
    if provider in ("flutterwave", "cinetpay"):  # an integer of francs, the currency always named
        assert type(created["amount"]) is int and created["currency"] == "XOF"
    if provider == "flutterwave":
        assert 1 <= created["session_duration"] <= 15 and created["tx_ref"] == checkout["ref"]

    fake_psp.pay(ref)
    headers, body = fake_psp.webhook(ref)
    assert await post_webhook(server, provider, headers, body) == (200, {"status": "accepted"})
    transcript = await wait_for_text(server, BUYER, "Paiement reçu")
    for _ in range(2):  # the provider redelivers
        assert (await post_webhook(server, provider, headers, body))[0] == 200
    await eventually(lambda: not server.runtime._spawned, "the redeliveries to be handled")
    transcript = await server.transcript(BUYER)
    assert sum("Paiement reçu" in (m["text"] or "") for m in transcript) == 1
    order = await order_of(server)
    assert order.status == "paid" and order.payment_id == checkout["ref"]
    assert (await server.runtime.store.get_payment(checkout["ref"])).status == "paid"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_payment_of_the_wrong_amount_is_not_confirmed(start_server, fake_psp: FakePSP, tmp_path: Path,
                                                              provider: str) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, psp=psp_block(provider, fake_psp.url)))
    ref, _ = await open_checkout(server, fake_psp)
    fake_psp.pay(ref, amount=1500)
    assert (await post_webhook(server, provider, *fake_psp.webhook(ref)))[0] == 200
    await eventually(lambda: any(c[0] == provider for c in fake_psp.calls), "the status read")
    assert await server.runtime.payments.poll(older_than=0) == {"mismatch": 1}
    assert (await order_of(server)).status == "awaiting_payment"
    assert not any("Paiement reçu" in (m["text"] or "") for m in await server.transcript(BUYER))


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_poller_confirms_a_payment_whose_webhook_never_came(start_server, fake_psp: FakePSP,
                                                                      tmp_path: Path, provider: str) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, psp=psp_block(provider, fake_psp.url)))
    ref, _ = await open_checkout(server, fake_psp, method="card")
    assert await server.runtime.payments.poll(older_than=0) == {"pending": 1}
    fake_psp.pay(ref)
    assert await server.runtime.payments.poll(older_than=0) == {"paid": 1}
    await wait_for_text(server, BUYER, "Paiement reçu")
    assert await server.runtime.payments.poll(older_than=0) == {}  # nothing left to ask about


async def test_a_webhook_that_does_not_authenticate_is_refused(start_server, fake_psp: FakePSP,
                                                               tmp_path: Path) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, psp=psp_block("wave", fake_psp.url)))
    ref, _ = await open_checkout(server, fake_psp)
    fake_psp.pay(ref)
    headers, body = fake_psp.webhook(ref)
    forged = body.replace(b'"payment_status":"succeeded"', b'"payment_status":"succeeded" ')
    status, answer = await post_webhook(server, "wave", headers, forged)
    assert (status, answer["error"]["code"]) == (401, "invalid_signature")
    status, answer = await post_webhook(server, "bictorys", headers, body)  # not this vendor's provider
    assert (status, answer["error"]["code"]) == (404, "unknown_psp")
    status, answer = await post_webhook(server, "wave", {"Wave-Signature": "t=x,v1=é"}, b"\xff")
    assert status == 401 and "error" in answer
    assert (await order_of(server)).status == "awaiting_payment"


async def test_production_serves_a_vendor_with_a_real_psp(fake_psp: FakePSP, tmp_path: Path) -> None:
    vendors = load_vendors(str(vendor_dir(tmp_path, psp=psp_block("bictorys", fake_psp.url))))
    settings = Settings.from_env({"PALABRE_ENV": "production"}, data_dir=str(tmp_path / "data"))
    app = create_app(Runtime(settings, vendors))  # no StartupRefused
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert "/webhooks/payments/{psp}/{vendor}" in paths
    assert not any(p.startswith("/pay/sandbox") for p in paths)


async def test_a_provider_that_refuses_the_checkout_gets_the_buyer_an_apology_not_a_500(
        start_server, fake_psp: FakePSP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAVE_API_KEY", "wave_sn_prod_revoked_key")
    server: Server = await start_server(vendor_dir(tmp_path, psp=psp_block("wave", fake_psp.url)))
    await server.say(BUYER, "ROBE1")
    await server.say(BUYER, payload="pay")
    replies = (await server.say(BUYER, payload="wave"))["replies"]
    assert fake_psp.checkouts == {}  # refused at the door (401)
    assert [r["text"] for r in replies] == ["Désolé, un souci technique m'empêche de répondre. Réessayez dans "
                                            "un instant 🙏"]
    assert not any(fake_psp.url in (m["text"] or "") for m in await server.transcript(BUYER))
    assert (await order_of(server)).status == "reserved"


async def test_a_wave_link_is_closed_when_the_reservation_expires(start_server, fake_psp: FakePSP,
                                                                  tmp_path: Path) -> None:
    # 0.02 min = 1.2 s reservation
    server: Server = await start_server(vendor_dir(tmp_path, reservation_minutes=0.02,
                                                   psp=psp_block("wave", fake_psp.url)))
    ref, checkout = await open_checkout(server, fake_psp)
    await wait_for_text(server, BUYER, "a expiré")
    assert await server.runtime.payments.poll(older_than=0) == {"expired": 1}
    assert ("wave", f"/v1/checkout/sessions/{ref}/expire") in fake_psp.calls
    assert (await server.runtime.store.get_payment(checkout["ref"])).status == "expired"
    assert await server.runtime.payments.poll(older_than=0) == {}


async def test_a_bictorys_payment_after_the_reservation_expired_is_still_honoured(
        start_server, fake_psp: FakePSP, tmp_path: Path) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, reservation_minutes=0.02,
                                                   psp=psp_block("bictorys", fake_psp.url)))
    ref, _ = await open_checkout(server, fake_psp)
    await wait_for_text(server, BUYER, "a expiré")
    assert await server.runtime.payments.poll(older_than=0) == {"pending": 1}  # no way to close the link
    fake_psp.pay(ref)
    assert await server.runtime.payments.poll(older_than=0) == {"paid": 1}
    await wait_for_text(server, BUYER, "Paiement reçu")
    assert (await order_of(server)).status == "paid"


@pytest.mark.parametrize("provider", ["flutterwave", "cinetpay"])
async def test_garbage_webhooks_get_a_4xx_json_error_never_a_500(start_server, fake_psp: FakePSP, tmp_path: Path,
                                                                provider: str) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, psp=psp_block(provider, fake_psp.url)))
    ref, _ = await open_checkout(server, fake_psp)
    fake_psp.pay(ref)
    good_headers, good_body = fake_psp.webhook(ref)
    token = "flutterwave-signature" if provider == "flutterwave" else "x-token"
    cases = [
        ({}, good_body),
        ({token: "é" * 10}, good_body),
        ({token: good_headers[token]}, b"\xff\xfe" + good_body),
        ({token: good_headers[token]}, good_body + b"&cpm_amount=1" if provider == "cinetpay" else b"[1, 2]"),
        ({"verif-hash": "x" * 5000}, b"{}"),
    ]
    for headers, body in cases:
        status, answer = await post_webhook(server, provider, headers, body)
        assert 400 <= status < 500 and answer["error"]["code"], (headers, body[:40])
    if provider == "flutterwave":  # authentic but unreadable: 400, not 401
        body = b'{"event":"charge.completed","data":"nothing"}'
        sig = base64.b64encode(hmac.new(FLW_HASH.encode(), body, hashlib.sha256).digest()).decode()
        status, answer = await post_webhook(server, provider, {"flutterwave-signature": sig}, body)
        assert (status, answer["error"]["code"]) == (400, "invalid_body")
    assert (await order_of(server)).status == "awaiting_payment"


async def test_the_same_method_chosen_again_gets_the_same_link_not_a_second_checkout(
    start_server, fake_psp: FakePSP, tmp_path: Path
) -> None:
    # "wave" typed twice opened two checkouts for one order, and a buyer could pay both
    server: Server = await start_server(vendor_dir(tmp_path, psp=psp_block("wave", fake_psp.url)))
    ref, _ = await open_checkout(server, fake_psp)
    again = (await server.say(BUYER, "wave"))["replies"][0]["text"]
    assert f"{fake_psp.url}/checkout/{ref}" in again
    assert len(fake_psp.created) == 1
    other = (await server.say(BUYER, "orange money"))["replies"][0]["text"]
    assert len(fake_psp.created) == 2 and f"{fake_psp.url}/checkout/{ref}" not in other  # another method: its own
