"""Imported WhatsApp numbers (Wasender): the CSV import (csv_import) and their use by running processes (running)."""

from bot.numbers.csv_import import (
    COLUMNS,
    MAX_BYTES,
    MAX_ROWS,
    PROVIDER,
    CsvInvalid,
    ImportReport,
    Rejected,
    import_numbers,
    normalise_phone,
    read_rows,
    report_lines,
)
from bot.numbers.running import (
    FOLLOW_INTERVAL,
    apply_accounts,
    apply_stored,
    follow_imports,
    import_and_apply,
    imported_vendors,
)

__all__ = [
    "COLUMNS",
    "FOLLOW_INTERVAL",
    "MAX_BYTES",
    "MAX_ROWS",
    "PROVIDER",
    "CsvInvalid",
    "ImportReport",
    "Rejected",
    "apply_accounts",
    "apply_stored",
    "follow_imports",
    "import_and_apply",
    "import_numbers",
    "imported_vendors",
    "normalise_phone",
    "read_rows",
    "report_lines",
]
