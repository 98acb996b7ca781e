"""Invoices: what a driver or an account is asked to pay, and what it is given back.

Kinds:
- RECEIPT: one ad-hoc (public) session, issued as soon as it is billed and paid at once
  (the pre-authorisation captured, or a charge);
- STATEMENT: one billing account's month (residents, fleets, a group account): OPEN while it
  collects session lines, then finalized and collected once;
- CREDIT_NOTE / DEBIT_NOTE: a later correction of an ad-hoc session (or a refund): never an
  edit of the receipt. A correction note carries two lines, the reversal of what was billed and
  the corrected session, so its total is the difference: negative on a credit note (given
  back), positive on a debit note (charged). One note for the difference rather than a full
  credit note plus a full debit note, because money then moves once (one refund or one
  charge, not a refund of everything and a second charge), and the two lines still show both
  figures in full.

Amounts are signed (a reversal or a refund line is negative) and each line states its amount
without tax, its taxes and its amount with tax (`incl = excl + taxes` on every line, from the
pricing engine). An invoice's totals are sums of its lines, never re-rounded, so they always
add up; `with_line` keeps them so as lines are added.

States: OPEN (a statement collecting lines) -> FINALIZED (issued: numbered, amount fixed,
due) -> PAID, or PAYMENT_FAILED (declined: the reason kept); VOID (cancelled, nothing due).
Numbers are given when an invoice is issued, sequential per tenant without gaps (the
repository draws them in the same write that issues the invoice).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from csms.domain.billing.money import round_money
from csms.domain.billing.pricing import PricedSession, PriceLine

_ZERO = Decimal(0)


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class BillingMode(StrEnum):
    """How a billing account pays for its sessions."""

    # Public / ad-hoc: each session paid on its own (pre-authorisation captured, or a charge).
    AD_HOC = "ad-hoc"
    # Residents, fleets: sessions collected on a monthly statement, paid once a month.
    MONTHLY = "monthly"
    # Employees and other access-controlled groups: tracked (CDR), never collected.
    FREE = "free"


class BillingAccount(_Model):
    """Who pays for a session: a driver's account or a group account."""

    id: str
    mode: BillingMode
    # The payment provider's customer and saved payment method, when there are any.
    customer: str | None = None
    payment_method: str | None = None
    # When the payment method was last chosen (a newer choice wins over an older one that
    # is told late, e.g. a provider's notification redelivered).
    payment_method_since: datetime | None = None
    # Who the provider's customer is (receipts and Stripe's emails go there), when known.
    email: str | None = None
    name: str | None = None


class InvoiceKind(StrEnum):
    """What an invoice is for (module docstring)."""

    RECEIPT = "receipt"
    STATEMENT = "statement"
    CREDIT_NOTE = "credit-note"
    DEBIT_NOTE = "debit-note"


class InvoiceState(StrEnum):
    """Where an invoice stands (module docstring)."""

    OPEN = "open"
    FINALIZED = "finalized"
    PAID = "paid"
    PAYMENT_FAILED = "payment-failed"
    VOID = "void"

    @property
    def issued(self) -> bool:
        """Whether the invoice has left OPEN (its number and amount are fixed)."""
        return self is not InvoiceState.OPEN


class TaxAmount(_Model):
    """One tax rate's amount on a line or an invoice."""

    name: str
    percent: Decimal
    amount: Decimal


class LineKind(StrEnum):
    """What an invoice line is."""

    SESSION = "session"
    # Takes a billed session revision off again (a correction's first line).
    REVERSAL = "reversal"
    REFUND = "refund"


class InvoiceLine(_Model):
    """One session, the reversal of one, or a refund, with its breakdown."""

    id: str
    kind: LineKind
    description: str
    session_id: str | None = None
    revision: int | None = None
    cdr_id: str | None = None
    total_excl_tax: Decimal
    taxes: tuple[TaxAmount, ...] = ()
    total_incl_tax: Decimal
    energy_kwh: Decimal = _ZERO
    # The priced lines (signs as billed: a reversal's are the original's).
    breakdown: tuple[PriceLine, ...] = ()
    explanation: tuple[str, ...] = ()


class Payment(_Model):
    """Money moved for an invoice at the provider."""

    reference: str | None
    # `capture`, `charge`, `refund`, `invoice` (due on an invoice, nothing moved).
    kind: str
    amount: Decimal
    status: str


class RefundClaim(_Model):
    """An amount a credit note gives back of the invoice it refers to."""

    note_id: str
    amount: Decimal


class Invoice(_Model):
    """An invoice's header; its lines are kept apart (a statement may have very many)."""

    id: str
    tenant_id: str
    kind: InvoiceKind
    state: InvoiceState
    account_id: str | None = None
    currency: str
    # Sequential per tenant, given when issued.
    number: Annotated[int, Field(ge=1)] | None = None
    # A statement's month, `YYYY-MM`.
    period: str | None = None
    # The session of a receipt or a note.
    session_id: str | None = None
    # The invoice a note corrects or refunds.
    refers_to: str | None = None
    line_count: int = 0
    total_excl_tax: Decimal = _ZERO
    taxes: tuple[TaxAmount, ...] = ()
    total_incl_tax: Decimal = _ZERO
    payments: tuple[Payment, ...] = ()
    # What is given back on this invoice, one claim per credit note (counted once each).
    refunds: tuple[RefundClaim, ...] = ()
    failure_code: str | None = None
    failure_message: str | None = None
    created_at: datetime
    finalized_at: datetime | None = None
    updated_at: datetime
    version: int = 0

    @property
    def display_number(self) -> str | None:
        """`INV-000042`, once issued."""
        return f"INV-{self.number:06d}" if self.number is not None else None

    @property
    def refunded(self) -> Decimal:
        """What the credit notes referring to this invoice give back."""
        return sum((claim.amount for claim in self.refunds), _ZERO)

    @property
    def paid(self) -> Decimal:
        """What the provider collected on this invoice (captures and charges that succeeded)."""
        return sum(
            (
                p.amount
                for p in self.payments
                if p.kind in ("capture", "charge") and p.status == "succeeded"
            ),
            _ZERO,
        )

    @property
    def payment_reference(self) -> str | None:
        """The first payment collected (what a refund goes against)."""
        return next(
            (
                p.reference
                for p in self.payments
                if p.kind in ("capture", "charge") and p.status == "succeeded" and p.reference
            ),
            None,
        )


def digest(*parts: object) -> str:
    """A short stable hash of what an id is derived from."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def receipt_id(tenant_id: str, session_id: str) -> str:
    """The receipt of an ad-hoc session (one per session: corrections make notes)."""
    return "rcp-" + digest(tenant_id, session_id)


def note_id(tenant_id: str, session_id: str, revision: int) -> str:
    """The note correcting a session to `revision`."""
    return "note-" + digest(tenant_id, session_id, revision)


def refund_note_id(tenant_id: str, invoice_id: str, request_id: str) -> str:
    """The credit note of one refund request."""
    return "rfd-" + digest(tenant_id, invoice_id, request_id)


def statement_id(tenant_id: str, account_id: str, month: str) -> str:
    """The statement of an account's month."""
    return "stm-" + digest(tenant_id, account_id, month)


def session_line(
    session_id: str, revision: int, cdr_id: str, priced: PricedSession, description: str
) -> InvoiceLine:
    """A billed session revision as an invoice line."""
    return InvoiceLine(
        id=f"{session_id}:{revision}",
        kind=LineKind.SESSION,
        description=description,
        session_id=session_id,
        revision=revision,
        cdr_id=cdr_id,
        total_excl_tax=priced.total_excl_tax,
        taxes=tuple(
            TaxAmount(name=t.name, percent=t.percent, amount=t.amount) for t in priced.taxes
        ),
        total_incl_tax=priced.total_incl_tax,
        energy_kwh=priced.energy_kwh,
        breakdown=priced.lines,
        explanation=priced.explanation,
    )


def reversal_line(billed: InvoiceLine, revision: int) -> InvoiceLine:
    """Takes a billed session line off again, because revision `revision` corrects it."""
    return billed.model_copy(
        update={
            "id": f"{billed.session_id}:{revision}:reversal",
            "kind": LineKind.REVERSAL,
            "description": f"Reversal of {billed.description}",
            "total_excl_tax": -billed.total_excl_tax,
            "taxes": tuple(t.model_copy(update={"amount": -t.amount}) for t in billed.taxes),
            "total_incl_tax": -billed.total_incl_tax,
            "energy_kwh": -billed.energy_kwh,
        }
    )


def refund_line(line_id: str, invoice: Invoice, amount: Decimal, reason: str) -> InvoiceLine:
    """A refund of `amount` (with tax) of `invoice`, its taxes in the invoice's proportion."""
    whole = invoice.total_incl_tax
    taxes = tuple(
        TaxAmount(
            name=t.name,
            percent=t.percent,
            amount=-round_money(amount * t.amount / whole, invoice.currency),
        )
        for t in invoice.taxes
    )
    return InvoiceLine(
        id=line_id,
        kind=LineKind.REFUND,
        description=f"Refund: {reason}",
        total_excl_tax=-amount - sum((t.amount for t in taxes), _ZERO),
        taxes=taxes,
        total_incl_tax=-amount,
    )


def with_line(invoice: Invoice, line: InvoiceLine) -> Invoice:
    """The invoice with one more line: its totals are the sums of its lines."""
    return invoice.model_copy(
        update={
            "line_count": invoice.line_count + 1,
            "total_excl_tax": invoice.total_excl_tax + line.total_excl_tax,
            "taxes": _add_taxes(invoice.taxes, line.taxes),
            "total_incl_tax": invoice.total_incl_tax + line.total_incl_tax,
        }
    )


def with_lines(invoice: Invoice, lines: list[InvoiceLine] | tuple[InvoiceLine, ...]) -> Invoice:
    """The invoice with these lines added."""
    for line in lines:
        invoice = with_line(invoice, line)
    return invoice


def _add_taxes(taxes: tuple[TaxAmount, ...], more: tuple[TaxAmount, ...]) -> tuple[TaxAmount, ...]:
    """Tax amounts by (name, rate), in the order first seen."""
    merged = {(t.name, t.percent): t.amount for t in taxes}
    for tax in more:
        key = (tax.name, tax.percent)
        merged[key] = merged.get(key, _ZERO) + tax.amount
    return tuple(
        TaxAmount(name=name, percent=percent, amount=amount)
        for (name, percent), amount in merged.items()
    )
