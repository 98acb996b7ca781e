"""Bodies of the billing endpoints: invoices and their lines, CDRs, a session's billing, refunds.

Amounts are decimal strings on the wire ("4.81"), never binary floats; signed as billed (a
credit note's lines and totals are negative). The domain's own parts (tax amounts, lines,
payments, the OCPI parts of a CDR) are shown as they are stored, in camelCase.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import ConfigDict, Field

from csms.domain.billing.cdr import (
    AuthMethod,
    Cdr,
    CdrLocation,
    CdrPrice,
    CdrToken,
    ChargingPeriod,
)
from csms.domain.billing.invoice import (
    BillingMode,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceState,
    Payment,
    TaxAmount,
)
from csms.handlers.api_models import ApiModel
from csms.services.billing import BilledRevision
from csms.services.billing_queries import InvoiceDocument, SessionBilling
from csms.services.provider_events import ProviderEventOutcome


class InvoiceView(ApiModel):
    """An invoice's header: what is asked or given back, and where its payment stands."""

    id: str
    number: str | None = Field(description="`INV-000042`, given when the invoice is issued")
    kind: InvoiceKind
    state: InvoiceState
    account_id: str | None = Field(description="The billing account it is addressed to")
    currency: str
    period: str | None = Field(description="A statement's month, `YYYY-MM`")
    session_id: str | None = Field(description="The session of a receipt or a note")
    refers_to: str | None = Field(description="The invoice a note corrects or refunds")
    line_count: int
    total_excl_tax: Decimal
    taxes: tuple[TaxAmount, ...]
    total_incl_tax: Decimal
    paid: Decimal = Field(description="Collected by the payment provider")
    refunded: Decimal = Field(description="Given back by the credit notes that refer to it")
    payments: tuple[Payment, ...]
    failure_code: str | None = None
    failure_message: str | None = None
    created_at: datetime
    finalized_at: datetime | None = None
    updated_at: datetime

    @classmethod
    def of(cls, invoice: Invoice) -> InvoiceView:
        """From the domain invoice."""
        return cls(
            id=invoice.id,
            number=invoice.display_number,
            kind=invoice.kind,
            state=invoice.state,
            account_id=invoice.account_id,
            currency=invoice.currency,
            period=invoice.period,
            session_id=invoice.session_id,
            refers_to=invoice.refers_to,
            line_count=invoice.line_count,
            total_excl_tax=invoice.total_excl_tax,
            taxes=invoice.taxes,
            total_incl_tax=invoice.total_incl_tax,
            paid=invoice.paid,
            refunded=invoice.refunded,
            payments=invoice.payments,
            failure_code=invoice.failure_code,
            failure_message=invoice.failure_message,
            created_at=invoice.created_at,
            finalized_at=invoice.finalized_at,
            updated_at=invoice.updated_at,
        )


class InvoiceDetail(InvoiceView):
    """An invoice with its lines (each with its priced breakdown and explanation)."""

    lines: list[InvoiceLine]

    @classmethod
    def of_document(cls, document: InvoiceDocument) -> InvoiceDetail:
        """From the header and its lines."""
        header = InvoiceView.of(document.invoice).model_dump()
        return cls(**header, lines=document.lines)


class InvoicePage(ApiModel):
    """A page of invoices, newest first."""

    items: list[InvoiceView]
    next_cursor: str | None = None


class CdrView(ApiModel):
    """A charge detail record (fields as OCPI 2.2.1's CDR; docs/pricing.md maps them)."""

    id: str
    session_id: str
    revision: int = Field(description="1: the session's end; higher: a correction")
    start_date_time: datetime
    end_date_time: datetime
    cdr_token: CdrToken
    auth_method: AuthMethod
    location: CdrLocation
    currency: str
    tariff_id: str
    tariff_version: int
    charging_periods: tuple[ChargingPeriod, ...]
    total_cost: CdrPrice
    total_fixed_cost: CdrPrice
    total_energy: Decimal = Field(description="kWh")
    total_energy_cost: CdrPrice
    total_time: Decimal = Field(description="Hours plugged in")
    total_time_cost: CdrPrice
    total_parking_time: Decimal = Field(description="Hours idle")
    total_parking_cost: CdrPrice
    credit: bool = Field(description="A credit CDR cancels the CDR it names")
    credit_reference_id: str | None = None
    group_id: str | None = Field(
        default=None,
        description="The driver group the session was charged under (not in OCPI's CDR)",
    )
    last_updated: datetime

    @classmethod
    def of(cls, cdr: Cdr) -> CdrView:
        """From the domain CDR (everything but the tenant)."""
        return cls.model_validate(cdr.model_dump(exclude={"tenant_id"}))


class CdrPage(ApiModel):
    """A page of CDRs, newest end first."""

    items: list[CdrView]
    next_cursor: str | None = None


class BilledRevisionView(ApiModel):
    """One revision of a session as billed."""

    revision: int
    cdr_id: str
    currency: str
    total_incl_tax: Decimal
    invoice_id: str | None = Field(description="Where its money went; none when nothing to")

    @classmethod
    def of(cls, billed: BilledRevision) -> BilledRevisionView:
        """From the ledger's record."""
        return cls(
            revision=billed.revision,
            cdr_id=billed.cdr_id,
            currency=billed.currency,
            total_incl_tax=billed.total_incl_tax,
            invoice_id=billed.invoice_id,
        )


class SessionBillingView(ApiModel):
    """A session's billing: its CDR, its invoice and where the payment stands."""

    session_id: str
    billed: bool = Field(description="False until billing has recorded the session")
    done: bool = Field(description="Every step of billing the current revision is done")
    account_id: str | None = None
    billing_mode: BillingMode | None = None
    current: BilledRevisionView | None = None
    previous: BilledRevisionView | None = Field(
        default=None, description="The revision a correction replaced"
    )
    receipt_id: str | None = None
    invoice: InvoiceView | None = Field(
        default=None, description="The invoice of the current revision, with its payments"
    )

    @classmethod
    def of(cls, billing: SessionBilling) -> SessionBillingView:
        """From the ledger and its invoice."""
        ledger = billing.ledger
        if ledger is None:
            return cls(session_id=billing.session_id, billed=False, done=False)
        return cls(
            session_id=billing.session_id,
            billed=True,
            done=ledger.done,
            account_id=ledger.account.id,
            billing_mode=ledger.account.mode,
            current=BilledRevisionView.of(ledger.current),
            previous=BilledRevisionView.of(ledger.previous) if ledger.previous else None,
            receipt_id=ledger.receipt_id,
            invoice=InvoiceView.of(billing.invoice) if billing.invoice else None,
        )


RefundAmount = Annotated[
    Decimal, Field(gt=0, le=1_000_000, decimal_places=3, description="With tax")
]


class RefundCreate(ApiModel):
    """A refund of a paid invoice (given back as a credit note)."""

    model_config = ConfigDict(extra="forbid")

    amount: RefundAmount | None = Field(
        default=None, description="With tax, in the invoice's currency; left out: all not refunded"
    )
    reason: Annotated[str, Field(min_length=1, max_length=200)]
    request_id: Annotated[
        str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    ] = Field(description="The client's id of this refund: the same id again refunds nothing twice")


class WebhookReceipt(ApiModel):
    """What the webhook endpoint did with a delivery."""

    received: bool = True
    outcome: ProviderEventOutcome
