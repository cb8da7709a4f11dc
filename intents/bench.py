"""Parse latency with a 200-product catalogue, and parser construction time: `python -m intents.bench`.

construction_training_s is a parser built with nothing cached (scikit-learn already imported: its import
is reported apart); construction_from_disk_cache_s, a new process's first parser once a model is on
disk; construction_in_process_cache_s, every further vendor's parser.

startup_*: a new Python process with a warm disk cache imports the parser, builds it and parses one message the
n-gram classifier is unsure of (so the encoder's weights load too when it is installed); peak_rss_mb is that
process's peak resident memory and baseline_rss_mb a bare Python with numpy, for the "+N MB" figure.
consulted_share*: the share of messages for which the sentence encoder was asked.

Texts are the held-out test split's (shop-like traffic), then the third-party evaluation set's (harder text,
where the second opinion is consulted more often); every parse reads its text as new. The catalogue is the
test catalogue plus generated products (families x colours/materials), so names overlap as in a real shop.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from intents.entities import CatalogueItem
from intents.evaluation import DEFAULT_CATALOGUE, load_catalogue, load_items

TEST_SPLIT = Path(__file__).resolve().parent / "data" / "test_split.yaml"
THIRD_PARTY = Path(__file__).resolve().parent / "data" / "thirdparty_eval.yaml"
_FAMILIES = [
    ("PAGNE", "Pagne"), ("JUPE", "Jupe"), ("CHEMISE", "Chemise"), ("PANTALON", "Pantalon"), ("VESTE", "Veste"),
    ("KAFTAN", "Kaftan"), ("BAZIN", "Bazin"), ("SANDALE", "Sandales"), ("BASKET", "Baskets"), ("SACOCHE", "Sacoche"),
    ("COLLIER", "Collier"), ("BRACELET", "Bracelet"), ("CREME", "Crème"), ("SAVON", "Savon"), ("PERRUQUE", "Perruque"),
    ("MECHE", "Mèches"), ("FOULARD", "Foulard"), ("ROBE", "Robe"), ("TSHIRT", "T-shirt"), ("CASQUETTE", "Casquette"),
]
_QUALIFIERS = ["bleu", "noir", "blanc", "vert", "jaune", "en lin", "en coton", "brodé", "wax", "bogolan"]


def catalogue_of(size: int) -> list[CatalogueItem]:
    items = list(load_catalogue(DEFAULT_CATALOGUE).items)
    codes = {item.code for item in items}
    number = 10
    while len(items) < size:
        for code, name in _FAMILIES:
            if len(items) >= size:
                break
            candidate = f"{code}{number}"
            if candidate not in codes:
                codes.add(candidate)
                items.append(CatalogueItem(candidate, f"{name} {_QUALIFIERS[number % len(_QUALIFIERS)]} {number}"))
        number += 1
    return items


def measure(size: int = 200, passes: int = 5) -> dict[str, float]:
    from intents import classifier
    from intents.parser import NluParser

    catalogue = catalogue_of(size)
    texts = [item.text for item in load_items(TEST_SPLIT)]
    figures: dict[str, float] = {"products": len(catalogue), "messages": len(texts) * passes}

    start = time.perf_counter()
    import scipy.sparse  # noqa: F401
    import sklearn.feature_extraction.text
    import sklearn.linear_model  # noqa: F401

    figures["scikit_learn_import_s"] = time.perf_counter() - start
    configured = os.environ.get("PALABRE_NLU_CACHE")
    with tempfile.TemporaryDirectory() as directory:
        os.environ["PALABRE_NLU_CACHE"] = directory
        classifier.clear_cache()
        start = time.perf_counter()
        NluParser(catalogue)
        figures["construction_training_s"] = time.perf_counter() - start
        classifier.clear_cache()
        start = time.perf_counter()
        NluParser(catalogue)
        figures["construction_from_disk_cache_s"] = time.perf_counter() - start
        start = time.perf_counter()
        parser = NluParser(catalogue)
        figures["construction_in_process_cache_s"] = time.perf_counter() - start
    # the new processes below start from the user's own (warm) cache, not the removed temporary one
    if configured is None:
        del os.environ["PALABRE_NLU_CACHE"]
    else:
        os.environ["PALABRE_NLU_CACHE"] = configured

    figures["second_opinion"] = float(parser._opinion is not None)
    for suffix, measured in (("", texts), ("_third_party", [item.text for item in load_items(THIRD_PARTY)])):
        figures[f"consulted_share{suffix}"] = _consulted_share(parser, measured)
        timings = _timings(parser, measured, passes)
        figures[f"parse_ms_p50{suffix}"] = statistics.median(timings)
        figures[f"parse_ms_p99{suffix}"] = timings[int(0.99 * (len(timings) - 1))]
        figures[f"parse_ms_max{suffix}"] = timings[-1]
    return {name: round(value, 4) for name, value in figures.items()}


def _consulted_share(parser: Any, texts: list[str]) -> float:
    """The share of texts for which the second opinion was asked (0 without it)."""
    opinion = parser._opinion
    if opinion is None:
        return 0.0
    asked = 0
    probabilities = opinion.probabilities

    def counted(text: str) -> dict[str, float]:
        nonlocal asked
        asked += 1
        return probabilities(text)

    opinion.probabilities = counted
    try:
        for text in texts:
            parser.parse(text)
    finally:
        del opinion.probabilities
    return asked / len(texts)


# Peak RSS from VmHWM: getrusage's ru_maxrss survives execve, so a child would report its parent's peak.
_PEAK = "print(int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024)"
_NEW_PROCESS = """
import sys, time
start = time.perf_counter()
from intents.bench import catalogue_of
from intents.parser import NluParser
parser = NluParser(catalogue_of(int(sys.argv[1])))
parser.parse("has anything been dispatched to me yet")
print(time.perf_counter() - start)
""" + _PEAK
_BARE = "import numpy\nprint(0)\n" + _PEAK


def new_process(size: int, second_opinion: bool, code: str = _NEW_PROCESS) -> tuple[float, float]:
    """(start-up seconds, peak RSS MB) of a new process building a parser from the warm disk cache."""
    environment = {**os.environ, "PALABRE_NLU_SECOND_OPINION": "on" if second_opinion else "off"}
    out = subprocess.run([sys.executable, "-c", code, str(size)], env=environment, capture_output=True, text=True,
                         check=True, timeout=600).stdout.split()
    return float(out[0]), float(out[1])


def _timings(parser: Any, texts: list[str], passes: int) -> list[float]:
    """Sorted parse times (ms); every parse reads its text as new (no remembered second opinion)."""
    for text in texts:
        parser.parse(text)
    timings = []
    gc.collect()
    for _ in range(passes):
        for text in texts:
            parser.forget()
            begin = time.perf_counter_ns()
            parser.parse(text)
            timings.append((time.perf_counter_ns() - begin) / 1e6)
    timings.sort()
    return timings


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--products", type=int, default=200)
    arguments.add_argument("--passes", type=int, default=5)
    options = arguments.parse_args()
    figures: dict[str, float] = measure(options.products, options.passes)
    new_process(options.products, True)  # the disk cache is warm from here on
    figures["baseline_rss_mb"] = round(new_process(0, False, _BARE)[1], 1)
    for name, second_opinion in (("", True), ("_rules_and_ngrams", False)):
        startup, rss = new_process(options.products, second_opinion)
        figures[f"startup_s{name}"] = round(startup, 3)
        figures[f"peak_rss_mb{name}"] = round(rss, 1)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
