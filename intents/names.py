"""Products named instead of coded: "la robe rouge", "robe wax", "2 pagnes manjak", vendor synonyms.

Catalogue names are cut into stemmed tokens and indexed; a message's tokens are looked up exactly, through a
short English-French table ("leather bag"), or fuzzily (difflib ratio) for typos, and nearby matched tokens vote
for the items they belong to, weighted by how rare each token is in the catalogue. A product is returned only
when one item clearly wins: with two robes, "la robe" names neither. Vendor synonyms map phrases to codes exactly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from intents.normalize import normalize

_TOKEN = re.compile(r"[^\W_]+")
_CODE_PREFIX = re.compile(r"^[^\W\d_]+")
# Punctuation or a conjunction between two matched words starts a new product mention.
_BREAKS = frozenset({"et", "and", "ou", "or", "puis", "plus", "avec", "with", "ak"})
_MAX_GAP = 2
# An imperative before a pronoun is a verb, not a product: "montre-moi" is not the watch.
_PRONOUNS_AFTER_VERB = frozenset({"moi", "nous", "lui", "leur"})
# Wolof "wax" is to speak or tell as well as the wax print: opening a mention, before an object pronoun or "ak"
# (with), it is the verb ("wax ma njëg gi", "bëgg naa wax ak boroom bi"); after "robe" it is the fabric.
_WOLOF_VERBS = frozenset({"wax"})
_AFTER_WOLOF_VERB = frozenset({"ma", "ko", "nu", "leen", "ak"})
_MIN_FUZZY_LENGTH = 5
_FUZZY_RATIO = 0.8
# The winner must outscore the runner-up by this factor, otherwise the mention is ambiguous.
_MARGIN = 1.3
_SYNONYM_CONFIDENCE = 0.95
_TRANSLATED = 0.9  # an English word for the catalogue's French one: as sure as a close typo
_VERB_ENDINGS = ("ez", "er", "ons", "ait", "ais")


def stem(token: str) -> str:
    """A light French/English stem: plural s/x, then trailing e's ("brodées" and "brodé" meet)."""
    if len(token) > 4 and token[-1] in "sx":
        token = token[:-1]
    while len(token) > 4 and token[-1] == "e":
        token = token[:-1]
    return token


@dataclass(frozen=True)
class NameMatch:
    code: str
    start: int
    end: int
    confidence: float
    extractor: str
    # The spans of the words that matched (the words between them are not part of the name).
    parts: tuple[tuple[int, int], ...] = ()


@dataclass
class _Item:
    code: str
    weights: dict[str, float]
    heads: frozenset[str]
    total: float


class ProductNames:
    """Index of catalogue names (plus the letters of each code) and vendor synonyms."""

    def __init__(
        self,
        items: Iterable[tuple[str, str]],
        stopwords: Iterable[str],
        generic: Iterable[str],
        synonyms: Mapping[str, Sequence[str]] | None = None,
        translations: Mapping[str, str] | None = None,
    ) -> None:
        self._stop = frozenset(stopwords)
        self._generic = frozenset(stem(word) for word in generic)
        tokens_of: dict[str, tuple[list[str], set[str]]] = {}
        for code, name in items:
            words = [stem(t) for t in _TOKEN.findall(normalize(name).text)]
            words = [w for w in words if len(w) >= 3 and w not in self._stop and not w.isdigit()]
            head = next((w for w in words if w not in self._generic), None)
            prefix = _CODE_PREFIX.match(normalize(code).text)
            code_word = stem(prefix.group()) if prefix else ""
            # The heads are the words that may name the item on their own: the first non-generic word
            # of the name and the letters of the code ("CHAUSSURE1" -> "chaussure").
            heads = {head} if head else set()
            if len(code_word) >= 3 and code_word not in self._stop:
                words.append(code_word)
                heads.add(code_word)
            tokens_of[code] = (words, heads)

        document_frequency: dict[str, int] = {}
        for words, _ in tokens_of.values():
            for word in set(words):
                document_frequency[word] = document_frequency.get(word, 0) + 1
        count = max(len(tokens_of), 1)
        self._idf = {word: math.log((1 + count) / df) + 1.0 for word, df in document_frequency.items()}

        self._items: dict[str, _Item] = {}
        self._index: dict[str, list[str]] = {}
        for code, (words, heads) in tokens_of.items():
            weights = {word: self._idf[word] for word in words}
            self._items[code] = _Item(code, weights, frozenset(heads), sum(weights.values()) or 1.0)
            for word in weights:
                self._index.setdefault(word, []).append(code)
        self._vocabulary_by_initial: dict[str, tuple[str, ...]] = {}
        for word in self._index:
            self._vocabulary_by_initial[word[0]] = (*self._vocabulary_by_initial.get(word[0], ()), word)
        self._close = lru_cache(maxsize=8192)(self._close_uncached)
        # an English word stands for its French one when that one is in a catalogue name
        self._translated = {stem(normalize(english).text): word for english, french in (translations or {}).items()
                            if (word := stem(normalize(french).text)) in self._index}

        self._synonyms: re.Pattern[str] | None = None
        self._synonym_codes: dict[str, str] = {}
        groups: list[str] = []
        for position, (code, phrases) in enumerate((synonyms or {}).items()):
            phrases = [phrase for phrase in phrases if normalize(phrase).text]
            if not phrases:
                continue
            group = f"s{position}"
            self._synonym_codes[group] = code
            alternatives = "|".join(_synonym_regex(phrase) for phrase in sorted(phrases, key=len, reverse=True))
            groups.append(f"(?P<{group}>{alternatives})")
        if groups:
            self._synonyms = re.compile("|".join(groups))

    def __len__(self) -> int:
        return len(self._items)

    def find(self, text: str, taken: Sequence[tuple[int, int]], found_codes: set[str]) -> list[NameMatch]:
        """Product mentions by synonym or name in normalised `text`, outside the `taken` spans.

        `found_codes` are products already found by code; a weak name match (one word that is not the
        item's head word) is dropped when some other product is named more clearly.
        """
        matches: list[NameMatch] = []
        taken = list(taken)
        if self._synonyms is not None:
            for match in self._synonyms.finditer(text):
                start, end = match.span()
                if not _overlaps(start, end, taken) and match.lastgroup:
                    matches.append(NameMatch(self._synonym_codes[match.lastgroup], start, end,
                                             _SYNONYM_CONFIDENCE, "synonyms", ((start, end),)))
                    taken.append((start, end))
        if not self._items:
            return matches

        clusters: list[list[tuple[int, int, str, dict[str, float]]]] = []
        gap = 0
        tokens = list(_TOKEN.finditer(text))
        for position, token in enumerate(tokens):
            start, end = token.span()
            word = token.group()
            following = tokens[position + 1].group() if position + 1 < len(tokens) else ""
            if following in _PRONOUNS_AFTER_VERB and text[end : tokens[position + 1].start()] in {" ", "-", "- "}:
                gap += 1
                continue
            if _overlaps(start, end, taken):
                gap = _MAX_GAP + 1
                continue
            if word in _BREAKS:
                gap = _MAX_GAP + 1
                continue
            stemmed = stem(word)
            hits = self._hits(stemmed) if len(stemmed) >= 3 and word not in self._stop else None
            if not hits:
                if word not in self._stop:
                    gap += 1
                continue
            punctuation = clusters and clusters[-1] and re.search(r"[,;:!?.+/]", text[clusters[-1][-1][1] : start])
            opens = not clusters or gap > _MAX_GAP or punctuation
            if opens and word in _WOLOF_VERBS and following in _AFTER_WOLOF_VERB:
                gap += 1
                continue
            if opens:
                clusters.append([])
            clusters[-1].append((start, end, stemmed, hits))
            gap = 0

        strong: list[NameMatch] = []
        weak: list[NameMatch] = []
        for cluster in clusters:
            resolved = self._resolve(cluster)
            if resolved is not None:
                match, is_strong = resolved
                (strong if is_strong else weak).append(match)
        named = {match.code for match in strong} | found_codes | {match.code for match in matches}
        for match in weak:
            if not (named - {match.code}):
                strong.append(match)
        seen = {match.code for match in matches} | found_codes
        for match in sorted(strong, key=lambda m: m.start):
            if match.code not in seen:
                seen.add(match.code)
                matches.append(match)
        return matches

    def _hits(self, word: str) -> dict[str, float]:
        """Catalogue words this message word stands for, with a similarity in (0, 1]."""
        if word in self._index:
            return {word: 1.0}
        if word in self._translated:
            return {self._translated[word]: _TRANSLATED}
        if len(word) < _MIN_FUZZY_LENGTH:
            return {}
        return dict(self._close(word))

    def _close_uncached(self, word: str) -> tuple[tuple[str, float], ...]:
        # A verb ending is not a typo: "montrez" / "montrer" are not the watch ("montre").
        if word.endswith(_VERB_ENDINGS):
            return ()
        found = []
        for candidate in self._vocabulary_by_initial.get(word[0], ()):
            if abs(len(candidate) - len(word)) > 2 or len(candidate) < _MIN_FUZZY_LENGTH - 1:
                continue
            matcher = SequenceMatcher(None, word, candidate)
            if matcher.real_quick_ratio() < _FUZZY_RATIO or matcher.quick_ratio() < _FUZZY_RATIO:
                continue
            ratio = matcher.ratio()
            if ratio >= _FUZZY_RATIO:
                found.append((candidate, ratio))
        return tuple(found)

    def _resolve(self, cluster: list[tuple[int, int, str, dict[str, float]]]) -> tuple[NameMatch, bool] | None:
        scores: dict[str, float] = {}
        matched_words: dict[str, set[str]] = {}
        similarity: dict[str, list[float]] = {}
        for _, _, _, hits in cluster:
            best_per_item: dict[str, tuple[float, str, float]] = {}
            for word, ratio in hits.items():
                for code in self._index[word]:
                    score = self._items[code].weights[word] * ratio
                    if score > best_per_item.get(code, (0.0, "", 0.0))[0]:
                        best_per_item[code] = (score, word, ratio)
            for code, (score, word, ratio) in best_per_item.items():
                if word in matched_words.get(code, ()):
                    continue
                scores[code] = scores.get(code, 0.0) + score
                matched_words.setdefault(code, set()).add(word)
                similarity.setdefault(code, []).append(ratio)
        if not scores:
            return None
        ranked = sorted(scores.items(), key=lambda pair: pair[1], reverse=True)
        code, best = ranked[0]
        if len(ranked) > 1 and best < ranked[1][1] * _MARGIN:
            return None
        item = self._items[code]
        words = matched_words[code]
        if not (words - self._generic):
            return None
        is_strong = len(words) > 1 or bool(words & item.heads)
        coverage = min(1.0, sum(item.weights[w] for w in words) / item.total)
        mean_similarity = sum(similarity[code]) / len(similarity[code])
        confidence = round(min(0.95, (0.6 + 0.35 * coverage) * mean_similarity), 2)
        spans = tuple((start, end) for start, end, stemmed, hits in cluster if set(hits) & words)
        return NameMatch(code, spans[0][0], spans[-1][1], confidence, "fuzzy", spans), is_strong


def _synonym_regex(phrase: str) -> str:
    """A vendor phrase as a regex: whole words, each maybe in the plural, any separator between them."""
    words = _TOKEN.findall(normalize(phrase).text)
    return r"(?<!\w)" + r"[ '\-]*".join(re.escape(word) + ("" if word[-1] in "sx" else "[sx]?") for word in words) \
        + r"(?!\w)"


def _overlaps(start: int, end: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(start < other_end and other_start < end for other_start, other_end in spans)
