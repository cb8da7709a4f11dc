"""A buyer's message understood: its NLU parse (remembered for short, repeated texts) and the language to answer in."""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from intents import NluParser
from intents.language import language_of

# A live sale is hundreds of buyers typing the same product code; the full parse of one costs ~30 µs.
# Only short texts are remembered (codes, yes/no, a payment method): long ones rarely repeat.
MAX_REMEMBERED_CHARS = 24
MAX_REMEMBERED = 2048  # texts per parser; an attacker sending new texts only evicts old ones

_memos: weakref.WeakKeyDictionary[NluParser, OrderedDict[str, dict[str, Any]]] = weakref.WeakKeyDictionary()


def parse(nlu: NluParser, text: str | None, payload: str | None) -> dict[str, Any]:
    """`nlu.parse(text, payload)`, the same result (a parse reads no clock and no state), computed once per
    short text and parser; a parser re-taught new products is a new object, so it parses afresh."""
    if payload is not None or text is None or len(text) > MAX_REMEMBERED_CHARS:
        return nlu.parse(text, payload)
    memo = _memos.get(nlu)
    if memo is None:
        memo = _memos[nlu] = OrderedDict()
    result = memo.get(text)
    if result is None:
        result = memo[text] = nlu.parse(text, None)
        if len(memo) > MAX_REMEMBERED:
            memo.popitem(last=False)  # the least recently sent
    else:
        memo.move_to_end(text)
    return _copy(result)


def _copy(result: dict[str, Any]) -> dict[str, Any]:
    """A copy the turn may change without changing what the next buyer gets (the parse is two levels deep)."""
    return {key: dict(value) if isinstance(value, dict)
            else [dict(item) if isinstance(item, dict) else item for item in value] if isinstance(value, list)
            else value
            for key, value in result.items()}


def reply_locale(locale: str, languages: Sequence[str], current: str, text: str | None) -> str:
    """The language to answer in: the one this message is clearly written in when the vendor answers in it (its
    `locale` or one of its `languages`), else the conversation's until now ("ok", "ROBE1" or a mixed message keep
    it)."""
    if not languages:
        return current
    written = language_of(text)
    return written if written is not None and (written == locale or written in languages) else current
