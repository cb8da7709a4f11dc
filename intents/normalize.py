"""Text normalisation for rule matching, with a map from normalised offsets back to the original text."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# Phone keyboards auto-substitute these; folding them lets one lexicon spelling ("d'accord", "vas-y")
# match whatever apostrophe or dash the user's keyboard produced.
_CHAR_FOLDS = {
    "\u2019": "'",
    "\u2018": "'",
    "\u02bc": "'",
    "`": "'",
    "\u00b4": "'",
    "\u2010": "-",
    "\u2011": "-",
    "\u2013": "-",
    "\u2014": "-",
}


class Normalized:
    """A normalised message: lowercase, accent-free, single-spaced, plus the way back to the original."""

    __slots__ = ("_offsets", "_shift", "text")

    def __init__(self, text: str, offsets: list[int] | None, shift: int = 0) -> None:
        self.text = text
        # None means every normalised index is the original index plus `shift` (the common ASCII case),
        # which saves building a per-character list for most messages.
        self._offsets = offsets
        self._shift = shift

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a non-empty normalised [start, end) span to the matching span of the original text."""
        if self._offsets is None:
            return start + self._shift, end + self._shift
        return self._offsets[start], self._offsets[end - 1] + 1


@lru_cache(maxsize=4096)
def _fold(char: str) -> str:
    char = _CHAR_FOLDS.get(char, char)
    decomposed = unicodedata.normalize("NFKD", char.lower())
    return "".join(piece for piece in decomposed if unicodedata.category(piece) != "Mn")


def normalize(text: str) -> Normalized:
    """Lowercase, strip accents (NFKD), fold typographic quotes and dashes, collapse whitespace."""
    if text.isascii() and "`" not in text:
        folded = text.lower()
    else:
        pieces = list(map(_fold, text))
        # With no empty piece and an unchanged length, every character folded to exactly one.
        folded = "".join(pieces) if "" not in pieces else ""
    if len(folded) == len(text):
        stripped = folded.strip()
        if " ".join(stripped.split()) == stripped:
            return Normalized(stripped, None, len(folded) - len(folded.lstrip()))

    out: list[str] = []
    offsets: list[int] = []
    space_at = -1
    for index, char in enumerate(text):
        for piece in _fold(char):
            if piece.isspace():
                if space_at < 0:
                    space_at = index
                continue
            if space_at >= 0:
                if out:
                    out.append(" ")
                    offsets.append(space_at)
                space_at = -1
            out.append(piece)
            offsets.append(index)
    return Normalized("".join(out), offsets)
