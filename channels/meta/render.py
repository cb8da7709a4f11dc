"""Meta WhatsApp outbound: a Reply → the Graph API /messages bodies, in sending order."""

from __future__ import annotations

import logging
import os.path
from typing import Any
from urllib.parse import unquote, urlparse

from channels.base import BSUID, PermanentSendError, mask_address
from channels.meta.config import (
    BUTTON_ID_LIMIT,
    BUTTON_TITLE_LIMIT,
    CAPTION_LIMIT,
    DEFAULT_LIST_BUTTON,
    EMPTY_BODY,
    FOOTER_LIMIT,
    HEADER_LIMIT,
    INTERACTIVE_BODY_LIMIT,
    LIST_BUTTON_LIMIT,
    MAX_BUTTONS,
    MAX_LIST_ROWS,
    ROW_DESCRIPTION_LIMIT,
    ROW_ID_LIMIT,
    ROW_TITLE_LIMIT,
    SECTION_TITLE_LIMIT,
    TEXT_LIMIT,
)
from channels.replies import Button, ListRow, ListSection, Reply
from channels.text import split_text as split_lines

log = logging.getLogger("palabre.channels.meta")


# outbound: rendering

def cut(text: str, limit: int) -> str:
    """`text` if it fits, else its first `limit - 1` characters and "…"."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` (WhatsApp's 4096) characters."""
    return split_lines(text, limit)


def _split_tail(text: str, tail_limit: int) -> tuple[list[str], str]:
    """(leading text messages, last piece of at most `tail_limit`) — for captions and interactive bodies."""
    if len(text) <= tail_limit:
        return [], text
    start = len(text) - tail_limit
    at = text.find("\n", start)
    if at < 0:
        at = text.find(" ", start)
    if at < 0:
        at = start
    head, tail = text[:at].rstrip(), text[at:].strip()
    return (split_text(head) if head else []), tail


def recipient_fields(recipient: str) -> dict[str, str]:
    """`to` for a WhatsApp id (the digits Meta gave, without our "+"), `recipient` for a business-scoped user id.

    The `to` is not re-validated as a phone number: Meta's own ids (test numbers, short ids) are
    answered exactly as they came; E.164 is how we identify a buyer, not what Meta needs here.
    """
    r = recipient.strip()
    digits = r[1:] if r.startswith("+") else r
    if digits.isascii() and digits.isdigit() and len(digits) <= 32:
        return {"to": digits}
    if BSUID.match(r):
        return {"recipient": r}
    raise PermanentSendError(f"meta: {mask_address(recipient)} is neither a phone number nor a BSUID")


def _text_with_link(reply: Reply) -> str:
    text = reply.text or ""
    if reply.link and reply.link not in text:
        text = f"{text}\n{reply.link}" if text else reply.link
    return text


def _media_type(reply: Reply) -> str:
    wanted = reply.data.get("media_type")
    if wanted in ("image", "video", "audio", "document"):
        return str(wanted)
    path = urlparse(reply.media_url or "").path.lower()
    if path.endswith((".jpg", ".jpeg", ".png")):
        return "image"
    if path.endswith((".mp4", ".3gp")):
        return "video"
    if path.endswith((".mp3", ".ogg", ".opus", ".aac", ".amr", ".m4a")):
        return "audio"
    return "document"


def _media_object(reply: Reply, kind: str) -> dict[str, Any]:
    obj: dict[str, Any] = {"link": reply.media_url}
    if kind == "document":
        filename = reply.data.get("filename") or unquote(os.path.basename(urlparse(reply.media_url or "").path))
        obj["filename"] = filename or "document"
    return obj


def _unique_titles(titles: list[str], limit: int) -> list[str]:
    """Titles cut to `limit` with "…" and made unique (WhatsApp rejects two equal button titles)."""
    out: list[str] = []
    for title in titles:
        candidate, n = cut(title.strip() or "…", limit), 2
        while candidate in out:
            suffix = f" {n}"
            candidate, n = cut(title.strip(), limit - len(suffix)) + suffix, n + 1
        out.append(candidate)
    return out


def _buttons(buttons: list[Button]) -> dict[str, Any]:
    titles = _unique_titles([b.title for b in buttons], BUTTON_TITLE_LIMIT)
    return {"buttons": [{"type": "reply", "reply": {"id": b.id[:BUTTON_ID_LIMIT], "title": t}}
                        for b, t in zip(buttons, titles, strict=True)]}


def _list(reply: Reply) -> dict[str, Any]:
    sections = list(reply.list_sections)
    extra = [ListRow(id=b.id, title=b.title) for b in reply.buttons]
    if extra:
        sections.append(ListSection(title=DEFAULT_LIST_BUTTON if sections else "", rows=extra))
    out: list[dict[str, Any]] = []
    budget = MAX_LIST_ROWS
    total = sum(len(s.rows) for s in sections)
    if total > MAX_LIST_ROWS:
        log.warning("meta: list of %d rows cut to %d", total, MAX_LIST_ROWS)
    for section in sections:
        rows = section.rows[:budget]
        budget -= len(rows)
        if not rows:
            continue
        titles = _unique_titles([r.title for r in rows], ROW_TITLE_LIMIT)
        rendered = []
        for row, title in zip(rows, titles, strict=True):
            item = {"id": row.id[:ROW_ID_LIMIT], "title": title}
            if row.description:
                item["description"] = cut(row.description, ROW_DESCRIPTION_LIMIT)
            rendered.append(item)
        sec: dict[str, Any] = {"rows": rendered}
        if section.title:
            sec["title"] = cut(section.title, SECTION_TITLE_LIMIT)
        out.append(sec)
    if len(out) > 1:
        for i, sec in enumerate(out, 1):
            sec.setdefault("title", str(i))  # required when there is more than one section
    label = str(reply.data.get("list_button") or DEFAULT_LIST_BUTTON)
    return {"button": cut(label, LIST_BUTTON_LIMIT), "sections": out}


def _message_body(to: dict[str, str], kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", **to, "type": kind, kind: obj}


def _text_bodies(to: dict[str, str], parts: list[str], preview: bool) -> list[dict[str, Any]]:
    return [_message_body(to, "text", {"preview_url": preview, "body": p}) for p in parts if p]


def render(recipient: str, reply: Reply) -> list[dict[str, Any]]:
    """The /messages bodies for a Reply, in sending order (one in the common case).

    - template → one template message (its text/buttons are not sent: a template is the whole message);
    - buttons (≤ 3) → interactive reply buttons; more than 3 buttons, or list_sections → interactive list;
      a media_url goes in the buttons' header, or is sent just before a list;
    - media_url alone → image / video / audio / document by link with the text as caption;
    - text → text messages of at most 4096 characters each (longer text is split, never cut);
    - Reply.data: "header"/"footer" (interactive), "list_button", "filename", "media_type",
      "preview_url", "location" ({latitude, longitude, name?, address?}) are honoured.
    """
    to = recipient_fields(recipient)
    preview = bool(reply.data.get("preview_url"))
    if reply.template is not None:
        t = reply.template
        obj: dict[str, Any] = {"name": t.name, "language": {"code": t.language}}
        if t.parameters:
            obj["components"] = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in t.parameters]}]
        return [_message_body(to, "template", obj)]

    text = _text_with_link(reply)
    bodies: list[dict[str, Any]] = []
    location = reply.data.get("location")
    if isinstance(location, dict):
        bodies.append(_message_body(to, "location", {k: location[k] for k in ("latitude", "longitude", "name",
                                                                                "address") if k in location}))
    if reply.buttons or reply.list_sections:
        use_list = bool(reply.list_sections) or len(reply.buttons) > MAX_BUTTONS
        media_kind = _media_type(reply) if reply.media_url else None
        if media_kind and (use_list or media_kind == "audio"):
            bodies.append(_message_body(to, media_kind, _media_object(reply, media_kind)))
            media_kind = None
        head, body_text = _split_tail(text, INTERACTIVE_BODY_LIMIT)
        bodies += _text_bodies(to, head, preview)
        interactive: dict[str, Any] = {"type": "list" if use_list else "button",
                                       "body": {"text": body_text or EMPTY_BODY}}
        if media_kind:
            interactive["header"] = {"type": media_kind, media_kind: _media_object(reply, media_kind)}
        elif reply.data.get("header"):
            interactive["header"] = {"type": "text", "text": cut(str(reply.data["header"]), HEADER_LIMIT)}
        if reply.data.get("footer"):
            interactive["footer"] = {"text": cut(str(reply.data["footer"]), FOOTER_LIMIT)}
        interactive["action"] = _list(reply) if use_list else _buttons(reply.buttons)
        bodies.append(_message_body(to, "interactive", interactive))
        return bodies

    if reply.media_url:
        kind = _media_type(reply)
        obj = _media_object(reply, kind)
        rest: list[str] = []
        if text and kind != "audio" and len(text) <= CAPTION_LIMIT:
            obj["caption"] = text
        elif text:
            rest = split_text(text)
        return [*bodies, _message_body(to, kind, obj), *_text_bodies(to, rest, preview)]
    if text:
        bodies += _text_bodies(to, split_text(text), preview)
    return bodies


def mark_read_body(message_id: str, typing: bool = True) -> dict[str, Any]:
    """Mark an inbound message (and the earlier ones) read; with `typing`, show "typing…" up to 25 s."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
    if typing:
        body["typing_indicator"] = {"type": "text"}
    return body


