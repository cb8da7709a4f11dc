"""Compiling lexicon phrases and catalogue codes into trie-shaped, word-bounded regexes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from intents.normalize import normalize

_SEPARATOR_RUN = re.compile(r"([ '\-]+)")
_WORD_CHAR = re.compile(r"\w")
_WORD_START = r"(?<!\w)"
_WORD_END = r"(?!\w)"
_CODE_SEPARATOR = r"[ \-]?"
_END = ""


def phrase_fragments(phrase: str) -> tuple[bool, list[str]]:
    """Split a lexicon phrase into regex fragments, and say whether it must start on a word boundary.

    A space in the phrase needs a separator in the text, so "où est" does not fire on "ouest"; an
    apostrophe or hyphen is optional, so "d'accord" also matches "daccord" and "vas-y" "vas y".
    The final letter may repeat, because "ouiii" and "merciii" are how people type.
    """
    text = normalize(phrase).text
    if not text:
        raise ValueError(f"empty lexicon phrase: {phrase!r}")
    fragments: list[str] = []
    for part in _SEPARATOR_RUN.split(text):
        if not part:
            continue
        if _SEPARATOR_RUN.fullmatch(part):
            fragments.append(r"[ '\-]" if " " in part else r"[ '\-]?")
        else:
            fragments.extend(re.escape(char) for char in part)
    if text[-1].isalpha():
        fragments.append(re.escape(text[-1]) + "*")
    if _WORD_CHAR.match(text[-1]):
        fragments.append(_WORD_END)
    return bool(_WORD_CHAR.match(text[0])), fragments


def phrases_regex(phrases: Iterable[str], patterns: Iterable[str] = ()) -> str:
    """One regex source matching any of the phrases as whole words, or any of the raw patterns."""
    bounded: list[list[str]] = []
    unbounded: list[list[str]] = []
    for phrase in phrases:
        starts_with_word, fragments = phrase_fragments(phrase)
        (bounded if starts_with_word else unbounded).append(fragments)
    alternatives: list[str] = []
    if bounded:
        # One lookbehind in front of the whole trie rejects mid-word positions before any branching.
        alternatives.append(_WORD_START + "(?:" + trie_regex(bounded) + ")")
    if unbounded:
        alternatives.append(trie_regex(unbounded))
    alternatives.extend(patterns)
    if not alternatives:
        raise ValueError("a phrase set needs at least one phrase or pattern")
    return "|".join(f"(?:{alternative})" for alternative in alternatives)


def code_fragments(code: str) -> tuple[str, list[str]]:
    """A product code's lookup key and regex fragments.

    The user may type a space or hyphen wherever the code has one, and between letters and digits.
    """
    fragments: list[str] = []
    key: list[str] = []
    previous = ""
    for char in normalize(code).text:
        if char in " -":
            if fragments and fragments[-1] != _CODE_SEPARATOR:
                fragments.append(_CODE_SEPARATOR)
            continue
        at_boundary = (previous.isalpha() and char.isdigit()) or (previous.isdigit() and char.isalpha())
        if at_boundary and fragments[-1] != _CODE_SEPARATOR:
            fragments.append(_CODE_SEPARATOR)
        fragments.append(re.escape(char))
        key.append(char)
        previous = char
    if fragments and fragments[-1] == _CODE_SEPARATOR:
        fragments.pop()
    return "".join(key), fragments


def code_key(matched: str) -> str:
    """The lookup key of a code as matched in normalised text: separators removed."""
    return matched.replace(" ", "").replace("-", "")


def trie_regex(sequences: Iterable[Sequence[str]]) -> str:
    """One regex matching any sequence of fragments, shaped as a trie so a scan costs O(text), not O(rules).

    At each node the branch with the longest continuation is tried first and optional tails are greedy,
    so the longest entry wins ("orange money" over "orange", "SAC12" over "SAC1").
    """
    root: dict[str, dict] = {}
    for fragments in sequences:
        node = root
        for fragment in fragments:
            node = node.setdefault(fragment, {})
        node[_END] = {}
    return _node_regex(root)


def _depth(node: dict[str, dict], depths: dict[int, int]) -> int:
    known = depths.get(id(node))
    if known is None:
        known = max((1 + _depth(child, depths) for token, child in node.items() if token != _END), default=0)
        depths[id(node)] = known
    return known


def _node_regex(node: dict[str, dict], depths: dict[int, int] | None = None) -> str:
    # Depths are memoised per trie (keyed by node identity while the trie is alive): without it, sorting
    # every node's children re-walks their subtrees, quadratic in the catalogue size.
    depths = {} if depths is None else depths
    children = sorted(
        ((fragment, child) for fragment, child in node.items() if fragment != _END),
        key=lambda item: (-_depth(item[1], depths), item[0]),
    )
    branches = [fragment + _node_regex(child, depths) for fragment, child in children]
    if not branches:
        return ""
    if _END in node:
        return "(?:" + "|".join(branches) + ")?"
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")"
