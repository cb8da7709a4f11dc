"""One complementary product after a payment, with the reason it was chosen.

First choice: the product most often bought by the vendor's other buyers who also bought this one
(distinct buyers, over the last 90 days); else a product sharing a catalogue tag with it. Never the
product just bought, one the buyer already bought, or one out of stock.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal
from weakref import WeakKeyDictionary

from storage import Order, Product, Store

WINDOW_S = 90 * 24 * 3600  # what "bought together" reads: recent habits, and a bounded scan
CACHE_S = 600.0
_BASKETS: WeakKeyDictionary[Store, dict[str, tuple[float, dict[str, set[str]]]]] = WeakKeyDictionary()
BOUGHT = ("paid",)

Reason = Literal["bought_together", "same_tag"]


@dataclass(frozen=True)
class Suggestion:
    product: Product
    reason: Reason
    buyers: int = 0  # bought_together: how many other buyers bought both
    tag: str | None = None  # same_tag: the tag the two products share


def baskets_of(orders: Iterable[Order]) -> dict[str, set[str]]:
    """Buyer address -> the product codes they paid for."""
    baskets: dict[str, set[str]] = defaultdict(set)
    for order in orders:
        if order.status in BOUGHT:
            baskets[order.contact.address].add(order.product_code)
    return dict(baskets)


def rank(paid_code: str, buyer: str, orders: Iterable[Order], products: Mapping[str, Product],
         tags: Mapping[str, Iterable[str]], owned: Iterable[str] = ()) -> Suggestion | None:
    """The suggestion for `buyer` who just paid for `paid_code`, from the vendor's orders and catalogue;
    `owned`: what the buyer bought before, however long ago."""
    return rank_baskets(paid_code, buyer, baskets_of(orders), products, tags, owned)


def rank_baskets(paid_code: str, buyer: str, baskets: Mapping[str, set[str]], products: Mapping[str, Product],
                 tags: Mapping[str, Iterable[str]], owned: Iterable[str] = ()) -> Suggestion | None:
    own = baskets.get(buyer, set()) | {paid_code, *owned}

    def offerable(code: str) -> bool:
        product = products.get(code)
        return product is not None and product.stock > 0 and code not in own

    together = Counter(code for who, basket in baskets.items() if who != buyer and paid_code in basket
                       for code in basket)
    for code, count in sorted(together.items(), key=lambda kv: (-kv[1], kv[0])):
        if offerable(code):
            return Suggestion(products[code], "bought_together", buyers=count)
    wanted = list(dict.fromkeys(tags.get(paid_code, ())))
    best: tuple[int, str, str] | None = None  # (shared tags, code, first shared tag)
    for code, product_tags in tags.items():  # catalogue order breaks ties: the vendor's own ranking
        shared = [t for t in wanted if t in product_tags]
        if shared and offerable(code) and (best is None or len(shared) > best[0]):
            best = (len(shared), code, shared[0])
    return Suggestion(products[best[1]], "same_tag", tag=best[2]) if best else None


async def complementary(store: Store, vendor_id: str, buyer: str, paid_code: str, now: float,
                        tags: Mapping[str, Iterable[str]], owned: Iterable[str] = ()) -> Suggestion | None:
    """`rank` over the vendor's last 90 days of orders (read at most every 10 minutes per process: habits
    do not change faster, and a large vendor's scan costs ~40 ms per 5 000 orders) and its stock now."""
    cache = _BASKETS.setdefault(store, {})
    fetched_at, baskets = cache.get(vendor_id, (None, {}))
    if fetched_at is None or not 0 <= now - fetched_at < CACHE_S:
        baskets = baskets_of(await store.vendor_orders(vendor_id, since=now - WINDOW_S))
        cache[vendor_id] = (now, baskets)
    # bookable slots of a service are products too (bot/commerce/booking.py): never suggested
    products = {p.code: p for p in await store.list_products(vendor_id) if "@" not in p.code}
    return rank_baskets(paid_code, buyer, baskets, products, tags, owned)


__all__ = ["Suggestion", "complementary", "rank"]
