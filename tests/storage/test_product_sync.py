"""`sync_products` in every store: the vendor file's names and prices win, the store's stock stays."""

from __future__ import annotations

from storage import Product, Store
from tests.storage.test_store_contract import store

__all__ = ["store"]  # the contract suite's fixture: one run per backend


async def test_syncing_the_catalogue_updates_details_adds_new_products_and_keeps_stock(store: Store) -> None:
    await store.sync_products([Product(vendor_id="v", code="ROBE1", name="Robe", price=15000, stock=5)])
    assert await store.reserve_stock("v", "ROBE1", 2, "hold-1")
    await store.sync_products([
        Product(vendor_id="v", code="ROBE1", name="Robe Wax", price=17500, stock=99, description="Coton"),
        Product(vendor_id="v", code="SAC2", name="Sac", price=8000, stock=4),
    ])
    robe, sac = await store.get_product("v", "ROBE1"), await store.get_product("v", "SAC2")
    assert robe == Product(vendor_id="v", code="ROBE1", name="Robe Wax", price=17500, stock=3, description="Coton")
    assert sac is not None and sac.stock == 4
    assert await store.release_stock("v", "ROBE1", "hold-1")  # the hold survived the sync
    robe = await store.get_product("v", "ROBE1")
    assert robe is not None and robe.stock == 5
