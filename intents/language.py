"""Which language a buyer clearly writes in (French or English), for dialogs that answer in the buyer's language.

Counted on function words only, which code-mixing leaves in place: "ok", product names, numbers and Wolof count
for neither, so a short or mixed message ("ok", "ROBE1", "waaw merci", "je veux the bag") is None and the
conversation keeps its language. A language needs two of its words and twice the other's.
"""

from __future__ import annotations

import re

from intents.normalize import normalize


def _listed(words: str) -> frozenset[str]:
    return frozenset(words.split())


_WORDS = {
    "en": _listed("""
        the a an i i'm i'd i'll you your you're my me we our is are was be been do does did don't can could would
        will what what's how where when which who why this that these those it it's to of for with from and or but
        not no yes please thanks thank hello hi hey much many have has want like need get buy order pay price cost
        there any some still available size color colour deliver delivery shop store here today tomorrow
    """),
    "fr": _listed("""
        je j'ai j'en tu vous nous il elle on le la les l' un une des du de d' est c'est ce cet cette ces mon ma mes
        ton ta tes votre vos notre nos et ou mais pas ne plus pour avec sans sur dans en au aux que qui quoi
        combien comment quand pourquoi bonjour bonsoir salut merci svp stp oui non veux voudrais prends peux faut
        avez avoir suis sont fait prix taille couleur livraison commande payer aujourd'hui demain ça ca
    """),
}
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]*)?")


def language_of(text: str | None) -> str | None:
    """"en" or "fr" when the message is clearly in it, else None (too short, mixed, or another language)."""
    if not text:
        return None
    counts = dict.fromkeys(_WORDS, 0)
    for token in _TOKEN.findall(normalize(text).text):
        for language, words in _WORDS.items():
            counts[language] += token in words
    english, french = counts["en"], counts["fr"]
    if english >= 2 and english >= 2 * french:
        return "en"
    if french >= 2 and french >= 2 * english:
        return "fr"
    return None
