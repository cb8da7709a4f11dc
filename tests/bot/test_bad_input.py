"""Bad input never gets a 500, a lost message or a doubled order: clear JSON errors or polite replies."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.payments import SIGNATURE_HEADER, sign
from tests.conftest import Server, vendor_dir

BUYER = "+221770000001"


async def post_raw(server: Server, path: str, data: bytes | str, content_type: str) -> tuple[int, dict]:
    async with server.http.post(f"{server.url}{path}", data=data, headers={"Content-Type": content_type}) as r:
        return r.status, await r.json()


async def test_malformed_json_is_a_400_with_a_json_error(start_server) -> None:
    server: Server = await start_server()
    status, body = await post_raw(server, "/simulator/demo/messages", b'{"from": "+22177', "application/json")
    assert status == 400 and body["error"]["code"] == "invalid_json"


async def test_wrong_content_type_is_a_415(start_server) -> None:
    server: Server = await start_server()
    status, body = await post_raw(server, "/simulator/demo/messages", "from=x&text=ROBE1",
                                  "application/x-www-form-urlencoded")
    assert status == 415 and "application/json" in body["error"]["message"]


async def test_missing_fields_and_bad_sender_are_400s(start_server) -> None:
    server: Server = await start_server()
    for payload in ({"from": BUYER}, {"text": "ROBE1"}, {"from": "<script>", "text": "x"}, [1, 2],
                    {"from": BUYER, "text": "x", "surprise": 1}):
        status, body = await post_raw(server, "/simulator/demo/messages", json.dumps(payload), "application/json")
        assert status == 400, payload
        assert body["error"]["code"] == "invalid_message" and body["error"]["message"]


async def test_unknown_vendor_is_a_404(start_server) -> None:
    server: Server = await start_server()
    status, body = await post_raw(server, "/simulator/nobody/messages", json.dumps({"from": BUYER, "text": "a"}),
                                  "application/json")
    assert status == 404 and body["error"]["code"] == "unknown_vendor"
    async with server.http.get(f"{server.url}/simulator/nobody") as r:
        assert r.status == 404


async def test_oversized_body_is_a_413(start_server) -> None:
    server: Server = await start_server(max_body_bytes=10_000)
    big = json.dumps({"from": BUYER, "text": "x" * 20_000})
    status, body = await post_raw(server, "/simulator/demo/messages", big, "application/json")
    assert status == 413 and body["error"]["code"] == "body_too_large"


async def test_unknown_route_is_a_json_404(start_server) -> None:
    server: Server = await start_server()
    async with server.http.get(f"{server.url}/nope") as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"


async def test_unknown_product_code_gets_a_polite_reply_then_a_human_is_offered(start_server) -> None:
    server: Server = await start_server()
    first = (await server.say(BUYER, "ROBE99"))["replies"]
    assert "Je n'ai pas compris « ROBE99 »" in first[0]["text"] and "ROBE1" in first[0]["text"]
    second = (await server.say(BUYER, "blablabla"))["replies"]
    assert [b["id"] for b in second[0]["buttons"]] == ["human"]
    assert (await server.runtime.store.get_product("demo", "ROBE1")).stock == 3


async def test_stale_button_is_explained_and_orders_nothing(start_server) -> None:
    server: Server = await start_server()
    replies = (await server.say(BUYER, payload="wave"))["replies"]
    assert "n'est plus valable" in replies[0]["text"]
    await server.say(BUYER, "ROBE1")
    await server.say(BUYER, payload="cancel")
    stale = (await server.say(BUYER, payload="pay"))["replies"]  # the old offer's PAYER after cancelling
    assert "n'est plus valable" in stale[0]["text"]
    assert (await server.runtime.store.get_product("demo", "ROBE1")).stock == 3


async def test_retried_message_with_the_same_id_is_answered_once(start_server) -> None:
    server: Server = await start_server()
    first = await server.say(BUYER, "ROBE1", id="client-msg-1")
    again = await server.say(BUYER, "ROBE1", id="client-msg-1")
    assert again["replies"] == first["replies"]
    assert len([m for m in await server.transcript(BUYER) if m["direction"] == "out"]) == 1
    assert (await server.runtime.store.get_product("demo", "ROBE1")).stock == 2


async def _link(server: Server) -> str:
    await server.say(BUYER, "ROBE1")
    await server.say(BUYER, payload="pay")
    text = (await server.say(BUYER, payload="wave"))["replies"][0]["text"]
    return re.search(r"https?://\S+", text).group(0)


async def test_expired_payment_link_is_a_410_and_takes_no_money(start_server, tmp_path: Path) -> None:
    server: Server = await start_server(vendor_dir(tmp_path, reservation_minutes=0.01))
    link = await _link(server)
    from tests.bot.test_live_sale import wait_for_text

    await wait_for_text(server, BUYER, "a expiré")
    async with server.http.post(link, data={"outcome": "paid"}) as r:
        assert r.status == 410 and (await r.json())["error"]["code"] == "link_expired"
    async with server.http.get(link) as r:
        assert r.status == 410 and "expiré" in await r.text()
    payment = await server.runtime.store.get_payment(link.rsplit("/", 1)[1])
    assert payment is not None and payment.status == "expired"


async def test_checkout_rejects_an_unknown_outcome_and_an_unknown_link(start_server) -> None:
    server: Server = await start_server()
    link = await _link(server)
    async with server.http.post(link, data={"outcome": "maybe"}) as r:
        assert r.status == 400
    async with server.http.post(f"{server.url}/pay/sandbox/nope", data={"outcome": "paid"}) as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "unknown_payment"


async def test_replayed_payment_webhook_confirms_once(start_server) -> None:
    server: Server = await start_server()
    link = await _link(server)
    async with server.http.post(link, data={"outcome": "paid"}) as r:
        assert r.status == 200
    from tests.bot.test_live_sale import wait_for_text

    await wait_for_text(server, BUYER, "Paiement reçu")
    payment = await server.runtime.store.get_payment(link.rsplit("/", 1)[1])
    body = server.runtime.psp.webhook_body(payment)
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(server.runtime.psp.secret, body)}
    for _ in range(3):
        async with server.http.post(f"{server.url}/webhooks/payments/sandbox/demo", data=body, headers=headers) as r:
            assert r.status == 200 and (await r.json())["status"] == "duplicate"
    await server.runtime.pipeline.idle()
    transcript = await server.transcript(BUYER)
    assert sum("Paiement reçu" in (m["text"] or "") for m in transcript) == 1
    assert len(await server.transcript("+221770000099")) == 1  # the vendor is told once
    async with server.http.post(link, data={"outcome": "paid"}) as r:
        assert r.status == 409


async def test_payment_webhook_with_a_bad_or_missing_signature_is_a_401(start_server) -> None:
    server: Server = await start_server()
    link = await _link(server)
    payment = await server.runtime.store.get_payment(link.rsplit("/", 1)[1])
    body = server.runtime.psp.webhook_body(payment.model_copy(update={"status": "paid"}))
    url = f"{server.url}/webhooks/payments/sandbox/demo"
    for sig in (None, "sha256=" + "0" * 64, sign("not-the-secret", body)):
        headers = {"Content-Type": "application/json", **({SIGNATURE_HEADER: sig} if sig else {})}
        async with server.http.post(url, data=body, headers=headers) as r:
            assert r.status == 401 and (await r.json())["error"]["code"] == "invalid_signature"
    await server.runtime.pipeline.idle()
    assert not any("Paiement reçu" in (m["text"] or "") for m in await server.transcript(BUYER))
    order = await server.runtime.store.get_order(payment.order_id)
    assert order.status == "awaiting_payment"


async def test_forged_webhook_amount_is_refused(start_server) -> None:
    server: Server = await start_server()
    link = await _link(server)
    payment = await server.runtime.store.get_payment(link.rsplit("/", 1)[1])
    forged = json.dumps({"id": payment.id, "status": "pending", "amount": 1}).encode()
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(server.runtime.psp.secret, forged)}
    async with server.http.post(f"{server.url}/webhooks/payments/sandbox/demo", data=forged, headers=headers) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "mismatch"


async def test_health_ready_and_metrics(start_server) -> None:
    server: Server = await start_server()
    await server.say(BUYER, "ROBE1")
    async with server.http.get(f"{server.url}/healthz") as r:
        assert r.status == 200
    async with server.http.get(f"{server.url}/readyz") as r:
        assert r.status == 200 and (await r.json())["vendors"] == ["demo"]
    async with server.http.get(f"{server.url}/metrics") as r:
        text = await r.text()
        assert re.search(r"^palabre_turns_total 1$", text, re.M)
        assert re.search(r"^palabre_events_received_total 1$", text, re.M)
