"""The embedded store's catalogue and stock holds, provider accounts, orders, payments and documents."""

from __future__ import annotations

import json
from collections.abc import Iterable

from storage.embedded_tables import SqliteTables
from storage.records import ChannelAccount, Document, Order, OrderStatus, Payment, Product

# The row's body is the product without its stock; SQLite splices the stock column in, so the JSON is parsed once.
_JSON = "json_set(body, '$.stock', stock)"
_PRODUCT = f"SELECT {_JSON} FROM products WHERE vendor = ? AND code = ?"
_PRODUCT_AND_HOLD = (f"SELECT {_JSON}, EXISTS (SELECT 1 FROM holds WHERE id = ? AND vendor = ? AND code = ?) "
                     "FROM products WHERE vendor = ? AND code = ?")


class CommerceTables(SqliteTables):
    """Every statement sequence runs without an await, so it is atomic for the store's one process."""

    # catalogue and stock
    async def ensure_products(self, products: Iterable[Product]) -> None:
        for p in products:
            self._w(
                "INSERT OR IGNORE INTO products (vendor, code, stock, body) VALUES (?, ?, ?, ?)",
                (p.vendor_id, p.code, p.stock, p.model_dump_json(exclude={"stock"})),
            )
        await self._durable()

    async def get_product(self, vendor_id: str, code: str) -> Product | None:
        row = self._x(_PRODUCT, (vendor_id, code)).fetchone()
        return Product.model_validate_json(row[0]) if row else None

    async def get_product_and_hold(self, vendor_id: str, code: str, hold_id: str) -> tuple[Product | None, bool]:
        row = self._x(_PRODUCT_AND_HOLD, (hold_id, vendor_id, code, vendor_id, code)).fetchone()
        return (Product.model_validate_json(row[0]), bool(row[1])) if row else (None, False)

    async def list_products(self, vendor_id: str) -> list[Product]:
        rows = self._x(
            f"SELECT {_JSON} FROM products WHERE vendor = ? ORDER BY rowid", (vendor_id,)
        ).fetchall()
        return [Product.model_validate_json(r[0]) for r in rows]

    async def set_stock(self, vendor_id: str, code: str, stock: int) -> None:
        self._w("UPDATE products SET stock = ? WHERE vendor = ? AND code = ?", (stock, vendor_id, code))
        await self._durable()

    async def reserve_stock(self, vendor_id: str, code: str, qty: int, hold_id: str) -> bool:
        if self._x("SELECT 1 FROM holds WHERE id = ? AND vendor = ? AND code = ?",
                   (hold_id, vendor_id, code)).fetchone():
            await self._durable()
            return True
        cur = self._w(
            "UPDATE products SET stock = stock - ? WHERE vendor = ? AND code = ? AND stock >= ?",
            (qty, vendor_id, code, qty),
        )
        if cur.rowcount != 1:
            return False
        self._w("INSERT INTO holds (id, vendor, code, qty) VALUES (?, ?, ?, ?)", (hold_id, vendor_id, code, qty))
        await self._durable()
        return True

    async def release_stock(self, vendor_id: str, code: str, hold_id: str) -> bool:
        row = self._x("SELECT qty FROM holds WHERE id = ? AND vendor = ? AND code = ?",
                      (hold_id, vendor_id, code)).fetchone()
        if row is None:
            return False
        self._w("DELETE FROM holds WHERE id = ? AND vendor = ? AND code = ?", (hold_id, vendor_id, code))
        self._w("UPDATE products SET stock = stock + ? WHERE vendor = ? AND code = ?", (row[0], vendor_id, code))
        await self._durable()
        return True

    async def consume_hold(self, vendor_id: str, code: str, hold_id: str) -> bool:
        cur = self._w("DELETE FROM holds WHERE id = ? AND vendor = ? AND code = ?", (hold_id, vendor_id, code))
        await self._durable()
        return cur.rowcount == 1

    # provider accounts
    async def save_channel_account(self, account: ChannelAccount) -> None:
        self._w("INSERT OR REPLACE INTO channel_accounts (provider, vendor, body) VALUES (?, ?, ?)",
                (account.provider, account.vendor_id, account.model_dump_json()))
        await self._durable()

    async def channel_accounts(self, provider: str | None = None) -> list[ChannelAccount]:
        if provider is None:
            rows = self._x("SELECT body FROM channel_accounts ORDER BY provider, vendor").fetchall()
        else:
            rows = self._x(
                "SELECT body FROM channel_accounts WHERE provider = ? ORDER BY vendor", (provider,)
            ).fetchall()
        return [ChannelAccount.model_validate_json(r[0]) for r in rows]

    # orders and payments
    async def save_order(self, order: Order) -> None:
        self._w("INSERT OR REPLACE INTO orders (id, status, body) VALUES (?, ?, ?)",
                (order.id, order.status, order.model_dump_json()))
        await self._durable()

    async def get_order(self, order_id: str) -> Order | None:
        row = self._x("SELECT body FROM orders WHERE id = ?", (order_id,)).fetchone()
        return Order.model_validate_json(row[0]) if row else None

    async def buyer_orders(self, vendor_id: str, address: str, limit: int = 1000) -> list[Order]:
        rows = self._x("SELECT body FROM orders WHERE json_extract(body, '$.vendor_id') = ? "
                       "AND json_extract(body, '$.contact.address') = ?", (vendor_id, address)).fetchall()
        orders = sorted((Order.model_validate_json(r[0]) for r in rows), key=lambda o: o.created_at)
        return orders[-limit:]

    async def vendor_orders(self, vendor_id: str, since: float = 0.0, limit: int = 100_000) -> list[Order]:
        rows = self._x("SELECT body FROM orders WHERE json_extract(body, '$.vendor_id') = ? "
                       "AND json_extract(body, '$.created_at') >= ? "
                       "ORDER BY json_extract(body, '$.created_at') DESC LIMIT ?", (vendor_id, since, limit)).fetchall()
        return [Order.model_validate_json(r[0]) for r in reversed(rows)]

    async def vendor_paid_totals(self, vendor_id: str, since: float = 0.0) -> tuple[int, int]:
        row = self._x("SELECT COUNT(*), COALESCE(SUM(json_extract(body, '$.unit_price') * "
                      "json_extract(body, '$.quantity')), 0) FROM orders WHERE json_extract(body, '$.vendor_id') = ? "
                      "AND json_extract(body, '$.created_at') >= ? AND status = 'paid'", (vendor_id, since)).fetchone()
        return int(row[0]), int(row[1])

    async def transition_order(
        self, order_id: str, from_statuses: Iterable[OrderStatus], to_status: OrderStatus, **fields: object
    ) -> Order | None:
        row = self._x("SELECT body FROM orders WHERE id = ?", (order_id,)).fetchone()
        if row is None:
            return None
        order = Order.model_validate_json(row[0])
        if order.status not in set(from_statuses):
            return None
        order = order.model_copy(update={**fields, "status": to_status})
        self._w("UPDATE orders SET status = ?, body = ? WHERE id = ?",
                (to_status, order.model_dump_json(), order_id))
        await self._durable()
        return order

    async def save_payment(self, payment: Payment) -> None:
        self._w("INSERT OR REPLACE INTO payments (id, status, body) VALUES (?, ?, ?)",
                (payment.id, payment.status, payment.model_dump_json()))
        await self._durable()

    async def get_payment(self, payment_id: str) -> Payment | None:
        row = self._x("SELECT body FROM payments WHERE id = ?", (payment_id,)).fetchone()
        return Payment.model_validate_json(row[0]) if row else None

    async def pending_payments(self, created_before: float, limit: int = 100, status: str = "pending"
                               ) -> list[Payment]:
        rows = self._x("SELECT body FROM payments WHERE status = ?", (status,)).fetchall()
        pending = sorted((Payment.model_validate_json(r[0]) for r in rows), key=lambda p: p.created_at)
        return [p for p in pending if p.created_at < created_before][:limit]

    async def transition_payment(self, payment_id: str, from_status: str, to_status: str) -> Payment | None:
        payment = await self.get_payment(payment_id)
        if payment is None or payment.status != from_status:
            return None
        payment = payment.model_copy(update={"status": to_status})
        self._w("UPDATE payments SET status = ?, body = ? WHERE id = ?",
                (to_status, payment.model_dump_json(), payment_id))
        await self._durable()
        return payment

    # documents
    async def save_document(self, document: Document) -> None:
        # Created on first use, like dead_letters: data folders made by older versions gain it too.
        self._x("CREATE TABLE IF NOT EXISTS documents (id TEXT PRIMARY KEY, body BLOB NOT NULL, meta TEXT NOT NULL)")
        self._w("INSERT OR REPLACE INTO documents (id, body, meta) VALUES (?, ?, ?)",
                (document.id, document.body, document.model_dump_json(exclude={"body"})))
        await self._durable()

    async def get_document(self, document_id: str) -> Document | None:
        self._x("CREATE TABLE IF NOT EXISTS documents (id TEXT PRIMARY KEY, body BLOB NOT NULL, meta TEXT NOT NULL)")
        row = self._x("SELECT body, meta FROM documents WHERE id = ?", (document_id,)).fetchone()
        if row is None:
            return None
        return Document.model_validate({**json.loads(row[1]), "body": bytes(row[0])})

    async def sync_products(self, products: Iterable[Product]) -> None:
        for p in products:
            self._w(
                "INSERT INTO products (vendor, code, stock, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (vendor, code) DO UPDATE SET body = excluded.body",
                (p.vendor_id, p.code, p.stock, p.model_dump_json(exclude={"stock"})),
            )
        await self._durable()
