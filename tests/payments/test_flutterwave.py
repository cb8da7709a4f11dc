"""Flutterwave against its fixtures: verif-hash and flutterwave-signature webhooks, verify by tx_ref, refunds."""

from __future__ import annotations

import pytest

from bot.payments import InvalidWebhook, PaymentStatus, confirms
from bot.payments.config import FlutterwavePsp
from bot.payments.flutterwave import Flutterwave
from storage import Payment
from tests.payments.fakepsp import FLW_SECRET, FakePSP, meta, raw

HOOKS = meta("flutterwave")["webhooks"]
OK = HOOKS["webhook.charge_completed.successful.json"]
FAILED = HOOKS["webhook.charge_completed.failed.json"]
REF = "WC-2026-0215-9KQ2"


def gateway(base_url: str = "https://api.flutterwave.com", secret_hash: str = OK["dummy_secret_hash"]) -> Flutterwave:
    return Flutterwave(FlutterwavePsp(provider="flutterwave", secret_key=FLW_SECRET, secret_hash=secret_hash,
                                      customer_email="ventes@boutique.example", base_url=base_url))


def body(name: str = "webhook.charge_completed.successful.json") -> bytes:
    return raw("flutterwave", name)


def payment(amount: int = 10000, currency: str = "XAF") -> Payment:
    return Payment(id=REF, psp="flutterwave", vendor_id="demo", order_id="o1", amount=amount, currency=currency,
                   method="card", provider_ref=REF)


def test_signed_webhook_authenticates_the_body_and_names_the_transaction_and_our_reference() -> None:
    hook = gateway().parse_webhook(OK["headers_signed"], body(), 0)
    assert (hook.provider_ref, hook.order_ref, hook.event_id) == ("1163068", REF, "1163068:successful")
    assert hook.status_hint == PaymentStatus.SUCCEEDED and hook.body_authenticated


def test_legacy_verif_hash_is_accepted_but_not_as_a_body_signature() -> None:
    hook = gateway().parse_webhook(OK["headers_legacy_v3"], body(), 0)
    assert hook.order_ref == REF and not hook.body_authenticated


def test_a_failed_charge_is_the_same_event_but_not_a_success() -> None:
    hook = gateway().parse_webhook(FAILED["headers_signed"], body("webhook.charge_completed.failed.json"), 0)
    assert hook.status_hint == PaymentStatus.FAILED and hook.provider_ref == "1163071"


@pytest.mark.parametrize("change", ["wrong_hash", "no_header", "tampered_body", "signature_of_other_body",
                                    "hex_instead_of_base64"])
def test_bad_webhooks_are_refused(change: str) -> None:
    headers, data = dict(OK["headers_signed"]), body()
    if change == "wrong_hash":
        headers = {**OK["headers_legacy_v3"], "verif-hash": "someone-elses-secret-hash"}
    elif change == "no_header":
        del headers["flutterwave-signature"]
    elif change == "tampered_body":
        data = data.replace(b'"amount":10000', b'"amount":100')
    elif change == "signature_of_other_body":
        headers["flutterwave-signature"] = FAILED["headers_signed"]["flutterwave-signature"]
    else:
        headers["flutterwave-signature"] = OK["body_sha256"]
    with pytest.raises(InvalidWebhook):
        gateway().parse_webhook(headers, data, 0)


def test_a_webhook_replayed_is_the_same_event() -> None:
    g = gateway()
    assert g.parse_webhook(OK["headers_signed"], body(), 0) == g.parse_webhook(OK["headers_signed"], body(), 0)


def fake_checkout(fake: FakePSP) -> None:
    fake.checkouts[REF] = {"provider": "flutterwave", "ref": REF, "amount": 10000, "currency": "XAF",
                           "status": "pending", "id": 1163068}


async def test_no_transaction_yet_is_pending_then_verify_confirms(fake_psp: FakePSP) -> None:
    fake_checkout(fake_psp)
    g = gateway(fake_psp.url)
    assert confirms(payment(), await g.fetch_status(REF)) == "pending"
    fake_psp.pay(REF)
    state = await g.fetch_status(REF)
    assert (state.status, state.amount, state.currency, state.order_ref) == ("succeeded", 10000, "XAF", REF)
    assert confirms(payment(), state) == "paid"
    assert confirms(payment(amount=15000), state) == "mismatch"
    assert confirms(payment(currency="XOF"), state) == "mismatch"
    await g.close()


async def test_an_underpaid_charge_reads_as_the_amount_charged(fake_psp: FakePSP) -> None:
    fake_checkout(fake_psp)
    fake_psp.pay(REF, amount=9000)
    assert confirms(payment(), await gateway(fake_psp.url).fetch_status(REF)) == "mismatch"


async def test_checkout_sends_francs_the_currency_and_the_reservation_time(fake_psp: FakePSP) -> None:
    from bot.payments import CheckoutRequest

    g = gateway(fake_psp.url)
    checkout = await g.create_checkout(CheckoutRequest(
        order_ref=REF, amount=10000, currency="XOF", method="om", description="ROBE1", success_url="https://x/ok",
        cancel_url="https://x/ko", notify_url="https://x/hook", expires_in_s=599, buyer_phone="+221770000001"))
    sent = fake_psp.created[0]
    assert (sent["amount"], sent["currency"], sent["session_duration"]) == (10000, "XOF", 10)
    assert sent["payment_options"] == "mobilemoneyfranco" and sent["customer"]["phonenumber"] == "221770000001"
    assert (checkout.provider_ref, checkout.url) == (REF, f"{fake_psp.url}/checkout/{REF}")
    await g.close()


async def test_refund_by_transaction_id_with_an_idempotency_key(fake_psp: FakePSP) -> None:
    fake_checkout(fake_psp)
    g = gateway(fake_psp.url)
    assert await g.refund(REF, "refund-pay_1") is False  # nothing paid, nothing to refund
    fake_psp.pay(REF)
    assert await g.refund(REF, "refund-pay_1") is True
    assert ("flutterwave", "/v3/transactions/1163068/refund") in fake_psp.calls
    assert fake_psp.refund_keys == ["refund-pay_1"] and fake_psp.checkouts[REF]["status"] == "refunded"
    await g.close()
