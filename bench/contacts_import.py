"""Import 70 000 contacts (CSV, then .xlsx) into a fresh embedded campaign store; one line of results."""

from __future__ import annotations

import asyncio
import csv
import io
import sys
import tempfile
import time

from bot.campaigns.contacts import import_contacts
from storage.campaigns_sqlite import SqliteCampaignStore

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 70_000


def table() -> list[list[str]]:
    rows = [["phone", "name", "email", "tags", "opt_in", "city"]]
    for i in range(ROWS):
        rows.append([f"77{i:07d}", f"Client {i}", f"c{i}@example.sn" if i % 3 == 0 else "",
                     "vip;dakar" if i % 5 == 0 else "dakar", "oui" if i % 2 else "", "Dakar"])
    return rows


def as_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=";").writerows(rows)
    return out.getvalue().encode()


def as_xlsx(rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def one(data: bytes, name: str) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as d:
        store = SqliteCampaignStore(d)
        await store.start()
        try:
            started = time.perf_counter()
            report = await import_contacts(data, "bench", store, region="SN", filename=name)
            return time.perf_counter() - started, report.created, len(report.rejected)
        finally:
            await store.close()


def main() -> None:
    rows = table()
    csv_s, created, rejected = asyncio.run(one(as_csv(rows), "contacts.csv"))
    xlsx_s, xcreated, _ = asyncio.run(one(as_xlsx(rows), "contacts.xlsx"))
    print(f"contacts_import rows={ROWS} csv={csv_s:.2f}s xlsx={xlsx_s:.2f}s created={created}/{xcreated} "
          f"rejected={rejected} target=<10s {'ok' if max(csv_s, xlsx_s) < 10 else 'SLOW'}")


if __name__ == "__main__":
    main()
