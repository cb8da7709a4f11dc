"""The catalogue by the vendor: restock, reprice, add and withdraw products, and how that combines with
the vendor file (a change stands until the file itself says something new about that product)."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any

from bot.vendors import Vendor
from intents import CatalogueItem, NluParser
from storage import Product, Store
from storage.live import CatalogueChange, LiveStore

log = logging.getLogger("palabre.live")


class CatalogueError(Exception):
    """A change that cannot be made: `problem` (unknown_product, exists, removed) and the code concerned."""

    def __init__(self, problem: str, code: str) -> None:
        super().__init__(f"{problem}: {code}")
        self.problem, self.code = problem, code


def _file_entry(vendor: Vendor, code: str) -> tuple[bool, str | None, int | None]:
    """What the vendor file says of a product now: (listed, name, price)."""
    for spec in vendor.config.catalogue:
        if spec.code == code:
            return True, spec.name, spec.price
    return False, None, None


class VendorCatalogue:
    """Catalogue changes made by the vendor, applied to the store and remembered in the live store.

    Stock is the store's, as before: STOCK sets it. A new price or name, an added or a withdrawn product is
    also kept as a `CatalogueChange` with the file's values at that moment, so `reconcile` can put it back
    after a start-up or reload rewrote the file's names and prices — unless the file changed them since.
    """

    def __init__(self, store: Store, live: LiveStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.live = live
        self.clock = clock
        self._nlu_built: dict[str, tuple[weakref.ref[Vendor], tuple[frozenset[tuple[str, str]], frozenset[str]]]] = {}

    async def _change(self, vendor: Vendor, code: str) -> CatalogueChange:
        for change in await self.live.changes(vendor.id):
            if change.code == code:
                return change
        listed, name, price = _file_entry(vendor, code)
        return CatalogueChange(vendor_id=vendor.id, code=code, in_file=listed, file_name=name, file_price=price)

    async def _on_sale(self, vendor: Vendor, code: str) -> tuple[Product, CatalogueChange]:
        product = await self.store.get_product(vendor.id, code)
        change = await self._change(vendor, code)
        if product is None or "@" in code:  # a bookable slot (bot/commerce/booking.py) is not a product
            raise CatalogueError("unknown_product", code)
        if change.removed:
            raise CatalogueError("removed", code)
        return product, change

    async def _remember(self, change: CatalogueChange, by: str) -> None:
        await self.live.save_change(change.model_copy(update={"at": self.clock(), "by": by}))

    async def set_stock(self, vendor: Vendor, code: str, stock: int) -> Product:
        await self._on_sale(vendor, code)
        await self.store.set_stock(vendor.id, code, stock)
        return await self._fresh(vendor, code)

    async def update(self, vendor: Vendor, code: str, by: str, *, price: int | None = None,
                     name: str | None = None) -> tuple[Product, Product]:
        """A new price and/or name: (the product before, after)."""
        before, change = await self._on_sale(vendor, code)
        fields: dict[str, Any] = {k: v for k, v in (("price", price), ("name", name)) if v is not None}
        await self._remember(change.model_copy(update=fields), by)
        await self.store.sync_products([before.model_copy(update=fields)])
        return before, await self._fresh(vendor, code)

    async def add(self, vendor: Vendor, code: str, name: str, price: int, stock: int, by: str) -> Product:
        existing = await self.store.get_product(vendor.id, code)
        change = await self._change(vendor, code)
        if "@" in code or (existing is not None and not change.removed):
            raise CatalogueError("exists", code)
        product = Product(vendor_id=vendor.id, code=code, name=name, price=price, stock=stock)
        await self._remember(change.model_copy(update={"name": name, "price": price, "removed": False,
                                                       "added": not change.in_file}), by)
        await self.store.sync_products([product])
        await self.store.set_stock(vendor.id, code, stock)
        await self.reconcile(vendor)  # buyers can name it at once: the NLU learns the code
        return await self._fresh(vendor, code)

    async def remove(self, vendor: Vendor, code: str, by: str) -> Product:
        """Withdraw a product: no stock on sale and refused until added again; its orders stay as they are."""
        product, change = await self._on_sale(vendor, code)
        await self._remember(change.model_copy(update={"removed": True}), by)
        await self.store.set_stock(vendor.id, code, 0)
        await self.reconcile(vendor)  # off the menu at once
        return product

    async def _fresh(self, vendor: Vendor, code: str) -> Product:
        product = await self.store.get_product(vendor.id, code)
        if product is None:
            raise CatalogueError("unknown_product", code)
        return product

    async def removed(self, vendor_id: str) -> set[str]:
        return {c.code for c in await self.live.changes(vendor_id) if c.removed}

    async def listing(self, vendor: Vendor) -> list[dict[str, Any]]:
        """Every product with where its values come from: the file, or the vendor's change."""
        changes = {c.code: c for c in await self.live.changes(vendor.id)}
        out = []
        for p in await self.store.list_products(vendor.id):
            if "@" in p.code:
                continue
            change = changes.get(p.code)
            out.append({"code": p.code, "name": p.name, "price": p.price, "stock": p.stock,
                        "removed": bool(change and change.removed),
                        "source": "vendor" if change is not None else "file"})
        return out

    async def reconcile(self, vendor: Vendor) -> None:
        """Put the vendor's changes back over what a start-up or reload wrote from the file, drop those the
        file has overtaken, keep withdrawn products at no stock (a released reservation gives units back),
        and let the NLU know the codes the vendor added."""
        added: set[tuple[str, str]] = set()
        removed: set[str] = set()
        for change in await self.live.changes(vendor.id):
            if _file_entry(vendor, change.code) != (change.in_file, change.file_name, change.file_price):
                await self.live.drop_change(vendor.id, change.code)  # the file is the newer word
                log.info("vendor=%s product=%s: the vendor file changed it; its values apply", vendor.id, change.code)
                continue
            product = await self.store.get_product(vendor.id, change.code)
            if product is None:
                continue
            if change.removed:
                removed.add(change.code)
                if product.stock > 0:
                    await self.store.set_stock(vendor.id, change.code, 0)
                continue
            wanted = {k: v for k, v in (("name", change.name), ("price", change.price)) if v is not None}
            if any(getattr(product, k) != v for k, v in wanted.items()):
                await self.store.sync_products([product.model_copy(update=wanted)])
            if change.added:
                added.add((change.code, change.name or product.name))
        await self._teach_nlu(vendor, frozenset(added), frozenset(removed))

    async def _teach_nlu(self, vendor: Vendor, added: frozenset[tuple[str, str]], removed: frozenset[str]) -> None:
        """Rebuild the vendor's NLU with the products the vendor added and without those withdrawn, when that
        changed (off the event loop: training takes a moment). The catalogue buyers see lists what the NLU
        names (`Vendor.lists`), so a withdrawn product leaves the menu as a product dropped from the file does."""
        built = self._nlu_built.get(vendor.id)
        # a Vendor object not taught here (a fresh start or reload) knows the codes of its file only
        known = built[1] if built is not None and built[0]() is vendor else (frozenset(), frozenset())
        if known == (added, removed):
            return
        cfg = vendor.config
        items = [CatalogueItem(code=p.code, name=p.name) for p in cfg.catalogue if p.code not in removed] + \
            [CatalogueItem(code=code, name=name) for code, name in sorted(added) if code not in removed]
        vendor.nlu = await asyncio.to_thread(NluParser, items, locale=cfg.locale, examples=cfg.nlu.examples,
                                             synonyms=cfg.nlu.synonyms, threshold=cfg.nlu.threshold)
        self._nlu_built[vendor.id] = (weakref.ref(vendor), (added, removed))
