"""The CSV import of vendors' WhatsApp numbers (Wasender): reading the file, checking each row, saving accounts."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from pydantic import ValidationError

from bot.vendors import Vendor
from channels import wasender
from storage import ChannelAccount, Store

log = logging.getLogger("palabre.numbers")

PROVIDER = "wasender"
COLUMNS = ("vendorId", "businessName", "phoneNumber", "wasenderInstanceId", "wasenderWebhookSecret",
           "wasenderApiKey")
MAX_ROWS = 10_000
MAX_BYTES = 4 * 1024 * 1024  # 10 000 rows with long keys fit several times over
DEFAULT_REGION = "SN"  # numbers written without a country code are Senegalese
PROGRESS_EVERY = 1000
# French spreadsheet software writes "CSV" with semicolons; the header tells which one the file uses.
DELIMITERS = (",", ";", "\t")
# Config fields as the CSV names them, so that a reason points at the column to fix.
FIELD_COLUMNS = {"phone_number": "phoneNumber", "instance_id": "wasenderInstanceId",
                 "webhook_secret": "wasenderWebhookSecret", "api_key": "wasenderApiKey"}
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")


class CsvInvalid(ValueError):
    """The file as a whole cannot be imported: not CSV text, a column missing, too large."""


@dataclass(frozen=True)
class Rejected:
    """A row left out of the import, and why (never with the row's secrets)."""

    line: int
    vendor_id: str
    reason: str


@dataclass
class ImportReport:
    """What an import did. `accounts` holds the saved accounts, secrets included: never print or log it."""

    imported: int = 0
    updated: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    accounts: list[ChannelAccount] = field(default_factory=list, repr=False)

    def as_json(self) -> dict[str, Any]:
        return {"imported": self.imported, "updated": self.updated,
                "rejected": [{"line": r.line, "vendorId": r.vendor_id, "reason": r.reason} for r in self.rejected]}


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report (as `ImportReport.as_json` gives it) as lines for a terminal."""
    rejected = report.get("rejected") or []
    lines = [f"imported {report.get('imported', 0)}, updated {report.get('updated', 0)}, rejected {len(rejected)}"]
    lines += [f"  line {r.get('line')} ({r.get('vendorId') or '?'}): {r.get('reason')}" for r in rejected]
    return lines


# reading the file


def _header(cells: list[str]) -> dict[str, int]:
    """Column name -> index, matching names case-insensitively; extra columns are ignored."""
    wanted = {c.lower(): c for c in COLUMNS}
    index: dict[str, int] = {}
    for i, cell in enumerate(cells):
        name = wanted.get(cell.strip().lower())
        if name is not None and name not in index:
            index[name] = i
    return index


def read_rows(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """(line number, {column: stripped value}) for every non-blank row; CsvInvalid when the file is unusable."""
    if len(data) > MAX_BYTES:
        raise CsvInvalid(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it")
    if b"\x00" in data:
        raise CsvInvalid("this is not a CSV text file (it contains binary data)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvInvalid("the file is not UTF-8 text: save the CSV as UTF-8") from None
    first = next((line for line in text.splitlines() if line.strip()), None)
    if first is None:
        raise CsvInvalid("the file is empty")
    candidates = [(_header(next(csv.reader([first], delimiter=d))), d) for d in DELIMITERS]
    header, delimiter = max(candidates, key=lambda c: len(c[0]))
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise CsvInvalid(f"missing column(s) {', '.join(missing)}: the first line must name "
                         f"{','.join(COLUMNS)}")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, dict[str, str]]] = []
    seen_header = False
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if not seen_header:
                seen_header = True
                continue
            if len(rows) >= MAX_ROWS:
                raise CsvInvalid(f"more than {MAX_ROWS} rows: split the file")
            rows.append((reader.line_num, {name: cells[i].strip() if i < len(cells) else ""
                                           for name, i in header.items()}))
    except csv.Error as exc:
        raise CsvInvalid(f"line {reader.line_num}: not valid CSV ({exc})") from None
    return rows


# checking rows


def normalise_phone(value: str) -> str | None:
    """A WhatsApp number in E.164 ('77 000 11 22', '221770001122', '+221 77…' → '+221770001122'), or None."""
    text = value.strip()
    if not text:
        return None
    candidates = [text]
    digits = _PHONE_PUNCTUATION.sub("", text)
    if digits.isascii() and digits.isdigit() and not digits.startswith("0"):
        candidates.append("+" + digits)  # the country code without its '+', as Wasender writes numbers
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, DEFAULT_REGION)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def _shown_id(value: str) -> str:
    # A cell in the wrong column could hold a key: only something shaped like an id is echoed back.
    return value if _SAFE_ID.match(value) else ""


def _invalid(exc: ValidationError) -> str:
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        if name == "phone_number":
            return "invalid phone number"
        # hide_input_in_errors keeps the value out of the message: only the rule is said.
        return f"{FIELD_COLUMNS.get(name, name or 'row')}: {error['msg']}"
    return "invalid row"


def _check(cells: dict[str, str], vendors: dict[str, Vendor], imported: Collection[str]) -> str | wasender.Config:
    """The row's Wasender settings, or the reason it is refused."""
    vendor_id = cells["vendorId"]
    vendor = vendors.get(vendor_id)
    if vendor is None:
        return "unknown vendor" if vendor_id else "missing vendorId"
    if vendor.config.channels.get(PROVIDER) is not None and vendor_id not in imported:
        return "the vendor's YAML has a channels.wasender block, which wins over imported numbers"
    phone = normalise_phone(cells["phoneNumber"])
    if phone is None:
        return "invalid phone number"
    for column in ("wasenderInstanceId", "wasenderWebhookSecret", "wasenderApiKey"):
        if not cells[column]:
            return f"missing {column}"
    try:
        return wasender.Config(phone_number=phone, instance_id=cells["wasenderInstanceId"],
                               api_key=cells["wasenderApiKey"], webhook_secret=cells["wasenderWebhookSecret"])
    except ValidationError as exc:
        return _invalid(exc)


@dataclass
class _Candidate:
    line: int
    vendor_id: str
    label: str | None
    config: wasender.Config


def _owners(configs: Iterable[tuple[str, wasender.Config]]) -> dict[str, str]:
    """Phone number or instance id -> the vendor it belongs to."""
    owners: dict[str, str] = {}
    for vendor_id, config in configs:
        owners.setdefault(config.phone_number, vendor_id)
        if config.instance_id:
            owners.setdefault(config.instance_id, vendor_id)
    return owners


def _clash(candidate: _Candidate, owners: dict[str, str]) -> str | None:
    config = candidate.config
    for value, what in ((config.phone_number, "phone number"), (config.instance_id, "wasenderInstanceId")):
        owner = owners.get(value) if value else None
        if owner is not None and owner != candidate.vendor_id:
            return f"{what} already used by vendor '{owner}'"
    return None


def _stored_config(account: ChannelAccount) -> wasender.Config | None:
    try:
        return wasender.Config.model_validate(account.settings)
    except ValidationError:
        return None


async def import_numbers(
    data: bytes,
    vendors: dict[str, Vendor],
    store: Store,
    *,
    imported: Collection[str] = (),
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Check every row of the CSV, then save the good ones as ChannelAccounts; one vendor per row.

    `imported` names the vendors whose current Wasender block came from an earlier import (a running
    server's); any other Wasender block on a vendor is its YAML's, which wins. Raises CsvInvalid.
    """
    rows = read_rows(data)
    report = ImportReport()
    stored = {a.vendor_id: a for a in await store.channel_accounts(PROVIDER) if a.vendor_id in vendors}
    candidates: list[_Candidate] = []
    first_line: dict[tuple[str, str], int] = {}
    for count, (line, cells) in enumerate(rows, 1):
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(f"checked {count}/{len(rows)} rows")
        vendor_id = cells["vendorId"]
        checked = _check(cells, vendors, imported)
        if isinstance(checked, str):
            report.rejected.append(Rejected(line, _shown_id(vendor_id), checked))
            continue
        keys = (("vendor", vendor_id), ("phone number", checked.phone_number),
                ("wasenderInstanceId", checked.instance_id or ""))
        earlier = next(((kind, first_line[(kind, value)]) for kind, value in keys if (kind, value) in first_line),
                       None)
        if earlier is not None:
            report.rejected.append(Rejected(line, vendor_id, f"duplicate {earlier[0]} (also on line {earlier[1]})"))
            continue
        first_line.update(dict.fromkeys(keys, line))
        candidates.append(_Candidate(line, vendor_id, cells["businessName"] or None, checked))

    # After the import, numbers in use are the YAML blocks, the stored accounts of vendors this file does
    # not replace, and the file's rows. Refusing a row keeps that vendor's stored number, which may clash
    # with another row in turn: repeat until nothing changes.
    yaml_blocks = [(v.id, c) for v in vendors.values()
                   if isinstance(c := v.config.channels.get(PROVIDER), wasender.Config) and v.id not in imported]
    while True:
        accepted = {c.vendor_id for c in candidates}
        kept = [(vid, c) for vid, a in stored.items() if vid not in accepted and (c := _stored_config(a))]
        owners = _owners([*yaml_blocks, *kept])
        clashes = {id(c): reason for c in candidates if (reason := _clash(c, owners))}
        if not clashes:
            break
        report.rejected.extend(Rejected(c.line, c.vendor_id, clashes[id(c)]) for c in candidates if id(c) in clashes)
        candidates = [c for c in candidates if id(c) not in clashes]
    report.rejected.sort(key=lambda r: r.line)

    for start in range(0, len(candidates), 500):
        chunk = candidates[start:start + 500]
        accounts = [ChannelAccount(provider=PROVIDER, vendor_id=c.vendor_id, label=c.label,
                                   settings=c.config.model_dump(exclude={"api_base_url"}, exclude_none=True))
                    for c in chunk]
        # Concurrent writes share the store's group commit: one durable write per chunk, not per row.
        await asyncio.gather(*(store.save_channel_account(a) for a in accounts))
        report.accounts.extend(accounts)
        if progress is not None and len(candidates) >= PROGRESS_EVERY:
            progress(f"saved {start + len(chunk)}/{len(candidates)} numbers")
    report.updated = sum(1 for a in report.accounts if a.vendor_id in stored)
    report.imported = len(report.accounts) - report.updated
    log.info("numbers import: %d imported, %d updated, %d rejected", report.imported, report.updated,
             len(report.rejected))
    return report
