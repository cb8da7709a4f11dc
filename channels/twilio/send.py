"""Twilio sending: the Messages REST API for SMS and WhatsApp, with retries classified from its errors."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from channels.base import BSUID, PermanentSendError, SendError, mask_address
from channels.replies import Reply
from channels.twilio.config import KNOWN_ERRORS, PHONE_IN_TEXT, WHATSAPP_PREFIX, Config, to_e164
from channels.twilio.render import is_gsm7, render_text, segments, split_body

log = logging.getLogger("palabre.channels.twilio")


def _masked(message: str) -> str:
    """Provider error text with phone numbers masked (it lands in logs and in the transcript)."""
    return PHONE_IN_TEXT.sub(lambda m: mask_address(m.group(0).replace(" ", "")), message)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


# outbound: sending
class TwilioSender:
    """Sends through the Messages API at `api_base_url` (configurable so tests point it at a local server).

    Twilio's create call has no idempotency key, so a send whose outcome is unknown (timeout, dropped
    connection, 5xx) is looked up in the account's recent messages before it is sent again, and the
    parts of a split message already sent are not sent twice (both remembered in this process only).
    """

    MEMORY = 10_000

    def __init__(self, config: Config) -> None:
        self.config = config
        base = config.api_base_url.rstrip("/")
        self._messages_url = f"{base}/2010-04-01/Accounts/{config.account_sid}/Messages.json"
        self._session: aiohttp.ClientSession | None = None
        self._sent_parts: OrderedDict[str, list[str]] = OrderedDict()
        self._unsure: OrderedDict[str, float] = OrderedDict()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=15),
                auth=aiohttp.BasicAuth(self.config.account_sid, self.config.auth_token),
            )
        return self._session

    @staticmethod
    def _remember(store: OrderedDict[str, Any], key: str, value: Any) -> None:
        store[key] = value
        store.move_to_end(key)
        while len(store) > TwilioSender.MEMORY:
            store.popitem(last=False)

    def _is_whatsapp(self, recipient: str, reply: Reply) -> bool:
        if recipient.lower().startswith(WHATSAPP_PREFIX) or reply.data.get("channel") == "whatsapp":
            return True
        return not (self.config.from_number or self.config.messaging_service_sid)

    def _status_callback(self, idempotency_key: str) -> str | None:
        url = self.config.status_callback_url or self.config.webhook_url
        if not url:
            return None
        url, hash_, fragment = url.partition("#")
        url += ("&" if "?" in url else "?") + "outbound_id=" + quote(idempotency_key, safe="")
        return url + hash_ + fragment

    def fields(self, recipient: str, body: str, *, whatsapp: bool, media_url: str | None,
               idempotency_key: str) -> list[tuple[str, str]]:
        """The form fields of one Messages create call, in the order of the fixture."""
        bare = recipient[len(WHATSAPP_PREFIX):] if recipient.lower().startswith(WHATSAPP_PREFIX) else recipient
        if whatsapp and BSUID.match(bare):
            to = bare  # a WhatsApp user who hides their number: Twilio takes the BSUID after "whatsapp:"
        else:
            try:
                to = to_e164(bare)
            except ValueError:
                raise PermanentSendError(f"twilio: recipient {mask_address(bare)} is not a phone number") from None
        out: list[tuple[str, str]] = []
        if whatsapp:
            out.append(("To", WHATSAPP_PREFIX + to))
            if self.config.whatsapp_from:
                out.append(("From", WHATSAPP_PREFIX + self.config.whatsapp_from))
            elif self.config.messaging_service_sid:
                out.append(("MessagingServiceSid", self.config.messaging_service_sid))
        else:
            out.append(("To", to))
            if self.config.from_number:
                out.append(("From", self.config.from_number))
            elif self.config.messaging_service_sid:
                out.append(("MessagingServiceSid", self.config.messaging_service_sid))
        if len(out) == 1:
            raise PermanentSendError("twilio: no sender configured for this channel")
        if body:
            out.append(("Body", body))
        if media_url:
            out.append(("MediaUrl", media_url))
        callback = self._status_callback(idempotency_key)
        if callback:
            out.append(("StatusCallback", callback))
        if self.config.validity_period:
            out.append(("ValidityPeriod", str(self.config.validity_period)))
        return out

    async def send(self, recipient: str, reply: Reply, *, idempotency_key: str) -> str:
        whatsapp = self._is_whatsapp(recipient, reply)
        body = render_text(reply, gsm7=not whatsapp)
        pieces: list[str] = split_body(body) or ([""] if reply.media_url else [])
        if not pieces:
            if reply.template:
                raise PermanentSendError(f"twilio: template '{reply.template.name}' has no text to send")
            log.info("twilio: nothing to send for %s", idempotency_key)
            return ""
        sent = self._sent_parts.get(idempotency_key, [])
        for i, piece in enumerate(pieces):
            if i < len(sent):
                continue
            fields = self.fields(recipient, piece, whatsapp=whatsapp, media_url=reply.media_url if i == 0 else None,
                                 idempotency_key=idempotency_key)
            sid = await self._create(fields, f"{idempotency_key}#{i}")
            sent = [*sent, sid]
            self._remember(self._sent_parts, idempotency_key, sent)
            if whatsapp:
                log.info("twilio whatsapp sent to=%s sid=%s", mask_address(fields[0][1]), sid)
            else:
                log.info("twilio sms sent to=%s sid=%s segments=%d encoding=%s", mask_address(fields[0][1]), sid,
                         segments(piece), "gsm7" if is_gsm7(piece) else "ucs2")
        self._sent_parts.pop(idempotency_key, None)
        # The last part's delivery is the best sign that the buyer has the whole text.
        return sent[-1]

    async def _create(self, fields: list[tuple[str, str]], attempt_key: str) -> str:
        if attempt_key in self._unsure:
            found = await self._find_sent(fields, self._unsure[attempt_key])
            if found:
                self._unsure.pop(attempt_key, None)
                return found
        started = time.time()
        payload = urlencode(fields).encode()
        try:
            async with self._http().post(self._messages_url, data=payload,
                                         headers={"Content-Type": "application/x-www-form-urlencoded"}) as resp:
                status, retry_header = resp.status, resp.headers.get("Retry-After")
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = {}
        except aiohttp.ClientConnectorError as exc:
            raise SendError(f"twilio: cannot connect ({type(exc).__name__})") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._remember(self._unsure, attempt_key, self._unsure.get(attempt_key, started))
            raise SendError(f"twilio: no answer ({type(exc).__name__}); will check before resending") from None
        data = data if isinstance(data, dict) else {}
        if 200 <= status < 300 and isinstance(data.get("sid"), str):
            self._unsure.pop(attempt_key, None)
            return str(data["sid"])
        code = data.get("code")
        message = str(data.get("message") or f"HTTP {status}")
        if status == 429 or code == 20429:
            self._unsure.pop(attempt_key, None)
            raise SendError(f"twilio {code or 429}: rate limited", retry_after=_retry_after(retry_header))
        if status >= 500 or status < 400:
            self._remember(self._unsure, attempt_key, self._unsure.get(attempt_key, started))
            raise SendError(f"twilio: HTTP {status}")
        self._unsure.pop(attempt_key, None)
        reason = KNOWN_ERRORS.get(code, message) if isinstance(code, int) else message
        raise PermanentSendError(f"twilio {code or status}: {_masked(reason)}", code=str(code or status))

    async def _find_sent(self, fields: list[tuple[str, str]], since: float) -> str | None:
        """The sid of a message created by an earlier unanswered attempt, if Twilio has it."""
        form = dict(fields)
        query = {"To": form["To"], "PageSize": "20"}
        if "From" in form:
            query["From"] = form["From"]
        try:
            async with self._http().get(self._messages_url, params=query) as resp:
                data = await resp.json(content_type=None) if resp.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            raise SendError("twilio: an earlier attempt may have been sent and cannot be checked yet")
        for m in data["messages"]:
            if not isinstance(m, dict) or m.get("body") != form.get("Body", ""):
                continue
            try:
                created = parsedate_to_datetime(str(m.get("date_created"))).timestamp()
            except (TypeError, ValueError):
                continue
            if created >= since - 120 and isinstance(m.get("sid"), str):  # 2 min for clock skew
                log.info("twilio: earlier attempt found as %s, not resent", m["sid"])
                return str(m["sid"])
        return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def make_sender(config: Config) -> TwilioSender:
    return TwilioSender(config)
