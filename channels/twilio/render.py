"""Twilio outbound text: GSM-7-safe rendering, segment counting and splitting at Twilio's Body limit."""

from __future__ import annotations

import re
import unicodedata

from channels.replies import Reply
from channels.twilio.config import BODY_LIMIT, GSM7, GSM7_EXTENSION, GSM7_FOLD


# outbound: text
def is_gsm7(text: str) -> bool:
    return all(c in GSM7 for c in text)


def gsm7_safe(text: str) -> str | None:
    """The text folded into the GSM-7 alphabet (ç→c, ê→e, ’→', …→..., emojis dropped), or None when a
    character has no GSM-7 equivalent (Arabic, …): then the message has to go out as UCS-2 anyway."""
    out: list[str] = []
    dropped = False
    for c in text:
        if c in GSM7:
            out.append(c)
        elif c in GSM7_FOLD:
            out.append(GSM7_FOLD[c])
        else:
            folded = "".join(d for d in unicodedata.normalize("NFKD", c) if not unicodedata.combining(d))
            if folded and all(d in GSM7 for d in folded):
                out.append(folded)
            elif unicodedata.category(c)[0] in "LN":
                return None
            else:
                dropped = True  # emoji, pictograph or other symbol: costs UCS-2 for decoration only
    result = "".join(out)
    if dropped:
        result = re.sub(r" {2,}", " ", result)
        result = re.sub(r" *\n *", "\n", result).strip()
    return result


def segments(text: str) -> int:
    """SMS segments a text costs: GSM-7 160 in one / 153 per part (extension chars count 2, never split),
    else UCS-2 70 / 67 (characters outside the BMP count 2)."""
    if is_gsm7(text):
        weights, single, multi = [2 if c in GSM7_EXTENSION else 1 for c in text], 160, 153
    else:
        weights, single, multi = [len(c.encode("utf-16-le")) // 2 for c in text], 70, 67
    if sum(weights) <= single:
        return 1
    count, used = 1, 0
    for w in weights:
        if used + w > multi:
            count, used = count + 1, 0
        used += w
    return count


def render_text(reply: Reply, *, gsm7: bool = True) -> str:
    """The message body: text, buttons and list rows as numbered choices, then the link if not in the text."""
    parts = [reply.text.strip()] if reply.text and reply.text.strip() else []
    choices = [b.title for b in reply.buttons]
    choices += [f"{r.title} - {r.description}" if r.description else r.title
                for s in reply.list_sections for r in s.rows]
    if choices:
        parts.append("\n".join(f"{i}. {title}" for i, title in enumerate(choices, 1)))
    if reply.link and reply.link not in (reply.text or ""):
        parts.append(reply.link)
    body = "\n".join(parts)
    if gsm7:
        body = gsm7_safe(body) or body
    return body


def split_body(body: str, limit: int = BODY_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut after a newline or a space when there is one."""
    pieces: list[str] = []
    while len(body) > limit:
        cut = max(body.rfind("\n", 0, limit + 1), body.rfind(" ", 0, limit + 1))
        cut = cut + 1 if cut > limit // 2 else limit
        pieces.append(body[:cut].rstrip())
        body = body[cut:].lstrip()
    if body:
        pieces.append(body)
    return pieces


