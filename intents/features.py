"""What the classifier reads: the normalised message with entities as placeholders, plus rule features.

Products become one placeholder word, so "c combien ROBE1" and "cmbien la robe wax" read the same and the
model never depends on a vendor's catalogue; amounts, clock times and numeric dates likewise. Rule hits,
entity kinds and message length are added as named features.
"""

from __future__ import annotations

import re

from intents.rules import Analysis

# Bump when what the classifier reads changes: cached models are keyed on it.
FEATURE_VERSION = 4

_PLACEHOLDERS = {
    "product": "qprod",
    # the second and later words of a product name: the placeholder already stands for the product
    "product_part": "",
    "amount": "qmontant",
    "unknown_code": "qcode",
}
# Replaced only when they hold digits ("10h", "12/08"); "demain" or "soir" are telling words as they are.
_NUMERIC_PLACEHOLDERS = {"time": "qheure", "date": "qdate"}
# Skin tones, zero-width joiners and emoji variation selectors: "👍🏾" reads as "👍".
_EMOJI_NOISE = re.compile("[\U0001f3fb-\U0001f3ff\u200d\ufe0f]")
_SYMBOL = re.compile(r"([^\w\s])")
_REPEAT = re.compile(r"(\w)\1{2,}")
_DIGITS = re.compile(r"\d+")
# The form of a question, as features (issue 12, sixth round): "comment ça marche" (help) and "c'est combien"
# (product_info) differ by what is asked more than by the words around it. Read on the normalised text (lower
# case, accents folded). Grouped cross-validation: +0.005 macro-F1 on the rules-and-n-grams path, flat with the
# second opinion, no intent down by more than 0.01.
_QUESTION_FORMS = {
    "q:how": re.compile(r"\b(?:comment|cmt|kmt|how|naka)\b"),
    "q:can": re.compile(r"\b(?:can you|could you|pouvez[- ]vous|vous pouvez|tu peux|peux[- ]tu|men nga|men ngeen"
                        r"|possible)\b"),
    "q:what": re.compile(r"\b(?:quoi|what|lan|koi|which|quel|quelle|ban)\b"),
    "q:yes_no": re.compile(r"\b(?:est[- ]ce que|ndax|is it|do you|avez[- ]vous|vous avez)\b"),
    "q:mark": re.compile(r"\?"),
}


def classifier_input(analysis: Analysis) -> tuple[str, tuple[str, ...]]:
    """(text, extras) for the classifier."""
    text = analysis.message.text
    pieces: list[str] = []
    cursor = 0
    kinds: set[str] = set()
    for start, end, kind in analysis.extraction.marks:
        if kind != "product_part":
            kinds.add(kind)
        if start < cursor:
            continue
        placeholder = _PLACEHOLDERS.get(kind)
        if placeholder is None and kind in _NUMERIC_PLACEHOLDERS and any(c.isdigit() for c in text[start:end]):
            placeholder = _NUMERIC_PLACEHOLDERS[kind]
        if placeholder is None:
            continue
        pieces.append(text[cursor:start])
        pieces.append(f" {placeholder} ")
        cursor = end
    pieces.append(text[cursor:])
    text = "".join(pieces)
    text = _EMOJI_NOISE.sub("", text)
    text = _SYMBOL.sub(r" \1 ", text)
    text = _DIGITS.sub("0", text)
    text = _REPEAT.sub(r"\1\1", text)
    text = " ".join(text.split())

    extras = [f"r:{intent}" for intent in analysis.hits]
    message = analysis.message.text
    extras.extend(name for name, form in _QUESTION_FORMS.items() if form.search(message))
    extras.extend(f"e:{kind}" for kind in sorted(kinds))
    if analysis.covered:
        extras.append("covered")
    tokens = analysis.tokens
    extras.append("len:" + ("0" if tokens == 0 else "1" if tokens == 1 else "2" if tokens == 2
                            else "3-4" if tokens <= 4 else "5-8" if tokens <= 8 else "9+"))
    return text, tuple(extras)
