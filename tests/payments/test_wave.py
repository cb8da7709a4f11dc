"""Wave against its fixtures: Wave-Signature over t + raw body, rotation, bearer strategy, the session read."""

from __future__ import annotations

import pytest

from bot.payments import InvalidWebhook, PaymentStatus, confirms
from bot.payments.config import WavePsp
from bot.payments.wave import Wave
from storage import Payment
from tests.payments.fakepsp import WAVE_KEY, FakePSP, meta, raw

COMPLETED = meta("wave")["webhooks"]["webhook.checkout_session_completed.json"]
FAILED = meta("wave")["webhooks"]["webhook.checkout_session_payment_failed.json"]
SIGNED = COMPLETED["signing_secret_strategy"]
NOW = SIGNED["now_for_tests"]
REF = "LP-2026-0215-A3F2"


def gateway(base_url: str = "https://api.wave.com", secret: str = COMPLETED["dummy_webhook_secret"]) -> Wave:
    return Wave(WavePsp(provider="wave", api_key=WAVE_KEY, webhook_secret=secret, base_url=base_url))


def body(name: str = "webhook.checkout_session_completed.json") -> bytes:
    return raw("wave", name)


def test_signed_webhook_is_accepted_and_names_the_session_and_our_reference() -> None:
    hook = gateway().parse_webhook(SIGNED["headers"], body(), NOW)
    assert (hook.event_id, hook.provider_ref, hook.order_ref) == ("EV_QvEZuDSQbLdI", "cos-1x7k2q9w8r3t5", REF)
    assert hook.status_hint == PaymentStatus.SUCCEEDED and hook.body_authenticated


def test_during_secret_rotation_any_v1_may_match() -> None:
    assert gateway().parse_webhook(SIGNED["headers_during_rotation"], body(), NOW).order_ref == REF


def test_shared_secret_strategy_is_accepted_but_not_as_a_body_signature() -> None:
    hook = gateway().parse_webhook(COMPLETED["shared_secret_strategy"]["headers"], body(), NOW)
    assert not hook.body_authenticated


def test_payment_failed_event_is_not_a_success() -> None:
    strategy = FAILED["signing_secret_strategy"]
    hook = gateway().parse_webhook(strategy["headers"], body("webhook.checkout_session_payment_failed.json"),
                                   strategy["now_for_tests"])
    assert hook.status_hint != PaymentStatus.SUCCEEDED


@pytest.mark.parametrize("change", ["rotated_out_secret", "tampered_body", "stale", "dot_separator", "no_header"])
def test_bad_webhooks_are_refused(change: str) -> None:
    headers, data, now, secret = dict(SIGNED["headers"]), body(), NOW, COMPLETED["dummy_webhook_secret"]
    if change == "rotated_out_secret":
        secret = SIGNED["rotated_out_secret"]
    elif change == "tampered_body":
        data = data.replace(b'"amount":"15000"', b'"amount":"150"')
    elif change == "stale":
        now = NOW + 301
    elif change == "dot_separator":
        import hashlib
        import hmac

        t = headers["Wave-Signature"].split(",")[0][2:]
        sig = hmac.new(secret.encode(), t.encode() + b"." + data, hashlib.sha256).hexdigest()
        headers["Wave-Signature"] = f"t={t},v1={sig}"
    else:
        del headers["Wave-Signature"]
    with pytest.raises(InvalidWebhook):
        gateway(secret=secret).parse_webhook(headers, data, now)


def payment(amount: int = 15000) -> Payment:
    return Payment(id=REF, psp="wave", vendor_id="demo", order_id="o1", amount=amount, method="wave")


async def test_session_read_open_then_complete(fake_psp: FakePSP) -> None:
    fake_psp.checkouts["cos-1"] = {"provider": "wave", "ref": REF, "amount": 15000, "currency": "XOF",
                                   "status": "pending"}
    g = gateway(fake_psp.url)
    assert confirms(payment(), await g.fetch_status("cos-1")) == "pending"
    fake_psp.pay("cos-1")
    state = await g.fetch_status("cos-1")
    assert (state.amount, state.currency, state.order_ref) == (15000, "XOF", REF)
    assert confirms(payment(), state) == "paid"
    assert confirms(payment(amount=20000), state) == "mismatch"
    await g.close()


async def test_refund_only_a_succeeded_session(fake_psp: FakePSP) -> None:
    fake_psp.checkouts["cos-1"] = {"provider": "wave", "ref": REF, "amount": 15000, "currency": "XOF",
                                   "status": "pending"}
    g = gateway(fake_psp.url)
    assert await g.refund("cos-1", "refund-1") is False
    fake_psp.pay("cos-1")
    assert await g.refund("cos-1", "refund-1") is True and fake_psp.checkouts["cos-1"]["status"] == "refunded"
    await g.close()
