"""E-mail: Inbound Parse fixtures parsed, the path token checked, mails rendered and sent (SendGrid, SMTP), a sale."""

from __future__ import annotations

import asyncio
import base64
import email
import json
import logging
from collections.abc import AsyncIterator
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import commerce
from bot.vendors import VendorLoader
from channels import Button, ListRow, ListSection, Reply
from channels.base import PermanentSendError, SendError
from channels.email import Config, SendGridSender, SmtpSender, parse_inbound, render, strip_quoted
from dialogs import Registry, YamlInvalid
from tests.conftest import EXAMPLES, FIXTURES, Server, eventually, free_port, plain, serving

SG = FIXTURES / "channels" / "sendgrid_email"
META = json.loads((SG / "meta.json").read_text())
TOKEN = META["signature"]["path_token"]
API_KEY = "SG.fixture-key-not-real"
BUYER = "buyer@example.com"
SHOP = "boutique@mail.example.sn"
BOUNDARY = "xYzZY"


def config(**changes: Any) -> Config:
    values: dict[str, Any] = {"from_address": "commandes@kaay.sn", "from_name": "Boutique Kaay",
                              "reply_to": "commandes@reply.kaay.sn", "api_key": API_KEY, "inbound_token": TOKEN}
    return Config(**{**values, **changes})


def multipart(fields: list[tuple[str, str | bytes]], boundary: str = BOUNDARY) -> tuple[bytes, str]:
    """An Inbound Parse body, built the way SendGrid builds it (CRLF, one part per field)."""
    out = b""
    for name, value in fields:
        data = value.encode() if isinstance(value, str) else value
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def inbound_mail(text: str, message_id: str, *, sender: str = f"Awa Traore <{BUYER}>", subject: str = "ROBE1",
                 in_reply_to: str | None = None, extra_headers: str = "", boundary: str = BOUNDARY,
                 html: str | None = None) -> tuple[bytes, str]:
    headers = (f"From: {sender}\nTo: Boutique Awa <{SHOP}>\nSubject: {subject}\nMessage-ID: {message_id}\n"
               "Date: Mon, 11 May 2026 10:14:58 +0000\nMIME-Version: 1.0\n")
    if in_reply_to:
        headers += f"In-Reply-To: {in_reply_to}\nReferences: {in_reply_to}\n"
    fields: list[tuple[str, str | bytes]] = [("headers", headers + extra_headers), ("from", sender), ("to", SHOP),
                                             ("subject", subject), ("text", text)]
    if html is not None:
        fields.append(("html", html))
    fields += [("envelope", json.dumps({"to": [SHOP], "from": BUYER})),
               ("charsets", json.dumps({"to": "UTF-8", "subject": "UTF-8", "from": "UTF-8", "text": "UTF-8"}))]
    return multipart(fields, boundary)


# ------------------------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize("name", sorted(META["fixtures"]))
async def test_every_fixture_parses_into_the_expected_event(name: str) -> None:
    fixture = META["fixtures"][name]
    expected = fixture["expected"]
    events = await parse_inbound((SG / name).read_bytes(), fixture["request"]["headers"]["Content-Type"], "kaay",
                                 config())
    assert len(events) == 1
    e = events[0]
    assert expected["kind"] == "text" and e.kind == "message"
    assert (e.channel, e.provider, e.vendor_id) == ("email", "email", "kaay")
    assert e.contact.address == expected["sender"] and e.contact.name == "Awa Traore"
    assert e.reply_to == expected["in_reply_to"]
    assert e.provider_message_id == "<CAF3xfixture+ROBE1q9w@mail.gmail.com>"
    assert e.id == "em:kaay:<CAF3xfixture+ROBE1q9w@mail.gmail.com>"
    if "provider_message_id" in expected:
        assert e.provider_message_id == expected["provider_message_id"]
    # both modes carry the same mail: the same text without the quoted history
    assert e.text == META["fixtures"]["inbound_reply_plain.multipart"]["expected"]["text_without_quote"]
    assert "a écrit" not in e.text and ">" not in e.text
    # what a reply needs to thread under the buyer's mail (for the pipeline to copy into Reply.data)
    assert e.data["reply_data"] == {
        "in_reply_to": "<CAF3xfixture+ROBE1q9w@mail.gmail.com>",
        "references": "<out.0139.1780990000@mail.kaay.sn> <out.0142.1781000000@mail.kaay.sn> "
                      "<CAF3xfixture+ROBE1q9w@mail.gmail.com>",
        "subject": "Re: Votre panier Boutique Kaay"}


QUOTE_CASES = {
    "gmail_fr": "ROBE1\n\nLe lun. 11 mai 2026 à 10:12, Boutique Awa <boutique@mail.example.sn> a écrit :\n"
                "> Robe Wax Ankara — 15 000 F CFA\n> 1. PAYER\n",
    "gmail_fr_wrapped": "ROBE1\r\n\r\nLe lun. 11 mai 2026 à 10:12, Boutique Awa <\r\nboutique@mail.example.sn> a "
                        "écrit :\r\n\r\n> 1. PAYER\r\n",
    "english": "ROBE1\n\nOn Mon, May 11, 2026 at 10:12 AM Boutique Awa <boutique@mail.example.sn> wrote:\n> hello\n",
    "outlook_fr": "ROBE1\n\n-----Message d'origine-----\nDe : Boutique Awa\nEnvoyé : lundi 11 mai 2026\n"
                  "Objet : Votre commande\n\n1. PAYER\n",
    "outlook_headers": "ROBE1\n\nDe : Boutique Awa <boutique@mail.example.sn>\nEnvoyé : lundi 11 mai 2026 10:12\n"
                       "À : buyer@example.com\nObjet : Re: Votre commande\n\nRobe Wax\n",
    "bottom_posted": "Le lun. 11 mai 2026 à 10:12, Boutique Awa a écrit :\n> 1. PAYER\n> 2. ANNULER\n\nROBE1\n",
    "signature_and_mobile": "ROBE1\n\nEnvoyé de mon iPhone\n-- \nAwa Traore\nBamako\n",
    "interleaved_quote": "> Quel article ?\nROBE1\n> Merci\n",
}


@pytest.mark.parametrize("case", sorted(QUOTE_CASES))
def test_only_the_new_part_of_a_reply_is_read(case: str) -> None:
    assert strip_quoted(QUOTE_CASES[case]) == "ROBE1"


async def test_html_only_mail_and_foreign_charsets_are_read() -> None:
    html = ('<div dir="ltr">ROBE1 s&#39;il vous pla&icirc;t</div><div class="gmail_quote">Le lun., X a écrit :'
            "<blockquote>1. PAYER</blockquote></div><style>p{color:red}</style>")
    raw, ctype = inbound_mail("", "<html-only@example.com>", html=html)
    (event,) = await parse_inbound(raw, ctype, "demo", config())
    assert event.text == "ROBE1 s'il vous plaît"
    # parsed mode: each field in its own charset (CHANNELS.md §6.1.2)
    raw, ctype = multipart([("headers", "From: =?iso-8859-1?q?Am=E9lie_Kon=E9?= <Amelie@Example.CI>\n"
                                        "Message-ID: <latin1@example.ci>\nSubject: commande\n"),
                            ("text", "Je veux la ROBE1, merci d'avance é".encode("windows-1252")),
                            ("charsets", json.dumps({"text": "windows-1252", "headers": "UTF-8"}))])
    (event,) = await parse_inbound(raw, ctype, "demo", config())
    assert event.text == "Je veux la ROBE1, merci d'avance é"
    assert (event.contact.address, event.contact.name) == ("amelie@example.ci", "Amélie Koné")
    # raw MIME mode, quoted-printable latin-1, no Message-ID: the id falls back to a hash of the mail
    mime = (b"From: Amelie <amelie@example.ci>\r\nSubject: ROBE1\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\nR=E9servez-moi la ROBE1\r\n")
    raw, ctype = multipart([("email", mime)])
    (event,) = await parse_inbound(raw, ctype, "demo", config())
    assert event.text == "Réservez-moi la ROBE1" and event.provider_message_id is None
    assert event.id.startswith("em:demo:sha256:")
    (again,) = await parse_inbound(multipart([("email", mime)], boundary="other")[0],
                                   "multipart/form-data; boundary=other", "demo", config())
    assert again.id == event.id  # a retry with another boundary is still the same mail


async def test_a_new_mail_with_the_code_only_in_the_subject_is_read() -> None:
    raw, ctype = inbound_mail("", "<subject-only@example.com>", subject="ROBE1")
    (event,) = await parse_inbound(raw, ctype, "demo", config())
    assert event.text == "ROBE1"
    raw, ctype = inbound_mail("", "<re-only@example.com>", subject="Re: Boutique Awa — votre commande")
    (event,) = await parse_inbound(raw, ctype, "demo", config())
    assert event.text is None


@pytest.mark.parametrize("extra", ["Auto-Submitted: auto-replied\n", "Precedence: bulk\n", "X-Autoreply: yes\n"])
async def test_auto_replies_are_dropped_so_two_robots_never_loop(extra: str) -> None:
    raw, ctype = inbound_mail("Je suis absente jusqu'au 20 mai.", "<ooo@example.com>", extra_headers=extra)
    assert await parse_inbound(raw, ctype, "demo", config()) == []
    own, ctype = inbound_mail("ROBE1", "<own@example.com>", sender="Boutique <Commandes@kaay.sn>")
    assert await parse_inbound(own, ctype, "demo", config()) == []


# ---------------------------------------------------------------------------------------- fake SendGrid


class FakeSendGrid:
    """A local Mail Send API: records every request, answers 202 + X-Message-Id, can be told to fail."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.fail_with: list[tuple[int, dict[str, str], dict[str, Any]]] = []
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.json()))
        if self.fail_with:
            status, headers, body = self.fail_with.pop(0)
            return web.json_response(body, status=status, headers=headers)
        return web.Response(status=202, headers={"X-Message-Id": f"sg-{len(self.requests)}"})

    def mails_to(self, address: str) -> list[dict[str, Any]]:
        return [b for _, b in self.requests if b["personalizations"][0]["to"][0]["email"] == address]


@pytest.fixture
async def sendgrid() -> AsyncIterator[FakeSendGrid]:
    api = FakeSendGrid()
    app = web.Application()
    app.router.add_post("/v3/mail/send", api.handle)
    async with serving(app, api.port):
        yield api


def text_of(body: dict[str, Any]) -> str:
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    return str(body["content"][0]["value"])


def html_of(body: dict[str, Any]) -> str:
    return str(body["content"][1]["value"])


async def send(api: FakeSendGrid, reply: Reply, cfg: Config | None = None, key: str = "k1") -> tuple[str, dict]:
    sender = SendGridSender(cfg or config(api_base_url=api.base))
    try:
        pmid = await sender.send("awa.traore@example.ml", reply, idempotency_key=key)
    finally:
        await sender.close()
    return pmid, api.requests[-1][1]


async def test_a_threaded_reply_matches_the_outbound_fixture(sendgrid: FakeSendGrid) -> None:
    fixture = json.loads((SG / "outbound" / "mail_send.json").read_text(encoding="utf-8"))
    text = fixture["content"][0]["value"]
    reply = Reply(text=text, data={"name": "Awa Traore", "subject": "Votre panier Boutique Kaay",
                                   "in_reply_to": fixture["headers"]["In-Reply-To"],
                                   "references": fixture["headers"]["References"]})
    pmid, body = await send(sendgrid, reply)
    headers = sendgrid.requests[-1][0]
    assert pmid == "sg-1"
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    for key in ("personalizations", "from", "reply_to", "subject"):
        assert body[key] == fixture[key], key
    assert {k: body["headers"][k] for k in fixture["headers"]} == fixture["headers"]
    assert body["headers"]["Auto-Submitted"] == "auto-replied"
    assert text_of(body).startswith(text) and "Boutique Kaay" in html_of(body)


async def test_a_refusal_of_the_threading_headers_still_delivers_the_mail(sendgrid: FakeSendGrid) -> None:
    sendgrid.fail_with = [(400, {}, {"errors": [{"field": "headers", "message": "invalid header In-Reply-To"}]})]
    pmid, body = await send(sendgrid, Reply(text="ok", data={"in_reply_to": "<a@b.example>"}))
    assert pmid == "sg-2" and len(sendgrid.requests) == 2
    assert sendgrid.requests[0][1]["headers"]["In-Reply-To"] == "<a@b.example>"
    assert "In-Reply-To" not in body["headers"] and "References" not in body["headers"]
    assert body["content"] == sendgrid.requests[0][1]["content"]


async def test_plain_text_gets_a_default_subject_and_no_threading(sendgrid: FakeSendGrid) -> None:
    _, body = await send(sendgrid, Reply(text="Bonjour 👋 Bienvenue chez Boutique Kaay !"))
    assert body["subject"] == "Boutique Kaay — votre commande"
    assert "In-Reply-To" not in body["headers"] and "References" not in body["headers"]
    assert text_of(body) == "Bonjour 👋 Bienvenue chez Boutique Kaay !\n\n— Boutique Kaay\n"
    assert "<p style=\"margin:0 0 16px 0;\">Bonjour 👋 Bienvenue chez Boutique Kaay !</p>" in html_of(body)


async def test_threading_values_cannot_inject_headers(sendgrid: FakeSendGrid) -> None:
    reply = Reply(text="ok", data={"subject": "Commande\r\nBcc: evil@attacker.example",
                                   "in_reply_to": "<a@b.example>\r\nBcc: evil@attacker.example"})
    _, body = await send(sendgrid, reply)
    assert body["headers"]["In-Reply-To"] == "<a@b.example>" and body["headers"]["References"] == "<a@b.example>"
    assert body["subject"] == "Re: Commande Bcc: evil@attacker.example" and "\n" not in body["subject"]


async def test_buttons_become_a_numbered_list_in_text_and_html(sendgrid: FakeSendGrid) -> None:
    reply = Reply(text="Robe Wax Ankara (ROBE1) — 15 000 F CFA",
                  buttons=[Button(id="pay", title="PAYER"), Button(id="cancel", title="ANNULER")])
    _, body = await send(sendgrid, reply)
    text, html = text_of(body), html_of(body)
    assert "\n1. PAYER\n2. ANNULER\n" in text and "Répondez à cet e-mail avec le numéro" in text
    assert "<strong>1. PAYER</strong>" in html and "<strong>2. ANNULER</strong>" in html
    assert html.index("1. PAYER") < html.index("2. ANNULER")


async def test_more_than_three_buttons_and_list_rows_are_all_numbered(sendgrid: FakeSendGrid) -> None:
    titles = ["Wave", "Orange Money", "Carte", "Free Money", "Espèces"]
    reply = Reply(text="Comment payer ?", buttons=[Button(id=f"m{i}", title=t) for i, t in enumerate(titles)],
                  list_sections=[ListSection(title="Tailles", rows=[ListRow(id="M", title="Taille M",
                                                                            description="buste 90 cm")])])
    _, body = await send(sendgrid, reply)
    text, html = text_of(body), html_of(body)
    for number, title in enumerate(titles, start=1):
        assert f"{number}. {title}" in text and f"<strong>{number}. {title}</strong>" in html
    assert "Tailles :\n6. Taille M — buste 90 cm" in text and "<strong>6. Taille M</strong> — buste 90 cm" in html


async def test_media_and_links_are_clickable_only_when_they_are_web_links(sendgrid: FakeSendGrid) -> None:
    url = "https://cdn.example.sn/robe1.jpg?w=600&h=800"
    _, body = await send(sendgrid, Reply(text="Voici la robe, payez ici : https://pay.example.sn/p/42.",
                                         media_url=url))
    text, html = text_of(body), html_of(body)
    assert f"Photo : {url}" in text
    assert '<a href="https://cdn.example.sn/robe1.jpg?w=600&amp;h=800"' in html
    assert '<a href="https://pay.example.sn/p/42" ' in html  # the final "." is not part of the link
    _, body = await send(sendgrid, Reply(text="x", media_url="javascript:alert(1)"))
    assert "javascript:alert(1)" in html_of(body) and 'href="javascript' not in html_of(body)


async def test_a_long_text_arrives_whole(sendgrid: FakeSendGrid) -> None:
    long = "\n\n".join(f"Paragraphe {i} : " + "article en wax, " * 40 + "fin." for i in range(40))
    assert len(long) > 20_000
    _, body = await send(sendgrid, Reply(text=long))
    assert text_of(body).startswith(long) and "Paragraphe 39" in html_of(body)
    assert html_of(body).count("<p style=\"margin:0 0 16px 0;\">Paragraphe") == 40


async def test_catalogue_data_is_escaped_in_html(sendgrid: FakeSendGrid) -> None:
    name = '<script>alert("x")</script> Robe & Sac <img src=x onerror=alert(1)>'
    reply = Reply(text=f"{name} — 15 000 F CFA", buttons=[Button(id="pay", title="<b>PAYER</b>")])
    _, body = await send(sendgrid, reply, config(api_base_url=sendgrid.base, from_name="Awa & <Fils>"))
    html = html_of(body)
    assert "<script>" not in html and "<img" not in html and "<b>PAYER" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Robe &amp; Sac" in html
    assert "Awa &amp; &lt;Fils&gt;" in html
    assert text_of(body).startswith(name)  # the text part is not HTML: it stays as written


async def test_sender_maps_sendgrid_errors(sendgrid: FakeSendGrid) -> None:
    sender = SendGridSender(config(api_base_url=sendgrid.base))
    reply = Reply(text="hi")
    try:
        sendgrid.fail_with = [(429, {"Retry-After": "7"}, {"errors": [{"message": "too many requests"}]})]
        with pytest.raises(SendError) as err:
            await sender.send(BUYER, reply, idempotency_key="k")
        assert not err.value.permanent and err.value.retry_after == 7
        sendgrid.fail_with = [(503, {}, {})]
        with pytest.raises(SendError) as err:
            await sender.send(BUYER, reply, idempotency_key="k")
        assert not err.value.permanent
        sendgrid.fail_with = [(400, {}, {"errors": [{"field": "personalizations.0.to",
                                                     "message": f"{BUYER} does not contain a valid address"}]})]
        with pytest.raises(PermanentSendError) as perm:
            await sender.send(BUYER, reply, idempotency_key="k")
        assert "personalizations.0.to" in str(perm.value) and BUYER not in str(perm.value)
        for status in (401, 403):
            sendgrid.fail_with = [(status, {}, {"errors": [{"message": "permission denied"}]})]
            with pytest.raises(PermanentSendError, match=str(status)):
                await sender.send(BUYER, reply, idempotency_key="k")
        with pytest.raises(PermanentSendError):
            await sender.send(BUYER, Reply(), idempotency_key="k")  # nothing to say
        with pytest.raises(PermanentSendError):
            await sender.send("+221770000001", reply, idempotency_key="k")  # not an e-mail contact
        assert await sender.send(BUYER, reply, idempotency_key="k") == f"sg-{len(sendgrid.requests)}"
    finally:
        await sender.close()
    down = SendGridSender(config(api_base_url=f"http://127.0.0.1:{free_port()}"))
    try:
        with pytest.raises(SendError) as err:
            await down.send(BUYER, reply, idempotency_key="k")
        assert not err.value.permanent
    finally:
        await down.close()


def test_secrets_stay_out_of_reprs_and_logs() -> None:
    cfg = config(transport="smtp", smtp_host="127.0.0.1", smtp_username="apikey", smtp_password="pw-secret-1")
    assert API_KEY not in repr(cfg) and TOKEN not in repr(cfg) and "pw-secret-1" not in repr(cfg)


# ---------------------------------------------------------------------------------------------- SMTP


class FakeSmtp:
    """A tiny SMTP server on 127.0.0.1: EHLO, AUTH PLAIN, MAIL, RCPT, DATA; can refuse recipients."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mails: list[tuple[str, list[str], bytes]] = []
        self.auth: list[bytes] = []
        self.rcpt_reply = b"250 OK"

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 fake.smtp ESMTP\r\n")
        mail_from, rcpts, data, in_data = "", [], [], False
        while line := await reader.readline():
            if in_data:
                if line == b".\r\n":
                    self.mails.append((mail_from, rcpts, b"".join(data)))
                    in_data, data, rcpts = False, [], []
                    writer.write(b"250 queued\r\n")
                else:
                    data.append(line[1:] if line.startswith(b"..") else line)
                continue
            command = line.decode(errors="replace").strip()
            verb = command.split(" ")[0].upper()
            if verb == "EHLO":
                writer.write(b"250-fake.smtp\r\n250-AUTH PLAIN\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif verb == "AUTH":
                self.auth.append(base64.b64decode(command.split(" ")[2]))
                writer.write(b"235 2.7.0 accepted\r\n")
            elif verb == "MAIL":
                mail_from = command.split(":", 1)[1].split()[0].strip("<>")
                writer.write(b"250 OK\r\n")
            elif verb == "RCPT":
                rcpts.append(command.split(":", 1)[1].strip().strip("<>"))
                writer.write(self.rcpt_reply + b"\r\n")
            elif verb == "DATA":
                in_data = True
                writer.write(b"354 go ahead\r\n")
            elif verb in ("RSET", "NOOP", "HELO"):
                writer.write(b"250 OK\r\n")
            elif verb == "QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"502 unknown\r\n")
            await writer.drain()
        writer.close()


@pytest.fixture
async def smtp_server() -> AsyncIterator[FakeSmtp]:
    fake = FakeSmtp()
    server = await asyncio.start_server(fake.session, "127.0.0.1", fake.port)
    yield fake
    server.close()
    await server.wait_closed()


async def test_smtp_sends_a_threaded_multipart_mail(smtp_server: FakeSmtp) -> None:
    cfg = config(transport="smtp", api_key=None, smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                 smtp_username="apikey", smtp_password="pw-secret-1", smtp_starttls=False)
    sender = SmtpSender(cfg)
    reply = Reply(text="Robe Wax <Ankara> — 15 000 F CFA", buttons=[Button(id="pay", title="PAYER")],
                  data={"subject": "Re: ROBE1", "in_reply_to": "<buyer.1@mail.example.com>", "name": "Awa Traoré",
                        "references": "<out.1@kaay.sn> <buyer.1@mail.example.com>"})
    pmid = await sender.send(BUYER, reply, idempotency_key="evt:out:0")
    assert smtp_server.auth == [b"\0apikey\0pw-secret-1"]
    mail_from, rcpts, data = smtp_server.mails[0]
    assert (mail_from, rcpts) == ("commandes@kaay.sn", [BUYER])
    msg = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg["Message-ID"] == pmid and pmid.endswith("@kaay.sn>")
    assert (msg["Subject"], msg["In-Reply-To"], msg["References"]) == (
        "Re: ROBE1", "<buyer.1@mail.example.com>", "<out.1@kaay.sn> <buyer.1@mail.example.com>")
    assert msg["To"].addresses[0].display_name == "Awa Traoré" and msg["Reply-To"] == "commandes@reply.kaay.sn"
    assert msg["From"].addresses[0].display_name == "Boutique Kaay"
    plain_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    assert plain_part is not None and html_part is not None
    assert "Robe Wax <Ankara>" in plain_part.get_content() and "1. PAYER" in plain_part.get_content()
    assert "Robe Wax &lt;Ankara&gt;" in html_part.get_content()
    # a resend of the same outbox entry carries the same Message-ID (receivers can de-duplicate)
    assert await sender.send(BUYER, reply, idempotency_key="evt:out:0") == pmid
    assert await sender.send(BUYER, reply, idempotency_key="evt:out:1") != pmid


async def test_smtp_errors_are_mapped(smtp_server: FakeSmtp) -> None:
    sender = SmtpSender(config(transport="smtp", smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                               smtp_starttls=False))
    smtp_server.rcpt_reply = b"550 5.1.1 <buyer@example.com>: user unknown"
    with pytest.raises(PermanentSendError) as perm:
        await sender.send(BUYER, Reply(text="hi"), idempotency_key="k")
    assert BUYER not in str(perm.value)
    smtp_server.rcpt_reply = b"451 4.7.1 greylisted, try later"
    with pytest.raises(SendError) as err:
        await sender.send(BUYER, Reply(text="hi"), idempotency_key="k")
    assert not err.value.permanent
    down = SmtpSender(config(transport="smtp", smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls=False))
    with pytest.raises(SendError) as err:
        await down.send(BUYER, Reply(text="hi"), idempotency_key="k")
    assert not err.value.permanent
    assert smtp_server.mails == []


# ------------------------------------------------------------------------------------------ webhook + sale


def email_vendor(tmp_path: Path, api_base: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SG_KEY_DEMO", API_KEY)
    monkeypatch.setenv("SG_INBOUND_TOKEN_DEMO", TOKEN)
    data = yaml.safe_load((EXAMPLES / "demo.yaml").read_text(encoding="utf-8"))
    data["channels"] = {"email": {"from_address": SHOP, "from_name": "Boutique Awa", "transport": "sendgrid",
                                  "api_key": "${SG_KEY_DEMO}", "inbound_token": "${SG_INBOUND_TOKEN_DEMO}",
                                  "api_base_url": api_base}}
    d = tmp_path / "email-vendors"
    d.mkdir()
    (d / "demo.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return d


async def post_mail(server: Server, body: bytes, content_type: str, token: str | None = TOKEN,
                    vendor: str = "demo") -> int:
    url = f"{server.url}/webhooks/email/{vendor}" + (f"/{token}" if token is not None else "")
    async with server.http.post(url, data=body, headers={"Content-Type": content_type}) as r:
        return r.status


async def wait_mails(api: FakeSendGrid, n: int, timeout: float = 10.0) -> None:
    await eventually(lambda: len(api.requests) >= n, lambda: api.requests, timeout)


async def test_wrong_or_missing_token_is_401_and_nothing_is_stored(
    start_server, sendgrid: FakeSendGrid, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(email_vendor(tmp_path, sendgrid.base, monkeypatch))
    name = "inbound_reply_plain.multipart"
    raw, ctype = (SG / name).read_bytes(), META["fixtures"][name]["request"]["headers"]["Content-Type"]
    assert await post_mail(server, raw, ctype, token=None) == 401
    assert await post_mail(server, raw, ctype, token="0000000000000000") == 401
    assert await post_mail(server, raw, ctype, token=TOKEN[:-1]) == 401
    assert await server.runtime.store.unprocessed_events() == []
    assert not await server.runtime.store.is_processed("em:demo:<CAF3xfixture+ROBE1q9w@mail.gmail.com>")
    assert await post_mail(server, raw, ctype, vendor="nobody") == 404
    assert await post_mail(server, b"not a form", "text/plain") == 400
    await asyncio.sleep(0.2)
    assert sendgrid.requests == []


@pytest.mark.parametrize("name", sorted(META["fixtures"]))
async def test_fixture_posted_with_the_token_is_stored_and_answered(
    name: str, start_server, sendgrid: FakeSendGrid, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(email_vendor(tmp_path, sendgrid.base, monkeypatch))
    fixture = META["fixtures"][name]
    raw = (SG / name).read_bytes()
    assert await post_mail(server, raw, fixture["request"]["headers"]["Content-Type"]) == 200
    await wait_mails(sendgrid, 1)
    await server.runtime.pipeline.idle()
    assert await server.runtime.store.is_processed("em:demo:<CAF3xfixture+ROBE1q9w@mail.gmail.com>")
    transcript = await server.runtime.store.transcript(f"demo:email:{fixture['expected']['sender']}")
    inbound = [m for m in transcript if m.direction == "in"]
    assert inbound[0].provider_message_id == "<CAF3xfixture+ROBE1q9w@mail.gmail.com>"
    assert "ROBE1" in (inbound[0].text or "") and "a écrit" not in (inbound[0].text or "")
    assert sendgrid.mails_to(fixture["expected"]["sender"])


async def test_live_sale_over_email(
    start_server, sendgrid: FakeSendGrid, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(email_vendor(tmp_path, sendgrid.base, monkeypatch))
    raw, ctype = inbound_mail("ROBE1", "<m1@mail.example.com>")
    assert await post_mail(server, raw, ctype) == 200
    await wait_mails(sendgrid, 1)
    offer = sendgrid.mails_to(BUYER)[0]
    assert offer["from"] == {"email": SHOP, "name": "Boutique Awa"}
    assert "ROBE1" in text_of(offer) and "15 000 F CFA" in plain(text_of(offer))
    assert "1. PAYER\n2. ANNULER" in text_of(offer) and "<strong>1. PAYER</strong>" in html_of(offer)

    quoted = ("1\n\nLe lun. 11 mai 2026 à 10:15, Boutique Awa <boutique@mail.example.sn> a écrit :\n"
              "> Robe Wax Ankara (ROBE1) — 15 000 F CFA\n> 1. PAYER\n> 2. ANNULER\n")
    raw, ctype = inbound_mail(quoted, "<m2@mail.example.com>", subject="Re: Boutique Awa — votre commande",
                              in_reply_to="<sg-1@mail.example.sn>")
    assert await post_mail(server, raw, ctype) == 200
    await wait_mails(sendgrid, 2)
    methods = sendgrid.mails_to(BUYER)[1]
    assert "1. Wave\n2. Orange Money\n3. Carte" in text_of(methods)

    raw, ctype = inbound_mail("1", "<m3@mail.example.com>", subject="Re: Boutique Awa — votre commande")
    assert await post_mail(server, raw, ctype) == 200
    await wait_mails(sendgrid, 3)
    await server.runtime.pipeline.idle()
    await server.runtime.delivery.idle()
    link = sendgrid.mails_to(BUYER)[2]
    assert "Wave" in text_of(link) and f"{server.url}/pay/sandbox/" in text_of(link)
    assert f'<a href="{server.url}/pay/sandbox/' in html_of(link)
    assert len(sendgrid.requests) == 3
    transcript = await server.runtime.store.transcript(f"demo:email:{BUYER}")
    outs = [m for m in transcript if m.direction == "out"]
    assert [m.status for m in outs] == ["sent", "sent", "sent"]
    assert [m.provider_message_id for m in outs] == ["sg-1", "sg-2", "sg-3"]


async def test_a_redelivered_mail_gets_one_reply(
    start_server, sendgrid: FakeSendGrid, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(email_vendor(tmp_path, sendgrid.base, monkeypatch))
    raw, ctype = inbound_mail("ROBE1", "<same@mail.example.com>")
    again, again_type = inbound_mail("ROBE1", "<same@mail.example.com>", boundary="retry-boundary")
    assert await post_mail(server, raw, ctype) == 200
    assert await post_mail(server, raw, ctype) == 200
    await wait_mails(sendgrid, 1)
    assert await post_mail(server, again, again_type) == 200
    await server.runtime.pipeline.idle()
    await server.runtime.delivery.idle()
    await asyncio.sleep(0.2)
    assert len(sendgrid.requests) == 1
    assert (await server.runtime.store.get_product("demo", "ROBE1")).stock == 2


async def test_mails_with_attachments_pass_the_app_body_limit_up_to_32_mb(
    start_server, sendgrid: FakeSendGrid, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(email_vendor(tmp_path, sendgrid.base, monkeypatch), max_body_bytes=10_000)
    raw, ctype = inbound_mail("ROBE1, voici la photo", "<photo@mail.example.com>")
    photo = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"attachment1\"; filename=\"robe.jpg\"\r\n"
             "Content-Type: image/jpeg\r\n\r\n").encode() + b"\xff\xd8" * 1_000_000 + b"\r\n"
    with_photo = photo + raw
    assert await post_mail(server, with_photo, ctype) == 200
    await wait_mails(sendgrid, 1)
    transcript = await server.runtime.store.transcript(f"demo:email:{BUYER}")
    assert [m.text for m in transcript if m.direction == "in"] == ["ROBE1, voici la photo"]
    (event,) = await parse_inbound(with_photo, ctype, "demo", config())
    assert event.data["attachments"] == [{"filename": "robe.jpg", "type": "image/jpeg", "size": 2_000_000}]
    # Above 32 MB the announced length is refused before a byte of the body is read.
    reader, writer = await asyncio.open_connection("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
    writer.write((f"POST /webhooks/email/demo/{TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
                  f"Content-Length: {33 * 1024 * 1024}\r\n\r\n").encode() + with_photo[:1000])
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 413")


async def test_auto_reply_is_acknowledged_and_not_answered(
    start_server, sendgrid: FakeSendGrid, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(email_vendor(tmp_path, sendgrid.base, monkeypatch))
    raw, ctype = inbound_mail("Absente jusqu'au 20 mai", "<ooo@mail.example.com>",
                              extra_headers="Auto-Submitted: auto-replied\n")
    assert await post_mail(server, raw, ctype) == 200
    await server.runtime.pipeline.idle()
    await asyncio.sleep(0.2)
    assert sendgrid.requests == [] and await server.runtime.store.unprocessed_events() == []


FIELD_NAMES = ["from", "headers", "text", "html", "email", "envelope", "charsets", "subject", "to", "attachments",
               "attachment-info", "dkim"]


def fuzz_bodies() -> list[tuple[bytes, str]]:
    """Malformed and random Inbound Parse bodies, collected once (hypothesis drives a sync function)."""
    fixture = (SG / "inbound_reply_plain.multipart").read_bytes()
    raw_fixture = (SG / "inbound_reply_raw_mime.multipart").read_bytes()
    content_types = st.sampled_from([f"multipart/form-data; boundary={BOUNDARY}", "multipart/form-data",
                                     "multipart/form-data; boundary=", "multipart/mixed; boundary=xYzZY",
                                     "application/json", "text/plain", ""])
    field_value = st.one_of(st.text(max_size=300), st.binary(max_size=300),
                            st.sampled_from(["{}", "[]", "null", '{"from": 3}', '{"text": "no-such-charset"}',
                                             "From: <>\nMessage-ID: <\n", "From: a@b\n\n\nX", "=?utf-8?b?!!?=",
                                             "From: \"\\\" <@>\nAuto-Submitted: x\nDate: 99 Foo 1\n"]))
    structured = st.lists(st.tuples(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=10)), field_value),
                          max_size=8).map(lambda fields: multipart(fields))
    truncated = st.integers(min_value=0, max_value=len(fixture)).map(lambda n: (fixture[:n], content_type_of()))
    flipped = st.tuples(st.integers(0, len(raw_fixture) - 1), st.integers(0, 255)).map(
        lambda p: (raw_fixture[:p[0]] + bytes([p[1]]) + raw_fixture[p[0] + 1:], content_type_of()))
    random_bytes = st.tuples(st.binary(max_size=600), content_types)
    collected: list[tuple[bytes, str]] = []

    @settings(max_examples=60, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(structured, truncated, flipped, random_bytes))
    def collect(case: tuple[bytes, str]) -> None:
        collected.append(case)

    collect()
    return collected


def content_type_of() -> str:
    return f"multipart/form-data; boundary={BOUNDARY}"


@pytest.mark.filterwarnings("ignore::aiohttp.multipart.BadContentDispositionHeader")  # malformed on purpose
async def test_fuzzed_inbound_bodies_never_cause_a_server_error(
    start_server, sendgrid: FakeSendGrid, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Server = await start_server(email_vendor(tmp_path, sendgrid.base, monkeypatch))
    statuses = set()
    for body, content_type in fuzz_bodies():
        async with server.http.post(f"{server.url}/webhooks/email/demo/{TOKEN}", data=body,
                                    headers={"Content-Type": content_type}) as r:
            assert r.status in (200, 400), (r.status, await r.text(), body[:200], content_type)
            statuses.add(r.status)
            if r.status == 400:
                assert (await r.json())["error"]["code"] == "invalid_mail"
    assert 400 in statuses
    await server.runtime.pipeline.idle()


@pytest.mark.parametrize(("block", "named"), [
    ({"from_address": SHOP, "from_name": "B", "inbound_token": "${SG_INBOUND_TOKEN_DEMO}"}, "api_key"),
    ({"from_address": SHOP, "from_name": "B", "api_key": "k", "inbound_token": "short"}, "inbound_token"),
    ({"from_address": "not-an-address", "from_name": "B", "api_key": "k",
      "inbound_token": "${SG_INBOUND_TOKEN_DEMO}"}, "from_address"),
    ({"from_address": SHOP, "from_name": "B", "transport": "pigeon", "api_key": "k",
      "inbound_token": "${SG_INBOUND_TOKEN_DEMO}"}, "transport"),
    ({"from_address": SHOP, "from_name": "B", "transport": "smtp", "inbound_token": "${SG_INBOUND_TOKEN_DEMO}"},
     "smtp_host"),
    ({"from_address": SHOP, "from_name": "B", "api_key": "k", "inbound_token": "${SG_INBOUND_TOKEN_DEMO}",
      "smtp_pasword": "x"}, "smtp_pasword"),
])
def test_a_wrong_email_block_is_a_clear_yaml_error(
    block: dict[str, Any], named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SG_INBOUND_TOKEN_DEMO", TOKEN)
    data = yaml.safe_load((EXAMPLES / "demo.yaml").read_text(encoding="utf-8"))
    data["channels"] = {"email": block}
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(YamlInvalid) as err:
        VendorLoader(commerce.register(Registry())).load(path)
    assert named in str(err.value) and "channels" in str(err.value)
    assert TOKEN not in str(err.value)


def test_render_is_usable_without_a_network() -> None:
    mail = render(config(locale="en"), Reply(text="Hello", buttons=[Button(id="pay", title="PAY")],
                                             link="https://pay.example.sn/p/1"))
    assert mail.subject == "Boutique Kaay — your order"
    assert "1. PAY\n\nReply to this e-mail with the number of your choice" in mail.text
    assert "Link: https://pay.example.sn/p/1" in mail.text and '<html lang="en">' in mail.html


async def test_inbound_email_without_a_sender_gets_a_400(
    start_server, sendgrid: FakeSendGrid, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Regression (issue 8 §5): a mail with no sender at all was answered 400, so SendGrid retried it for days."""
    server: Server = await start_server(email_vendor(tmp_path, sendgrid.base, monkeypatch))
    raw = (SG / "inbound_without_sender.multipart").read_bytes()
    with caplog.at_level(logging.INFO, logger="palabre.webhooks"):
        assert await post_mail(server, raw, f"multipart/form-data; boundary={BOUNDARY}") == 200
    assert await server.runtime.store.unprocessed_events() == []
    assert len([r for r in caplog.records if "nothing to answer" in r.getMessage()]) == 1
    async with server.http.get(f"{server.url}/metrics") as r:
        assert 'palabre_webhooks_not_a_message_total{provider="email"} 1' in await r.text()
    await asyncio.sleep(0.2)
    assert sendgrid.requests == []
