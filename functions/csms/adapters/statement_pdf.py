"""InvoiceRenderer as PDF, with fpdf2: statements, receipts and notes a customer would accept.

A page states who issues it (the operator), to which account, its kind and number, the dates
(issued, the statement's month), each line with its session's date, station and energy, the
amounts without tax, the tax and with tax, one line per tax rate, the totals, what was paid or
refunded, and for a note the invoice it corrects. Amounts are the invoice's own figures (sums
of its lines, never re-rounded), so what the page adds up is what was charged.

fpdf2's built-in Helvetica needs no font file; it covers Windows-1252 (Western European text
and the euro sign). A character beyond it is printed as `?` rather than failing the document:
names come from operators and may hold any script.

Rendering is pure (no I/O, no clock): the document's creation date is the invoice's issue date,
so the same invoice renders to the same bytes. fpdf2 costs about half a second to import: it is
imported on the first render, not with this module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from csms.domain.billing.invoice import Invoice, InvoiceKind, InvoiceState
from csms.domain.billing.money import minor_units
from csms.services.billing_reports import DocumentLine, InvoiceDocument

if TYPE_CHECKING:
    from fpdf import FPDF

_ENCODING = "cp1252"
_TITLES = {
    InvoiceKind.RECEIPT: "Receipt",
    InvoiceKind.STATEMENT: "Monthly statement",
    InvoiceKind.CREDIT_NOTE: "Credit note",
    InvoiceKind.DEBIT_NOTE: "Debit note",
}
_STATES = {
    InvoiceState.OPEN: "Draft: not issued yet, nothing is due",
    InvoiceState.FINALIZED: "Issued: payment due",
    InvoiceState.PAID: "Paid",
    InvoiceState.PAYMENT_FAILED: "Payment failed",
    InvoiceState.VOID: "Void: nothing is due",
}
_COLUMNS = ("Date", "Station", "Description", "kWh", "Excl. tax", "Tax", "Incl. tax")
_WIDTHS = (26, 24, 60, 16, 18, 16, 20)
_ALIGN = ("LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT")


@cache
def _pdf_class() -> Callable[[str], FPDF]:
    """FPDF with the document's name and page number at the foot of every page."""
    from fpdf import FPDF

    class Pdf(FPDF):
        def __init__(self, footer: str) -> None:
            super().__init__(format="A4")
            self.footer_text = footer

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("Helvetica", size=8)
            self.cell(w=120, text=self.footer_text)
            self.cell(w=0, text=f"Page {self.page_no()}/{{nb}}", align="R")

    return Pdf


def _new_pdf(footer: str) -> FPDF:
    return _pdf_class()(footer)


def _text(value: str) -> str:
    """What Helvetica can print of `value` (module docstring)."""
    return value.encode(_ENCODING, "replace").decode(_ENCODING)


class FpdfInvoiceRenderer:
    """Invoices as A4 PDF documents (csms.services.billing_reports.InvoiceRenderer)."""

    media_type = "application/pdf"
    extension = "pdf"

    def __init__(self, *, compress: bool = True) -> None:
        # Uncompressed streams keep the text searchable in the bytes (tests); sizes grow ~3x.
        self._compress = compress

    def render(self, document: InvoiceDocument) -> bytes:
        """The PDF's bytes."""
        invoice = document.invoice
        zone = ZoneInfo(document.timezone)
        title = _TITLES[invoice.kind]
        number = invoice.display_number
        pdf = _new_pdf(_text(f"{title} {number or '(not issued)'} - {document.operator}"))
        pdf.set_compression(self._compress)
        pdf.core_fonts_encoding = _ENCODING
        pdf.set_title(_text(f"{title} {number or invoice.id}"))
        pdf.set_author(_text(document.operator))
        pdf.set_creator("csms")
        pdf.set_creation_date(invoice.finalized_at or invoice.created_at)
        pdf.set_auto_page_break(auto=True, margin=18)
        pdf.alias_nb_pages()
        pdf.add_page()
        self._header(pdf, document, title, zone)
        self._lines(pdf, document, zone)
        self._totals(pdf, invoice)
        self._payment(pdf, invoice)
        return bytes(pdf.output())

    # -- sections ---------------------------------------------------------------------------

    def _header(self, pdf: FPDF, document: InvoiceDocument, title: str, zone: ZoneInfo) -> None:
        invoice = document.invoice
        pdf.set_font("Helvetica", style="B", size=14)
        pdf.cell(text=_text(document.operator), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=9)
        if document.operator_contact:
            pdf.cell(text=_text(document.operator_contact), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(6)
        pdf.set_font("Helvetica", style="B", size=16)
        heading = f"{title} {invoice.display_number}" if invoice.display_number else title
        pdf.cell(text=_text(heading), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        pdf.set_font("Helvetica", size=10)
        facts = [
            ("Number", invoice.display_number or "not issued yet"),
            ("Issued", _date(invoice.finalized_at, zone) if invoice.finalized_at else "-"),
            ("Account", invoice.account_id or "-"),
            ("Period", invoice.period or _session_day(document, zone)),
            ("Currency", invoice.currency),
            ("Status", _STATES[invoice.state]),
            ("Reference", invoice.id),
        ]
        if document.refers_to is not None:
            facts.append(("Corrects", f"invoice {document.refers_to}"))
        for label, value in facts:
            pdf.set_font("Helvetica", style="B", size=10)
            pdf.cell(w=30, text=_text(label))
            pdf.set_font("Helvetica", size=10)
            pdf.cell(text=_text(value), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)

    def _lines(self, pdf: FPDF, document: InvoiceDocument, zone: ZoneInfo) -> None:
        from fpdf import FontFace

        currency = document.invoice.currency
        pdf.set_font("Helvetica", size=8)
        with pdf.table(
            col_widths=_WIDTHS,
            text_align=_ALIGN,
            headings_style=FontFace(emphasis="BOLD"),
            line_height=4.5,
            first_row_as_headings=True,
        ) as table:
            table.row([*_COLUMNS[:4], *(f"{c} ({currency})" for c in _COLUMNS[4:])])
            for line in document.lines:
                table.row([_text(cell) for cell in _cells(line, currency, zone)])
        pdf.ln(4)

    def _totals(self, pdf: FPDF, invoice: Invoice) -> None:
        currency = invoice.currency
        rows = [("Total excluding tax", invoice.total_excl_tax)]
        rows += [(f"{tax.name} {_percent(tax.percent)} %", tax.amount) for tax in invoice.taxes]
        for label, amount in rows:
            self._total_row(pdf, label, _money(amount, currency), bold=False)
        self._total_row(
            pdf, "Total including tax", _money(invoice.total_incl_tax, currency), bold=True
        )
        pdf.ln(4)

    def _payment(self, pdf: FPDF, invoice: Invoice) -> None:
        currency = invoice.currency
        pdf.set_font("Helvetica", size=10)
        notes: list[str] = []
        if invoice.paid:
            notes.append(f"Paid: {_money(invoice.paid, currency)}")
        if invoice.refunded:
            notes.append(f"Refunded: {_money(invoice.refunded, currency)}")
        if invoice.state is InvoiceState.PAYMENT_FAILED:
            reason = invoice.failure_message or invoice.failure_code or "declined"
            notes.append(f"Payment failed: {reason}")
        for note in notes:
            pdf.cell(text=_text(note), new_x="LMARGIN", new_y="NEXT")

    def _total_row(self, pdf: FPDF, label: str, amount: str, *, bold: bool) -> None:
        pdf.set_font("Helvetica", style="B" if bold else "", size=10)
        pdf.cell(w=140, text=_text(label), align="R")
        pdf.cell(w=40, text=amount, align="R", new_x="LMARGIN", new_y="NEXT")


def _cells(line: DocumentLine, currency: str, zone: ZoneInfo) -> list[str]:
    return [
        _minute(line.started, zone) if line.started else "",
        line.station or "",
        line.description,
        str(line.energy_kwh),
        _money(line.total_excl_tax, currency),
        _money(line.tax, currency),
        _money(line.total_incl_tax, currency),
    ]


def _money(amount: Decimal, currency: str) -> str:
    """The amount to the currency's minor unit, with thousands separated (`1,234.50`)."""
    places = minor_units(currency)
    return f"{amount.quantize(Decimal(1).scaleb(-places)):,}"


def _percent(value: Decimal) -> str:
    """`19`, `7.7`: the rate as written, without trailing zeros."""
    return format(value.normalize(), "f")


def _date(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d}"


def _minute(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"


def _session_day(document: InvoiceDocument, zone: ZoneInfo) -> str:
    """A receipt's or note's period: the day its session started."""
    started = next((line.started for line in document.lines if line.started), None)
    return _date(started, zone) if started else "-"
