"""A store kept in its own SQLite file (WAL, synchronous=FULL), so a CLI may write it while a server runs."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


class SqliteFile:
    """Opens `file_name` in `data_dir` and creates `schema` on start. Each call of a subclass runs its
    statements without an await in between, so it is atomic for this process; writes that must be
    exclusive across processes take SQLite's write lock (`BEGIN IMMEDIATE`)."""

    file_name: str
    schema: str

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self._path = Path(data_dir) / self.file_name
        self._db: sqlite3.Connection | None = None

    async def start(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(self.schema)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _x(self, sql: str, params: tuple | list = ()) -> sqlite3.Cursor:
        assert self._db is not None, f"{self.file_name} is not open: call start() first"
        return self._db.execute(sql, params)
