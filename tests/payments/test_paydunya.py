"""PayDunya against its fixtures: the form-urlencoded IPN and its master-key hash, the confirm API."""

from __future__ import annotations

import pytest

from bot.payments import InvalidWebhook, PaymentStatus, confirms
from bot.payments.config import PaydunyaPsp
from bot.payments.paydunya import Paydunya
from storage import Payment
from tests.payments.fakepsp import PAYDUNYA_PRIVATE, PAYDUNYA_TOKEN, FakePSP, meta, raw

IPN = meta("paydunya")["webhooks"]["ipn.completed.form-urlencoded.txt"]
REF = "LP-2026-0215-A3F2"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def gateway(base_url: str = "https://app.paydunya.com/sandbox-api/v1", master: str = IPN["dummy_master_key"]
            ) -> Paydunya:
    return Paydunya(PaydunyaPsp(provider="paydunya", master_key=master, private_key=PAYDUNYA_PRIVATE,
                                token=PAYDUNYA_TOKEN, base_url=base_url))


def test_completed_ipn_with_the_master_key_hash_names_the_invoice_and_our_reference() -> None:
    hook = gateway().parse_webhook(FORM, raw("paydunya", "ipn.completed.form-urlencoded.txt"), 0)
    assert (hook.provider_ref, hook.order_ref, hook.status_hint) == ("test_Zq8mKc3vR1", REF, PaymentStatus.SUCCEEDED)
    assert not hook.body_authenticated  # a constant of the account, not a signature of the body


def test_cancelled_ipn_is_not_a_success() -> None:
    hook = gateway().parse_webhook(FORM, raw("paydunya", "ipn.cancelled.form-urlencoded.txt"), 0)
    assert hook.status_hint == PaymentStatus.CANCELLED


@pytest.mark.parametrize("body", [
    raw("paydunya", "ipn.completed.form-urlencoded.txt").replace(b"d9c45e5d", b"00000000"),
    b"data%5Bstatus%5D=completed&data%5Binvoice%5D%5Btoken%5D=test_Zq8mKc3vR1",
    b"\xff\xfe",
])
def test_ipn_without_the_right_hash_is_refused(body: bytes) -> None:
    with pytest.raises((InvalidWebhook, ValueError)):
        gateway().parse_webhook(FORM, body, 0)


def test_ipn_for_another_account_is_refused() -> None:
    with pytest.raises(InvalidWebhook):
        gateway(master="ANOTHER-MASTER-KEY").parse_webhook(
            FORM, raw("paydunya", "ipn.completed.form-urlencoded.txt"), 0)


def payment(amount: int = 15000) -> Payment:
    return Payment(id=REF, psp="paydunya", vendor_id="demo", order_id="o1", amount=amount, method="wave")


async def test_confirm_pending_then_completed(fake_psp: FakePSP) -> None:
    fake_psp.checkouts["test_1"] = {"provider": "paydunya", "ref": REF, "amount": 15000, "currency": "XOF",
                                    "status": "pending"}
    g = gateway(fake_psp.url, master="FAKE-MASTER-KEY-0001")
    assert confirms(payment(), await g.fetch_status("test_1")) == "pending"
    fake_psp.pay("test_1")
    state = await g.fetch_status("test_1")
    assert (state.amount, state.order_ref) == (15000, REF)
    assert confirms(payment(), state) == "paid"
    assert confirms(payment(amount=14000), state) == "mismatch"
    await g.close()
