"""Wasender outbound: a Reply → the send-message bodies (choices as numbered text)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from channels.replies import Reply
from channels.text import split_text as split_lines
from channels.wasender.config import DOCUMENT_EXTENSIONS, TEXT_LIMIT, VIDEO_EXTENSIONS

# outbound


def choices_text(reply: Reply) -> list[str]:
    """Buttons and list rows as the numbered lines that replace them ("1. PAYER")."""
    titles = [b.title for b in reply.buttons]
    titles += [f"{r.title} – {r.description}" if r.description else r.title
               for s in reply.list_sections for r in s.rows]
    return [f"{i}. {t}" for i, t in enumerate(titles, 1)]


def render_text(reply: Reply) -> str:
    """The whole text a Reply becomes on Wasender: its text, its link, then its choices numbered."""
    text = (reply.text or "").rstrip()
    lines = [text] if text else []
    if reply.link and reply.link not in text:
        lines.append(reply.link)
    lines.extend(choices_text(reply))
    return "\n".join(lines)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` (Wasender's 4096) characters."""
    return split_lines(text, limit)


def outgoing_texts(reply: Reply) -> list[str]:
    """The text of each request a Reply is sent as; the stored message id is the last one's."""
    return split_text(render_text(reply))


def _media_field(url: str, reply: Reply) -> dict[str, str]:
    path = unquote(urlsplit(url).path)
    name = path.rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension in DOCUMENT_EXTENSIONS:
        filename = reply.data.get("filename")
        return {"documentUrl": url, "fileName": filename if isinstance(filename, str) and filename else name}
    if extension in VIDEO_EXTENSIONS:
        return {"videoUrl": url}
    # Product photos often come from CDNs whose URLs have no extension: an image is the likely case.
    return {"imageUrl": url}


def render(recipient: str, reply: Reply) -> list[dict[str, Any]]:
    """The send-message bodies for a Reply: media first (with the first piece of text as caption)."""
    texts = [t for t in outgoing_texts(reply) if t]
    bodies: list[dict[str, Any]] = []
    if reply.media_url:
        body: dict[str, Any] = {"to": recipient}
        if texts:
            body["text"] = texts.pop(0)
        body.update(_media_field(reply.media_url, reply))
        bodies.append(body)
    bodies.extend({"to": recipient, "text": t} for t in texts)
    return bodies


