"""The buyer's own words in a mail: HTML to text, and the quoted history and signatures cut off."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from channels.email.config import MAX_SCAN, MAX_TEXT


class _HtmlText(HTMLParser):
    """Visible text of an HTML mail, without the quoted history clients put in blockquotes."""

    BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"})
    HIDDEN = frozenset({"blockquote", "style", "script", "head", "title"})
    QUOTE_CLASSES = ("gmail_quote", "moz-cite-prefix", "yahoo_quoted", "divRplyFwdMsg")
    # Only elements that have an end tag can open a skipped region (an <img class=…> never closes).
    CONTAINERS = frozenset({"div", "span", "table", "section", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_tag: str | None = None
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth += 1
            return
        marks = " ".join(v or "" for k, v in attrs if k in ("class", "id"))
        quote = tag in self.CONTAINERS and any(c in marks for c in self.QUOTE_CLASSES)
        if tag in self.HIDDEN or quote:
            self._skip_tag, self._skip_depth = tag, 1
            return
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_tag = None
            return
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip_tag is None:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(markup[:MAX_SCAN * 5])
        parser.close()
    except Exception:
        return ""
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_ATTRIBUTION = re.compile(r"^\s*(?:le\s.{0,400}a\s+[ée]crit|on\s.{0,400}wrote)\s*:\s*$", re.IGNORECASE | re.DOTALL)
_SEPARATOR = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|message d'origine|message original|forwarded message|message transf[ée]r[ée])"
    r"\s*-{2,}|_{10,})\s*$", re.IGNORECASE)
_HEADER_FROM = re.compile(r"^\s*\*?(?:de|from)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\s*\*?(?:envoy[ée]|sent|date|à|to|objet|subject)\s*:", re.IGNORECASE)
_MOBILE_SIGNATURE = re.compile(r"^\s*(?:envoy[ée]|sent)\s+(?:de|depuis|from)\s+(?:mon|my)\s.{0,40}$", re.IGNORECASE)


def _quote_start(lines: list[str]) -> int:
    """Index of the first line of the quoted history (len(lines) when there is none)."""
    for i, line in enumerate(lines):
        if _SEPARATOR.match(line):
            return i
        if _HEADER_FROM.match(line) and i + 1 < len(lines) and _HEADER_NEXT.match(lines[i + 1]):
            return i
        # Clients wrap a long "Le … a écrit :" line, so look at up to three lines joined.
        for span in (1, 2, 3):
            if i + span <= len(lines) and lines[i].strip() and _ATTRIBUTION.match(" ".join(lines[i:i + span])):
                return i
    return len(lines)


def strip_quoted(text: str) -> str:
    """The new part of a reply: no quoted history, no "> " lines, no signature."""
    lines = [line.rstrip() for line in text[:MAX_SCAN].replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    cut = _quote_start(lines)
    new = [line for line in lines[:cut] if not line.lstrip().startswith(">")]
    if not "".join(new).strip():
        # Bottom-posted answer: the new text comes after the quote.
        new = [line for line in lines[cut + 1:] if not line.lstrip().startswith(">")]
    if "--" in new:
        new = new[:new.index("--")]
    new = [line for line in new if not _MOBILE_SIGNATURE.match(line)]
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(new)).strip()
    return out[:MAX_TEXT]


