"""MongoStore's commerce records: orders, payments, and the documents (quotes) sent by link."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import TypeAdapter
from pymongo import ASCENDING, ReturnDocument

from storage.mongo.database import MongoDatabase, load_record, record_doc
from storage.records import Document, Order, OrderStatus, Payment


class OrderRecords(MongoDatabase):
    """Orders, payments and documents (collections of the same names); a status change is one conditional update."""

    # orders and payments
    async def save_order(self, order: Order) -> None:
        await self._orders.replace_one({"_id": order.id}, record_doc(order), upsert=True)

    async def get_order(self, order_id: str) -> Order | None:
        doc = await self._orders.find_one({"_id": order_id})
        return load_record(Order, doc) if doc else None

    async def buyer_orders(self, vendor_id: str, address: str, limit: int = 1000) -> list[Order]:
        cursor = self._orders.find({"vendor_id": vendor_id, "contact.address": address})
        recent = [load_record(Order, d) async for d in cursor.sort("created_at", -1).limit(limit)]
        return recent[::-1]

    async def vendor_orders(self, vendor_id: str, since: float = 0.0, limit: int = 100_000) -> list[Order]:
        cursor = self._orders.find({"vendor_id": vendor_id, "created_at": {"$gte": since}})
        recent = [load_record(Order, d) async for d in cursor.sort("created_at", -1).limit(limit)]
        return recent[::-1]

    async def vendor_paid_totals(self, vendor_id: str, since: float = 0.0) -> tuple[int, int]:
        # two fields per order rather than $group/$multiply, which FerretDB v1 does not run
        cursor = self._orders.find({"vendor_id": vendor_id, "created_at": {"$gte": since}, "status": "paid"},
                                   {"_id": 0, "unit_price": 1, "quantity": 1})
        count = revenue = 0
        async for d in cursor:
            count, revenue = count + 1, revenue + int(d["unit_price"]) * int(d["quantity"])
        return count, revenue

    async def transition_order(
        self, order_id: str, from_statuses: Iterable[OrderStatus], to_status: OrderStatus, **fields: object
    ) -> Order | None:
        changes = {**_order_fields(fields), "status": to_status}
        doc = await self._orders.find_one_and_update(
            {"_id": order_id, "status": {"$in": list(from_statuses)}},
            {"$set": changes},
            return_document=ReturnDocument.AFTER,
        )
        return load_record(Order, doc) if doc else None

    async def save_payment(self, payment: Payment) -> None:
        await self._payments.replace_one({"_id": payment.id}, record_doc(payment), upsert=True)

    async def get_payment(self, payment_id: str) -> Payment | None:
        doc = await self._payments.find_one({"_id": payment_id})
        return load_record(Payment, doc) if doc else None

    async def pending_payments(self, created_before: float, limit: int = 100, status: str = "pending"
                               ) -> list[Payment]:
        cursor = self._payments.find({"status": status, "created_at": {"$lt": created_before}})
        return [load_record(Payment, d) async for d in cursor.sort("created_at", ASCENDING).limit(limit)]

    async def transition_payment(self, payment_id: str, from_status: str, to_status: str) -> Payment | None:
        doc = await self._payments.find_one_and_update(
            {"_id": payment_id, "status": from_status},
            {"$set": {"status": to_status}},
            return_document=ReturnDocument.AFTER,
        )
        return load_record(Payment, doc) if doc else None

    # documents
    async def save_document(self, document: Document) -> None:
        doc = {**document.model_dump(exclude={"body"}), "body": document.body, "_id": document.id}
        await self._db.get_collection("documents").replace_one({"_id": document.id}, doc, upsert=True)

    async def get_document(self, document_id: str) -> Document | None:
        doc = await self._db.get_collection("documents").find_one({"_id": document_id})
        if doc is None:
            return None
        doc.pop("_id", None)
        return Document.model_validate({**doc, "body": bytes(doc["body"])})


def _order_fields(fields: Mapping[str, object]) -> dict[str, Any]:
    """Validate extra order fields before they reach the database, as JSON-ready values.

    The update is applied server-side, so a bad value would otherwise be stored and only
    fail when the order is next read.
    """
    out: dict[str, Any] = {}
    for name, value in fields.items():
        field = Order.model_fields.get(name)
        if field is None or name == "id":
            raise TypeError(f"transition_order cannot set {name!r}")
        adapter: TypeAdapter[Any] = TypeAdapter(field.annotation)
        out[name] = adapter.dump_python(adapter.validate_python(value), mode="json")
    return out
