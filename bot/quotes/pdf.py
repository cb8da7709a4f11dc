"""A quote as a one-page PDF (fpdf2): vendor, reference, lines, total, validity; amounts in F CFA."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from fpdf import FPDF

from locales import money

TEXTS = {
    "fr": {"title": "DEVIS", "ref": "Référence", "date": "Date", "valid": "Valable jusqu'au", "client": "Client",
           "item": "Article", "qty": "Qté", "unit": "Prix unitaire", "amount": "Montant", "total": "Total",
           "terms": "Paiement à la commande ou à {days} jours sur facture.", "cash": "Paiement à la commande."},
    "en": {"title": "QUOTE", "ref": "Reference", "date": "Date", "valid": "Valid until", "client": "Customer",
           "item": "Item", "qty": "Qty", "unit": "Unit price", "amount": "Amount", "total": "Total",
           "terms": "Payment with the order or {days} days on invoice.", "cash": "Payment with the order."},
}


@dataclass
class QuoteLine:
    code: str
    name: str
    quantity: int
    unit_price: int

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_price


@dataclass
class Quote:
    """What a quote says; the PDF is drawn from it alone."""

    reference: str
    vendor_name: str
    customer: str  # a display name or a masked address, never the full number
    issued_at: float
    valid_days: int
    lines: list[QuoteLine] = field(default_factory=list)
    currency: str = "XOF"
    locale: str = "fr"
    timezone: str = "Africa/Dakar"
    net_days: int = 0

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)


def _latin1(text: str) -> str:
    """The built-in PDF fonts are Latin-1: babel's narrow spaces become plain ones, anything else '?'."""
    text = text.replace("\u202f", " ").replace("\u00a0", " ").replace("\u2019", "'")
    return text.encode("latin-1", "replace").decode("latin-1")


def amount(value: int, quote: Quote) -> str:
    """'150 000 F CFA': whole francs (XOF has no minor unit), grouped as the locale writes them."""
    return _latin1(money(value, quote.currency, quote.locale))


def render(quote: Quote) -> bytes:
    t = TEXTS.get(quote.locale, TEXTS["fr"])
    tz = ZoneInfo(quote.timezone)
    issued = dt.datetime.fromtimestamp(quote.issued_at, tz)
    until = issued + dt.timedelta(days=quote.valid_days)
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(f"{t['title']} {quote.reference}"))
    pdf.set_author(_latin1(quote.vendor_name))
    pdf.set_creator("Palabre")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _latin1(quote.vendor_name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 10, t["title"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    for label, value in ((t["ref"], quote.reference), (t["date"], f"{issued:%d/%m/%Y}"),
                         (t["valid"], f"{until:%d/%m/%Y}"), (t["client"], quote.customer)):
        pdf.cell(0, 7, _latin1(f"{label} : {value}" if quote.locale == "fr" else f"{label}: {value}"),
                 new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (80, 20, 40, 40)
    pdf.set_font("Helvetica", "B", 11)
    for width, head, align in zip(widths, (t["item"], t["qty"], t["unit"], t["amount"]), "LRRR", strict=True):
        pdf.cell(width, 8, _latin1(head), border=1, align=align)
    pdf.ln()
    pdf.set_font("Helvetica", "", 11)
    for line in quote.lines:
        cells = (f"{line.name} ({line.code})", str(line.quantity), amount(line.unit_price, quote),
                 amount(line.amount, quote))
        for width, text, align in zip(widths, cells, "LRRR", strict=True):
            pdf.cell(width, 8, _latin1(text)[:60], border=1, align=align)
        pdf.ln()
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(sum(widths[:3]), 8, t["total"], border=1, align="R")
    pdf.cell(widths[3], 8, amount(quote.total, quote), border=1, align="R")
    pdf.ln(12)
    pdf.set_font("Helvetica", "", 10)
    terms = t["terms"].format(days=quote.net_days) if quote.net_days else t["cash"]
    pdf.multi_cell(0, 6, _latin1(terms))
    return bytes(pdf.output())
