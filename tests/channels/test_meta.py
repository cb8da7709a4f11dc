"""Meta WhatsApp Cloud API: fixtures signed and parsed, bodies rendered like the outbound fixtures,
errors mapped, and the live sale played against a local Graph API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from pydantic import ValidationError

from channels import Button, ListRow, ListSection, Reply, TemplateRef
from channels.base import PermanentSendError, SendError
from channels.meta import (
    SIGNATURE_HEADER,
    Config,
    MetaSender,
    mark_read_body,
    parse_webhook,
    render,
    split_text,
    verify_signature,
)
from tests.conftest import EXAMPLES, FIXTURES, Server, eventually, free_port, plain, serving

WA = FIXTURES / "channels" / "meta_whatsapp"
META = json.loads((WA / "meta.json").read_text())
SECRET = META["signature"]["app_secret"]
VERIFY_TOKEN = META["verification_request"]["verify_token"]
PNID = "109876543210987"
BUYER = "221771234567"


def outbound(name: str) -> dict[str, Any]:
    return json.loads((WA / "outbound" / name).read_text(encoding="utf-8"))


def sign(raw: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def envelope(value: dict[str, Any], pnid: str = PNID, field: str = "messages") -> dict[str, Any]:
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "221770001122", "phone_number_id": pnid}, **value}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "231456789012345", "changes": [{"value": value, "field": field}]}]}


def inbound(wamid: str, kind: str, body: Any = None, sender: str = BUYER, **extra: Any) -> dict[str, Any]:
    # a current timestamp: it opens the 24-hour window that free-form replies need
    msg = {"from": sender, "id": wamid, "timestamp": str(int(time.time())), "type": kind, **extra}
    if body is not None:
        msg[kind] = body
    return msg


def with_contacts(*messages: dict[str, Any], name: str = "Aminata Diop") -> dict[str, Any]:
    return {"contacts": [{"profile": {"name": name}, "wa_id": BUYER}], "messages": list(messages)}


# inbound: signatures and parsing

@pytest.mark.parametrize("name", sorted(META["fixtures"]))
def test_every_fixture_is_signed_and_parses_into_the_expected_event(name: str) -> None:
    fixture = META["fixtures"][name]
    raw = (WA / name).read_bytes()
    assert verify_signature(SECRET, raw, fixture["request"]["headers"][SIGNATURE_HEADER])
    events = parse_webhook(json.loads(raw), "kaay")
    assert len(events) == 1
    e = events[0]
    expected = fixture["expected"]
    assert (e.channel, e.provider, e.vendor_id) == ("whatsapp", "meta", "kaay")
    if "sender" in expected:
        assert e.contact.address == "+" + expected["sender"]
        assert e.contact.name == "Aminata Diop"
        assert e.conversation_key == f"kaay:whatsapp:+{expected['sender']}"
    kind = expected["kind"]
    if kind == "text":
        assert (e.kind, e.text, e.provider_message_id) == ("message", expected["text"],
                                                           expected["provider_message_id"])
        assert e.id == f"wa:kaay:{expected['provider_message_id']}"
        assert e.received_at == 1781000000.0
    elif kind in ("button_reply", "list_reply"):
        assert (e.kind, e.payload, e.text) == ("postback", expected["payload_id"], expected["title"])
        if "in_reply_to" in expected:
            assert e.reply_to == expected["in_reply_to"]
    elif kind == "image":
        assert e.kind == "message" and e.media is not None
        assert (e.media.kind, e.media.provider_media_id, e.media.mime_type, e.media.caption) == (
            "image", expected["media_id"], expected["mime_type"], expected["caption"])
        assert e.text == expected["caption"]
    elif kind == "location":
        assert e.location is not None
        assert (e.location.latitude, e.location.longitude) == (expected["latitude"], expected["longitude"])
        assert e.location.name == "Marché Sandaga"
    elif kind == "contacts":
        assert e.kind == "message" and e.data["contacts"] == [{"name": "Moussa Ndiaye", "phones": ["+221784567890"]}]
    elif kind == "status":
        assert (e.kind, e.status) == ("status", expected["status"])
        raw_status = json.loads(raw)["entry"][0]["changes"][0]["value"]["statuses"][0]
        assert e.provider_message_id == raw_status["id"] == expected.get("provider_message_id", raw_status["id"])
        assert e.id == f"wa:kaay:{raw_status['id']}:{expected['status']}"
        assert e.contact.address == "+" + raw_status["recipient_id"]
        if "error_code" in expected:
            assert e.error_code == str(expected["error_code"])
            assert "24 hours" in e.data["error_details"]
    else:
        pytest.fail(f"fixture kind {kind} not covered")


def test_signature_must_cover_the_exact_bytes_with_the_app_secret() -> None:
    raw = (WA / "text.json").read_bytes()
    good = META["fixtures"]["text.json"]["request"]["headers"][SIGNATURE_HEADER]
    assert verify_signature(SECRET, raw, good)
    assert verify_signature(SECRET, raw, good.upper().replace("SHA256=", "sha256="))
    reencoded = json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":")).encode()
    assert reencoded != raw and not verify_signature(SECRET, reencoded, good)  # the accents bug
    assert not verify_signature("another-secret", raw, good)
    assert not verify_signature(SECRET, raw + b" ", good)
    assert not verify_signature(SECRET, raw, good.removeprefix("sha256="))
    assert not verify_signature(SECRET, raw, "sha1=" + good.removeprefix("sha256="))
    assert not verify_signature(SECRET, raw, None)
    assert not verify_signature(SECRET, raw, "")
    assert not verify_signature("", raw, sign(raw, ""))


def test_sent_then_delivered_are_two_events_and_a_redelivery_is_the_same_event() -> None:
    ids = [parse_webhook(json.loads((WA / f"status_{s}.json").read_bytes()), "kaay")[0].id
           for s in ("sent", "delivered", "read", "sent")]
    assert len(set(ids)) == 3 and ids[0] == ids[3]
    played = {"id": "wamid.V", "status": "played", "timestamp": "1781000000", "recipient_id": BUYER}
    (e,) = parse_webhook(envelope({"statuses": [played]}), "kaay")
    assert (e.status, e.id) == ("read", "wa:kaay:wamid.V:played")
    unknown = {**played, "status": "deleted"}
    assert parse_webhook(envelope({"statuses": [unknown]}), "kaay") == []


def test_a_batch_is_read_whole_and_errors_and_other_fields_are_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = envelope(with_contacts(inbound("wamid.A", "text", {"body": "ROBE1"}),
                                   inbound("wamid.A", "text", {"body": "ROBE1"}),  # the same message twice
                                   inbound("wamid.B", "text", {"body": "2"})))
    status = {"id": "wamid.OUT", "status": "delivered", "timestamp": "1781000001", "recipient_id": BUYER}
    second_change = {"value": envelope({"statuses": [status]})["entry"][0]["changes"][0]["value"],
                     "field": "messages"}
    foreign = envelope(with_contacts(inbound("wamid.C", "text", {"body": "x"})), pnid="555")["entry"][0]
    errors = {"value": envelope({"errors": [{"code": 130429, "title": "Rate limit hit"}]})["entry"][0]["changes"][0][
        "value"], "field": "messages"}
    templates = {"value": {"event": "APPROVED", "message_template_id": 1}, "field": "message_template_status_update"}
    broken = envelope({"messages": [{"type": "text"}, inbound("wamid.D", "text", {"body": "ok"})]})["entry"][0]
    first["entry"][0]["changes"] += [second_change, errors, templates]
    first["entry"] += [foreign, broken]
    with caplog.at_level(logging.INFO, logger="palabre.channels.meta"):
        events = parse_webhook(first, "kaay")
    # the change for number 555 is the vendor's too: the app secret proved it (issue 8)
    assert [e.id for e in events] == ["wa:kaay:wamid.A", "wa:kaay:wamid.B", "wa:kaay:wamid.OUT:delivered",
                                      "wa:kaay:wamid.C", "wa:kaay:wamid.D"]
    assert events[0].contact.name == "Aminata Diop" and events[4].contact.name is None
    assert events[3].data["reply_data"] == {"phone_number_id": "555"}
    logged = caplog.text
    assert "130429" in logged and "message_template_status_update" in logged and "message skipped" in logged
    only_errors = envelope({"errors": [{"code": 131000, "title": "Something went wrong"}]})
    assert parse_webhook(only_errors, "kaay") == []
    assert parse_webhook({"object": "whatsapp_business_account"}, "kaay") == []


def test_other_message_types() -> None:
    msgs = [
        inbound("wamid.R", "reaction", {"message_id": "wamid.OURS", "emoji": "❤️"}),
        inbound("wamid.S", "sticker", {"id": "777", "mime_type": "image/webp", "animated": False}),
        inbound("wamid.U", "unsupported", errors=[{"code": 131051, "title": "Message type unknown"}]),
        inbound("wamid.E", "edit", {"original_message_id": "wamid.X"}),
        inbound("wamid.F", "interactive", {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent",
                                                                              "response_json": "{}"}}),
        inbound("wamid.Y", "system", {"body": "changed number", "type": "user_changed_number"}),
        inbound("wamid.V", "audio", {"id": "888", "mime_type": "audio/ogg; codecs=opus", "voice": True}),
        inbound("wamid.W", "document", {"id": "999", "filename": "bon.pdf", "mime_type": "application/pdf",
                                        "caption": "Mon bon"}),
        inbound("wamid.Z", "video", {"id": "1010", "mime_type": "video/mp4"}),
        inbound("wamid.Q", "text", {"body": "Oui"}, context={"from": "221770001122", "id": "wamid.OURS"}),
    ]
    events = {e.provider_message_id: e for e in parse_webhook(envelope(with_contacts(*msgs)), "kaay")}
    assert "wamid.Y" not in events  # system notices are not buyer messages
    for wamid, kind in (("wamid.R", "reaction"), ("wamid.S", "sticker"), ("wamid.U", "unsupported"),
                        ("wamid.E", "edit"), ("wamid.F", "nfm_reply")):
        e = events[wamid]
        assert (e.kind, e.text, e.payload) == ("message", None, None)
        assert e.data["unsupported"] == kind and e.raw is not None
    assert events["wamid.R"].data["emoji"] == "❤️" and events["wamid.R"].reply_to == "wamid.OURS"
    assert events["wamid.S"].media is not None and events["wamid.S"].media.kind == "sticker"
    assert events["wamid.U"].data["error_code"] == "131051"
    voice = events["wamid.V"]
    assert voice.media is not None and voice.media.kind == "audio" and voice.data["voice"] is True
    doc = events["wamid.W"]
    assert doc.media is not None and (doc.media.filename, doc.media.provider_media_id, doc.text) == (
        "bon.pdf", "999", "Mon bon")
    assert events["wamid.Z"].media is not None and events["wamid.Z"].text is None
    assert events["wamid.Q"].reply_to == "wamid.OURS"


def test_a_sender_without_a_phone_number_is_known_by_its_bsuid() -> None:
    msg = {"from_user_id": "SN.4811926375502184", "id": "wamid.H", "timestamp": "1781000000", "type": "text",
           "text": {"body": "Salut"}}
    value = {"contacts": [{"profile": {"name": "Awa"}, "user_id": "SN.4811926375502184"}], "messages": [msg]}
    (e,) = parse_webhook(envelope(value), "kaay")
    assert e.contact.address == "SN.4811926375502184" and e.contact.name == "Awa"
    assert render(e.contact.address, Reply(text="ok"))[0]["recipient"] == "SN.4811926375502184"


# outbound: rendering

@pytest.mark.parametrize(("name", "recipient", "reply"), [
    ("text.json", "+221771234567",
     Reply(text="La ROBE1 coûte 15 000 FCFA. Livraison à Thiès : 1 500 FCFA.")),
    ("buttons.json", "+221771234567",
     Reply(text="ROBE1 – 15 000 FCFA. Que voulez-vous faire ?", data={"footer": "Boutique Kaay"},
           buttons=[Button(id="BUY_ROBE1", title="Commander"), Button(id="PHOTOS_ROBE1", title="Voir les photos"),
                    Button(id="HUMAN", title="Parler au vendeur")])),
    ("list.json", "+221771234567",
     Reply(text="Choisissez votre taille :",
           data={"header": "ROBE1", "footer": "Stock mis à jour ce matin", "list_button": "Voir les tailles"},
           list_sections=[ListSection(title="Tailles", rows=[
               ListRow(id="ROBE1_SIZE_S", title="Taille S"),
               ListRow(id="ROBE1_SIZE_M", title="Taille M", description="Robe wax ROBE1 – 15 000 FCFA"),
               ListRow(id="ROBE1_SIZE_L", title="Taille L")])])),
    ("image.json", "+221771234567",
     Reply(text="ROBE1 en rouge", media_url="https://cdn.kaay.sn/catalogue/robe1-rouge.jpg")),
    ("document.json", "+221771234567",
     Reply(text="Votre facture", media_url="https://cdn.kaay.sn/factures/F-2026-0142.pdf",
           data={"filename": "Facture-F-2026-0142.pdf"})),
    ("location.json", "+221771234567",
     Reply(data={"location": {"latitude": 14.6928, "longitude": -17.4467, "name": "Boutique Kaay",
                              "address": "Rue 10, Médina, Dakar"}})),
    ("template.json", "+2250701020304",
     Reply(text="ignored", template=TemplateRef(name="commande_expediee", language="fr",
                                                parameters=["Koffi", "CMD-2026-0142"]))),
])
def test_replies_render_as_the_outbound_fixtures(name: str, recipient: str, reply: Reply) -> None:
    assert render(recipient, reply) == [outbound(name)]


def test_mark_read_and_typing_body() -> None:
    assert mark_read_body("wamid.HBgMMjIxNzcxMjM0NTY3FQIAEhgUM0FBMDRFQjE5QzZGMjE4RDQ3QTEA") == \
        outbound("mark_read_typing.json")


def test_buttons_and_lists_respect_whatsapp_limits() -> None:
    (body,) = render("+221771234567", Reply(text="Payer ?", buttons=[
        Button(id="om", title="Orange Money avec frais offerts"),
        Button(id="om2", title="Orange Money avec frais réduits"), Button(id="wave", title="Wave")]))
    titles = [b["reply"]["title"] for b in body["interactive"]["action"]["buttons"]]
    assert titles[0] == "Orange Money avec f…" and len(set(titles)) == 3
    assert all(len(t) <= 20 for t in titles) and titles[2] == "Wave"

    (body,) = render("+221771234567", Reply(text="Taille ?", buttons=[Button(id=f"s{i}", title=f"Taille {i}")
                                                                        for i in range(4)]))
    assert body["interactive"]["type"] == "list"
    assert [r["id"] for r in body["interactive"]["action"]["sections"][0]["rows"]] == ["s0", "s1", "s2", "s3"]
    assert body["interactive"]["action"]["button"] == "Options"

    sections = [ListSection(title="Robes et boubous brodés du live", rows=[
        ListRow(id=f"r{i}", title=f"Robe wax Ankara modèle numéro {i}", description="d" * 100) for i in range(7)]),
        ListSection(title="Sacs", rows=[ListRow(id=f"b{i}", title=f"Sac {i}") for i in range(7)])]
    (body,) = render("+221771234567", Reply(text="Catalogue", list_sections=sections,
                                            data={"list_button": "Voir tous les articles du live"}))
    action = body["interactive"]["action"]
    rows = [r for s in action["sections"] for r in s["rows"]]
    assert len(rows) == 10 and len(action["button"]) <= 20 and action["button"].endswith("…")
    assert all(len(r["title"]) <= 24 and len(r.get("description", "")) <= 72 for r in rows)
    assert all(len(s["title"]) <= 24 for s in action["sections"])


def test_long_text_is_split_and_long_bodies_and_captions_move_to_text() -> None:
    paragraph = "Robe wax Ankara, 15 000 F CFA, livraison à Dakar et Thiès.\n"
    text = paragraph * 200  # ~12 000 characters
    bodies = render("+221771234567", Reply(text=text))
    assert len(bodies) == 3 and all(b["type"] == "text" and len(b["text"]["body"]) <= 4096 for b in bodies)
    assert "\n".join(b["text"]["body"] for b in bodies).strip() == text.strip()
    assert split_text("a" * 5000) == ["a" * 4096, "a" * 904]

    bodies = render("+221771234567", Reply(text=paragraph * 30, buttons=[Button(id="pay", title="PAYER")]))
    assert [b["type"] for b in bodies] == ["text", "interactive"]
    assert len(bodies[1]["interactive"]["body"]["text"]) <= 1024
    joined = bodies[0]["text"]["body"] + "\n" + bodies[1]["interactive"]["body"]["text"]
    assert joined == (paragraph * 30).strip()

    bodies = render("+221771234567", Reply(text=paragraph * 30, media_url="https://cdn.kaay.sn/robe.png"))
    assert [b["type"] for b in bodies] == ["image", "text"] and "caption" not in bodies[0]["image"]

    (body,) = render("+221771234567", Reply(buttons=[Button(id="pay", title="PAYER")],
                                            media_url="https://cdn.kaay.sn/robe.jpg"))
    assert body["interactive"]["header"] == {"type": "image", "image": {"link": "https://cdn.kaay.sn/robe.jpg"}}
    assert body["interactive"]["body"]["text"]  # never empty
    bodies = render("+221771234567", Reply(text="Taille ?", media_url="https://cdn.kaay.sn/robe.jpg",
                                           list_sections=[ListSection(title="T", rows=[ListRow(id="m", title="M")])]))
    assert [b["type"] for b in bodies] == ["image", "interactive"]

    (body,) = render("+221771234567", Reply(text="Votre lien :", link="https://pay.example/x"))
    assert body["text"]["body"] == "Votre lien :\nhttps://pay.example/x"


def test_recipients() -> None:
    assert render("+221771234567", Reply(text="a"))[0]["to"] == "221771234567"
    assert render("221771234567", Reply(text="a"))[0]["to"] == "221771234567"
    with pytest.raises(PermanentSendError):
        render("moussa@example.com", Reply(text="a"))


def test_config() -> None:
    cfg = Config.model_validate({"phone_number_id": int(PNID), "access_token": "EAAG-secret", "app_secret": "s3cr3t",
                                 "verify_token": "v"})
    assert (cfg.phone_number_id, cfg.api_version, cfg.api_base_url) == (PNID, "v21.0", "https://graph.facebook.com")
    assert "EAAG-secret" not in repr(cfg) and "s3cr3t" not in repr(cfg)
    with pytest.raises(ValidationError):
        Config.model_validate({"phone_number_id": PNID, "access_token": "t", "app_secret": "s", "verify_token": "v",
                               "token": "typo"})
    with pytest.raises(ValidationError):
        Config.model_validate({"phone_number_id": PNID, "access_token": "t", "app_secret": "s", "verify_token": "v",
                               "api_version": "21"})


# outbound: the sender against a local Graph API

class FakeGraphApi:
    """A local Graph API /messages endpoint: records calls, answers like Meta, can be told to fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.fail_with: list[tuple[int, dict[str, Any], dict[str, str]]] = []
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append((request.path, dict(request.headers), body))
        if self.fail_with:
            status, payload, headers = self.fail_with.pop(0)
            return web.json_response(payload, status=status, headers=headers)
        if "status" in body:
            return web.json_response({"success": True})
        return web.json_response({"messaging_product": "whatsapp",
                                  "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                                  "messages": [{"id": f"wamid.OUT{len(self.calls)}"}]})

    def sent(self) -> list[dict[str, Any]]:
        return [b for _, _, b in self.calls if "type" in b]


def graph_error(code: int, message: str = "error", details: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Az"}
    if details:
        err["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": err}


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphApi]:
    api = FakeGraphApi()
    app = web.Application()
    app.router.add_post("/{version}/{pnid}/messages", api.handle)
    async with serving(app, api.port):
        yield api


def sender_for(api: FakeGraphApi, **extra: Any) -> MetaSender:
    return MetaSender(Config(phone_number_id=PNID, access_token="EAAG-token", app_secret="s", verify_token="v",
                             api_base_url=api.base, **extra))


async def test_sender_posts_to_the_pinned_version_with_the_bearer_token(graph: FakeGraphApi) -> None:
    sender = sender_for(graph, api_version="v23.0")
    try:
        assert await sender.send("+221771234567", Reply(text="Bonjour"), idempotency_key="ev1:out:0") == "wamid.OUT1"
        path, headers, body = graph.calls[0]
        assert path == f"/v23.0/{PNID}/messages" and headers["Authorization"] == "Bearer EAAG-token"
        assert body == {**outbound("text.json"), "text": {"preview_url": False, "body": "Bonjour"},
                        "biz_opaque_callback_data": "ev1:out:0"}
        await sender.mark_read("wamid.IN")
        assert graph.calls[1][2] == {**outbound("mark_read_typing.json"), "message_id": "wamid.IN"}
    finally:
        await sender.close()


@pytest.mark.parametrize(("status", "error", "headers", "permanent", "retry_after", "in_message"), [
    (429, graph_error(130429, "Rate limit hit"), {"Retry-After": "3"}, False, (3, 3), "130429"),
    (400, graph_error(130429, "Rate limit hit"), {}, False, (1, 1.5), "130429"),
    (400, graph_error(131056, "(Business Account, Consumer Account) pair rate limit hit"), {}, False, (6, 9), "131056"),
    (400, graph_error(131048, "Spam rate limit hit"), {}, False, (60, 90), "131048"),
    (429, {}, {}, False, (5, 7.5), "429"),
    (500, graph_error(131000, "Something went wrong"), {}, False, None, "131000"),
    (503, {}, {}, False, None, "503"),
    (400, graph_error(131047, "Re-engagement message", "more than 24 hours"), {}, True, None, "131047"),
    (400, graph_error(100, "Invalid parameter"), {}, True, None, "100"),
    (401, graph_error(190, "Error validating access token"), {}, True, None, "190"),
])
async def test_sender_maps_graph_errors(graph: FakeGraphApi, status: int, error: dict[str, Any],
                                        headers: dict[str, str], permanent: bool,
                                        retry_after: tuple[float, float] | None, in_message: str) -> None:
    sender = sender_for(graph)
    try:
        graph.fail_with = [(status, error, headers)]
        with pytest.raises(SendError) as err:
            await sender.send("+221771234567", Reply(text="hi"), idempotency_key="k")
        assert err.value.permanent is permanent and in_message in str(err.value)
        assert getattr(err.value, "code", None) == (in_message if error else None)
        if retry_after is None:
            assert err.value.retry_after is None
        else:
            assert err.value.retry_after is not None and retry_after[0] <= err.value.retry_after <= retry_after[1]
    finally:
        await sender.close()


async def test_sender_network_failure_is_retryable() -> None:
    sender = MetaSender(Config(phone_number_id=PNID, access_token="t", app_secret="s", verify_token="v",
                               api_base_url=f"http://127.0.0.1:{free_port()}"))
    try:
        with pytest.raises(SendError) as err:
            await sender.send("+221771234567", Reply(text="hi"), idempotency_key="k")
        assert not err.value.permanent
    finally:
        await sender.close()


async def test_a_split_reply_resumes_where_it_failed(graph: FakeGraphApi) -> None:
    sender = sender_for(graph)
    text = ("Robe wax Ankara, 15 000 F CFA.\n" * 300)
    try:
        graph.fail_with = [(200, {"messages": [{"id": "wamid.P1"}]}, {}),
                           (400, graph_error(131056, "pair rate limit"), {})]
        with pytest.raises(SendError):
            await sender.send("+221771234567", Reply(text=text), idempotency_key="long")
        assert await sender.send("+221771234567", Reply(text=text), idempotency_key="long") == "wamid.P1"
        bodies = [b["text"]["body"] for b in graph.sent()]
        assert len(bodies) == 4 and bodies[1] == bodies[2]  # part 2 retried, part 1 not repeated
        assert "\n".join(bodies[:1] + bodies[2:]) == text.strip()
    finally:
        await sender.close()


# the webhook endpoint and the live sale

def meta_vendor(tmp_path: Path, api_base: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WA_TOKEN_DEMO", "EAAG-token")
    monkeypatch.setenv("WA_APP_SECRET_DEMO", SECRET)
    monkeypatch.setenv("WA_VERIFY_DEMO", VERIFY_TOKEN)
    data = yaml.safe_load((EXAMPLES / "demo.yaml").read_text(encoding="utf-8"))
    data["channels"] = {"meta": {"phone_number_id": int(PNID), "access_token": "${WA_TOKEN_DEMO}",
                                 "app_secret": "${WA_APP_SECRET_DEMO}", "verify_token": "${WA_VERIFY_DEMO}",
                                 "api_base_url": api_base}}
    d = tmp_path / "wa-vendors"
    d.mkdir()
    (d / "demo.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return d


async def post(server: Server, raw: bytes, signature: str | None = "sign", vendor: str = "demo") -> int:
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        headers[SIGNATURE_HEADER] = sign(raw)
    elif signature is not None:
        headers[SIGNATURE_HEADER] = signature
    async with server.http.post(f"{server.url}/webhooks/meta/{vendor}", data=raw, headers=headers) as r:
        return r.status


def wire(payload: dict[str, Any]) -> bytes:
    """JSON as Meta sends it: compact, non-ASCII escaped."""
    return json.dumps(payload, separators=(",", ":")).encode()


def text_message(n: int, text: str) -> bytes:
    return wire(envelope(with_contacts(inbound(f"wamid.IN{n}", "text", {"body": text}))))


def button_tap(n: int, payload: str, context: str) -> bytes:
    body = {"type": "button_reply", "button_reply": {"id": payload, "title": payload.upper()}}
    return wire(envelope(with_contacts(inbound(f"wamid.IN{n}", "interactive", body,
                                               context={"from": "221770001122", "id": context}))))


def status_update(wamid: str, status: str, **extra: Any) -> bytes:
    st = {"id": wamid, "status": status, "timestamp": "1781000000", "recipient_id": BUYER, **extra}
    return wire(envelope({"statuses": [st]}))


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    await eventually(predicate, timeout=timeout)


async def outbound_messages(server: Server) -> list[Any]:
    return [m for m in await server.runtime.store.transcript(f"demo:whatsapp:+{BUYER}") if m.direction == "out"]


async def test_verification_handshake(start_server, graph: FakeGraphApi, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    server: Server = await start_server(meta_vendor(tmp_path, graph.base, monkeypatch))
    query = META["verification_request"]["url"].split("?", 1)[1]
    async with server.http.get(f"{server.url}/webhooks/meta/demo?{query}") as r:
        assert r.status == 200 and r.content_type == "text/plain"
        assert await r.text() == META["verification_request"]["expected_body"]
    for bad in (query.replace(VERIFY_TOKEN, "wrong-token"), query.replace("subscribe", "unsubscribe"),
                "hub.challenge=1"):
        async with server.http.get(f"{server.url}/webhooks/meta/demo?{bad}") as r:
            assert r.status == 403 and (await r.json())["error"]["code"] == "invalid_verify_token"
    async with server.http.get(f"{server.url}/webhooks/meta/nobody?{query}") as r:
        assert r.status == 404


async def test_unsigned_or_badly_signed_posts_are_401_and_nothing_is_stored(
    start_server, graph: FakeGraphApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(meta_vendor(tmp_path, graph.base, monkeypatch))
    raw = (WA / "text.json").read_bytes()
    assert await post(server, raw, signature=None) == 401
    assert await post(server, raw, signature=sign(raw, "not-the-app-secret")) == 401
    assert await post(server, raw, signature=sign(raw + b" ")) == 401
    assert await server.runtime.store.unprocessed_events() == []
    assert await post(server, b"{not json") == 400
    assert await post(server, raw, vendor="nobody") == 404
    # over 4 MB: 413 before the body is read (a raw socket, so nothing lingers on an unsent body)
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"POST /webhooks/meta/demo HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                 f"{SIGNATURE_HEADER}: sha256=00\r\nContent-Length: {5 * 1024 * 1024}\r\n\r\n".encode())
    assert (await reader.readline()).startswith(b"HTTP/1.1 413")
    writer.close()
    await writer.wait_closed()
    assert await post(server, wire(envelope({"errors": [{"code": 130429}]}))) == 200
    assert await server.runtime.store.unprocessed_events() == [] and graph.calls == []


async def test_fixture_posted_byte_for_byte_is_stored_and_handled(
    start_server, graph: FakeGraphApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(meta_vendor(tmp_path, graph.base, monkeypatch))
    fixture = META["fixtures"]["text.json"]
    async with server.http.post(f"{server.url}/webhooks/meta/demo", data=(WA / "text.json").read_bytes(),
                                headers=fixture["request"]["headers"]) as r:
        assert r.status == 200
    await server.runtime.pipeline.idle()
    event_id = f"wa:demo:{fixture['expected']['provider_message_id']}"
    assert await server.runtime.store.is_processed(event_id)
    transcript = await server.runtime.store.transcript(f"demo:whatsapp:+{BUYER}")
    assert transcript[0].direction == "in" and transcript[0].text == fixture["expected"]["text"]
    assert any(m.direction == "out" for m in transcript)  # answered (sent or not: the fixture is months old)
    conv = await server.runtime.store.get_conversation(f"demo:whatsapp:+{BUYER}")
    assert conv is not None and conv.contact.name == "Aminata Diop" and conv.last_inbound_at == 1781000000.0


async def _has_calls(api: FakeGraphApi, n: int) -> bool:
    return len(api.calls) >= n


async def test_live_sale_on_whatsapp_with_reply_buttons_and_statuses(
    start_server, graph: FakeGraphApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(meta_vendor(tmp_path, graph.base, monkeypatch))
    assert await post(server, text_message(1, "ROBE1")) == 200
    await wait_for(lambda: _has_calls(graph, 1))
    offer = graph.sent()[0]
    assert offer["type"] == "interactive" and offer["interactive"]["type"] == "button"
    assert "15 000 F CFA" in plain(offer["interactive"]["body"]["text"])
    assert offer["interactive"]["action"]["buttons"] == [{"type": "reply", "reply": {"id": "pay", "title": "PAYER"}},
                                                         {"type": "reply", "reply": {"id": "cancel",
                                                                                     "title": "ANNULER"}}]
    assert await post(server, button_tap(2, "pay", "wamid.OUT1")) == 200
    await wait_for(lambda: _has_calls(graph, 2))
    methods = graph.sent()[1]["interactive"]["action"]["buttons"]
    assert [b["reply"]["id"] for b in methods] == ["wave", "om", "card"]
    assert await post(server, button_tap(3, "wave", "wamid.OUT2")) == 200
    assert await post(server, button_tap(3, "wave", "wamid.OUT2")) == 200  # Meta redelivers the same wamid
    await wait_for(lambda: _has_calls(graph, 3))
    await server.runtime.pipeline.idle()
    await server.runtime.delivery.idle()
    assert len(graph.sent()) == 3
    link = graph.sent()[2]["text"]["body"]
    assert "Wave" in link and f"{server.url}/pay/sandbox/" in link

    outs = await outbound_messages(server)
    assert [m.provider_message_id for m in outs] == ["wamid.OUT1", "wamid.OUT2", "wamid.OUT3"]
    for status in ("sent", "delivered", "read"):
        assert await post(server, status_update("wamid.OUT1", status)) == 200
    await server.runtime.pipeline.idle()
    assert (await outbound_messages(server))[0].status == "read"
    failed = status_update("wamid.OUT3", "failed", errors=[{"code": 131047, "title": "Re-engagement message"}])
    assert await post(server, failed) == 200
    await server.runtime.pipeline.idle()
    last = (await outbound_messages(server))[2]
    assert last.status == "failed" and last.error == "131047"


async def test_send_errors_are_retried_or_not(
    start_server, graph: FakeGraphApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(meta_vendor(tmp_path, graph.base, monkeypatch))
    graph.fail_with = [(500, graph_error(131000, "Something went wrong"), {}),
                       (429, graph_error(130429, "Rate limit hit"), {"Retry-After": "0.2"})]
    assert await post(server, text_message(1, "ROBE1")) == 200

    async def sent() -> bool:
        outs = await outbound_messages(server)
        return bool(outs) and outs[0].status == "sent"

    await wait_for(sent)
    assert len(graph.calls) == 3 and (await outbound_messages(server))[0].provider_message_id == "wamid.OUT3"

    graph.fail_with = [(400, graph_error(131026, "Message undeliverable"), {})]
    assert await post(server, text_message(2, "merci")) == 200

    async def failed() -> bool:
        outs = await outbound_messages(server)
        return len(outs) == 2 and outs[1].status == "failed"

    await wait_for(failed)
    assert "131026" in ((await outbound_messages(server))[1].error or "")
    await asyncio.sleep(0.3)
    assert len(graph.calls) == 4  # a permanent error is not retried
