"""Training data: the built-in examples in intents/data/<locale>.yaml, vendor examples, augmentation.

A data file holds a small training catalogue (so product mentions in the examples become the same
placeholder they become at parse time) and examples per intent:

    catalogue:
      - {code: PERRUQUE1, name: Perruque brésilienne}
    examples:
      buy:
        - jveu PERRUQUE1 stp
        - la perruque brésilienne pour moi

The held-out test split (test_split.yaml) is never read here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import threading
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from intents.classifier import Example, IntentModel, cached_model, train
from intents.clauses import request_part
from intents.encoder import SecondOpinion, bounded
from intents.entities import CatalogueItem
from intents.features import FEATURE_VERSION, classifier_input
from intents.lexicon import INTENTS, LEXICONS, Lexicon
from intents.normalize import normalize
from intents.rules import RuleLayer

DATA_DIR = Path(__file__).resolve().parent / "data"
# Buyers mix French, English and Wolof whatever the vendor's locale, so every locale trains on all of it.
_ALL_TRAINING = ("fr.yaml", "en.yaml", "wo.yaml", "out_of_scope.yaml", "varied.yaml", "assistant.yaml", "wo_more.yaml",
                 "round3.yaml", "round5.yaml", "long_messages.yaml", "round8.yaml",
                 "round10.yaml")
TRAINING_FILES: dict[str, tuple[str, ...]] = {"fr": _ALL_TRAINING, "en": _ALL_TRAINING}
HELD_OUT_FILES = ("test_split.yaml", "test_catalogue.yaml", "thirdparty_eval.yaml")

# Augmentation: a copy of some examples with a greeting in front or politeness behind, so "bjr" or
# "svp" around a request do not pull it towards greet or thanks; and a copy with one typo.
_SEED = 20240611
_PREFIXES = ("bjr ", "bonjour ", "slt ", "salam ", "bonsoir ", "hello ", "asalamalekum ", "cc ")
_SUFFIXES = (" svp", " stp", " 🙏", " merci", " please", " sil vous plait", " 🙏🏾", " !!")
_SOCIAL = frozenset({"greet", "goodbye", "thanks", "affirm", "deny", "out_of_scope"})
_PREFIX_SHARE = 0.25
_SUFFIX_SHARE = 0.2
_TYPO_SHARE = 0.3


def load_data_file(path: Path) -> tuple[list[CatalogueItem], dict[str, list[str]]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with 'catalogue' and 'examples'")
    catalogue = [CatalogueItem(str(item["code"]), str(item["name"])) for item in data.get("catalogue") or ()]
    examples: dict[str, list[str]] = {}
    for intent, texts in (data.get("examples") or {}).items():
        if intent not in INTENTS:
            raise ValueError(f"{path}: unknown intent {intent!r}; known: {', '.join(INTENTS)}")
        examples[intent] = [str(text) for text in texts or ()]
    return catalogue, examples


@cache
def _builtin(language: str) -> tuple[tuple[CatalogueItem, ...], tuple[tuple[str, str], ...], str]:
    """(training catalogue, (intent, text) pairs, digest of the files) for a language."""
    return read_training(DATA_DIR, TRAINING_FILES.get(language, TRAINING_FILES["fr"]))


def read_training(directory: Path, files: Sequence[str]) -> tuple[tuple[CatalogueItem, ...],
                                                                  tuple[tuple[str, str], ...], str]:
    """(catalogue, (intent, text) pairs, digest) of these data files in `directory` (another copy of the data,
    e.g. before a relabelling, is read the same way: intents.crossval.compare_relabel)."""
    catalogue: dict[str, CatalogueItem] = {}
    pairs: list[tuple[str, str]] = []
    digest = hashlib.sha256()
    for name in files:
        path = directory / name
        digest.update(path.read_bytes())
        items, examples = load_data_file(path)
        for item in items:
            catalogue.setdefault(item.code, item)
        pairs.extend((intent, text) for intent, texts in examples.items() for text in texts)
    return tuple(catalogue.values()), tuple(pairs), digest.hexdigest()


def builtin_examples(language: str = "fr") -> list[tuple[str, str]]:
    """Every built-in training example as (intent, text), as written (before augmentation)."""
    return list(_builtin(language)[1])


def builtin_texts(language: str = "fr") -> list[str]:
    """Every built-in training text, as written (before augmentation)."""
    return [text for _, text in builtin_examples(language)]


def _typo(text: str, rng: random.Random) -> str | None:
    words = text.split(" ")
    candidates = [i for i, word in enumerate(words) if len(word) >= 5 and word.isalpha()]
    if not candidates:
        return None
    index = rng.choice(candidates)
    word = words[index]
    position = rng.randrange(1, len(word) - 1)
    if rng.random() < 0.5:
        word = word[:position] + word[position + 1 :]  # a dropped letter
    else:
        word = word[:position] + word[position + 1] + word[position] + word[position + 2 :]  # swapped
    words[index] = word
    return " ".join(words)


def augment(pairs: Sequence[tuple[str, str]], seed: int = _SEED) -> list[tuple[str, str]]:
    out = list(pairs)
    seen: dict[tuple[str, str], int] = {}
    for intent, text in pairs:
        # Each example draws its copies from its own seed: adding, moving or relabelling one example leaves every
        # other example's copies as they were (one shared stream re-drew all that followed, and grouped
        # cross-validation then moved by ±0.005 for a one-line data change: docs/nlu.md, seventh round).
        repeat = seen[(intent, text)] = seen.get((intent, text), -1) + 1
        rng = random.Random(f"{seed}\x1f{intent}\x1f{text}\x1f{repeat}")
        if intent not in _SOCIAL:
            if rng.random() < _PREFIX_SHARE:
                out.append((intent, rng.choice(_PREFIXES) + text))
            if rng.random() < _SUFFIX_SHARE:
                out.append((intent, text + rng.choice(_SUFFIXES)))
        if rng.random() < _TYPO_SHARE:
            typo = _typo(text, rng)
            if typo is not None:
                out.append((intent, typo))
    return out


def examples_from(pairs: Sequence[tuple[str, str]], rules: RuleLayer) -> list[Example]:
    examples = []
    for intent, text in pairs:
        features_text, extras = classifier_input(rules.analyse(text))
        examples.append(Example(features_text, extras, intent))
    return examples


# A vendor's examples count three times, in both models: there are few of them and they are the vendor's words.
VENDOR_WEIGHT = 3


def vendor_first(pairs: Sequence[tuple[str, str]], extra: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The built-in examples less those a vendor example labels otherwise in the same words (case, accents and
    punctuation aside): a microfinance vendor's "ñaata moo des ci sama kont" asks for its balance, where the
    built-in data files it out of scope for a shop, and the vendor's word must win."""
    said = {_word_key(text): intent for intent, text in extra}
    return [(intent, text) for intent, text in pairs if said.get(_word_key(text), intent) == intent]


def _word_key(text: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", normalize(text).text))


def model_for(
    language: str,
    lexicon: Lexicon,
    vendor_examples: Mapping[str, Sequence[str]] | None = None,
    vendor_catalogue: Sequence[CatalogueItem] = (),
    vendor_synonyms: Mapping[str, Sequence[str]] | None = None,
    **settings: Any,
) -> IntentModel:
    """The classifier for a language plus a vendor's own examples, trained once per process and input."""
    catalogue, pairs, digest = _builtin(language)
    extra = [(intent, text) for intent, texts in (vendor_examples or {}).items() for text in texts]
    key = hashlib.sha256(json.dumps({
        "files": digest,
        "code": _code_fingerprint(),
        # the files, not the language: fr and en read the same files, so they share one model
        "training_files": TRAINING_FILES.get(language, TRAINING_FILES["fr"]),
        "features": FEATURE_VERSION,
        "vendor": sorted(extra),
        # Vendor examples are read with the vendor's catalogue and synonyms: part of what was trained on.
        "vendor_catalogue": sorted((item.code, item.name) for item in vendor_catalogue) if extra else [],
        "vendor_synonyms": sorted((code, sorted(p)) for code, p in (vendor_synonyms or {}).items()) if extra else [],
        "settings": sorted(settings.items()),
    }, default=str).encode()).hexdigest()

    def build() -> IntentModel:
        examples = examples_from(augment(vendor_first(pairs, extra)), RuleLayer(catalogue, lexicon))
        if extra:
            if vendor_catalogue:
                vendor_rules = RuleLayer(vendor_catalogue, lexicon, vendor_synonyms)
            else:
                vendor_rules = RuleLayer(catalogue, lexicon)
            examples.extend(examples_from(extra, vendor_rules) * VENDOR_WEIGHT)
        return train(examples, **settings)

    return cached_model(key, build, cache_directory())


def request_rows(pairs: Sequence[tuple[str, str]], rules: RuleLayer) -> list[tuple[int, str]]:
    """(index into pairs, request part) for each long example that has greeting/thanks clauses to drop, as the
    encoder reads it: the second opinion's layer learns "<request>" as well as "Bonjour, <request>. Merci"
    (issue 12's sixth round: +0.002 in grouped cross-validation, three seeds)."""
    rows = []
    for index, (_, text) in enumerate(pairs):
        part = request_part(text, rules)
        if part is not None:
            rows.append((index, bounded(part)))
    return rows


def opinion_for(language: str, vendor_examples: Mapping[str, Sequence[str]] | None = None) -> SecondOpinion:
    """The sentence-encoder second opinion on the built-in examples plus a vendor's, once per process."""
    from intents import encoder

    catalogue, pairs, digest = _builtin(language)
    extra = [(intent, text) for intent, texts in (vendor_examples or {}).items() for text in texts]
    key = hashlib.sha256(json.dumps({"files": digest, "vendor": sorted(extra), "c": encoder.REGULARISATION_C,
                                     "code": _code_fingerprint()}).encode()).hexdigest()
    with _opinion_lock:
        opinion = _opinions.get(key)
        if opinion is None:
            directory = cache_directory()
            # a new process reads the trained layer (no scikit-learn import, no training): start-up stays short
            opinion = encoder.load_opinion(directory / f"opinion-{key}.npz") if directory is not None else None
            if opinion is None:
                rules = RuleLayer(catalogue, LEXICONS.get(language, LEXICONS["fr"]))
                everything = [*vendor_first(pairs, extra), *extra * VENDOR_WEIGHT]
                everything += [(everything[index][0], part) for index, part in request_rows(everything, rules)]
                vectors = encoder.embed_cached([text for _, text in everything], directory)
                opinion = encoder.train_opinion(vectors, [intent for intent, _ in everything])
                if directory is not None:
                    encoder.save_opinion(opinion, directory / f"opinion-{key}.npz")
            _opinions[key] = opinion
        return opinion


_opinions: dict[str, SecondOpinion] = {}
_opinion_lock = threading.Lock()


def cache_directory() -> Path | None:
    """Where trained models are kept between processes: $PALABRE_NLU_CACHE, by default
    ~/.cache/palabre/nlu (or $XDG_CACHE_HOME/palabre/nlu); "off" keeps them in memory only."""
    configured = os.environ.get("PALABRE_NLU_CACHE")
    if configured is not None:
        return None if configured.strip().lower() in {"", "0", "off", "false", "no"} else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "palabre" / "nlu"


# The code a trained model depends on: what the classifier reads and how it is trained.
_MODEL_SOURCES = (
    "normalize.py", "matching.py", "lexicon.py", "when.py", "names.py", "entities.py", "rules.py",
    "features.py", "classifier.py", "training.py", "encoder.py", "spelling.py", "clauses.py",
)


@cache
def _code_fingerprint() -> str:
    """A model trained by other code (rules, features, training) must not be reused: hash that code and
    the scikit-learn version that trained it."""
    digest = hashlib.sha256()
    for name in _MODEL_SOURCES:
        digest.update(name.encode())
        digest.update((Path(__file__).resolve().parent / name).read_bytes())
    with contextlib.suppress(metadata.PackageNotFoundError):
        digest.update(metadata.version("scikit-learn").encode())
    return digest.hexdigest()
