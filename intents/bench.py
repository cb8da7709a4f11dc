"""Parse latency with a 200-product catalogue, and parser construction time: `python -m intents.bench`.

construction_training_s is a parser built with nothing cached (scikit-learn already imported: its import
is reported apart); construction_from_disk_cache_s, a new process's first parser once a model is on
disk; construction_in_process_cache_s, every further vendor's parser.

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

    figures["second_opinion"] = float(parser._opinion is not None)
    for suffix, measured in (("", texts), ("_third_party", [item.text for item in load_items(THIRD_PARTY)])):
        timings = _timings(parser, measured, passes)
        figures[f"parse_ms_p50{suffix}"] = statistics.median(timings)
        figures[f"parse_ms_p99{suffix}"] = timings[int(0.99 * (len(timings) - 1))]
        figures[f"parse_ms_max{suffix}"] = timings[-1]
    return {name: round(value, 4) for name, value in figures.items()}


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
    print(json.dumps(measure(options.products, options.passes), indent=2))


if __name__ == "__main__":
    main()
