"""Telegram Bot API adapter: secret-token webhook, Update → Event, Reply → sendMessage + inline keyboard."""

from __future__ import annotations

import contextlib
import hmac
import json
import re
from collections import OrderedDict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from channels.base import PermanentSendError, SendError
from channels.events import Contact, Event, Location, Media
from channels.replies import Reply
from channels.telegram_client import BotApiClient
from channels.text import split_text

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_API_BASE = "https://api.telegram.org"
TEXT_LIMIT = 4096
SEND_TIMEOUT = 20.0  # seconds for one Bot API call, connecting included
PROGRESS_SIZE = 1000  # long replies whose first pieces went out, remembered for their retry
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # json.dumps builds one per call
# A sent message's answer as the Bot API writes it, message_id first: the id is read here, since parsing the
# echoed message (sender, chat, text, keyboard) cost more than the rest of the send's own Python.
_SENT = re.compile(rb'\{\s*"ok"\s*:\s*true\s*,\s*"result"\s*:\s*\{\s*"message_id"\s*:\s*(\d+)\s*[,}]')
# Telegram commands a buyer can type, mapped to the intents the dialogs know.
COMMANDS = {"start": "start", "help": "help", "aide": "help", "menu": "menu", "annuler": "cancel",
            "cancel": "cancel", "contact": "human", "rdv": "appointment"}


class Config(BaseModel):
    """A vendor's Telegram bot: `channels.telegram` in the vendor YAML (secrets as ${ENV} references)."""

    model_config = ConfigDict(extra="forbid")

    bot_token: str = Field(min_length=1, repr=False)
    webhook_secret: str = Field(pattern=r"^[A-Za-z0-9_-]{1,256}$", repr=False)
    api_base_url: str = Field(DEFAULT_API_BASE, pattern=r"^https?://[^/?#\s]+")


def verify(secret: str, header: str | None) -> bool:
    """The header must equal the secret given to setWebhook (a shared secret, not a signature)."""
    return bool(secret) and header is not None and hmac.compare_digest(secret.encode(), header.encode())


def _contact(user: dict[str, Any] | None, chat: dict[str, Any]) -> Contact:
    user = user or {}
    name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p) or None
    return Contact(address=str(chat["id"]), name=name)


# Telegram dates are Unix seconds; one past 2**32 (year 2106), negative or not finite is no real date, and an
# infinite one stored with an event would stop that event from loading again.
_MAX_DATE = 2**32


def _date(value: Any) -> float | None:
    """A message's `date` as a timestamp (None when absent); ValueError when it cannot be a real date."""
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < _MAX_DATE:
        raise ValueError(f"not a Telegram date: {str(value)[:20]}")
    return float(value)


def parse_update(update: dict[str, Any], vendor_id: str) -> list[Event]:
    """One Update → zero or one Event; kinds we do not handle give none (and are acknowledged).

    ValueError (or KeyError, TypeError) when the update is malformed: the webhook answers 400.
    """
    update_id = update["update_id"]
    if isinstance(update_id, bool) or not isinstance(update_id, int):
        raise ValueError("update_id is not an integer")
    base = {"id": f"tg:{vendor_id}:{update_id}", "channel": "telegram", "provider": "telegram",
            "vendor_id": vendor_id}
    if "callback_query" in update:
        cq = update["callback_query"]
        msg = cq.get("message") or {}
        chat = msg.get("chat") or {"id": cq["from"]["id"]}
        return [Event(
            **base, kind="postback", contact=_contact(cq.get("from"), chat), payload=str(cq.get("data") or ""),
            reply_to=f"{chat['id']}:{msg['message_id']}" if "message_id" in msg else None,
            data={"ack_id": str(cq["id"])},
        )]
    if "my_chat_member" in update:
        m = update["my_chat_member"]
        status = (m.get("new_chat_member") or {}).get("status")
        return [Event(**base, kind="status", contact=_contact(m.get("from"), m["chat"]),
                      status="failed" if status == "kicked" else "delivered",
                      error_code="blocked" if status == "kicked" else None)]
    msg = update.get("message")
    if not msg:
        return []
    chat = msg["chat"]
    fields: dict[str, Any] = {
        "contact": _contact(msg.get("from"), chat),
        "provider_message_id": f"{chat['id']}:{msg['message_id']}",
        "received_at": _date(msg.get("date")),
    }
    if not fields["received_at"]:
        del fields["received_at"]
    if "reply_to_message" in msg:
        fields["reply_to"] = f"{chat['id']}:{msg['reply_to_message']['message_id']}"
    text = msg.get("text")
    if text is not None:
        if text.startswith("/"):
            command, _, args = text[1:].partition(" ")
            command = command.split("@")[0].lower()
            if command in COMMANDS:
                # "/start ROBE1" (a deep link) is the product code itself.
                if args.strip():
                    return [Event(**base, kind="message", text=args.strip(), data={"command": command}, **fields)]
                return [Event(**base, kind="message", text=text, payload=COMMANDS[command], **fields)]
        return [Event(**base, kind="message", text=text, **fields)]
    if "photo" in msg:
        biggest = msg["photo"][-1]
        media = Media(kind="image", provider_media_id=biggest["file_id"], caption=msg.get("caption"))
        return [Event(**base, kind="message", text=msg.get("caption"), media=media, **fields)]
    if "document" in msg:
        d = msg["document"]
        media = Media(kind="document", provider_media_id=d["file_id"], mime_type=d.get("mime_type"),
                      filename=d.get("file_name"), caption=msg.get("caption"))
        return [Event(**base, kind="message", text=msg.get("caption"), media=media, **fields)]
    if "location" in msg:
        loc = msg["location"]
        return [Event(**base, kind="message", location=Location(latitude=loc["latitude"],
                                                                longitude=loc["longitude"]), **fields)]
    # stickers, voice, polls…: a message with no text; the dialog answers it politely.
    kind = next((k for k in ("sticker", "voice", "video", "audio", "poll") if k in msg), "unknown")
    return [Event(**base, kind="message", text=None, data={"unsupported": kind}, **fields)]


def render(chat_id: str, reply: Reply) -> list[dict[str, Any]]:
    """The sendMessage bodies for a Reply: text over 4096 characters is split at line breaks (never cut),
    and buttons become an inline keyboard under the last piece."""
    chat: int | str = int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
    bodies: list[dict[str, Any]] = [{"chat_id": chat, "text": piece}
                                    for piece in split_text(reply.text or "", TEXT_LIMIT)]
    buttons = [(b.id, b.title) for b in reply.buttons]
    buttons += [(r.id, r.title) for s in reply.list_sections for r in s.rows]
    if buttons:
        per_row = 3 if len(buttons) <= 3 and all(len(t) <= 14 for _, t in buttons) else 1
        rows = [buttons[i:i + per_row] for i in range(0, len(buttons), per_row)]
        bodies[-1]["reply_markup"] = {"inline_keyboard": [[{"text": t, "callback_data": i[:64]} for i, t in row]
                                                          for row in rows]}
    return bodies


class TelegramSender:
    """Sends through the Bot API at `api_base` (configurable so tests point it at a local server)."""

    def __init__(self, token: str, api_base: str = DEFAULT_API_BASE) -> None:
        self._client = BotApiClient(f"{api_base.rstrip('/')}/bot{token}/", timeout=SEND_TIMEOUT)
        self._progress: OrderedDict[str, list[str]] = OrderedDict()

    async def _call(self, method: str, body: dict[str, Any]) -> Any:
        payload = _ENCODER.encode(body).encode()
        try:
            status, raw = await self._client.post(method, payload)
        except (OSError, TimeoutError) as exc:
            raise SendError(f"telegram {method}: {type(exc).__name__}") from None
        if status == 200 and (sent := _SENT.match(raw)) is not None:
            return {"message_id": int(sent[1])}
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if status == 200 and data.get("ok"):
            return data.get("result")
        description = str(data.get("description") or status)
        if status == 429:
            retry = (data.get("parameters") or {}).get("retry_after")
            raise SendError(f"telegram {method}: rate limited", retry_after=float(retry) if retry else None)
        if status >= 500:
            raise SendError(f"telegram {method}: {description}")
        raise PermanentSendError(f"telegram {method}: {description}", code=str(status))

    async def send(self, recipient: str, reply: Reply, *, idempotency_key: str) -> str:
        ack = reply.data.get("ack_id")
        if ack:
            # A late or repeated answer is harmless; the reply below is what matters.
            with contextlib.suppress(SendError):
                await self._call("answerCallbackQuery", {"callback_query_id": ack})
        if not reply.text:
            return f"ack:{ack}"
        # A retry after a later piece failed resumes there instead of sending the first ones again.
        done = self._progress.pop(idempotency_key, [])
        for body in render(recipient, reply)[len(done):]:
            try:
                result = await self._call("sendMessage", body)
            except SendError as exc:
                if done and not exc.permanent:
                    self._progress[idempotency_key] = done
                    while len(self._progress) > PROGRESS_SIZE:
                        self._progress.popitem(last=False)
                raise
            done.append(f"{recipient}:{(result or {}).get('message_id', '')}")
        return done[0]

    async def close(self) -> None:
        await self._client.close()


def make_sender(config: Config) -> TelegramSender:
    return TelegramSender(config.bot_token, config.api_base_url)
