"""Contact lists in and out: reading a vendor's CSV or .xlsx, E.164 numbers, de-duplication, the report, CSV export."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from storage.campaigns import CampaignContact, CampaignStore, Consent, contact_id

MAX_BYTES = 50 * 1024 * 1024
MAX_ROWS = 500_000
MAX_CELL = 500
BATCH = 5000
# Header spellings vendors use (French and English exports of Excel, Google Sheets, WhatsApp Business).
COLUMNS: dict[str, tuple[str, ...]] = {
    "phone": ("phone", "phone_number", "phonenumber", "telephone", "tel", "numero", "mobile", "whatsapp",
              "portable", "number"),
    "name": ("name", "nom", "full_name", "fullname", "nom_complet", "prenom_nom"),
    "email": ("email", "e_mail", "mail", "courriel"),
    "telegram": ("telegram", "telegram_id", "telegram_chat_id"),
    "tags": ("tags", "tag", "labels", "etiquettes"),
    "consent": ("opt_in", "optin", "consent", "consentement", "subscribed", "abonne"),
}
YES = frozenset({"yes", "y", "oui", "o", "1", "true", "vrai", "opted_in", "opt-in", "optin", "x"})
NO = frozenset({"no", "n", "non", "0", "false", "faux", "opted_out", "opt-out", "optout"})
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TELEGRAM = re.compile(r"^-?\d{3,20}$")
TAG_SPLIT = re.compile(r"[;,|]")


class QuotaExceeded(ValueError):
    """The import would pass the plan's contact quota; nothing is written."""


class FileInvalid(ValueError):
    """The file as a whole cannot be read (format, encoding, no address column, too big)."""


@dataclass
class ImportReport:
    """What an import did: counts, and every rejected row with its line and reason."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "created": self.created, "updated": self.updated,
                "rejected_count": len(self.rejected), "rejected": self.rejected, "seconds": round(self.seconds, 3)}


def _key(header: str) -> str:
    text = header.strip().lower().replace("é", "e").replace("è", "e").replace("-", "_").replace(" ", "_")
    return re.sub(r"[^a-z0-9_]", "", text)


def _columns(header: list[str]) -> dict[int, str]:
    """Column index → field name ('phone', …) or 'attr:<header>' for a custom attribute."""
    out: dict[int, str] = {}
    taken: set[str] = set()
    for i, raw in enumerate(header):
        key = _key(raw)
        name = next((f for f, names in COLUMNS.items() if key in names), None)
        if name is not None and name not in taken:
            out[i] = name
            taken.add(name)
        elif key:
            out[i] = f"attr:{key[:64]}"
    if not taken & {"phone", "email", "telegram"}:
        raise FileInvalid("no address column: name one column phone (or email, telegram); found: "
                          + ", ".join(h.strip()[:40] for h in header if h.strip())[:300])
    return out


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileInvalid("the file is neither UTF-8 nor Windows-1252 text")


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    text = _decode(data)
    head = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(head, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        raise FileInvalid(f"line {reader.line_num}: {exc}") from None


def _cell(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone number typed into Excel comes back as 221770000001.0
    return "" if value is None else str(value)


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheet = book.get_sheet_by_index(0)
        rows = sheet.iter_rows()
    except (CalamineError, ValueError, IndexError) as exc:
        raise FileInvalid(f"not a readable .xlsx workbook ({type(exc).__name__})") from None
    for i, row in enumerate(rows, 1):
        yield i, [_cell(v) for v in row]


def rows_of(data: bytes, filename: str = "") -> Iterator[tuple[int, list[str]]]:
    """(line, cells) of a CSV or .xlsx file; the format is told by the content, not the name."""
    if len(data) > MAX_BYTES:
        raise FileInvalid(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it")
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith((".xlsx", ".xlsm")):
        return _xlsx_rows(data)
    return _csv_rows(data)


def e164(raw: str, region: str | None) -> str:
    """A phone number in E.164, or ValueError saying why not."""
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number" if region or text.startswith("+") else
                         "no country code (+221…) and no --default-region") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid number for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _consent(raw: str) -> Consent:
    value = raw.strip().lower()
    if not value:
        return "unknown"
    if value in YES:
        return "opted_in"
    if value in NO:
        return "opted_out"
    raise ValueError(f"opt-in must be yes/no (oui/non, 1/0), not {raw.strip()[:20]!r}")


def parse_rows(rows: Iterator[tuple[int, list[str]]], vendor_id: str, region: str | None,
               report: ImportReport, at: float) -> list[CampaignContact]:
    """Contacts of the rows, each address once; every other row goes to the report with its reason."""
    try:
        _, header = next(rows)
    except StopIteration:
        raise FileInvalid("the file is empty") from None
    columns = _columns(header)
    seen: dict[str, int] = {}
    contacts: list[CampaignContact] = []
    for line, cells in rows:
        if not any(c.strip() for c in cells):
            continue
        report.rows += 1
        if report.rows > MAX_ROWS:
            raise FileInvalid(f"more than {MAX_ROWS} rows: split the file")
        try:
            contact = _contact(columns, cells, vendor_id, region, at)
        except ValueError as exc:
            report.rejected.append({"line": line, "reason": str(exc)})
            continue
        first = next((seen[a] for a in contact.addresses() if a in seen), None)
        if first is not None:
            report.rejected.append({"line": line, "reason": f"duplicate of line {first}"})
            continue
        for a in contact.addresses():
            seen[a] = line
        contacts.append(contact)
    return contacts


def _contact(columns: dict[int, str], cells: list[str], vendor_id: str, region: str | None,
             at: float) -> CampaignContact:
    values: dict[str, str] = {}
    attributes: dict[str, str] = {}
    for i, name in columns.items():
        cell = cells[i].strip() if i < len(cells) else ""
        if len(cell) > MAX_CELL:
            raise ValueError(f"column {i + 1} is longer than {MAX_CELL} characters")
        if name.startswith("attr:"):
            if cell:
                attributes[name[5:]] = cell
        else:
            values[name] = cell
    phone = e164(values["phone"], region) if values.get("phone") else None
    email = values.get("email", "").lower() or None
    if email and not EMAIL.match(email):
        raise ValueError("not an e-mail address")
    telegram = values.get("telegram") or None
    if telegram and not TELEGRAM.match(telegram):
        raise ValueError("a Telegram chat id is a number")
    first = phone or email or telegram
    if first is None:
        raise ValueError("no phone, e-mail or Telegram id")
    consent = _consent(values.get("consent", ""))
    tags = [t.strip()[:64] for t in TAG_SPLIT.split(values.get("tags", "")) if t.strip()]
    return CampaignContact(
        id=contact_id(vendor_id, first), vendor_id=vendor_id, phone=phone, email=email, telegram=telegram,
        name=values.get("name") or None, tags=list(dict.fromkeys(tags)), attributes=attributes, consent=consent,
        consent_at=at if consent != "unknown" else None, consent_source="import" if consent != "unknown" else None,
    )


async def import_contacts(data: bytes, vendor_id: str, store: CampaignStore, *, region: str | None = None,
                          filename: str = "", progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Read, check and merge a contact list into the vendor's contacts; FileInvalid when the file is unusable."""
    started = time.perf_counter()
    report = ImportReport()
    if region is not None and region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise FileInvalid(f"unknown region {region[:8]!r}: use a two-letter country code such as SN")
    contacts = parse_rows(rows_of(data, filename), vendor_id, region.upper() if region else None, report, time.time())
    limit = (await store.get_settings(vendor_id)).plan.contacts
    if limit is not None:
        have, new = await store.contact_count(vendor_id), await store.new_contacts(vendor_id, contacts)
        if have + new > limit:
            raise QuotaExceeded(f"the plan allows {limit} contacts: {have} stored, this file adds {new}; "
                                "nothing was imported")
    for i in range(0, len(contacts), BATCH):
        created, updated = await store.upsert_contacts(vendor_id, contacts[i:i + BATCH])
        report.created += created
        report.updated += updated
        if progress is not None:
            progress(min(i + BATCH, len(contacts)), len(contacts))
    report.seconds = time.perf_counter() - started
    return report


EXPORT_COLUMNS = ("phone", "email", "telegram", "name", "tags", "opt_in", "consent_at")


def _safe(value: str) -> str:
    # A cell starting with = + - @ is a formula to Excel: a contact's name must not run as one.
    return "'" + value if value[:1] in ("=", "+", "-", "@") and not re.fullmatch(r"\+\d+", value) else value


async def export_csv(store: CampaignStore, vendor_id: str) -> str:
    """The vendor's contacts as CSV (attributes as extra columns), ready to re-import."""
    contacts: list[CampaignContact] = []
    after = ""
    while True:
        page = await store.contacts(vendor_id, after=after, limit=BATCH)
        contacts.extend(page)
        if len(page) < BATCH:
            break
        after = page[-1].id
    extra = sorted({k for c in contacts for k in c.attributes})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*EXPORT_COLUMNS, *extra])
    for c in contacts:
        consent = {"opted_in": "yes", "opted_out": "no"}.get(c.consent, "")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c.consent_at)) if c.consent_at else ""
        row = [c.phone or "", c.email or "", c.telegram or "", c.name or "", ";".join(c.tags), consent, stamp,
               *(c.attributes.get(k, "") for k in extra)]
        writer.writerow([_safe(v) for v in row])
    return out.getvalue()
