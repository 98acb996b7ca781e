"""Invoices as PDF (csms.adapters.statement_pdf), read back from uncompressed content streams."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from csms.adapters.statement_pdf import FpdfInvoiceRenderer
from csms.domain.billing.invoice import (
    Invoice,
    InvoiceKind,
    InvoiceState,
    LineKind,
    Payment,
    RefundClaim,
    TaxAmount,
)
from csms.services.billing_reports import DocumentLine, InvoiceDocument

ISSUED = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # December 1st in Berlin


def an_invoice(**over: Any) -> Invoice:
    fields: dict[str, Any] = {
        "id": "stm-1",
        "tenant_id": "t1",
        "kind": InvoiceKind.STATEMENT,
        "state": InvoiceState.PAID,
        "account_id": "token:ABC",
        "currency": "EUR",
        "number": 42,
        "period": "2026-11",
        "line_count": 2,
        "total_excl_tax": Decimal("5.04"),
        "taxes": (TaxAmount(name="VAT", percent=Decimal("19.00"), amount=Decimal("0.96")),),
        "total_incl_tax": Decimal("6.00"),
        "payments": (
            Payment(reference="p", kind="charge", amount=Decimal("6.00"), status="succeeded"),
        ),
        "created_at": ISSUED,
        "finalized_at": ISSUED,
        "updated_at": ISSUED,
    }
    fields.update(over)
    return Invoice.model_validate(fields)


def a_line(day: int, **over: Any) -> DocumentLine:
    fields: dict[str, Any] = {
        "kind": LineKind.SESSION,
        "description": f"Charging at CS-1 on 2026-11-{day:02}",
        "started": datetime(2026, 11, day, 17, 5, tzinfo=UTC),
        "station": "CS-1",
        "energy_kwh": Decimal("10.000"),
        "total_excl_tax": Decimal("2.52"),
        "tax": Decimal("0.48"),
        "total_incl_tax": Decimal("3.00"),
    }
    fields.update(over)
    return DocumentLine(**fields)


def a_document(invoice: Invoice | None = None, **over: Any) -> InvoiceDocument:
    fields: dict[str, Any] = {
        "operator": "Wohnanlage Müller GmbH",
        "operator_contact": "billing@mueller.example",
        "timezone": "Europe/Berlin",
        "invoice": invoice or an_invoice(),
        "lines": (a_line(3), a_line(4)),
    }
    fields.update(over)
    return InvoiceDocument(**fields)


def text_of(pdf: bytes) -> str:
    """The strings shown on the pages (`(...) Tj`), in order, one per line."""
    shown = re.findall(rb"\((.*?)(?<!\\)\) Tj", pdf)
    return "\n".join(s.replace(rb"\(", b"(").replace(rb"\)", b")").decode("cp1252") for s in shown)


def render(document: InvoiceDocument) -> tuple[bytes, str]:
    pdf = FpdfInvoiceRenderer(compress=False).render(document)
    return pdf, text_of(pdf)


def test_statement_pdf_states_what_a_resident_checks() -> None:
    # GIVEN a paid monthly statement of two sessions, for an operator in Berlin
    document = a_document()

    # WHEN rendered
    pdf, text = render(document)

    # THEN a PDF naming operator, kind and number, issue date and period (Berlin time),
    # account, each session's local time, station and amounts, the tax rate, and the totals
    assert pdf.startswith(b"%PDF-")
    for expected in (
        "Wohnanlage Müller GmbH",
        "billing@mueller.example",
        "Monthly statement INV-000042",
        "2026-12-01",
        "2026-11",
        "token:ABC",
        "2026-11-03 18:05",
        "2026-11-04 18:05",
        "CS-1",
        "10.000",
        "Excl. tax",
        "(EUR)",
        "VAT 19 %",
        "Total excluding tax",
        "5.04",
        "0.96",
        "Total including tax",
        "6.00",
        "Paid: 6.00",
        "Page 1/",
    ):
        assert expected in text, expected
    assert "Corrects" not in text


def test_credit_note_pdf_names_the_invoice_it_corrects_and_the_refund() -> None:
    # GIVEN a paid credit note of -1.00 EUR referring to receipt INV-000007, with a refund line
    note = an_invoice(
        id="rfd-1",
        kind=InvoiceKind.CREDIT_NOTE,
        number=8,
        period=None,
        refers_to="rcp-1",
        total_excl_tax=Decimal("-0.84"),
        taxes=(TaxAmount(name="VAT", percent=Decimal("19"), amount=Decimal("-0.16")),),
        total_incl_tax=Decimal("-1.00"),
        payments=(),
        refunds=(RefundClaim(note_id="x", amount=Decimal("1.00")),),
    )
    refund = a_line(
        3,
        kind=LineKind.REFUND,
        description="Refund: (charger) stopped early",
        started=None,
        station=None,
        energy_kwh=Decimal(0),
        total_excl_tax=Decimal("-0.84"),
        tax=Decimal("-0.16"),
        total_incl_tax=Decimal("-1.00"),
    )
    document = a_document(note, lines=(refund,), refers_to="INV-000007")

    # WHEN rendered
    _, text = render(document)

    # THEN its kind, number, the invoice it corrects, the negative totals and the refund
    for expected in (
        "Credit note INV-000008",
        "invoice INV-000007",
        "Refund: (charger) stopped early",
        "-1.00",
        "Refunded: 1.00",
    ):
        assert expected in text, expected
    # AND a note's period is the day of its session: none here
    assert "Period" in text


def test_draft_and_failed_invoices_say_so() -> None:
    # GIVEN an open statement (not issued) and a receipt whose payment failed
    draft = an_invoice(state=InvoiceState.OPEN, number=None, finalized_at=None, payments=())
    failed = an_invoice(
        kind=InvoiceKind.RECEIPT,
        period=None,
        state=InvoiceState.PAYMENT_FAILED,
        failure_message="Your card was declined.",
        payments=(),
    )

    # WHEN rendered
    _, draft_text = render(a_document(draft, operator_contact=None))
    _, failed_text = render(a_document(failed))
    _, reasonless = render(a_document(failed.model_copy(update={"failure_message": None})))

    # THEN the draft has no number and says nothing is due; the receipt gives the reason and
    # its session's day as period
    assert "not issued yet" in draft_text
    assert "INV-" not in draft_text
    assert "@" not in draft_text
    assert "Payment failed: Your card was declined." in failed_text
    assert "Receipt INV-000042" in failed_text
    assert "2026-11-03" in failed_text
    assert "Payment failed: declined" in reasonless


def test_pdf_prints_characters_beyond_its_font_as_question_marks() -> None:
    # GIVEN an operator whose name is in a script Helvetica lacks, and a euro sign
    document = a_document(operator="充電 Station", lines=(a_line(3, description="Fee €"),))

    # WHEN rendered
    _, text = render(document)

    # THEN the document is made; what the font lacks shows as `?`, the euro sign as itself
    assert "?? Station" in text
    assert "Fee €" in text


def test_pdf_is_the_same_for_the_same_invoice_and_breaks_pages_with_numbers() -> None:
    # GIVEN a statement of 80 sessions
    document = a_document(lines=tuple(a_line(1 + i % 28) for i in range(80)))

    # WHEN rendered twice, and compressed
    first, text = render(document)
    again = FpdfInvoiceRenderer(compress=False).render(document)
    compressed = FpdfInvoiceRenderer().render(document)

    # THEN the same bytes (no clock in it), more than one page numbered, a smaller compressed file
    assert first == again
    assert b"/Count 2" in first
    assert "Page 2/" in text
    assert compressed.startswith(b"%PDF-")
    assert len(compressed) < len(first)
