"""MongoStore's catalogue: products and the stock held for orders, each change one conditional update."""

from __future__ import annotations

from collections.abc import Iterable

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from storage.mongo.database import MongoDatabase, insert_new, load_record
from storage.records import Product

# A product's own fields, as a projection (its `held` map left out).
_FIELDS = {name: 1 for name in Product.model_fields}


class StockRecords(MongoDatabase):
    """Products (collection `products`), unique on (vendor_id, code), with their holds."""

    # catalogue and stock
    # A product's holds are a map `held: {hold key: qty}`, not an array of {id, qty}: FerretDB v1 cannot
    # query or $pull through an array of documents ("holds.id", $elemMatch on fields), and a map
    # needs neither on MongoDB either.
    async def ensure_products(self, products: Iterable[Product]) -> None:
        # The unique (vendor_id, code) index turns an existing product into a skipped insert.
        await insert_new(self._products, [{**p.model_dump(mode="json"), "held": {}} for p in products])

    async def _migrate_hold_arrays(self) -> None:
        """Products written by an older version keep their holds in an array: move them to the map."""
        legacy = self._products.find({"holds": {"$exists": True}}, {"holds": 1, "held": 1})
        for doc in await legacy.to_list(None):
            held = dict(doc.get("held") or {})
            held.update({_hold_key(h["id"]): h["qty"] for h in doc["holds"]})
            await self._products.update_one(
                {"_id": doc["_id"]}, {"$set": {"held": held}, "$unset": {"holds": ""}}
            )

    async def get_product(self, vendor_id: str, code: str) -> Product | None:
        doc = await self._products.find_one({"vendor_id": vendor_id, "code": code}, {"held": 0})
        return load_record(Product, doc) if doc else None

    async def get_product_and_hold(self, vendor_id: str, code: str, hold_id: str) -> tuple[Product | None, bool]:
        key = _hold_key(hold_id)
        # Only this hold of the map (a live sale's product holds one entry per buyer who got a unit).
        doc = await self._products.find_one({"vendor_id": vendor_id, "code": code}, {**_FIELDS, f"held.{key}": 1})
        if doc is None:
            return None, False
        return load_record(Product, doc), key in (doc.get("held") or {})

    async def list_products(self, vendor_id: str) -> list[Product]:
        cursor = self._products.find({"vendor_id": vendor_id}, {"held": 0}).sort("_id", ASCENDING)
        return [load_record(Product, d) for d in await cursor.to_list(None)]

    async def set_stock(self, vendor_id: str, code: str, stock: int) -> None:
        await self._products.update_one({"vendor_id": vendor_id, "code": code}, {"$set": {"stock": stock}})

    async def reserve_stock(self, vendor_id: str, code: str, qty: int, hold_id: str) -> bool:
        hold = f"held.{_hold_key(hold_id)}"
        taken = await self._products.update_one(
            {"vendor_id": vendor_id, "code": code, "stock": {"$gte": qty}, hold: {"$exists": False}},
            {"$inc": {"stock": -qty}, "$set": {hold: qty}},
        )
        if taken.modified_count == 1:
            return True
        held = await self._products.find_one(
            {"vendor_id": vendor_id, "code": code, hold: {"$exists": True}}, {"_id": 1}
        )
        return held is not None

    async def release_stock(self, vendor_id: str, code: str, hold_id: str) -> bool:
        key = _hold_key(hold_id)
        doc = await self._products.find_one(
            {"vendor_id": vendor_id, "code": code, f"held.{key}": {"$exists": True}}, {"held": 1}
        )
        if doc is None:
            return False
        qty = doc["held"][key]
        # Matching the hold itself makes a concurrent second release (or consume) find nothing.
        result = await self._products.update_one(
            {"vendor_id": vendor_id, "code": code, f"held.{key}": qty},
            {"$inc": {"stock": qty}, "$unset": {f"held.{key}": ""}},
        )
        return result.modified_count == 1

    async def consume_hold(self, vendor_id: str, code: str, hold_id: str) -> bool:
        hold = f"held.{_hold_key(hold_id)}"
        result = await self._products.update_one(
            {"vendor_id": vendor_id, "code": code, hold: {"$exists": True}}, {"$unset": {hold: ""}}
        )
        return result.modified_count == 1

    async def sync_products(self, products: Iterable[Product]) -> None:
        for p in products:
            details = p.model_dump(mode="json", exclude={"stock"})
            query = {"vendor_id": p.vendor_id, "code": p.code}
            update = {"$set": details, "$setOnInsert": {"stock": p.stock, "held": {}}}
            try:
                await self._products.update_one(query, update, upsert=True)
            except DuplicateKeyError:
                # Another process inserted it between our match and our insert: now it matches.
                await self._products.update_one(query, update, upsert=True)


def _hold_key(hold_id: str) -> str:
    """A hold id as a field name: no `.` (a path separator) and no leading `$` (an operator)."""
    return hold_id.replace("%", "%25").replace(".", "%2E").replace("$", "%24")

