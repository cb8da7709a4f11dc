"""E-mail sending: SendGrid Mail Send or SMTP, with retries classified from their errors."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import json
import logging
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import Any

import aiohttp

from channels.base import PermanentSendError, SendError, mask_address
from channels.email.config import ADDRESS, EMAIL_IN_TEXT, Config
from channels.email.render import one_line, render
from channels.replies import Reply

log = logging.getLogger("palabre.channels.email")


def _masked(message: str) -> str:
    return EMAIL_IN_TEXT.sub(lambda m: mask_address(m.group(0)), message)[:300]


def _recipient(recipient: str) -> str:
    address = recipient.strip().lower()
    if not ADDRESS.match(address):
        raise PermanentSendError(f"e-mail: not an e-mail address: {mask_address(address)}")
    return address


class SendGridSender:
    """Sends through SendGrid's v3 Mail Send API at `api_base` (configurable so tests use a local server)."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._url = f"{config.api_base_url.rstrip('/')}/v3/mail/send"
        self._session: aiohttp.ClientSession | None = None

    def body(self, recipient: str, reply: Reply, idempotency_key: str) -> dict[str, Any]:
        """The Mail Send JSON for a Reply (shape of fixtures/channels/sendgrid_email/outbound/mail_send.json)."""
        mail = render(self._config, reply)
        to: dict[str, str] = {"email": _recipient(recipient)}
        name = one_line(reply.data.get("name") or "", 120)
        if name:
            to["name"] = name
        out: dict[str, Any] = {
            "personalizations": [{"to": [to]}],
            "from": {"email": self._config.from_address, "name": self._config.from_name},
        }
        if self._config.reply_to:
            out["reply_to"] = {"email": self._config.reply_to}
        out["subject"] = mail.subject
        out["headers"] = mail.headers
        out["content"] = [{"type": "text/plain", "value": mail.text}, {"type": "text/html", "value": mail.html}]
        # Echoed by SendGrid's Event Webhook, so delivery events can be matched to our outbox entry.
        out["custom_args"] = {"palabre_outbox_id": idempotency_key[:200]}
        return out

    async def _post(self, body: dict[str, Any]) -> tuple[int, str | None, float | None, str]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        headers = {"Authorization": f"Bearer {self._config.api_key}", "Content-Type": "application/json"}
        payload = json.dumps(body, ensure_ascii=False).encode()
        try:
            async with self._session.post(self._url, data=payload, headers=headers) as resp:
                return (resp.status, resp.headers.get("X-Message-Id"), _retry_after(resp.headers),
                        await resp.text(errors="replace"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendError(f"sendgrid mail/send: {type(exc).__name__}") from None

    async def send(self, recipient: str, reply: Reply, *, idempotency_key: str) -> str:
        body = self.body(recipient, reply, idempotency_key)
        status, message_id, retry_after, text = await self._post(body)
        if status == 400 and "In-Reply-To" in body["headers"] and _rejects_headers(text):
            # Whether Mail Send accepts In-Reply-To/References is unconfirmed (CHANNELS.md §8 #21):
            # if it refuses them, an unthreaded mail is better than no mail at all.
            log.warning("sendgrid refused the threading headers; sending without them")
            body["headers"] = {k: v for k, v in body["headers"].items() if k not in ("In-Reply-To", "References")}
            status, message_id, retry_after, text = await self._post(body)
        if 200 <= status < 300:
            log.debug("mail sent to %s", mask_address(recipient))
            return message_id or f"sendgrid:{idempotency_key}"
        detail = _sendgrid_errors(text) or str(status)
        if status == 429:
            raise SendError(f"sendgrid mail/send: rate limited ({detail})", retry_after=retry_after)
        if status >= 500:
            raise SendError(f"sendgrid mail/send: {status} {detail}")
        raise PermanentSendError(f"sendgrid mail/send: {status} {detail}", code=str(status))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After")
    with contextlib.suppress(TypeError, ValueError):
        if value is not None:
            return max(0.0, float(value))
    reset = headers.get("X-RateLimit-Reset")
    with contextlib.suppress(TypeError, ValueError):
        if reset is not None:
            return max(0.0, float(reset) - time.time())
    return None


def _rejects_headers(body: str) -> bool:
    try:
        errors = json.loads(body).get("errors") or []
        return any(str(e.get("field") or "").startswith("headers") for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        return False


def _sendgrid_errors(body: str) -> str:
    try:
        errors = json.loads(body).get("errors") or []
        text = "; ".join(f"{e.get('field') or '-'}: {e.get('message')}" for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        text = ""
    return _masked(text)


class SmtpSender:
    """Sends through any SMTP relay with the blocking stdlib client in a thread (e-mail is not the hot path)."""

    def __init__(self, config: Config) -> None:
        self._config = config

    def message(self, recipient: str, reply: Reply, idempotency_key: str) -> EmailMessage:
        """The MIME message for a Reply: text/plain + text/html alternatives, threading headers set."""
        mail = render(self._config, reply)
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["From"] = email.utils.formataddr((self._config.from_name, self._config.from_address))
        to = _recipient(recipient)
        name = one_line(reply.data.get("name") or "", 120)
        msg["To"] = email.utils.formataddr((name, to)) if name else to
        if self._config.reply_to:
            msg["Reply-To"] = self._config.reply_to
        msg["Subject"] = mail.subject
        msg["Date"] = email.utils.formatdate(localtime=False)
        # Derived from the outbox id: a resend after a crash carries the same Message-ID.
        domain = self._config.from_address.rsplit("@", 1)[1]
        msg["Message-ID"] = f"<out.{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}@{domain}>"
        for key, value in mail.headers.items():
            msg[key] = value
        msg.set_content(mail.text)
        msg.add_alternative(mail.html, subtype="html")
        return msg

    def _deliver(self, msg: EmailMessage, recipient: str) -> None:
        cfg = self._config
        if not cfg.smtp_host:
            raise smtplib.SMTPNotSupportedError("no smtp_host configured")
        context = ssl.create_default_context()
        client: smtplib.SMTP
        # Port 465 is implicit TLS ("SMTPS"); every other port starts in clear text.
        if cfg.smtp_port == 465:
            client = smtplib.SMTP_SSL(cfg.smtp_host, cfg.smtp_port, timeout=30, context=context)
        else:
            client = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=30)
        with client:
            if cfg.smtp_starttls and cfg.smtp_port != 465:
                client.starttls(context=context)
            if cfg.smtp_username:
                client.login(cfg.smtp_username, cfg.smtp_password or "")
            client.send_message(msg, from_addr=cfg.from_address, to_addrs=[recipient])

    async def send(self, recipient: str, reply: Reply, *, idempotency_key: str) -> str:
        msg = self.message(recipient, reply, idempotency_key)
        try:
            await asyncio.to_thread(self._deliver, msg, _recipient(recipient))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            error = PermanentSendError if codes and min(codes) >= 500 else SendError
            raise error(f"smtp: recipient refused ({', '.join(map(str, codes))})") from None
        except smtplib.SMTPResponseException as exc:
            raw = exc.smtp_error
            detail = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            error = PermanentSendError if exc.smtp_code >= 500 else SendError
            raise error(f"smtp: {exc.smtp_code} {_masked(detail)}") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentSendError(f"smtp: {_masked(str(exc))}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SendError(f"smtp: {type(exc).__name__}") from None
        log.debug("mail sent to %s", mask_address(recipient))
        return str(msg["Message-ID"])

    async def close(self) -> None:
        return None


def make_sender(config: Config) -> SendGridSender | SmtpSender:
    return SendGridSender(config) if config.transport == "sendgrid" else SmtpSender(config)

