"""Plain-text helpers shared by the adapters: splitting long texts at a provider's length limit."""

from __future__ import annotations


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at a line break, else a space, else anywhere.

    Always at least one piece (an empty text gives [""]), so a caller sends something or nothing
    deliberately.
    """
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        at = rest.rfind("\n", 0, limit + 1)
        if at <= 0:
            at = rest.rfind(" ", 0, limit + 1)
        if at <= 0:
            at = limit
        parts.append(rest[:at].rstrip())
        rest = rest[at:].lstrip()
    parts.append(rest.rstrip() if parts else rest)
    return [p for p in parts if p] or [""]
