"""CinetPay against its fixtures: x-token over the 16 decoded fields, the check API, amounts CinetPay takes."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bot.payments import CheckoutRequest, InvalidWebhook, PaymentStatus, ProviderError, confirms
from bot.payments.cinetpay import Cinetpay
from bot.payments.config import CinetpayPsp
from storage import Payment
from tests.payments.fakepsp import CINETPAY_APIKEY, CINETPAY_SITE, FakePSP, meta, raw

HOOK = meta("cinetpay")["webhooks"]["notify.accepted.form-urlencoded.txt"]
REF = "LP-2026-0215-B7K1"


def gateway(base_url: str = "https://api-checkout.cinetpay.com", secret: str = HOOK["dummy_secret_key"]) -> Cinetpay:
    return Cinetpay(CinetpayPsp(provider="cinetpay", apikey=CINETPAY_APIKEY, site_id=CINETPAY_SITE,
                                secret_key=secret, base_url=base_url))


def body() -> bytes:
    return raw("cinetpay", "notify.accepted.form-urlencoded.txt")


def payment(amount: int = 12500) -> Payment:
    return Payment(id=REF, psp="cinetpay", vendor_id="demo", order_id="o1", amount=amount, method="om",
                   provider_ref=REF)


def test_notification_with_the_right_x_token_names_our_transaction() -> None:
    hook = gateway().parse_webhook(HOOK["headers"], body(), 0)
    assert (hook.provider_ref, hook.order_ref) == (REF, REF)
    assert hook.status_hint == PaymentStatus.SUCCEEDED and hook.body_authenticated


def test_the_token_is_over_decoded_values_not_raw_bytes() -> None:
    token = hmac.new(HOOK["dummy_secret_key"].encode(), body(), hashlib.sha256).hexdigest()
    with pytest.raises(InvalidWebhook):
        gateway().parse_webhook({"x-token": token}, body(), 0)


@pytest.mark.parametrize("change", ["wrong_secret", "no_token", "tampered_amount", "fields_reordered"])
def test_bad_notifications_are_refused(change: str) -> None:
    headers, data, secret = dict(HOOK["headers"]), body(), HOOK["dummy_secret_key"]
    if change == "wrong_secret":
        secret = "someone_elses_secret_key"
    elif change == "no_token":
        del headers["x-token"]
    elif change == "tampered_amount":
        data = data.replace(b"cpm_amount=12500", b"cpm_amount=125")
    else:
        message = HOOK["signed_string"].replace("105000000LP-2026-0215-B7K1", "LP-2026-0215-B7K1105000000")
        headers["x-token"] = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    with pytest.raises(InvalidWebhook):
        gateway(secret=secret).parse_webhook(headers, data, 0)


def test_a_replayed_notification_is_the_same_event() -> None:
    g = gateway()
    assert g.parse_webhook(HOOK["headers"], body(), 0) == g.parse_webhook(HOOK["headers"], body(), 0)


def fake_checkout(fake: FakePSP, amount: int = 12500) -> None:
    fake.checkouts[REF] = {"provider": "cinetpay", "ref": REF, "amount": amount, "currency": "XOF",
                           "status": "pending", "metadata": REF}


async def test_waiting_then_accepted_then_amount_compared(fake_psp: FakePSP) -> None:
    fake_checkout(fake_psp)
    g = gateway(fake_psp.url)
    assert confirms(payment(), await g.fetch_status(REF)) == "pending"
    fake_psp.pay(REF)
    state = await g.fetch_status(REF)
    assert (state.status, state.amount, state.currency, state.order_ref) == ("succeeded", 12500, "XOF", REF)
    assert confirms(payment(), state) == "paid"
    assert confirms(payment(amount=12000), state) == "mismatch"
    await g.close()


async def test_refused_is_failed(fake_psp: FakePSP) -> None:
    fake_checkout(fake_psp)
    fake_psp.pay(REF, status="refused")
    assert confirms(payment(), await gateway(fake_psp.url).fetch_status(REF)) == "failed"


def request(amount: int) -> CheckoutRequest:
    return CheckoutRequest(order_ref=REF, amount=amount, currency="XOF", method="om", description="ROBE1",
                           success_url="https://x/ok", cancel_url="https://x/ko", notify_url="https://x/hook",
                           expires_in_s=600, buyer_phone="+2250700000000")


async def test_checkout_sends_the_account_in_the_body_and_an_integer_amount(fake_psp: FakePSP) -> None:
    g = gateway(fake_psp.url)
    checkout = await g.create_checkout(request(12500))
    sent = fake_psp.created[0]
    assert (sent["apikey"], sent["site_id"], sent["amount"], sent["channels"]) == (
        CINETPAY_APIKEY, CINETPAY_SITE, 12500, "MOBILE_MONEY")
    assert (checkout.provider_ref, checkout.url) == (REF, f"{fake_psp.url}/checkout/{REF}")
    await g.close()


@pytest.mark.parametrize("amount", [12502, 95])
async def test_an_amount_cinetpay_would_round_down_is_refused_before_the_call(fake_psp: FakePSP, amount: int) -> None:
    with pytest.raises(ProviderError):
        await gateway(fake_psp.url).create_checkout(request(amount))
    assert fake_psp.created == []


async def test_no_refund_api(fake_psp: FakePSP) -> None:
    g = gateway(fake_psp.url)
    assert not g.refunds and await g.refund(REF, "refund-1") is False
