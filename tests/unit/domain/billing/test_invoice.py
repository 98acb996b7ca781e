"""Invoices: lines and totals that add up, reversals, refunds, ids, states."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tests.unit.domain.billing.builders import T0, a_tariff, a_usage

from csms.domain.billing.invoice import (
    Invoice,
    InvoiceKind,
    InvoiceState,
    LineKind,
    Payment,
    RefundClaim,
    note_id,
    receipt_id,
    refund_line,
    refund_note_id,
    reversal_line,
    session_line,
    statement_id,
    with_lines,
)
from csms.domain.billing.pricing import price


def an_invoice(**over: object) -> Invoice:
    fields: dict[str, object] = {
        "id": "inv-1",
        "tenant_id": "t-1",
        "kind": InvoiceKind.STATEMENT,
        "state": InvoiceState.OPEN,
        "currency": "EUR",
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(over)
    return Invoice.model_validate(fields)


def a_line(kwh: str, session_id: str = "S1", **tariff: object):  # type: ignore[no-untyped-def]
    priced = price(a_tariff(**tariff), a_usage(kwh=kwh))
    return session_line(session_id, 1, "cdr-1", priced, f"session {session_id}")


def test_session_line_carries_the_priced_breakdown() -> None:
    # GIVEN a priced 10 kWh session
    line = a_line("10")

    # THEN the line has its totals, taxes, energy and breakdown
    assert (line.id, line.kind, line.cdr_id) == ("S1:1", LineKind.SESSION, "cdr-1")
    assert (line.total_excl_tax, line.total_incl_tax) == (Decimal("2.52"), Decimal("3.00"))
    assert line.taxes[0].amount == Decimal("0.48")
    assert line.energy_kwh == Decimal(10)
    assert line.breakdown[0].component.value == "energy"


def test_with_lines_totals_are_the_sums_of_the_lines() -> None:
    # GIVEN lines under two tax regimes (19 % incl., 7 % + 2 % excl.)
    lines = [
        a_line("10"),
        a_line("3.3", "S2"),
        a_line(
            "7",
            "S3",
            pricesIncludeTax=False,
            taxRates=[{"name": "VAT", "percent": "7"}, {"name": "City", "percent": "2"}],
        ),
    ]

    # WHEN they are put on a statement
    invoice = with_lines(an_invoice(), lines)

    # THEN every total is the sum of the lines, taxes by rate, incl = excl + taxes
    assert invoice.line_count == 3
    assert invoice.total_incl_tax == sum(line.total_incl_tax for line in lines)
    assert invoice.total_excl_tax == sum(line.total_excl_tax for line in lines)
    assert [(t.name, t.percent) for t in invoice.taxes] == [
        ("VAT", Decimal(19)),
        ("VAT", Decimal(7)),
        ("City", Decimal(2)),
    ]
    assert invoice.total_excl_tax + sum(t.amount for t in invoice.taxes) == invoice.total_incl_tax


def test_reversal_line_takes_the_line_off() -> None:
    # GIVEN a billed line
    line = a_line("10")

    # WHEN revision 2 reverses it
    reversal = reversal_line(line, 2)

    # THEN it has its own id and negates every amount; line + reversal is zero
    assert (reversal.id, reversal.kind) == ("S1:2:reversal", LineKind.REVERSAL)
    invoice = with_lines(an_invoice(), [line, reversal])
    assert invoice.total_incl_tax == 0
    assert invoice.total_excl_tax == 0
    assert all(t.amount == 0 for t in invoice.taxes)


def test_refund_line_shares_the_tax_in_the_invoice_proportion() -> None:
    # GIVEN a paid 3.00 EUR invoice with 0.48 EUR VAT
    invoice = with_lines(an_invoice(), [a_line("10")])

    # WHEN 1.50 EUR is refunded
    line = refund_line("r:1", invoice, Decimal("1.50"), "broken cable")

    # THEN the line is -1.50 with -0.24 VAT and -1.26 net
    assert (line.kind, line.description) == (LineKind.REFUND, "Refund: broken cable")
    assert line.total_incl_tax == Decimal("-1.50")
    assert line.taxes[0].amount == Decimal("-0.24")
    assert line.total_excl_tax == Decimal("-1.26")


def test_invoice_paid_refunded_and_reference_come_from_its_payments() -> None:
    # GIVEN an invoice with a capture, a failed charge and a refund claim
    invoice = an_invoice(
        state=InvoiceState.PAID,
        number=7,
        payments=[
            Payment(reference=None, kind="charge", amount=Decimal(5), status="declined"),
            Payment(reference="pi-1", kind="capture", amount=Decimal(2), status="succeeded"),
        ],
        refunds=[RefundClaim(note_id="n", amount=Decimal("0.5"))],
    )

    # THEN only what succeeded counts as paid, and refunds go against the capture
    assert invoice.paid == Decimal(2)
    assert invoice.payment_reference == "pi-1"
    assert invoice.refunded == Decimal("0.5")
    assert invoice.display_number == "INV-000007"
    assert an_invoice().display_number is None
    assert an_invoice().payment_reference is None


def test_invoice_state_issued_is_everything_but_open() -> None:
    # GIVEN / WHEN / THEN only OPEN is not issued
    assert [s for s in InvoiceState if not s.issued] == [InvoiceState.OPEN]


def test_invoice_ids_derive_from_what_they_are_for() -> None:
    # GIVEN / WHEN ids of each kind
    ids = {
        receipt_id("t", "S1"),
        receipt_id("t2", "S1"),
        note_id("t", "S1", 2),
        note_id("t", "S1", 3),
        refund_note_id("t", "inv", "r1"),
        statement_id("t", "acct", "2026-11"),
        statement_id("t", "acct", "2026-12"),
    }

    # THEN they are stable and distinct
    assert receipt_id("t", "S1") == receipt_id("t", "S1")
    assert len(ids) == 7
    assert statement_id("t", "acct", "2026-11").startswith("stm-")


def test_with_lines_keeps_the_header_immutable() -> None:
    # GIVEN an open statement
    invoice = an_invoice(updated_at=T0 + timedelta(days=1))

    # WHEN a line is added
    with_lines(invoice, [a_line("1")])

    # THEN the original is unchanged (a new header is returned)
    assert invoice.line_count == 0
