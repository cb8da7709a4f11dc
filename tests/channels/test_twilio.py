"""Twilio SMS: signatures over the public URL, every fixture parsed, GSM-7-safe sends, and the sale by SMS."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
import yaml
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import commerce
from bot.vendors import VendorLoader
from channels import Button, ListRow, ListSection, Reply, TemplateRef
from channels.base import NotAMessage, PermanentSendError, SendError
from channels.twilio import (
    EMPTY_TWIML,
    SIGNATURE_HEADER,
    Config,
    TwilioSender,
    gsm7_safe,
    is_gsm7,
    parse_form,
    parse_params,
    render_text,
    segments,
    signature,
    split_body,
    url_candidates,
    verify,
)
from dialogs import Registry, YamlInvalid
from tests.conftest import EXAMPLES, FIXTURES, Server, eventually, free_port, plain, serving

TW = FIXTURES / "channels" / "twilio_sms"
META = json.loads((TW / "meta.json").read_text())
TOKEN = META["signature"]["auth_token"]
SID = "AC3f0c9a1e7b2d4c5a8e6f1029384756ab"
BUYER = "+221771234567"
TWILIO_NUMBER = "+33757001234"


# signature and parsing, offline
def test_the_official_test_vector_is_reproduced_and_a_changed_value_is_not() -> None:
    vector = META["signature"]["official_test_vector"]
    params = list(vector["params"].items())
    assert signature(vector["auth_token"], vector["url"], params) == vector["expected"]
    assert verify(vector["auth_token"], [vector["url"]], params, vector["expected"])
    tampered = [(k, "9999" if k == "Digits" else v) for k, v in params]
    assert not verify(vector["auth_token"], [vector["url"]], tampered, vector["expected"])
    assert not verify(vector["auth_token"], [vector["url"].replace("foo=1", "foo=2")], params, vector["expected"])


@pytest.mark.parametrize("name", sorted(META["fixtures"]))
def test_every_fixture_verifies_over_its_exact_bytes(name: str) -> None:
    fixture = META["fixtures"][name]
    raw = (TW / name).read_bytes()
    header = fixture["request"]["headers"][SIGNATURE_HEADER]
    urls = url_candidates(fixture["request"]["url"])
    assert verify(TOKEN, urls, parse_form(raw), header)
    assert not verify("another-token", urls, parse_form(raw), header)
    assert not verify(TOKEN, urls, parse_form(raw + b"&Extra=1"), header)
    assert not verify(TOKEN, urls, parse_form(raw), None)


@pytest.mark.parametrize("name", sorted(META["fixtures"]))
def test_every_fixture_parses_into_the_expected_event(name: str) -> None:
    expected = META["fixtures"][name]["expected"]
    (e,) = parse_params(parse_form((TW / name).read_bytes()), "kaay", outbound_id="out_0142")
    assert (e.channel, e.provider, e.vendor_id) == ("sms", "twilio", "kaay")
    kind = expected["kind"]
    if kind == "status":
        assert e.kind == "status" and e.data["twilio_status"] == expected["status"]
        assert e.status == {"sent": "sent", "delivered": "delivered", "undelivered": "failed"}[expected["status"]]
        assert e.error_code == expected.get("error_code")
        assert e.id == f"tw:kaay:{e.provider_message_id}:{expected['status']}"
        assert e.data["outbound_id"] == "out_0142" and e.contact.address == BUYER
        if "provider_message_id" in expected:
            assert e.provider_message_id == expected["provider_message_id"]
        return
    assert e.kind == "message" and e.contact.address == expected["sender"]
    assert e.id == f"tw:kaay:{e.provider_message_id}"
    assert e.conversation_key == f"kaay:sms:{BUYER}"
    if "provider_message_id" in expected:
        assert e.provider_message_id == expected["provider_message_id"]
    if kind == "text":
        assert e.media is None
        if "text" in expected:
            assert e.text == expected["text"]  # verbatim: the pipeline trims " 2 " when it maps digits
        else:
            assert e.text and "Dakar" in e.text
    elif kind == "image":
        assert e.media is not None and e.media.kind == "image"
        assert (e.media.url, e.media.mime_type, e.media.caption) == (
            expected["media_url"], expected["mime_type"], expected["caption"])
        assert e.text == expected["caption"]
    else:
        pytest.fail(f"fixture kind {kind} not covered")


def test_whatsapp_through_twilio_is_a_whatsapp_conversation_with_the_profile_name() -> None:
    form = [("MessageSid", "SM" + "a" * 32), ("From", f"whatsapp:{BUYER}"), ("To", f"whatsapp:{TWILIO_NUMBER}"),
            ("Body", "ROBE1 🙏"), ("ProfileName", "Aminata"), ("NumMedia", "0")]
    (e,) = parse_params(form, "demo")
    assert (e.channel, e.provider, e.contact.address, e.contact.name) == ("whatsapp", "twilio", BUYER, "Aminata")
    assert e.conversation_key == f"demo:whatsapp:{BUYER}" and e.text == "ROBE1 🙏"
    assert parse_params([("MessageSid", "SM" + "b" * 32), ("From", "messenger:123"), ("Body", "x")], "demo") == []


def test_unusual_but_genuine_requests_parse_without_surprises() -> None:
    sid = "MM" + "c" * 32
    two = parse_params([("MessageSid", sid), ("From", BUYER), ("Body", ""), ("NumMedia", "2"),
                        ("MediaUrl0", "https://x/0"), ("MediaContentType0", "application/pdf"),
                        ("MediaUrl1", "https://x/1"), ("MediaContentType1", "image/png")], "demo")[0]
    assert two.text is None and two.media is not None and two.media.kind == "document"
    assert [m["url"] for m in two.data["media"]] == ["https://x/0", "https://x/1"]
    empty = parse_params([("MessageSid", sid), ("From", BUYER), ("Body", "")], "demo")[0]
    assert empty.text is None and empty.data == {"unsupported": "empty"}
    # a status Twilio adds later, or the initial one it never sends, is acknowledged and skipped
    assert parse_params([("MessageSid", sid), ("MessageStatus", "teleported"), ("To", BUYER)], "demo") == []
    for bad in ([("From", BUYER), ("Body", "x")], [("MessageSid", "SM../x"), ("From", BUYER)],
                [("MessageSid", sid), ("From", "not a phone"), ("Body", "x")]):
        with pytest.raises(ValueError):
            parse_params(bad, "demo")


def test_url_candidates_cover_the_default_port_and_a_connection_override_fragment() -> None:
    assert url_candidates("https://bot.kaay.sn/webhooks/twilio/sms") == [
        "https://bot.kaay.sn/webhooks/twilio/sms", "https://bot.kaay.sn:443/webhooks/twilio/sms"]
    assert url_candidates("https://bot.kaay.sn:443/a?b=1")[1] == "https://bot.kaay.sn/a?b=1"
    assert url_candidates("http://h:8080/a") == ["http://h:8080/a"]
    assert "https://h/a" in url_candidates("https://h/a#rc=2&rp=all")


# text rendering, offline
def test_french_text_is_folded_into_gsm7_and_costs_fewer_segments() -> None:
    original = "✅ Paiement reçu, merci ! Robe — 15\u202f000\u00a0F CFA « reçu » l’œuvre… Côte d’Ivoire, Ça 🙏"
    folded = gsm7_safe(original)
    assert folded == 'Paiement recu, merci ! Robe - 15 000 F CFA " recu " l\'oeuvre... Cote d\'Ivoire, Ça'
    assert is_gsm7(folded) and not is_gsm7(original)
    kept = "é è ù ì ò É à Ç Ä Ö Ñ Ü ä ö ñ ü €"
    assert gsm7_safe(kept) == kept
    assert gsm7_safe("ç ê â î ô û ë ï Ê È À Ô") == "c e a i o u e i E E A O"
    assert gsm7_safe("Salaam عليكم") is None  # no GSM-7 equivalent: the message stays UCS-2
    long_fr = "Réservé pour vous, ça coûte 15 000 F CFA. " * 3 + "Payez vite !"  # 138 characters
    assert segments(long_fr) == 3 and segments(gsm7_safe(long_fr) or "") == 1


@pytest.mark.parametrize(("text", "expected"), [
    ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
    ("€" * 80, 1), ("€" * 81, 2), ("aa" + "€" * 152, 3), ("a" * 152 + "€", 1),
    ("ê" * 70, 1), ("ê" * 71, 2), ("ê" * 134, 2), ("ê" * 135, 3), ("🙂" * 35, 1), ("🙂" * 36, 2),
])
def test_segment_count_follows_gsm7_and_ucs2_limits(text: str, expected: int) -> None:
    assert segments(text) == expected


@given(st.text(max_size=400))
@settings(max_examples=200, deadline=None)
def test_folding_never_grows_the_cost_and_never_leaves_ucs2_behind(text: str) -> None:
    folded = gsm7_safe(text)
    if folded is not None:
        assert is_gsm7(folded)
        assert segments(folded) <= segments(text) or len(folded) > len(text)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=5000))
@settings(max_examples=100, deadline=None)
def test_split_pieces_fit_twilio_and_keep_the_words(text: str) -> None:
    pieces = split_body(text, limit=1600)
    assert all(0 < len(p) <= 1600 for p in pieces)
    assert "".join("".join(p.split()) for p in pieces) == "".join(text.split())


def test_buttons_and_lists_become_numbered_choices_after_the_text() -> None:
    offer = Reply(text="Robe Wax Ankara (ROBE1) — 15\u202f000 F CFA\n",
                  buttons=[Button(id="pay", title="PAYER"), Button(id="cancel", title="ANNULER")])
    assert render_text(offer) == "Robe Wax Ankara (ROBE1) - 15 000 F CFA\n1. PAYER\n2. ANNULER"
    menu = Reply(text="Choisissez :", buttons=[Button(id=f"b{i}", title=t) for i, t in
                                                enumerate(["Wave", "Orange Money", "Carte", "Espèces"])],
                 list_sections=[ListSection(title="Tailles", rows=[ListRow(id="m", title="M", description="38-40")])])
    assert render_text(menu).endswith("1. Wave\n2. Orange Money\n3. Carte\n4. Espèces\n5. M - 38-40")
    assert render_text(Reply(text="Payez ici", link="https://pay.example/x")) == "Payez ici\nhttps://pay.example/x"
    assert render_text(Reply(text="Payez ici https://pay.example/x", link="https://pay.example/x")).count("https") == 1
    assert render_text(Reply(text="Merci 🙏 ça"), gsm7=False) == "Merci 🙏 ça"


def test_vendor_yaml_with_a_wrong_twilio_block_names_the_field(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TW_TOKEN_BAD", "secret-token-value")
    loader = VendorLoader(commerce.register(Registry()))
    cases = {
        "from_number": {"from_number": "77 123 45 67"},
        "account_sid": {"account_sid": "123", "from_number": TWILIO_NUMBER},
        "auth_tokn": {"auth_tokn": "x", "from_number": TWILIO_NUMBER},
        "messaging_service_sid": {},
        "webhook_url": {"from_number": TWILIO_NUMBER, "webhook_url": "bot.kaay.sn/webhooks/twilio/demo"},
    }
    for field, change in cases.items():
        block = {"account_sid": SID, "auth_token": "${TW_TOKEN_BAD}", **change}
        path = write_vendor(tmp_path / field, block)
        with pytest.raises(YamlInvalid) as err:
            loader.load(path)
        assert field in str(err.value), str(err.value)
        assert "secret-token-value" not in str(err.value)
    ok = loader.load(write_vendor(tmp_path / "ok", {"account_sid": SID, "auth_token": "${TW_TOKEN_BAD}",
                                                    "from_number": "+33 7 57 00 12 34"}))
    config = ok.config.channels["twilio"]
    assert config.from_number == TWILIO_NUMBER and "secret-token-value" not in repr(config)


# the fake Twilio REST API
class FakeTwilio:
    """A local Messages API: records every create call, answers like Twilio, can be told to fail."""

    def __init__(self) -> None:
        self.creates: list[list[tuple[str, str]]] = []
        self.raw_bodies: list[bytes] = []
        self.auth: list[str | None] = []
        self.lookups = 0
        self.fail_with: list[tuple[int, dict[str, Any], dict[str, str], bool]] = []
        self.stored: list[dict[str, Any]] = []
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    async def create(self, request: web.Request) -> web.Response:
        raw = await request.read()
        fields = parse_qsl(raw.decode(), keep_blank_values=True)
        self.raw_bodies.append(raw)
        self.creates.append(fields)
        self.auth.append(request.headers.get("Authorization"))
        form = dict(fields)
        sid = f"SM{len(self.creates):032x}"
        if self.fail_with:
            status, payload, headers, created = self.fail_with.pop(0)
            if created:  # Twilio made the message but the answer is lost
                self.stored.append({"sid": sid, "to": form["To"], "body": form.get("Body", ""),
                                    "date_created": formatdate(usegmt=True)})
            return web.json_response(payload, status=status, headers=headers)
        self.stored.append({"sid": sid, "to": form["To"], "body": form.get("Body", ""),
                            "date_created": formatdate(usegmt=True)})
        return web.json_response({"sid": sid, "status": "queued", "to": form["To"], "body": form.get("Body"),
                                  "num_segments": str(segments(form.get("Body", "")))}, status=201)

    async def list_messages(self, request: web.Request) -> web.Response:
        self.lookups += 1
        to = request.query.get("To")
        return web.json_response({"messages": [m for m in reversed(self.stored) if m["to"] == to]})

    def bodies(self, to: str = BUYER) -> list[str]:
        return [dict(f).get("Body", "") for f in self.creates if dict(f)["To"] == to]


@pytest.fixture
async def twilio_api() -> AsyncIterator[FakeTwilio]:
    api = FakeTwilio()
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", api.create)
    app.router.add_get("/2010-04-01/Accounts/{sid}/Messages.json", api.list_messages)
    async with serving(app, api.port):
        yield api


def sender_for(api: FakeTwilio, **changes: Any) -> TwilioSender:
    values: dict[str, Any] = {"account_sid": SID, "auth_token": TOKEN, "from_number": TWILIO_NUMBER,
                              "api_base_url": api.base, **changes}
    return TwilioSender(Config.model_validate({k: v for k, v in values.items() if v is not None}))


async def test_the_outbound_fixture_is_reproduced_byte_for_byte(twilio_api: FakeTwilio) -> None:
    sender = sender_for(twilio_api, from_number="KAAY", validity_period=3600,
                        status_callback_url="https://bot.kaay.sn/webhooks/twilio/status")
    try:
        text = "ROBE1 : 15\u202f000 FCFA. Repondez 1 pour commander, 2 pour les photos."
        sid = await sender.send(BUYER, Reply(text=text), idempotency_key="out_0142")
    finally:
        await sender.close()
    assert sid == f"SM{1:032x}"
    assert twilio_api.raw_bodies == [(TW / "outbound" / "send_text.form").read_bytes()]
    assert twilio_api.auth == ["Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()]


async def test_every_reply_kind_is_sent_as_twilio_expects(twilio_api: FakeTwilio) -> None:
    sender = sender_for(twilio_api, webhook_url="https://bot.kaay.sn/webhooks/twilio/demo")
    try:
        await sender.send(BUYER, Reply(text="Bonjour, ça va ?"), idempotency_key="tw:demo:SM1:out:0")
        await sender.send(BUYER, Reply(text="Robe", buttons=[Button(id="pay", title="PAYER"),
                                                             Button(id="cancel", title="ANNULER")]),
                          idempotency_key="k2")
        await sender.send(BUYER, Reply(text="Payer par :", buttons=[
            Button(id=i, title=t) for i, t in [("wave", "Wave"), ("om", "Orange Money"), ("card", "Carte"),
                                               ("cash", "Espèces à la livraison")]]), idempotency_key="k3")
        await sender.send(BUYER, Reply(text="La robe en photo", media_url="https://cdn.example/robe1.jpg"),
                          idempotency_key="k4")
        long_text = ("Conditions de vente : livraison à Dakar sous 48 h, échange possible sous 7 jours. " * 30).strip()
        last = await sender.send(BUYER, Reply(text=long_text), idempotency_key="k5")
        nothing = await sender.send(BUYER, Reply(), idempotency_key="k6")
    finally:
        await sender.close()
    first = dict(twilio_api.creates[0])
    assert first == {"To": BUYER, "From": TWILIO_NUMBER, "Body": "Bonjour, ca va ?",
                     "StatusCallback": "https://bot.kaay.sn/webhooks/twilio/demo?outbound_id=tw%3Ademo%3ASM1%3Aout%3A0"}
    bodies = twilio_api.bodies()
    assert bodies[1] == "Robe\n1. PAYER\n2. ANNULER"
    assert bodies[2] == "Payer par :\n1. Wave\n2. Orange Money\n3. Carte\n4. Espèces à la livraison"
    assert dict(twilio_api.creates[3])["MediaUrl"] == "https://cdn.example/robe1.jpg"
    long_parts = bodies[4:]
    assert len(long_parts) == 2 and all(len(p) <= 1600 for p in long_parts)
    assert " ".join(long_parts) == long_text and last == f"SM{6:032x}"  # the last part's sid is the message's
    assert nothing == "" and len(twilio_api.creates) == 6


async def test_messaging_service_and_whatsapp_senders(twilio_api: FakeTwilio) -> None:
    service = sender_for(twilio_api, from_number=None, messaging_service_sid="MG" + "0" * 32)
    whatsapp = sender_for(twilio_api, from_number=None, whatsapp_from="whatsapp:+14155238886")
    both = sender_for(twilio_api, whatsapp_from="+14155238886")
    try:
        await service.send(BUYER, Reply(text="ok"), idempotency_key="a")
        await whatsapp.send(BUYER, Reply(text="Merci 🙏 ça coûte", buttons=[Button(id="pay", title="PAYER")]),
                            idempotency_key="b")
        await both.send(BUYER, Reply(text="sms"), idempotency_key="c")
        await both.send(f"whatsapp:{BUYER}", Reply(text="wa"), idempotency_key="d")
        await both.send(BUYER, Reply(text="wa too", data={"channel": "whatsapp"}), idempotency_key="e")
    finally:
        for s in (service, whatsapp, both):
            await s.close()
    forms = [dict(f) for f in twilio_api.creates]
    assert forms[0] == {"To": BUYER, "MessagingServiceSid": "MG" + "0" * 32, "Body": "ok"}
    assert forms[1] == {"To": f"whatsapp:{BUYER}", "From": "whatsapp:+14155238886",
                        "Body": "Merci 🙏 ça coûte\n1. PAYER"}  # no SMS segments on WhatsApp: text kept
    assert [(f["To"], f["From"]) for f in forms[2:]] == [
        (BUYER, TWILIO_NUMBER), (f"whatsapp:{BUYER}", "whatsapp:+14155238886"),
        (f"whatsapp:{BUYER}", "whatsapp:+14155238886")]


async def test_provider_errors_are_mapped_to_retry_or_give_up(twilio_api: FakeTwilio) -> None:
    sender = sender_for(twilio_api)
    try:
        twilio_api.fail_with = [(429, {"code": 20429, "message": "Too Many Requests"}, {"Retry-After": "7"}, False)]
        with pytest.raises(SendError) as err:
            await sender.send(BUYER, Reply(text="hi"), idempotency_key="r1")
        assert not err.value.permanent and err.value.retry_after == 7
        twilio_api.fail_with = [(503, {"message": "Service Unavailable"}, {}, False)]
        with pytest.raises(SendError) as err:
            await sender.send(BUYER, Reply(text="hi"), idempotency_key="r2")
        assert not err.value.permanent
        for code, words in ((21211, "invalid 'To'"), (21610, "STOP"), (21612, "not allowed")):
            twilio_api.fail_with = [(400, {"code": code, "message": f"The 'To' number {BUYER} is bad",
                                           "status": 400}, {}, False)]
            with pytest.raises(PermanentSendError, match=str(code)) as perm:
                await sender.send(BUYER, Reply(text="hi"), idempotency_key=f"p{code}")
            assert words in str(perm.value)
        twilio_api.fail_with = [(400, {"code": 21999, "message": f"Some new rule about {BUYER}"}, {}, False)]
        with pytest.raises(PermanentSendError, match="21999") as perm:
            await sender.send(BUYER, Reply(text="hi"), idempotency_key="p21999")
        assert BUYER not in str(perm.value) and "+22177****567" in str(perm.value)  # numbers masked
        with pytest.raises(PermanentSendError):
            await sender.send("not-a-number", Reply(text="hi"), idempotency_key="p0")
        with pytest.raises(PermanentSendError, match="relance"):  # WhatsApp templates do not exist on SMS
            await sender.send(BUYER, Reply(template=TemplateRef(name="relance")), idempotency_key="p1")
        calls = len(twilio_api.creates)
        assert await sender.send(BUYER, Reply(text="hi"), idempotency_key="r2") == f"SM{calls + 1:032x}"
    finally:
        await sender.close()
    closed = sender_for(twilio_api, api_base_url=f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(SendError) as err:
            await closed.send(BUYER, Reply(text="hi"), idempotency_key="n1")
        assert not err.value.permanent
    finally:
        await closed.close()


async def test_an_sms_made_despite_an_error_answer_is_not_sent_twice(twilio_api: FakeTwilio) -> None:
    sender = sender_for(twilio_api)
    try:
        twilio_api.fail_with = [(500, {}, {}, True)]
        with pytest.raises(SendError):
            await sender.send(BUYER, Reply(text="Votre lien de paiement"), idempotency_key="u1")
        sid = await sender.send(BUYER, Reply(text="Votre lien de paiement"), idempotency_key="u1")
        assert twilio_api.lookups == 1 and len(twilio_api.creates) == 1 and sid == f"SM{1:032x}"
        # a message Twilio did not make is sent after the check
        twilio_api.fail_with = [(502, {}, {}, False)]
        with pytest.raises(SendError):
            await sender.send(BUYER, Reply(text="Autre message"), idempotency_key="u2")
        await sender.send(BUYER, Reply(text="Autre message"), idempotency_key="u2")
        assert twilio_api.lookups == 2 and twilio_api.bodies().count("Autre message") == 2
        # the second part of a long text fails: the retry sends only that part
        long_text = " ".join(["mot"] * 700)
        twilio_api.fail_with = [(201, {"sid": "SMpart1"}, {}, False), (429, {"code": 20429}, {}, False)]
        with pytest.raises(SendError):
            await sender.send(BUYER, Reply(text=long_text), idempotency_key="u3")
        before = len(twilio_api.creates)
        await sender.send(BUYER, Reply(text=long_text), idempotency_key="u3")
        assert len(twilio_api.creates) == before + 1
    finally:
        await sender.close()


# over HTTP
def write_vendor(directory: Path, block: dict[str, Any], vendor_id: str = "demo") -> Path:
    data = yaml.safe_load((EXAMPLES / "demo.yaml").read_text(encoding="utf-8"))
    data["id"] = vendor_id
    data["channels"] = {"twilio": block}
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{vendor_id}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def twilio_vendors(tmp_path: Path, api: FakeTwilio, monkeypatch: pytest.MonkeyPatch,
                   **extra: dict[str, Any]) -> Path:
    """A vendors folder: `demo` on the fake API, plus vendors named by `extra` with more config."""
    monkeypatch.setenv("TW_SID_DEMO", SID)
    monkeypatch.setenv("TW_TOKEN_DEMO", TOKEN)
    d = tmp_path / f"tw-vendors-{len(list(tmp_path.glob('tw-vendors-*')))}"
    base = {"account_sid": "${TW_SID_DEMO}", "auth_token": "${TW_TOKEN_DEMO}", "from_number": TWILIO_NUMBER,
            "status_callback_url": "https://bot.example/webhooks/twilio/demo", "api_base_url": api.base}
    write_vendor(d, base)
    for vendor_id, more in extra.items():
        write_vendor(d, {**base, **more}, vendor_id)
    return d


async def post_form(server: Server, params: list[tuple[str, str]], *, vendor: str = "demo", query: str = "",
                    token: str | None = TOKEN, sign_url: str | None = None) -> tuple[int, str, str]:
    url = f"{server.url}/webhooks/twilio/{vendor}" + (f"?{query}" if query else "")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if token is not None:
        headers[SIGNATURE_HEADER] = signature(token, sign_url or url, params)
    async with server.http.post(url, data=urlencode(params).encode(), headers=headers) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.text()


def sms(sid: int, body: str, sender: str = BUYER) -> list[tuple[str, str]]:
    message_sid = f"SM{sid:032x}"
    return [("ToCountry", "FR"), ("SmsMessageSid", message_sid), ("NumMedia", "0"), ("SmsSid", message_sid),
            ("SmsStatus", "received"), ("Body", body), ("FromCountry", "SN"), ("To", TWILIO_NUMBER),
            ("NumSegments", "1"), ("MessageSid", message_sid), ("AccountSid", SID), ("From", sender),
            ("ApiVersion", "2010-04-01")]


def status(message_sid: str, value: str, error: str | None = None) -> list[tuple[str, str]]:
    params = [("SmsSid", message_sid), ("SmsStatus", value), ("MessageStatus", value), ("To", BUYER),
              ("MessageSid", message_sid), ("AccountSid", SID), ("From", TWILIO_NUMBER), ("ApiVersion", "2010-04-01")]
    return [("ErrorCode", error), *params] if error else params


async def wait_creates(api: FakeTwilio, n: int, timeout: float = 10.0) -> None:
    await eventually(lambda: len(api.creates) >= n, lambda: api.creates, timeout)


async def test_fixtures_over_http_with_the_configured_public_url(
    start_server, twilio_api: FakeTwilio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Twilio called https://bot.kaay.sn/webhooks/twilio/{sms,status}: vendors "sms" and "status" behind a proxy.
    vendors = twilio_vendors(tmp_path, twilio_api, monkeypatch,
                             sms={"webhook_url": "https://bot.kaay.sn/webhooks/twilio/sms"},
                             status={"webhook_url": "https://bot.kaay.sn/webhooks/twilio/status"})
    server: Server = await start_server(vendors)
    expected = META["expected_response"]
    for name, fixture in META["fixtures"].items():
        vendor_path, _, query = fixture["request"]["url"].removeprefix("https://bot.kaay.sn").partition("?")
        url = f"{server.url}{vendor_path}" + (f"?{query}" if query else "")
        async with server.http.post(url, data=(TW / name).read_bytes(), headers=fixture["request"]["headers"]) as r:
            body = await r.text()
            assert r.status == 200, (name, body)
        (event,) = parse_params(parse_form((TW / name).read_bytes()), vendor_path.rsplit("/", 1)[1])
        if event.kind == "status":
            assert body == expected["status_callback"]["body"]
        else:
            assert body == expected["inbound"]["body"]
            assert r.headers["Content-Type"].startswith(expected["inbound"]["content_type"])
        await server.runtime.pipeline.idle()
        assert await server.runtime.store.is_processed(event.id), name


async def test_palabre_public_url_is_used_when_the_vendor_sets_no_webhook_url(
    start_server, twilio_api: FakeTwilio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vendors = twilio_vendors(tmp_path, twilio_api, monkeypatch, sms={})
    fixture = META["fixtures"]["text.form"]
    raw = (TW / "text.form").read_bytes()
    behind_proxy: Server = await start_server(vendors, public_url="https://bot.kaay.sn")
    local = f"http://127.0.0.1:{behind_proxy.runtime.settings.port}/webhooks/twilio/sms"
    async with behind_proxy.http.post(local, data=raw, headers=fixture["request"]["headers"]) as r:
        assert r.status == 200 and await r.text() == EMPTY_TWIML
    # without the public URL the request URL is used, and Twilio did not sign that one
    direct: Server = await start_server(vendors)
    async with direct.http.post(f"{direct.url}/webhooks/twilio/sms", data=raw,
                                headers=fixture["request"]["headers"]) as r:
        assert r.status == 401
    assert not await direct.runtime.store.is_processed("tw:sms:SM6b1f2e3d4c5b6a79880a1b2c3d4e5f60")


async def test_bad_or_missing_signature_is_401_and_nothing_is_stored(
    start_server, twilio_api: FakeTwilio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(twilio_vendors(tmp_path, twilio_api, monkeypatch))
    params = sms(1, "ROBE1")
    assert (await post_form(server, params, token=None))[0] == 401
    assert (await post_form(server, params, token="wrong-token"))[0] == 401
    assert (await post_form(server, params, sign_url="https://elsewhere.example/webhooks/twilio/demo"))[0] == 401
    assert await server.runtime.store.unprocessed_events() == []
    assert not await server.runtime.store.is_processed(f"tw:demo:SM{1:032x}")
    url = f"{server.url}/webhooks/twilio/demo"
    async with server.http.post(url, data=b"\xff\xfe", headers={SIGNATURE_HEADER: "x"}) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_form"
    code, _, body = await post_form(server, [("MessageSid", f"SM{2:032x}"), ("Body", "hello"), ("From", "not a phone")])
    assert code == 400 and json.loads(body)["error"]["code"] == "invalid_message"
    assert (await post_form(server, params, vendor="nobody"))[0] == 404
    await server.runtime.pipeline.idle()
    assert twilio_api.creates == []


async def test_live_sale_by_sms_with_numbered_choices_a_retry_and_delivery_statuses(
    start_server, twilio_api: FakeTwilio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(twilio_vendors(tmp_path, twilio_api, monkeypatch))
    assert await post_form(server, sms(10, "ROBE1")) == (200, "text/xml; charset=utf-8", EMPTY_TWIML)
    await wait_creates(twilio_api, 1)
    offer = twilio_api.bodies()[0]
    assert "ROBE1" in offer and "15 000 F CFA" in plain(offer) and offer.endswith("\n1. PAYER\n2. ANNULER")
    assert is_gsm7(offer) and segments(offer) == 1  # "Réservé … jusqu'à" costs one SMS, not three
    callback = dict(twilio_api.creates[0])["StatusCallback"]
    assert callback == "https://bot.example/webhooks/twilio/demo?outbound_id=tw%3Ademo%3ASM" + f"{10:032x}%3Aout%3A0"

    assert (await post_form(server, sms(11, " 1 ")))[0] == 200  # "1" = PAYER
    await wait_creates(twilio_api, 2)
    assert twilio_api.bodies()[1].endswith("\n1. Wave\n2. Orange Money\n3. Carte")
    assert (await post_form(server, sms(12, "1")))[0] == 200  # "1" = Wave
    await wait_creates(twilio_api, 3)
    assert (await post_form(server, sms(12, "1")))[0] == 200  # Twilio (or a proxy) sends the same message again
    await server.runtime.pipeline.idle()
    await server.runtime.delivery.idle()
    link_text = twilio_api.bodies()[2]
    assert len(twilio_api.creates) == 3
    assert "Wave" in link_text and f"{server.url}/pay/sandbox/" in link_text and segments(link_text) == 1

    conversation = f"demo:sms:{BUYER}"
    outs = [m for m in await server.runtime.store.transcript(conversation) if m.direction == "out"]
    assert [m.provider_message_id for m in outs] == [f"SM{n:032x}" for n in (1, 2, 3)]
    assert [m.status for m in outs] == ["sent", "sent", "sent"]
    offer_sid, link_sid = outs[0].provider_message_id, outs[2].provider_message_id
    assert offer_sid and link_sid
    assert (await post_form(server, status(link_sid, "delivered"), query="outbound_id=x")) == (
        200, "text/plain; charset=utf-8", "")
    assert (await post_form(server, status(offer_sid, "undelivered", "30003")))[0] == 200
    await server.runtime.pipeline.idle()
    outs = [m for m in await server.runtime.store.transcript(conversation) if m.direction == "out"]
    assert [m.status for m in outs] == ["failed", "sent", "delivered"]
    assert outs[0].error == "30003"
    assert len(twilio_api.creates) == 3  # statuses are never answered


def form_bodies() -> list[bytes]:
    """Malformed and random bodies, generated once by hypothesis and posted to one server."""
    keys = st.sampled_from(["MessageSid", "SmsSid", "From", "To", "Body", "NumMedia", "MediaUrl0",
                            "MediaContentType0", "MediaUrl1", "MessageStatus", "ErrorCode", "ProfileName"])
    values = st.one_of(
        st.text(max_size=40),
        st.sampled_from([BUYER, f"whatsapp:{BUYER}", "+1", "whatsapp:", "sms:+221", "SM" + "0" * 32,
                         "delivered", "undelivered", "received", "read", "1", "-3", "image/jpeg", ""]),
    )
    forms = st.lists(st.tuples(st.one_of(keys, st.text(max_size=10)), values), max_size=12).map(
        lambda pairs: urlencode(pairs).encode())
    with_sid = st.lists(st.tuples(keys, values), max_size=10).map(
        lambda pairs: urlencode([("MessageSid", "SM" + "1" * 32), ("From", BUYER), *pairs]).encode())
    out: list[bytes] = []

    @given(st.one_of(st.binary(max_size=200), forms, with_sid, st.text(max_size=200).map(str.encode)))
    @settings(max_examples=60, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def collect(body: bytes) -> None:
        out.append(body)

    collect()
    return out


async def test_fuzzed_bodies_never_get_a_5xx(
    start_server, twilio_api: FakeTwilio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(twilio_vendors(tmp_path, twilio_api, monkeypatch))
    url = f"{server.url}/webhooks/twilio/demo"
    seen: set[int] = set()
    for body in form_bodies():
        try:
            header = signature(TOKEN, url, parse_form(body))
        except ValueError:
            header = "not-signable"
        async with server.http.post(url, data=body, headers={SIGNATURE_HEADER: header}) as r:
            assert r.status in (200, 400), (body, r.status, await r.text())
            seen.add(r.status)
    assert seen == {200, 400}  # the signature passed and the parser both accepted and refused bodies
    await server.runtime.pipeline.idle()
    async with server.http.get(f"{server.url}/healthz") as r:
        assert r.status == 200



async def test_the_segment_count_of_each_sms_is_recorded_in_the_transcript(
    start_server, twilio_api: FakeTwilio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(twilio_vendors(tmp_path, twilio_api, monkeypatch))
    await post_form(server, sms(900, "ROBE1"))
    await post_form(server, sms(901, "menu"))
    await server.runtime.pipeline.idle()
    outs = [m for m in await server.runtime.store.transcript(f"demo:sms:{BUYER}") if m.direction == "out"]
    assert [m.reply.data["sms_segments"] for m in outs] == [segments(render_text(m.reply)) for m in outs]
    assert outs[0].reply.data["sms_segments"] == 1 and outs[1].reply.data["sms_segments"] >= 2


# issue 8 §4 and §5: WhatsApp users known only by a BSUID; signed requests that are no message

BSUID = "US.13491208655302741918"


def test_a_whatsapp_bsuid_is_kept_as_the_address_and_a_request_without_messagesid_is_no_message() -> None:
    (e,) = parse_params(parse_form((TW / "whatsapp_from_bsuid.form").read_bytes()), "demo")
    assert (e.channel, e.contact.address, e.contact.name, e.text) == ("whatsapp", BSUID, "Fatou", "ROBE1")
    with pytest.raises(NotAMessage):
        parse_params(parse_form((TW / "no_message_sid.form").read_bytes()), "demo")
    with pytest.raises(ValueError):
        parse_params([("MessageSid", "SM" + "d" * 32), ("From", BSUID), ("Body", "x")], "demo")  # SMS has no BSUID


async def test_a_reply_to_a_bsuid_goes_to_whatsapp_bsuid(twilio_api: FakeTwilio) -> None:
    sender = sender_for(twilio_api, whatsapp_from=TWILIO_NUMBER)
    try:
        await sender.send(BSUID, Reply(text="Bonjour", data={"channel": "whatsapp"}), idempotency_key="k")
    finally:
        await sender.close()
    fields = dict(twilio_api.creates[0])
    assert (fields["To"], fields["From"]) == (f"whatsapp:{BSUID}", f"whatsapp:{TWILIO_NUMBER}")


async def test_twilio_whatsapp_from_a_bsuid_is_refused_with_400(
    start_server, twilio_api: FakeTwilio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (issue 8 §4): a correctly signed message from `whatsapp:US.…` was answered 400."""
    vendors = twilio_vendors(tmp_path, twilio_api, monkeypatch)
    write_vendor(vendors, {"account_sid": "${TW_SID_DEMO}", "auth_token": "${TW_TOKEN_DEMO}",
                           "from_number": TWILIO_NUMBER, "whatsapp_from": TWILIO_NUMBER,
                           "api_base_url": twilio_api.base})
    server: Server = await start_server(vendors)
    params = parse_form((TW / "whatsapp_from_bsuid.form").read_bytes())
    code, _, _ = await post_form(server, params)
    assert code == 200
    await wait_creates(twilio_api, 1)
    fields = dict(twilio_api.creates[0])
    assert (fields["To"], fields["From"]) == (f"whatsapp:{BSUID}", f"whatsapp:{TWILIO_NUMBER}")


async def test_twilio_post_without_messagesid_is_retried_for_days(
    start_server, twilio_api: FakeTwilio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Regression (issue 8 §5): a signed POST without MessageSid got a 400, so Twilio kept retrying it."""
    server: Server = await start_server(twilio_vendors(tmp_path, twilio_api, monkeypatch))
    with caplog.at_level(logging.INFO, logger="palabre.webhooks"):
        code, _, _ = await post_form(server, parse_form((TW / "no_message_sid.form").read_bytes()))
    assert code == 200
    assert await server.runtime.store.unprocessed_events() == []
    assert len([r for r in caplog.records if "nothing to answer" in r.getMessage()]) == 1
    async with server.http.get(f"{server.url}/metrics") as r:
        assert 'palabre_webhooks_not_a_message_total{provider="twilio"} 1' in await r.text()
    await asyncio.sleep(0.2)
    assert twilio_api.creates == []
