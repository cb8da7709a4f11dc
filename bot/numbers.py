"""Imported WhatsApp numbers (Wasender): the CSV import, its row checks, and giving the numbers to running vendors."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
import weakref
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import phonenumbers
from pydantic import ValidationError

from bot.vendors import Vendor
from channels import wasender
from channels.base import mask_address
from storage import ChannelAccount, Store

if TYPE_CHECKING:
    from bot.runtime import Runtime

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


# applying numbers to a running server


@dataclass
class _Applied:
    labels: dict[str, str | None] = field(default_factory=dict)  # vendor -> business name, if imported
    yaml_noted: set[str] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_APPLIED: weakref.WeakKeyDictionary[Runtime, _Applied] = weakref.WeakKeyDictionary()


def _applied(rt: Runtime) -> _Applied:
    state = _APPLIED.get(rt)
    if state is None:
        state = _APPLIED[rt] = _Applied()
    return state


def imported_vendors(rt: Runtime) -> dict[str, str | None]:
    """Vendors whose Wasender number came from an import, with its business name."""
    return dict(_applied(rt).labels)


def _config_for(rt: Runtime, account: ChannelAccount) -> wasender.Config | None:
    settings = dict(account.settings)
    if rt.settings.wasender_api_base_url:
        settings.setdefault("api_base_url", rt.settings.wasender_api_base_url)
    try:
        return wasender.Config.model_validate(settings)
    except ValidationError as exc:
        fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})) or "settings"
        log.warning("vendor=%s: stored wasender number ignored: invalid %s", account.vendor_id, fields)
        return None


def _taken_by(vendor_id: str, config: wasender.Config, configs: dict[str, Any]) -> str | None:
    """The other vendor whose Wasender config (in `configs`, by vendor) has this number or instance id."""
    for other_id, theirs in configs.items():
        if other_id == vendor_id or not isinstance(theirs, wasender.Config):
            continue
        if theirs.phone_number == config.phone_number or (
                config.instance_id and theirs.instance_id == config.instance_id):
            return other_id
    return None


async def _swap_sender(rt: Runtime, vendor_id: str, old: wasender.Config | None, new: wasender.Config) -> None:
    key = f"{PROVIDER}:{vendor_id}"
    if old is not None and key in rt.senders and (old.api_key, old.api_base_url) == (new.api_key, new.api_base_url):
        return  # same session: keep its sender and any rate-limit wait it is observing
    previous = rt.senders.get(key)
    # Delivery reads this same dict, so the next send of this vendor already uses the new key.
    rt.senders[key] = wasender.make_sender(new)
    close = getattr(previous, "close", None)
    if close is not None:
        await close()


async def apply_accounts(rt: Runtime, accounts: Iterable[ChannelAccount]) -> list[str]:
    """Give each account's vendor its imported number: channel config, sender, fresh vendor lookups.

    A vendor whose YAML has a `channels.wasender` block keeps it (logged once); an account whose number
    or instance id another vendor has, or gets in this batch, is skipped with a warning. Returns the
    vendors changed.
    """
    state = _applied(rt)
    planned: dict[str, tuple[ChannelAccount, wasender.Config]] = {}
    for account in accounts:
        if account.provider != PROVIDER:
            continue
        vendor = rt.vendors.get(account.vendor_id)
        if vendor is None:
            log.info("imported wasender number of vendor=%s ignored: no such vendor is loaded", account.vendor_id)
            continue
        if vendor.config.channels.get(PROVIDER) is not None and vendor.id not in state.labels:
            if vendor.id not in state.yaml_noted:
                state.yaml_noted.add(vendor.id)
                log.warning("vendor=%s: the channels.wasender block of %s wins over its imported number",
                            vendor.id, vendor.source)
            continue
        config = _config_for(rt, account)
        if config is not None:
            planned[vendor.id] = (account, config)
    # Compare with the numbers as they will be once the whole batch is in, so that two vendors can swap
    # numbers in one file; dropping an account keeps that vendor's old number, which may clash in turn.
    while True:
        future = {vid: planned[vid][1] if vid in planned else v.config.channels.get(PROVIDER)
                  for vid, v in rt.vendors.items()}
        clashes = {vid: owner for vid, (_, config) in planned.items() if (owner := _taken_by(vid, config, future))}
        if not clashes:
            break
        for vid, owner in clashes.items():
            log.warning("vendor=%s: imported wasender number %s ignored: vendor=%s uses it too",
                        vid, mask_address(planned.pop(vid)[1].phone_number), owner)
    touched: list[str | None] = []
    for vendor_id, (account, config) in planned.items():
        current = rt.vendors[vendor_id].config.channels.get(PROVIDER)
        old = current if isinstance(current, wasender.Config) else None
        rt.vendors[vendor_id].config.channels[PROVIDER] = config
        state.labels[vendor_id] = account.label
        await _swap_sender(rt, vendor_id, old, config)
        for c in (old, config):
            if c is not None:
                touched += [c.phone_number, c.instance_id, c.api_key]
        log.info("vendor=%s uses the imported wasender number %s", vendor_id, mask_address(config.phone_number))
    if touched:
        # Imported here: bot.http.webhooks.wasender imports bot.runtime, which imports this module.
        from bot.http.webhooks.wasender import refresh_lookups

        await refresh_lookups(rt, touched)
    return list(planned)


async def apply_stored(rt: Runtime) -> list[str]:
    """At start-up: every vendor without a YAML Wasender block gets its imported number, if it has one."""
    return await apply_accounts(rt, await rt.store.channel_accounts(PROVIDER))


async def import_and_apply(rt: Runtime, data: bytes) -> ImportReport:
    """Import a CSV into a running server's store and use the new numbers at once."""
    state = _applied(rt)
    async with state.lock:  # two imports at once would each check against a state the other changes
        report = await import_numbers(data, rt.vendors, rt.store, imported=set(state.labels))
        await apply_accounts(rt, report.accounts)
    return report
