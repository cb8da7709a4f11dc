"""Bictorys against its fixtures: X-Secret-Key and HMAC webhooks, the transaction read, the confirmation rule."""

from __future__ import annotations

import pytest

from bot.payments import InvalidWebhook, PaymentStatus, confirms
from bot.payments.bictorys import Bictorys
from bot.payments.config import BictorysPsp
from storage import Payment
from tests.payments.fakepsp import BICTORYS_PUBLIC, BICTORYS_SECRET, FakePSP, meta, raw

HOOK = meta("bictorys")["webhooks"]["webhook.succeeded.json"]
NOW = HOOK["now_ms_for_tests"] / 1000
REF = "LP-2026-0215-A3F2"


def gateway(base_url: str = "https://api.test.bictorys.com", webhook_secret: str = HOOK["dummy_webhook_secret"]
            ) -> Bictorys:
    return Bictorys(BictorysPsp(provider="bictorys", api_key=BICTORYS_PUBLIC, secret_key=BICTORYS_SECRET,
                                webhook_secret=webhook_secret, base_url=base_url))


def payment(amount: int = 15000, ref: str = REF, provider_ref: str = "") -> Payment:
    return Payment(id=ref, psp="bictorys", vendor_id="demo", order_id="o1", amount=amount, method="wave",
                   provider_ref=provider_ref)


def test_default_mode_webhook_with_the_right_secret_names_the_transaction_and_our_reference() -> None:
    hook = gateway().parse_webhook(HOOK["headers_default_mode"], raw("bictorys", "webhook.succeeded.json"), NOW)
    assert (hook.provider_ref, hook.order_ref) == ("5b1f6a2e-8c4d-4f0b-9a51-2d7c3e9f1a04", REF)
    assert hook.status_hint == PaymentStatus.SUCCEEDED and not hook.body_authenticated


def test_failed_webhook_reads_as_failed_whatever_the_case_of_its_status() -> None:
    headers = meta("bictorys")["webhooks"]["webhook.failed.json"]["headers_default_mode"]
    assert gateway().parse_webhook(headers, raw("bictorys", "webhook.failed.json"), NOW).status_hint == "failed"


def test_hmac_mode_webhook_authenticates_the_body() -> None:
    hook = gateway().parse_webhook(HOOK["headers_hmac_mode"], raw("bictorys", "webhook.succeeded.json"), NOW)
    assert hook.body_authenticated


@pytest.mark.parametrize("change", ["wrong_secret", "no_secret", "tampered_body_hmac", "stale_hmac", "bad_signature"])
def test_bad_webhooks_are_refused(change: str) -> None:
    body = raw("bictorys", "webhook.succeeded.json")
    headers = dict(HOOK["headers_hmac_mode"] if "hmac" in change or change == "bad_signature"
                   else HOOK["headers_default_mode"])
    now = NOW
    if change == "wrong_secret":
        headers["X-Secret-Key"] = "whsec_someone_else"
    elif change == "no_secret":
        del headers["X-Secret-Key"]
    elif change == "tampered_body_hmac":
        body = body.replace(b'"amount":15000', b'"amount":150')
    elif change == "stale_hmac":
        now = NOW + 6 * 60
    else:
        headers["X-Webhook-Signature"] = "0" * 64
    with pytest.raises(InvalidWebhook):
        gateway().parse_webhook(headers, body, now)


async def test_transaction_read_gives_the_gross_amount_and_a_matching_payment_is_paid(fake_psp: FakePSP) -> None:
    fake_psp.checkouts["tx-1"] = {"provider": "bictorys", "ref": REF, "amount": 15000, "currency": "XOF",
                                  "status": "succeeded"}
    g = gateway(fake_psp.url)
    state = await g.fetch_status("tx-1", REF)
    # the fixture's amount is net of 225 F fees: the buyer paid 15 000
    assert (state.status, state.amount, state.currency, state.order_ref) == ("succeeded", 15000, "XOF", REF)
    assert confirms(payment(provider_ref="tx-1"), state) == "paid"
    await g.close()


async def test_amount_mismatch_is_never_confirmed(fake_psp: FakePSP) -> None:
    fake_psp.checkouts["tx-1"] = {"provider": "bictorys", "ref": REF, "amount": 15000, "currency": "XOF",
                                  "status": "succeeded", "paid_amount": 1500}
    g = gateway(fake_psp.url)
    assert confirms(payment(provider_ref="tx-1"), await g.fetch_status("tx-1", REF)) == "mismatch"
    assert confirms(payment(ref="LP-OTHER", provider_ref="tx-1"), await g.fetch_status("tx-1")) == "mismatch"
    await g.close()


async def test_pending_then_paid(fake_psp: FakePSP) -> None:
    fake_psp.checkouts["tx-1"] = {"provider": "bictorys", "ref": REF, "amount": 15000, "currency": "XOF",
                                  "status": "pending"}
    g = gateway(fake_psp.url)
    assert confirms(payment(), await g.fetch_status("tx-1")) == "pending"
    fake_psp.pay("tx-1")
    assert confirms(payment(), await g.fetch_status("tx-1")) == "paid"
    await g.close()


async def test_refund_only_a_succeeded_payment_and_it_reads_as_refunded(fake_psp: FakePSP) -> None:
    fake_psp.checkouts["tx-1"] = {"provider": "bictorys", "ref": REF, "amount": 15000, "currency": "XOF",
                                  "status": "pending"}
    g = gateway(fake_psp.url)
    assert await g.refund("tx-1", "refund-1") is False
    fake_psp.pay("tx-1")
    assert await g.refund("tx-1", "refund-1") is True
    assert (await g.fetch_status("tx-1")).status == PaymentStatus.REFUNDED
    await g.close()
