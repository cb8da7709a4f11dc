"""E-mail outbound: a Reply → subject, threading headers, text and HTML bodies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from channels.base import PermanentSendError
from channels.email.config import REPLY_PREFIX, STRINGS, TEMPLATE_DIR, TRAILING_PUNCT, URL, Config
from channels.email.parse import msg_ids
from channels.replies import Reply

# --------------------------------------------------------------------------------------------- outbound


@dataclass
class RenderedMail:
    subject: str
    text: str
    html: str
    headers: dict[str, str]


def _linkify(value: str) -> Markup:
    """Escaped text with http(s) URLs as links and line breaks as <br>."""
    out: list[str] = []
    pos = 0
    for m in URL.finditer(value):
        url = m.group(0).rstrip(TRAILING_PUNCT)
        end = m.start() + len(url)
        out.append(str(escape(value[pos:m.start()])))
        out.append(f'<a href="{escape(url)}" style="color:#0b6e4f">{escape(url)}</a>')
        pos = end
    out.append(str(escape(value[pos:])))
    return Markup("<br>\n".join("".join(out).split("\n")))


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=StrictUndefined,
                      keep_trailing_newline=True)
    env.filters["linkify"] = _linkify
    return env


def one_line(value: Any, limit: int) -> str:
    return " ".join(str(value).split())[:limit]


def _subject(config: Config, reply: Reply) -> str:
    last = one_line(reply.data.get("subject") or "", 250)
    if last:
        return last if REPLY_PREFIX.match(last) else f"Re: {last}"
    return STRINGS[config.locale]["subject"].format(name=config.from_name)


def _threading_headers(reply: Reply) -> dict[str, str]:
    headers: dict[str, str] = {}
    # Only well-formed <id> tokens: anything else could smuggle header lines into the mail.
    parent = msg_ids(str(reply.data.get("in_reply_to") or ""))
    if parent:
        headers["In-Reply-To"] = parent[0]
        refs = msg_ids(str(reply.data.get("references") or ""))[-20:] or parent[:1]
        headers["References"] = " ".join(refs)
    # RFC 3834: marks our mails as automatic so vacation responders do not answer them.
    headers["Auto-Submitted"] = "auto-replied"
    headers["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    return headers


def render(config: Config, reply: Reply) -> RenderedMail:
    """The plain-text and HTML bodies of a Reply: buttons and list rows become numbered choices."""
    strings = STRINGS[config.locale]
    choices: list[dict[str, Any]] = [{"number": i, "title": b.title, "description": None, "section": None}
                                     for i, b in enumerate(reply.buttons, start=1)]
    for section in reply.list_sections:
        for row in section.rows:
            choices.append({"number": len(choices) + 1, "title": row.title, "description": row.description,
                            "section": section.title})
    links: list[dict[str, str]] = []
    if reply.media_url:
        links.append({"label": strings["photo"], "url": reply.media_url})
    if reply.link and reply.link not in (reply.text or ""):
        links.append({"label": strings["link"], "url": reply.link})
    body = (reply.text or "").strip()
    if not body and reply.template:
        body = " ".join(reply.template.parameters)
    if not (body or choices or links):
        raise PermanentSendError("e-mail: nothing to send (empty reply)")

    colon = " :" if config.locale == "fr" else ":"
    text_parts = [body] if body else []
    if choices:
        lines: list[str] = []
        section = None
        for c in choices:
            if c["section"] and c["section"] != section:
                section = c["section"]
                lines.append(f"{section}{colon}")
            lines.append(f"{c['number']}. {c['title']}" + (f" — {c['description']}" if c["description"] else ""))
        text_parts.append("\n".join(lines))
        text_parts.append(strings["hint"])
    for link in links:
        text_parts.append(f"{link['label']}{colon} {link['url']}")
    text_parts.append(f"— {config.from_name}")
    text = "\n\n".join(text_parts) + "\n"

    subject = _subject(config, reply)
    paragraphs = [p.strip("\n") for p in re.split(r"\n\s*\n", body) if p.strip()]
    markup = _environment().get_template("base.html.j2").render(
        lang=config.locale, subject=subject, colon=colon, paragraphs=paragraphs, choices=choices, hint=strings["hint"],
        links=[{**link, "clickable": bool(URL.fullmatch(link["url"]))} for link in links],
        from_name=config.from_name,
    )
    return RenderedMail(subject=subject, text=text, html=markup, headers=_threading_headers(reply))


