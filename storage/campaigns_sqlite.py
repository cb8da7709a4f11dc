"""Campaigns on SQLite: `campaigns.sqlite3` next to the embedded store, shared by the server and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from storage.campaigns import Body, CampaignStore, Row
from storage.sqlite_file import SqliteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (kind TEXT NOT NULL, key TEXT NOT NULL, vendor TEXT NOT NULL, grp TEXT NOT NULL,
    status TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, key));
CREATE INDEX IF NOT EXISTS docs_vendor ON docs(kind, vendor, key);
CREATE INDEX IF NOT EXISTS docs_group ON docs(kind, grp, status, key);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""
FILE_NAME = "campaigns.sqlite3"
CHUNK = 500  # SQLite's default limit on host parameters is far above this


def _json(body: Body) -> str:
    return body.model_dump_json() if isinstance(body, BaseModel) else json.dumps(body, ensure_ascii=False)


class SqliteCampaignStore(SqliteFile, CampaignStore):
    """`campaigns.sqlite3` in `data_dir`: a write is on disk when its call returns, so a CLI import while
    the server dispatches is safe."""

    file_name, schema = FILE_NAME, SCHEMA

    def _write(self, sql: str, rows: list[tuple]) -> int:
        assert self._db is not None, "campaign store not started"
        if not rows:
            return 0
        self._db.execute("BEGIN IMMEDIATE")
        try:
            before = self._db.total_changes
            self._db.executemany(sql, rows)
            self._db.execute("COMMIT")
            return self._db.total_changes - before
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    async def _get_many(self, kind: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), CHUNK):
            part = unique[i:i + CHUNK]
            rows = self._x(f"SELECT key, body FROM docs WHERE kind = ? AND key IN ({','.join('?' * len(part))})",
                           (kind, *part)).fetchall()
            out.update((k, json.loads(b)) for k, b in rows)
        return out

    async def _put(self, kind: str, rows: list[Row]) -> None:
        self._write("INSERT OR REPLACE INTO docs (kind, key, vendor, grp, status, body) VALUES (?, ?, ?, ?, ?, ?)",
                    [(kind, k, v, g, s, _json(b)) for k, v, g, s, b in rows])

    async def _insert_new(self, kind: str, rows: list[Row]) -> int:
        return self._write("INSERT OR IGNORE INTO docs (kind, key, vendor, grp, status, body) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           [(kind, k, v, g, s, _json(b)) for k, v, g, s, b in rows])

    async def _scan(self, kind: str, *, vendor: str | None = None, group: str | None = None,
                    status: str | None = None, after: str = "", limit: int = 0) -> list[tuple[str, dict[str, Any]]]:
        where, params = ["kind = ?", "key > ?"], [kind, after]
        for column, value in (("vendor", vendor), ("grp", group), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = f"SELECT key, body FROM docs WHERE {' AND '.join(where)} ORDER BY key"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [(k, json.loads(b)) for k, b in self._x(sql, params).fetchall()]

    async def _count(self, kind: str, group: str) -> dict[str, int]:
        rows = self._x("SELECT status, COUNT(*) FROM docs WHERE kind = ? AND grp = ? GROUP BY status",
                       (kind, group)).fetchall()
        return {s: n for s, n in rows}

    async def _swap(self, kind: str, key: str, statuses: Iterable[str], status: str, body: Body) -> bool:
        wanted = list(statuses)
        return self._write(
            "UPDATE docs SET status = ?, body = ? WHERE kind = ? AND key = ? "
            f"AND status IN ({','.join('?' * len(wanted))})",
            [(status, _json(body), kind, key, *wanted)]) == 1

    async def _delete(self, kind: str, key: str) -> bool:
        return self._write("DELETE FROM docs WHERE kind = ? AND key = ?", [(kind, key)]) == 1

    async def _incr(self, key: str, by: int, limit: int | None) -> bool:
        assert self._db is not None, "campaign store not started"
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute("SELECT n FROM counters WHERE key = ?", (key,)).fetchone()
            current = row[0] if row else 0
            if limit is not None and current + by > limit:
                self._db.execute("ROLLBACK")
                return False
            self._db.execute("INSERT INTO counters (key, n) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET n = ?",
                             (key, current + by, current + by))
            self._db.execute("COMMIT")
            return True
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    async def _counter(self, key: str) -> int:
        row = self._x("SELECT n FROM counters WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0
