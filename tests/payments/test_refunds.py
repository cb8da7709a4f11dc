"""Refunds owed to buyers, through each fake provider: automatic where a refund API exists, else the vendor's list."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from bot.inbox.users import add_user
from bot.payments import build_providers
from bot.payments.refunds import MAX_ATTEMPTS, Refunder
from bot.runtime import load_vendors
from channels import Contact
from locales import money
from storage import Conversation, Order, Payment, TurnWrite
from storage.embedded import EmbeddedStore
from tests.bot.test_live_sale import wait_for_text
from tests.conftest import ROOT, Server, eventually, vendor_dir
from tests.payments.fakepsp import FakePSP, psp_block
from tests.payments.test_sale import BUYER, open_checkout, order_of, post_webhook

VENDOR_PHONE = "+221770000099"  # the demo vendor's notify address
TOKEN = "admin-token-for-refund-tests-0001"
PAID = money(15000, "XOF", "fr")
REFUNDED = f"nous vous avons remboursé {PAID}"


async def late_payment_for_a_sold_out_order(start_server, fake: FakePSP, tmp_path: Path, provider: str) -> Server:
    """The reservation expires, the last unit goes to someone else, then the buyer pays anyway."""
    server: Server = await start_server(vendor_dir(tmp_path, reservation_minutes=0.02,
                                                   psp=psp_block(provider, fake.url)), admin_token=TOKEN)
    ref, _ = await open_checkout(server, fake)
    await wait_for_text(server, BUYER, "a expiré")
    await server.runtime.store.set_stock("demo", "ROBE1", 0)
    fake.pay(ref)
    assert await server.runtime.payments.poll(older_than=0) == {"paid": 1}
    await wait_for_text(server, BUYER, "vous serez remboursé")
    assert (await order_of(server)).status == "refund_due"
    return server


async def palabre(*args: str) -> tuple[int, str, str]:
    """The CLI in a child process, without blocking the server running in this event loop."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


async def refund_round(server: Server) -> dict[str, int]:
    """A poller round's refund outcomes: {} when the server's own poller (every 15 s) made them first,
    so the tests judge by what the buyer, the vendor and the provider saw."""
    counts = await server.runtime.payments.poll(older_than=0)
    return {k: v for k, v in counts.items() if k.startswith("refund_")}


def said(transcript: list[dict], needle: str) -> int:
    return sum(needle in (m["text"] or "") for m in transcript)


@pytest.mark.parametrize(("provider", "refunded_status"), [("bictorys", "reversed"), ("flutterwave", "refunded")])
async def test_a_late_payment_for_a_sold_out_product_is_refunded_once_through_the_provider(
        start_server, fake_psp: FakePSP, tmp_path: Path, provider: str, refunded_status: str) -> None:
    server = await late_payment_for_a_sold_out_order(start_server, fake_psp, tmp_path, provider)
    payment_id = (await order_of(server)).payment_id
    assert await refund_round(server) in ({"refund_refunded": 1}, {})
    assert fake_psp.only()[1]["status"] == refunded_status
    assert fake_psp.refund_keys == [f"refund-{payment_id}"]
    assert (await server.runtime.store.get_payment(payment_id)).status == "refunded"
    transcript = await wait_for_text(server, BUYER, REFUNDED)
    assert "toutes nos excuses" in transcript[-1]["text"].lower()
    vendor = await wait_for_text(server, VENDOR_PHONE, "Remboursement fait par")
    assert BUYER not in vendor[-1]["text"] and "+22177****001" in vendor[-1]["text"]  # masked
    assert await refund_round(server) == {}  # once only
    await refund_round(server)
    assert len(fake_psp.refund_keys) == 1 and said(await server.transcript(BUYER), REFUNDED) == 1


@pytest.mark.parametrize("provider", ["paydunya", "cinetpay"])
async def test_without_a_refund_api_the_vendor_refunds_by_hand_and_the_buyer_knows_when(
        start_server, fake_psp: FakePSP, tmp_path: Path, provider: str) -> None:
    server = await late_payment_for_a_sold_out_order(start_server, fake_psp, tmp_path, provider)
    payment_id = (await order_of(server)).payment_id
    assert await refund_round(server) in ({"refund_manual": 1}, {})
    await wait_for_text(server, BUYER, f"va vous rembourser {PAID}")
    assert "sous 48 heures" in (await server.transcript(BUYER))[-1]["text"]
    await wait_for_text(server, VENDOR_PHONE, f"palabre refunds done demo {payment_id}")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{server.url}/api/admin/vendors/demo/refunds"
    async with server.http.get(url, headers=auth) as r:
        listed = (await r.json())["refunds"]
    assert [(i["payment_id"], i["status"], i["amount"], i["psp"]) for i in listed] == [
        (payment_id, "manual", 15000, provider)]
    assert listed[0]["buyer"] == "+22177****001"
    code, out, err = await palabre("refunds", "list", "demo", "--url", server.url, "--token", TOKEN)
    assert code == 0 and out.startswith(f"{payment_id}\tmanual\t15000 XOF\t{provider}\t+22177****001"), err
    code, out, err = await palabre("refunds", "done", "demo", payment_id, "--url", server.url, "--token", TOKEN)
    assert (code, out) == (0, f"{payment_id} refunded; the buyer is told\n"), err
    await wait_for_text(server, BUYER, REFUNDED)
    async with server.http.post(f"{url}/{payment_id}/done", headers=auth) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (409, "not_owed")
    async with server.http.get(url, headers=auth) as r:
        assert (await r.json())["refunds"] == []
    async with server.http.post(f"{url}/{payment_id}/done") as r:
        assert r.status == 401
    assert await refund_round(server) == {}


async def test_a_second_payment_for_an_order_already_paid_is_refunded(start_server, fake_psp: FakePSP,
                                                                       tmp_path: Path) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, psp=psp_block("wave", fake_psp.url)))
    await open_checkout(server, fake_psp)
    await server.say(BUYER, payload="om")  # a second link for the same order
    first, second = list(fake_psp.checkouts)
    for ref in (first, second):
        fake_psp.pay(ref)
        assert (await post_webhook(server, "wave", *fake_psp.webhook(ref)))[0] == 200
    await wait_for_text(server, BUYER, "Paiement reçu")
    second_id = fake_psp.checkouts[second]["ref"]
    await eventually(lambda: not server.runtime._spawned, "both webhooks to be handled")


    async def owed() -> bool:
        return (await server.runtime.store.get_payment(second_id)).status == "refund_due"

    await eventually(owed, "the second payment to be owed back")
    assert await refund_round(server) in ({"refund_refunded": 1}, {})
    assert (fake_psp.checkouts[first]["status"], fake_psp.checkouts[second]["status"]) == ("succeeded", "refunded")
    await wait_for_text(server, BUYER, "le second paiement de la commande")
    order = await order_of(server)
    assert order.status == "paid" and order.payment_id == fake_psp.checkouts[first]["ref"]
    assert said(await server.transcript(BUYER), "Paiement reçu") == 1


@pytest.mark.parametrize(("outages", "outcome"), [(2, "refunded"), (MAX_ATTEMPTS, "refund_manual")])
async def test_a_refund_the_provider_cannot_take_is_retried_with_backoff_then_handed_to_the_vendor(
        fake_psp: FakePSP, tmp_path: Path, outages: int, outcome: str) -> None:
    # no server here: its own poller would take part in the rounds this test counts
    start = time.time()
    now = [start]
    store = EmbeddedStore(tmp_path / "data")
    await store.start()
    vendors = load_vendors(str(vendor_dir(tmp_path, psp=psp_block("bictorys", fake_psp.url))))
    providers = build_providers(store, "http://127.0.0.1:9", "sandbox-secret-0001",
                                {v.id: v.config.psp for v in vendors.values()}, lambda: now[0])
    buyer = Contact(address=BUYER)
    await store.commit_turn(TurnWrite(event_id="e1", conversation=Conversation(
        id=f"demo:web:{BUYER}", vendor_id="demo", channel="web", provider="simulator", contact=buyer)))
    await store.save_order(Order(id="o1", vendor_id="demo", conversation_id=f"demo:web:{BUYER}", contact=buyer,
                                 channel="web", product_code="ROBE1", product_name="Robe Wax Ankara", quantity=1,
                                 unit_price=15000, status="refund_due", payment_id="pay_1", receipt="LP-1"))
    await store.save_payment(Payment(id="pay_1", psp="bictorys", vendor_id="demo", order_id="o1", amount=15000,
                                     method="wave", status="refund_due", provider_ref="tx-1"))
    fake_psp.checkouts["tx-1"] = {"provider": "bictorys", "ref": "pay_1", "amount": 15000, "currency": "XOF",
                                  "status": "succeeded"}
    fake_psp.refund_outages = outages
    refunder = Refunder(store, providers, vendors, lambda: now[0], retry_base_s=10)
    attempts = []  # seconds after the first attempt
    try:
        for _ in range(100):
            result = await refunder.run()
            if result == {"waiting": 1}:  # not before its backoff
                now[0] += 5
                continue
            attempts.append(round(now[0] - start))
            if result != {"retry": 1}:
                break
        assert (await store.get_payment("pay_1")).status == outcome
        assert set(fake_psp.refund_keys) == {"refund-pay_1"}  # one idempotency key for every attempt
        told = [m.text or "" for m in await store.transcript(f"demo:web:{BUYER}")]
        if outcome == "refunded":
            assert attempts == [0, 10, 30] and result == {"refunded": 1}
            assert fake_psp.checkouts["tx-1"]["status"] == "reversed" and REFUNDED in told[-1]
        else:
            assert attempts == [0, 10, 30, 70, 150] and result == {"manual": 1}
            assert fake_psp.checkouts["tx-1"]["status"] == "succeeded" and "va vous rembourser" in told[-1]
        assert await refunder.run() == {}
    finally:
        await providers.close()
        await store.close()


async def test_a_payment_the_provider_already_reports_refunded_is_not_refunded_again(
        start_server, fake_psp: FakePSP, tmp_path: Path) -> None:
    server = await late_payment_for_a_sold_out_order(start_server, fake_psp, tmp_path, "bictorys")
    ref, checkout = fake_psp.only()
    checkout["status"] = "reversed"  # refunded before: by the vendor at Bictorys, or by us before a crash
    assert await refund_round(server) in ({"refund_refunded": 1}, {})
    assert fake_psp.refund_keys == [] and ("bictorys", f"/pay/v1/transactions/{ref}/refund") not in fake_psp.calls
    await wait_for_text(server, BUYER, REFUNDED)


async def test_the_refund_routes_answer_bad_requests_with_json_errors(start_server, fake_psp: FakePSP,
                                                                       tmp_path: Path) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, psp=psp_block("wave", fake_psp.url)),
                                        admin_token=TOKEN)
    _, checkout = await open_checkout(server, fake_psp)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    cases = [
        ("GET", "/api/admin/vendors/nobody/refunds", 404, "unknown_vendor"),
        ("POST", "/api/admin/vendors/demo/refunds/pay_unknown/done", 404, "unknown_payment"),
        ("POST", f"/api/admin/vendors/demo/refunds/{'x' * 5000}/done", 404, "unknown_payment"),
        ("POST", f"/api/admin/vendors/demo/refunds/{checkout['ref']}/done", 409, "not_owed"),  # still pending
    ]
    for method, path, status, code in cases:
        async with server.http.request(method, server.url + path, headers=auth) as r:
            assert (r.status, (await r.json())["error"]["code"]) == (status, code), path
    assert (await server.runtime.store.get_payment(checkout["ref"])).status == "pending"


async def test_an_order_refunded_through_the_provider_reads_refunded_to_the_buyer_and_on_the_dashboard(
        start_server, fake_psp: FakePSP, tmp_path: Path) -> None:
    server = await late_payment_for_a_sold_out_order(start_server, fake_psp, tmp_path, "bictorys")
    assert (await server.say(BUYER, "où est ma commande ?"))["replies"][0]["text"].count("à rembourser") == 1
    assert await refund_round(server) in ({"refund_refunded": 1}, {})
    await wait_for_text(server, BUYER, REFUNDED)
    assert fake_psp.only()[1]["status"] == "reversed"  # the provider confirmed it
    assert (await order_of(server)).status == "refunded"
    answer = (await server.say(BUYER, "où est ma commande ?"))["replies"][0]["text"]
    assert "remboursée" in answer and "à rembourser" not in answer
    token = await add_user(server.runtime.inbox.store, "awa", "admin", ["demo"])
    async with server.http.get(f"{server.url}/api/dashboard/demo", headers={"Authorization": f"Bearer {token}"}) as r:
        board = await r.json()
    assert (board["totals"]["refund_due"], board["totals"]["refunded"], board["totals"]["paid"]) == (0, 1, 0)
    assert board["orders"][0]["status_label"] == "remboursée"
    assert await refund_round(server) == {}  # settled once
