"""The embedded store's SQLite plumbing: reads, writes in the open transaction, waiting for the group commit."""

from __future__ import annotations

import asyncio
import sqlite3

from storage.sqlite_wal import WalWriter


class SqliteTables:
    """What each part of the embedded store writes through (see `EmbeddedStore` for the guarantees)."""

    _db: sqlite3.Connection | None = None
    _wal: WalWriter | None = None

    def _x(self, sql: str, params: tuple | list = ()) -> sqlite3.Cursor:
        assert self._db is not None, "store not started"
        return self._db.execute(sql, params)

    def _w(self, sql: str, params: tuple | list = ()) -> sqlite3.Cursor:
        assert self._db is not None, "store not started"
        if not self._db.in_transaction:
            self._db.execute("BEGIN")
        return self._db.execute(sql, params)

    def _durable(self) -> asyncio.Future[None]:
        """What to await until every write made so far is committed and durable."""
        assert self._wal is not None, "store not started"
        return self._wal.durable()
