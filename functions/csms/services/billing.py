"""Billing: every ended session priced, recorded (CDR), invoiced and collected exactly once.

`bill_session` runs for each TransactionEnded (the billing workflow retries it after any
failure, and EventBridge may deliver an event twice). Every step is safe to run again:

1. The session's newest revision is priced (`EndedSessionPricer`: the tariff version in force
   at its start, its usage): deterministic, so a replay prices it the same.
2. Its CDR is written under an id derived from tenant, session and revision (`add_cdr`: the
   first write wins); a correction first writes the credit CDR of the previous one.
3. A plan is recorded in the session's ledger (`save_ledger`, conditional on the version read):
   the revision, its CDR, the invoice it goes to and its line. From here on a retry follows
   the plan instead of deciding again (a statement closing at midnight cannot make a retry
   put the line on another month's statement too).
4. The plan is carried out: a receipt or a note created under a derived id (first write wins,
   numbered in the same write), lines added to a statement in one conditional write (never
   twice: the write fails when a line with that id exists), money moved with idempotency keys
   derived from tenant, session, revision and step (`csms:{tenant}:{session}:{revision}:
   capture`), so a retried call returns the first answer and moves no money twice; the
   invoice's new state is written with the payment's outcome.
5. The ledger is marked done; a replay of a done revision returns what was billed.

Events ride in the writes that record what they tell (the outbox): CdrCreated with the CDR,
InvoiceFinalized with the issued invoice, InvoicePaid / PaymentFailed with the invoice's new
state. A crash between two steps publishes nothing twice and loses nothing.

By billing mode (the account the session's token or group bills to, `BillingAccounts`):
- ad hoc: a receipt; the pre-authorisation made at start is captured (the rest charged when
  the price is above the hold), else the saved payment method is charged; a hold that cannot
  be captured (it lapsed) falls back to charging the saved method, and one in another currency
  is released; a session that cost nothing releases its hold and has no receipt;
- monthly: a line on the account's statement of the month the session ended in (the site's
  timezone); when that statement is closed already, on the current month's;
- free: the CDR only; nothing is collected.

A provider FAILED answer raises PaymentProviderError(retryable=True) and records nothing: the
workflow retries with the same keys. A decline (or a payer who must act, or no payment method)
is recorded for good: the invoice PAYMENT_FAILED with the reason and a PaymentFailed event;
it is never retried blindly. A payment accepted with its outcome to come (`processing`: a bank
debit, a pending refund) is recorded as such and the invoice stays FINALIZED, no event: the
provider's webhook settles it (csms.services.provider_events).

Corrections (a session revision above the billed one, e.g. a StopTransaction replayed late):
a credit CDR for the old CDR and a new CDR; the money difference as ONE note (credit or debit,
csms.domain.billing.invoice explains why) with the reversal and the corrected line for ad-hoc
sessions, refunded against the receipt's payment or charged; for monthly accounts the two
lines on a statement. A correction is billed exactly once like the end itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from csms.domain.billing.cdr import Cdr, SessionFacts, build_cdr, credit_cdr
from csms.domain.billing.invoice import (
    BillingAccount,
    BillingMode,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceState,
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
from csms.domain.billing.payments import (
    PaymentResult,
    PaymentStatus,
    ProviderEvent,
    from_minor,
    payment_metadata,
    to_minor,
)
from csms.domain.billing.pricing import PricedSession
from csms.domain.billing.tariff import Tariff
from csms.domain.billing.usage import SessionUsage
from csms.domain.errors import (
    BillingConflictError,
    ConcurrentModificationError,
    PaymentProviderError,
    ResourceNotFoundError,
)
from csms.domain.events import (
    CdrCreated,
    DomainEvent,
    InvoiceFinalized,
    InvoicePaid,
    PaymentFailed,
)
from csms.services.payments import PaymentProvider
from csms.services.ports import Page
from csms.services.provider_events import (
    PaymentUpdate,
    ProviderEventOutcome,
    SavedPaymentMethod,
    handled,
    payment_updates,
    saved_payment_methods,
    with_update,
)

logger = logging.getLogger(__name__)

INVOICE = "invoice"
LEDGER = "session-billing"
_ZERO = Decimal(0)
_COLLECTED = {PaymentStatus.SUCCEEDED, PaymentStatus.INVOICED}
_REFUNDED = {PaymentStatus.REFUNDED, PaymentStatus.SUCCEEDED, PaymentStatus.INVOICED}
# Accepted with the outcome to come by the provider's webhook (a bank debit, a pending refund):
# not a failure, and not paid yet.
_PENDING = {PaymentStatus.PROCESSING}

EventsFor = Callable[[Invoice], Sequence[DomainEvent]]
"""The events to publish with an invoice write, made from the invoice as stored (numbered)."""


# -- what billing needs from elsewhere ---------------------------------------------------------


@dataclass(frozen=True)
class EndedSession:
    """An ended session's newest revision, priced under the tariff in force at its start."""

    facts: SessionFacts
    tariff: Tariff
    usage: SessionUsage
    priced: PricedSession


class EndedSessionPricer(Protocol):
    """Prices an ended session (the tariff version in force at its start and its usage)."""

    def price_ended(self, tenant_id: str, session_id: str) -> EndedSession:
        """The newest revision of the ended session, priced.

        Raises SessionNotFoundError when absent, SessionNotPriceableError while it is still
        active or when its data cannot be priced.
        """
        ...


class BillingAccounts(Protocol):
    """Who pays: driver accounts and group accounts, with their billing mode."""

    def account_for(
        self, tenant_id: str, *, id_token: str | None, group_id: str | None
    ) -> BillingAccount:
        """The account a session of this token (and its group) bills to.

        Never None: a token nobody registered bills ad hoc to an anonymous account.
        """
        ...

    def get_account(self, tenant_id: str, account_id: str) -> BillingAccount | None:
        """The account as it stands now (its current payment method)."""
        ...

    def set_payment_method(
        self,
        tenant_id: str,
        account_id: str,
        payment_method: str | None,
        *,
        at: datetime | None = None,
    ) -> BillingAccount | None:
        """Save the account's default payment method (None: forget it); None when no account.

        With `at`, only when no newer choice is stored (the stored account is answered).
        """
        ...


@dataclass(frozen=True)
class Hold:
    """A pre-authorisation made when the session started."""

    reference: str
    amount_minor: int
    currency: str


class BilledRevision(BaseModel):
    """One revision of a session as billed (or planned to be)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    revision: int
    cdr_id: str
    currency: str
    total_incl_tax: Decimal
    # Where its money went (receipt, note or statement); None: nothing to invoice.
    invoice_id: str | None = None
    # Its invoice line (a later correction reverses it); None when nothing was invoiced.
    line: InvoiceLine | None = None


class SessionLedger(BaseModel):
    """A session's billing: the account, the revision billed (or being billed), the one before.

    `version` counts the ledger's writes; every write is conditional on it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str
    session_id: str
    account: BillingAccount
    current: BilledRevision
    previous: BilledRevision | None = None
    # Statement month of the session (YYYY-MM, site time): where monthly lines go first.
    month: str
    receipt_id: str | None = None
    done: bool = False
    version: int = 0


class BillingRepository(Protocol):
    """CDRs, invoices and their lines, session ledgers and holds of a tenant.

    Every write is conditional; nothing is ever written half: a method that returns False (or
    the stored item instead of the new one) wrote nothing, and its events are not published.
    """

    def add_cdr(self, tenant_id: str, cdr: Cdr, events: Sequence[DomainEvent]) -> Cdr:
        """Store the CDR unless one with its id exists; the stored one either way."""
        ...

    def get_cdr(self, tenant_id: str, cdr_id: str) -> Cdr | None:
        """A CDR by id."""
        ...

    def get_ledger(self, tenant_id: str, session_id: str) -> SessionLedger | None:
        """The session's ledger, strongly consistent."""
        ...

    def save_ledger(self, tenant_id: str, ledger: SessionLedger, expected_version: int) -> bool:
        """Store the ledger as version `expected_version + 1`.

        Only while the stored one is at `expected_version` (0: none stored); False otherwise.
        """
        ...

    def get_invoice(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        """An invoice's header, strongly consistent."""
        ...

    def create_invoice(
        self, tenant_id: str, invoice: Invoice, lines: Sequence[InvoiceLine], events: EventsFor
    ) -> Invoice:
        """Store a new invoice (version 1) with its lines, unless its id exists: the stored one.

        An issued invoice (state not OPEN) without a number gets the tenant's next number in
        the same write (a per-tenant counter: no gaps, never twice), before `events` is called.
        """
        ...

    def update_invoice(
        self, tenant_id: str, invoice: Invoice, expected_version: int, events: EventsFor
    ) -> Invoice | None:
        """Store the header as version `expected_version + 1`; None when it changed meanwhile.

        Numbered like `create_invoice` when it is issued without a number.
        """
        ...

    def add_lines(
        self,
        tenant_id: str,
        invoice: Invoice,
        lines: Sequence[InvoiceLine],
        expected_version: int,
    ) -> bool:
        """Store the lines and the header with them (its totals) in one write.

        Only while the stored header is at `expected_version` and none of the lines exists;
        False, nothing written, otherwise.
        """
        ...

    def get_line(self, tenant_id: str, invoice_id: str, line_id: str) -> InvoiceLine | None:
        """One line of an invoice."""
        ...

    def get_hold(self, tenant_id: str, session_id: str) -> Hold | None:
        """The pre-authorisation made when the session started, if any."""
        ...

    def list_invoices(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        *,
        account_id: str | None = None,
    ) -> Page[Invoice]:
        """Invoice headers, newest (by creation) first, a page at a time.

        `account_id`: only that account's. Raises InvalidCursorError for a cursor this list
        did not hand out.
        """
        ...

    def list_invoice_lines(self, tenant_id: str, invoice_id: str) -> list[InvoiceLine]:
        """Every line of an invoice, in the order they were added (none for an unknown id)."""
        ...

    def list_cdrs(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Page[Cdr]:
        """CDRs (credit CDRs too), newest end first, a page at a time.

        `since` <= end < `until` when given. Raises InvalidCursorError for a cursor this list
        did not hand out.
        """
        ...

    def claim_provider_event(self, event_id: str, received_at: datetime) -> bool:
        """Record a payment provider's event id: True the first time, False ever after.

        Provider events belong to the operator's account, not to a tenant: kept apart, for
        long enough that the provider has stopped redelivering (then they expire).
        """
        ...


@dataclass(frozen=True)
class BillingOutcome:
    """What billing a session revision came to."""

    session_id: str
    revision: int
    cdr_id: str
    invoice: Invoice | None


# -- the service -------------------------------------------------------------------------------


class BillingService:
    """Bills ended sessions, closes monthly statements and refunds, each exactly once."""

    def __init__(
        self,
        *,
        repository: BillingRepository,
        pricer: EndedSessionPricer,
        accounts: BillingAccounts,
        payments: PaymentProvider,
        attempts: int = 5,
    ) -> None:
        self._repo = repository
        self._pricer = pricer
        self._accounts = accounts
        self._payments = payments
        self._attempts = attempts

    # -- sessions -------------------------------------------------------------------------------

    def bill_session(self, tenant_id: str, session_id: str, now: datetime) -> BillingOutcome:
        """Bill the session's newest revision (first billing or correction), exactly once."""
        ended = self._pricer.price_ended(tenant_id, session_id)
        revision = ended.facts.revision
        for _ in range(self._attempts):
            ledger = self._repo.get_ledger(tenant_id, session_id)
            if ledger is not None and not ledger.done:
                # An unfinished plan (this revision's, or an older one's): finish it first.
                ledger = self._carry_out(ledger, now)
            if ledger is not None and ledger.current.revision >= revision:
                return self._outcome(ledger)
            planned = self._plan(tenant_id, ended, ledger, now)
            if planned is not None:
                return self._outcome(self._carry_out(planned, now))
        raise ConcurrentModificationError(LEDGER, session_id)

    def _plan(
        self, tenant_id: str, ended: EndedSession, ledger: SessionLedger | None, now: datetime
    ) -> SessionLedger | None:
        """Write the CDRs and record the plan; None when another run recorded one first."""
        facts, priced = ended.facts, ended.priced
        account = (
            ledger.account
            if ledger is not None
            else self._accounts.account_for(
                tenant_id, id_token=facts.id_token, group_id=facts.group_id
            )
        )
        facts = facts.model_copy(update={"account_id": account.id})
        previous = ledger.current if ledger is not None else None
        if previous is not None:
            self._write_credit_cdr(tenant_id, previous.cdr_id, facts.revision, now)
        cdr = build_cdr(facts, ended.tariff, ended.usage, priced, now)
        cdr = self._repo.add_cdr(tenant_id, cdr, [_cdr_event(cdr, facts.station_id, now)])
        month = (
            ledger.month
            if ledger is not None
            else ended.usage.stop.astimezone(ended.usage.zone).strftime("%Y-%m")
        )
        line = (
            session_line(facts.session_id, facts.revision, cdr.id, priced, _describe(ended))
            if account.mode is not BillingMode.FREE
            else None
        )
        current = BilledRevision(
            revision=facts.revision,
            cdr_id=cdr.id,
            currency=priced.currency,
            total_incl_tax=priced.total_incl_tax,
            line=line,
        )
        receipt = ledger.receipt_id if ledger is not None else None
        target = self._target(
            tenant_id, account=account, current=current, previous=previous, month=month, now=now
        )
        if target is not None and previous is None and account.mode is BillingMode.AD_HOC:
            receipt = target
        plan = SessionLedger(
            tenant_id=tenant_id,
            session_id=facts.session_id,
            account=account,
            current=current.model_copy(update={"invoice_id": target}),
            previous=previous,
            month=month,
            receipt_id=receipt,
        )
        expected = ledger.version if ledger is not None else 0
        if not self._repo.save_ledger(tenant_id, plan, expected):
            return None
        return plan.model_copy(update={"version": expected + 1})

    def _target(
        self,
        tenant_id: str,
        *,
        account: BillingAccount,
        current: BilledRevision,
        previous: BilledRevision | None,
        month: str,
        now: datetime,
    ) -> str | None:
        """The invoice the revision's money goes to; None when there is nothing to invoice."""
        session_id = current.line.session_id if current.line is not None else None
        if account.mode is BillingMode.FREE or session_id is None:
            return None
        before = previous.total_incl_tax if previous is not None else _ZERO
        if current.total_incl_tax == before:
            # Nothing to collect or give back (a free session, or a correction that changes
            # no money: its CDRs say what changed).
            return None
        if account.mode is BillingMode.AD_HOC:
            if previous is None:
                return receipt_id(tenant_id, session_id)
            return note_id(tenant_id, session_id, current.revision)
        return self._statement_for(tenant_id, account.id, month, now)

    def _statement_for(self, tenant_id: str, account_id: str, month: str, now: datetime) -> str:
        """The statement of `month` while open, else the current month's (in UTC)."""
        first = statement_id(tenant_id, account_id, month)
        stored = self._repo.get_invoice(tenant_id, first)
        if stored is None or stored.state is InvoiceState.OPEN:
            return first
        return statement_id(tenant_id, account_id, now.strftime("%Y-%m"))

    def _write_credit_cdr(self, tenant_id: str, old_id: str, revision: int, now: datetime) -> None:
        old = self._repo.get_cdr(tenant_id, old_id)
        if old is None:  # pragma: no cover - the ledger names only CDRs written before it
            raise ResourceNotFoundError("cdr", old_id)
        credit = credit_cdr(old, revision, now)
        self._repo.add_cdr(tenant_id, credit, [_cdr_event(credit, None, now)])

    def _carry_out(self, ledger: SessionLedger, now: datetime) -> SessionLedger:
        """Carry out the recorded plan (again), then mark the ledger done."""
        current = ledger.current
        account = ledger.account
        if current.invoice_id is None:
            if ledger.previous is None and account.mode is BillingMode.AD_HOC:
                self._release_hold(ledger)
        elif account.mode is BillingMode.MONTHLY:
            ledger = self._to_statement(ledger, now)
        else:
            self._ad_hoc(ledger, now)
        for _ in range(self._attempts):
            done = ledger.model_copy(update={"done": True})
            if self._repo.save_ledger(ledger.tenant_id, done, ledger.version):
                return done.model_copy(update={"version": ledger.version + 1})
            stored = self._repo.get_ledger(ledger.tenant_id, ledger.session_id)
            if stored is None or stored.current.revision != current.revision or stored.done:
                # Another run finished this plan (or planned past it) meanwhile.
                return stored or done
            ledger = stored
        raise ConcurrentModificationError(LEDGER, ledger.session_id)

    def _outcome(self, ledger: SessionLedger) -> BillingOutcome:
        current = ledger.current
        invoice = (
            self._repo.get_invoice(ledger.tenant_id, current.invoice_id)
            if current.invoice_id is not None
            else None
        )
        return BillingOutcome(ledger.session_id, current.revision, current.cdr_id, invoice)

    # -- ad hoc: receipts and notes -------------------------------------------------------------

    def _ad_hoc(self, ledger: SessionLedger, now: datetime) -> None:
        tenant_id, current, previous = ledger.tenant_id, ledger.current, ledger.previous
        invoice_id = current.invoice_id or ""
        lines = _correction_lines(previous, current)
        if previous is None:
            kind = InvoiceKind.RECEIPT
        else:
            difference = current.total_incl_tax - previous.total_incl_tax
            kind = InvoiceKind.DEBIT_NOTE if difference > 0 else InvoiceKind.CREDIT_NOTE
        draft = with_lines(
            Invoice(
                id=invoice_id,
                tenant_id=tenant_id,
                kind=kind,
                state=InvoiceState.FINALIZED,
                account_id=ledger.account.id,
                currency=current.currency,
                session_id=ledger.session_id,
                refers_to=ledger.receipt_id if previous is not None else None,
                created_at=now,
                finalized_at=now,
                updated_at=now,
            ),
            lines,
        )
        invoice = self._repo.create_invoice(tenant_id, draft, lines, _finalized)
        if _settled(invoice):
            return
        if kind is InvoiceKind.CREDIT_NOTE:
            self._give_back(ledger, invoice, now)
            return
        key = f"csms:{tenant_id}:{ledger.session_id}:{current.revision}"
        hold = self._repo.get_hold(tenant_id, ledger.session_id) if previous is None else None
        results = self._collect(ledger.account, invoice, hold, key)
        self._record(invoice, results, now)

    def _release_hold(self, ledger: SessionLedger) -> None:
        """A session that cost nothing: its pre-authorisation is released."""
        hold = self._repo.get_hold(ledger.tenant_id, ledger.session_id)
        if hold is None:
            return
        key = f"csms:{ledger.tenant_id}:{ledger.session_id}:{ledger.current.revision}:cancel"
        result = self._payments.cancel(
            ledger.tenant_id, reference=hold.reference, idempotency_key=key
        )
        _raise_if_retryable(result)

    def _collect(
        self, account: BillingAccount, invoice: Invoice, hold: Hold | None, key: str
    ) -> list[tuple[str, PaymentResult]]:
        """Capture the hold (and charge what it does not cover), or charge the whole amount."""
        tenant_id, currency = invoice.tenant_id, invoice.currency
        amount = to_minor(invoice.total_incl_tax, currency)
        results: list[tuple[str, PaymentResult]] = []
        if hold is not None and (hold.currency != currency or hold.amount_minor <= 0):
            # A hold that cannot pay this invoice (the tariff's currency changed): released
            # now rather than left on the driver's card until the provider lets it lapse.
            released = self._payments.cancel(
                tenant_id, reference=hold.reference, idempotency_key=f"{key}:cancel"
            )
            _raise_if_retryable(released)
        elif hold is not None:
            captured = min(amount, hold.amount_minor)
            result = self._payments.capture(
                tenant_id,
                reference=hold.reference,
                amount_minor=captured,
                idempotency_key=f"{key}:capture",
            )
            _raise_if_retryable(result)
            if result.status in _COLLECTED | _PENDING:
                results.append(("capture", result))
                amount -= captured
                if amount == 0 or result.status not in _COLLECTED:
                    return results
            else:
                # The hold is gone (it lapsed: card holds last about 7 days, or it was
                # cancelled): the saved method is charged the whole price instead. Its outcome
                # decides the invoice's state; the failed capture moved no money.
                logger.warning(
                    "pre-authorisation could not be captured; charging the saved method",
                    extra={
                        "tenant_id": tenant_id,
                        "invoice_id": invoice.id,
                        "code": result.failure_code,
                    },
                )
        results.append(("charge", self._charge(account, invoice, amount, f"{key}:charge")))
        return results

    def _charge(
        self, account: BillingAccount, invoice: Invoice, amount: int, key: str
    ) -> PaymentResult:
        if account.customer is None:
            return PaymentResult(
                status=PaymentStatus.DECLINED,
                amount_minor=amount,
                currency=invoice.currency,
                failure_code="no-payment-method",
                failure_message="the account has no payment method to charge",
            )
        result = self._payments.charge(
            invoice.tenant_id,
            customer=account.customer,
            payment_method=account.payment_method,
            amount_minor=amount,
            currency=invoice.currency,
            idempotency_key=key,
            description=_invoice_description(invoice),
            metadata=payment_metadata(invoice.id, invoice.session_id),
        )
        _raise_if_retryable(result)
        return result

    def _record(
        self, invoice: Invoice, results: list[tuple[str, PaymentResult]], now: datetime
    ) -> Invoice:
        """Write the payments' outcome on the invoice (with its event), exactly once."""
        payments = tuple(
            Payment(
                reference=r.reference,
                kind="invoice" if r.status is PaymentStatus.INVOICED else kind,
                amount=from_minor(r.amount_minor, r.currency),
                status=r.status.value,
            )
            for kind, r in results
        )
        failed = next((r for _, r in results if r.status not in _COLLECTED | _PENDING), None)
        invoiced = all(r.status is PaymentStatus.INVOICED for _, r in results)
        pending = any(r.status in _PENDING for _, r in results)
        if failed is not None:
            update = {
                "state": InvoiceState.PAYMENT_FAILED,
                "failure_code": failed.failure_code or failed.status.value,
                "failure_message": failed.failure_message or f"payment {failed.status.value}",
            }
        else:
            # Due on an invoice (the invoice-only provider), or pending at the provider (its
            # webhook tells the outcome): stays FINALIZED, with the record.
            due = invoiced or pending
            update = {"state": InvoiceState.FINALIZED if due else InvoiceState.PAID}
        return self._update(invoice, {**update, "payments": payments, "updated_at": now})

    def _update(
        self,
        invoice: Invoice,
        update: dict[str, object],
        *,
        events: EventsFor | None = None,
        done: Callable[[Invoice], bool] | None = None,
    ) -> Invoice:
        """Apply `update` to the invoice unless another run did it first (`done`)."""
        finished = done or _settled
        for _ in range(self._attempts):
            changed = invoice.model_copy(update=update)
            stored = self._repo.update_invoice(
                invoice.tenant_id, changed, invoice.version, events or _state_events
            )
            if stored is not None:
                return stored
            fresh = self._repo.get_invoice(invoice.tenant_id, invoice.id)
            if fresh is None or finished(fresh):
                return fresh or changed
            invoice = fresh
        raise ConcurrentModificationError(INVOICE, invoice.id)

    def _give_back(self, ledger: SessionLedger, note: Invoice, now: datetime) -> None:
        """Refund a credit note's amount against the receipt's payment, when it was paid."""
        amount = -note.total_incl_tax
        receipt = (
            self._repo.get_invoice(ledger.tenant_id, ledger.receipt_id)
            if ledger.receipt_id is not None
            else None
        )
        if receipt is None or receipt.payment_reference is None:
            # Nothing was collected by card: the credit stands on the note (FINALIZED).
            return
        claimed = next((c.amount for c in receipt.refunds if c.note_id == note.id), None)
        # An operator may have refunded the receipt meanwhile: give back at most what is left,
        # and nothing when it was refunded in full (the note still records the correction).
        give = claimed if claimed is not None else min(amount, receipt.paid - receipt.refunded)
        if give <= 0:
            return
        receipt = self._reserve_refund(receipt, note.id, give, now)
        self._refund(receipt, note, give, "corrected session", now)

    # -- monthly statements ------------------------------------------------------------------

    def _to_statement(self, ledger: SessionLedger, now: datetime) -> SessionLedger:
        """Add the revision's line(s) to the planned statement; re-plan once if it closed."""
        tenant_id, current = ledger.tenant_id, ledger.current
        lines = _correction_lines(ledger.previous, current)
        for _ in range(2):
            invoice_id = current.invoice_id or ""
            if self._add_to_statement(tenant_id, ledger, invoice_id, lines, now):
                return ledger
            # Closed between the plan and now: the current month's statement takes the lines.
            target = statement_id(tenant_id, ledger.account.id, now.strftime("%Y-%m"))
            if target == invoice_id:
                break
            current = current.model_copy(update={"invoice_id": target})
            replanned = ledger.model_copy(update={"current": current})
            if not self._repo.save_ledger(tenant_id, replanned, ledger.version):
                raise ConcurrentModificationError(LEDGER, ledger.session_id)
            ledger = replanned.model_copy(update={"version": ledger.version + 1})
        raise BillingConflictError(INVOICE, current.invoice_id or "", "the statement is closed")

    def _add_to_statement(
        self,
        tenant_id: str,
        ledger: SessionLedger,
        invoice_id: str,
        lines: list[InvoiceLine],
        now: datetime,
    ) -> bool:
        """Add the lines once; False when the statement is closed (and lacks them)."""
        currency = ledger.current.currency
        for _ in range(self._attempts):
            statement = self._repo.get_invoice(tenant_id, invoice_id)
            if statement is None:
                statement = self._repo.create_invoice(
                    tenant_id, _new_statement(tenant_id, ledger, invoice_id, now), [], _none
                )
            if self._repo.get_line(tenant_id, invoice_id, lines[0].id) is not None:
                return True
            if statement.state is not InvoiceState.OPEN:
                return False
            if statement.currency != currency:
                raise BillingConflictError(
                    INVOICE,
                    invoice_id,
                    f"a {currency} session cannot go on a {statement.currency} statement",
                )
            updated = with_lines(statement, lines).model_copy(update={"updated_at": now})
            if self._repo.add_lines(tenant_id, updated, lines, statement.version):
                return True
        raise ConcurrentModificationError(INVOICE, invoice_id)

    def finalize_month(
        self, tenant_id: str, account_id: str, month: str, now: datetime
    ) -> Invoice | None:
        """Close the account's statement of `month` (YYYY-MM) and collect it, exactly once.

        None when the account had no statement that month. A statement of nothing or of a
        credit is closed with nothing to collect.
        """
        invoice_id = statement_id(tenant_id, account_id, month)
        statement = self._repo.get_invoice(tenant_id, invoice_id)
        if statement is None:
            return None
        if statement.state is InvoiceState.OPEN:
            statement = self._update(
                statement,
                {"state": InvoiceState.FINALIZED, "finalized_at": now, "updated_at": now},
                events=_finalized,
                done=lambda stored: stored.state is not InvoiceState.OPEN,
            )
        if _settled(statement) or statement.state is not InvoiceState.FINALIZED:
            return statement
        if statement.total_incl_tax <= 0:
            return statement
        account = self._accounts.get_account(tenant_id, account_id) or BillingAccount(
            id=account_id, mode=BillingMode.MONTHLY
        )
        key = f"csms:{tenant_id}:{invoice_id}"
        charged = self._charge(
            account,
            statement,
            to_minor(statement.total_incl_tax, statement.currency),
            f"{key}:charge",
        )
        return self._record(statement, [("charge", charged)], now)

    # -- refunds -------------------------------------------------------------------------------

    def refund(
        self,
        tenant_id: str,
        invoice_id: str,
        *,
        amount: Decimal | None,
        reason: str,
        request_id: str,
        now: datetime,
    ) -> Invoice:
        """Give back `amount` (with tax; None: all not yet refunded) of a paid invoice.

        Makes a credit note (one per `request_id`: a retried request finds it) and refunds
        the invoice's payment. Who may refund is the API's business.
        """
        invoice = self._repo.get_invoice(tenant_id, invoice_id)
        if invoice is None:
            raise ResourceNotFoundError(INVOICE, invoice_id)
        note_key = refund_note_id(tenant_id, invoice_id, request_id)
        note = self._repo.get_invoice(tenant_id, note_key)
        if note is None:
            if invoice.payment_reference is None:
                raise BillingConflictError(INVOICE, invoice_id, "nothing was paid by card on it")
            claimed = next((c.amount for c in invoice.refunds if c.note_id == note_key), None)
            left = invoice.paid - invoice.refunded
            wanted = claimed or (left if amount is None else amount)
            if claimed is None and not _ZERO < wanted <= left:
                raise BillingConflictError(
                    INVOICE, invoice_id, f"{wanted} {invoice.currency} is not refundable"
                )
            invoice = self._reserve_refund(invoice, note_key, wanted, now)
            line = refund_line(f"{note_key}:1", invoice, wanted, reason)
            draft = with_lines(
                Invoice(
                    id=note_key,
                    tenant_id=tenant_id,
                    kind=InvoiceKind.CREDIT_NOTE,
                    state=InvoiceState.FINALIZED,
                    account_id=invoice.account_id,
                    currency=invoice.currency,
                    session_id=invoice.session_id,
                    refers_to=invoice.id,
                    created_at=now,
                    finalized_at=now,
                    updated_at=now,
                ),
                [line],
            )
            note = self._repo.create_invoice(tenant_id, draft, [line], _finalized)
        if _settled(note):
            return note
        return self._refund(invoice, note, -note.total_incl_tax, reason, now)

    def _reserve_refund(
        self, invoice: Invoice, note: str, amount: Decimal, now: datetime
    ) -> Invoice:
        """Count `amount` as refunded on the invoice, once per note (guards over-refunding)."""
        for _ in range(self._attempts):
            if any(c.note_id == note for c in invoice.refunds):
                return invoice
            if invoice.refunded + amount > invoice.paid:
                raise BillingConflictError(INVOICE, invoice.id, "refunds would exceed the payment")
            claim = RefundClaim(note_id=note, amount=amount)
            changed = invoice.model_copy(
                update={"refunds": (*invoice.refunds, claim), "updated_at": now}
            )
            stored = self._repo.update_invoice(invoice.tenant_id, changed, invoice.version, _none)
            if stored is not None:
                return stored
            invoice = self._repo.get_invoice(invoice.tenant_id, invoice.id) or invoice
        raise ConcurrentModificationError(INVOICE, invoice.id)

    def _refund(
        self, paid: Invoice, note: Invoice, amount: Decimal, reason: str, now: datetime
    ) -> Invoice:
        result = self._payments.refund(
            paid.tenant_id,
            reference=paid.payment_reference or "",
            amount_minor=to_minor(amount, paid.currency),
            idempotency_key=f"csms:{paid.tenant_id}:{note.id}:refund",
            reason=reason,
            # The refund is recorded on the note: its outcome, told later, goes there.
            metadata=payment_metadata(note.id, note.session_id),
        )
        _raise_if_retryable(result)
        ok = result.status in _REFUNDED
        refund = Payment(
            reference=result.reference,
            kind="refund",
            amount=-from_minor(result.amount_minor, result.currency),
            status=result.status.value,
        )
        update: dict[str, object] = {"payments": (refund,), "updated_at": now}
        if ok:
            update["state"] = InvoiceState.PAID
        elif result.status not in _PENDING:  # pending: FINALIZED until its webhook tells
            update |= {
                "state": InvoiceState.PAYMENT_FAILED,
                "failure_code": result.failure_code or result.status.value,
                "failure_message": result.failure_message or f"refund {result.status.value}",
            }
        return self._update(note, update)

    # -- the payment provider's notifications ---------------------------------------------------

    def apply_provider_event(self, event: ProviderEvent, *, now: datetime) -> ProviderEventOutcome:
        """Apply a verified provider notification (a payment's late outcome) exactly once.

        Once comes from the change itself: it is conditional on the invoice's version and
        moves a payment only forward (csms.services.provider_events), so a redelivery, or two
        deliveries racing, find nothing left to change. The event id is claimed after the
        change, to tell a redelivery apart (REPLAY): claimed first, a failure between claim
        and change would drop the change for good, as every redelivery would be taken for a
        replay. Events of types billing does not act on are not claimed (nothing written).
        """
        if not handled(event):
            return ProviderEventOutcome.IGNORED
        applied = False
        for update in payment_updates(event):
            applied = self._apply_payment_update(update, now) or applied
        for saved in saved_payment_methods(event):
            applied = self._save_payment_method(saved) or applied
        if not self._repo.claim_provider_event(event.id, now):
            return ProviderEventOutcome.REPLAY
        return ProviderEventOutcome.APPLIED if applied else ProviderEventOutcome.IGNORED

    def _save_payment_method(self, saved: SavedPaymentMethod) -> bool:
        # Only for the customer the setup was made for: a method of another customer could
        # not be charged for this account anyway.
        account = self._accounts.get_account(saved.tenant_id, saved.account_id)
        if account is None or (saved.customer is not None and saved.customer != account.customer):
            return False
        if account.payment_method == saved.payment_method:
            return False
        changed = self._accounts.set_payment_method(
            saved.tenant_id, saved.account_id, saved.payment_method, at=saved.at
        )
        return changed is not None and changed.payment_method_since == saved.at

    def _apply_payment_update(self, update: PaymentUpdate, now: datetime) -> bool:
        for _ in range(self._attempts):
            invoice = self._repo.get_invoice(update.tenant_id, update.invoice_id)
            changed = with_update(invoice, update, now) if invoice is not None else None
            if invoice is None or changed is None:
                return False
            if self._repo.update_invoice(
                invoice.tenant_id, changed, invoice.version, _state_events
            ):
                return True
        raise ConcurrentModificationError(INVOICE, update.invoice_id)


# -- helpers -----------------------------------------------------------------------------------


def _correction_lines(
    previous: BilledRevision | None, current: BilledRevision
) -> list[InvoiceLine]:
    """The reversal of what was invoiced before (if anything), then the revision's line."""
    lines = []
    if previous is not None and previous.line is not None:
        lines.append(reversal_line(previous.line, current.revision))
    if current.line is not None:
        lines.append(current.line)
    return lines


def _settled(invoice: Invoice) -> bool:
    """Whether collecting (or giving back) was done already: its outcome is on the invoice."""
    return bool(invoice.payments) or invoice.state in (
        InvoiceState.PAID,
        InvoiceState.PAYMENT_FAILED,
        InvoiceState.VOID,
    )


def _raise_if_retryable(result: PaymentResult) -> None:
    if result.retryable:
        raise PaymentProviderError(result.failure_code or "provider-failed", retryable=True)


def _new_statement(
    tenant_id: str, ledger: SessionLedger, invoice_id: str, now: datetime
) -> Invoice:
    # The session's month, unless its statement was closed and the current month's takes it.
    first = statement_id(tenant_id, ledger.account.id, ledger.month)
    return Invoice(
        id=invoice_id,
        tenant_id=tenant_id,
        kind=InvoiceKind.STATEMENT,
        state=InvoiceState.OPEN,
        account_id=ledger.account.id,
        currency=ledger.current.currency,
        period=ledger.month if invoice_id == first else now.strftime("%Y-%m"),
        created_at=now,
        updated_at=now,
    )


def _describe(ended: EndedSession) -> str:
    usage, facts = ended.usage, ended.facts
    local = usage.start.astimezone(usage.zone)
    return (
        f"Charging at {facts.station_id} on {local:%Y-%m-%d %H:%M} ({usage.timezone}), "
        f"{ended.priced.energy_kwh} kWh"
    )


def _invoice_description(invoice: Invoice) -> str:
    if invoice.kind is InvoiceKind.STATEMENT:
        return f"Charging statement {invoice.period}"
    return f"Charging session {invoice.session_id}"


def _cdr_event(cdr: Cdr, station_id: str | None, now: datetime) -> CdrCreated:
    return CdrCreated(
        tenant_id=cdr.tenant_id,
        station_id=station_id,
        occurred_at=now,
        cdr_id=cdr.id,
        session_id=cdr.session_id,
        revision=cdr.revision,
        credit=cdr.credit,
        credit_reference_id=cdr.credit_reference_id,
        currency=cdr.currency,
        total_excl_tax=cdr.total_cost.excl_vat,
        total_incl_tax=cdr.total_cost.incl_vat,
        energy_kwh=cdr.total_energy,
    )


def _none(invoice: Invoice) -> Sequence[DomainEvent]:
    return ()


def _finalized(invoice: Invoice) -> Sequence[DomainEvent]:
    """InvoiceFinalized for an invoice as issued (numbered)."""
    return [
        InvoiceFinalized(
            tenant_id=invoice.tenant_id,
            occurred_at=invoice.finalized_at or invoice.updated_at,
            invoice_id=invoice.id,
            number=invoice.number or 0,
            kind=invoice.kind.value,
            account_id=invoice.account_id,
            session_id=invoice.session_id,
            period=invoice.period,
            refers_to=invoice.refers_to,
            currency=invoice.currency,
            total_excl_tax=invoice.total_excl_tax,
            total_incl_tax=invoice.total_incl_tax,
        )
    ]


def _state_events(invoice: Invoice) -> Sequence[DomainEvent]:
    """What a payment outcome tells: InvoicePaid, PaymentFailed, or nothing (due)."""
    common = {
        "tenant_id": invoice.tenant_id,
        "occurred_at": invoice.updated_at,
        "invoice_id": invoice.id,
        "account_id": invoice.account_id,
        "session_id": invoice.session_id,
        "currency": invoice.currency,
    }
    if invoice.state is InvoiceState.PAID:
        return [
            InvoicePaid(
                **common,
                amount=sum((p.amount for p in invoice.payments), _ZERO),
                payment_reference=next((p.reference for p in invoice.payments), None),
            )
        ]
    if invoice.state is InvoiceState.PAYMENT_FAILED:
        return [
            PaymentFailed(
                **common,
                amount=invoice.total_incl_tax,
                code=invoice.failure_code or "failed",
                reason=invoice.failure_message or "payment failed",
            )
        ]
    return []
