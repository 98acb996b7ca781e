"""The monthly close: every statement of last month finalized and collected, exactly once.

The schedule runs it on the 1st of each month, when the previous month has ended in every
timezone; `BillingService.finalize_month` makes each statement's close safe to repeat, so a
retried run closes only what is left.

Which statements a month has, across tenants, is the `StatementsToClose` port's: the storage
notes each statement of a month where the close can find it (the DynamoDB adapter: a marker in
the month's own partition, written with the statement) and hands out those `still_to_close`
says are left. Exactly once does not rest on that list: a statement listed twice, or listed
after another run settled it, is closed by `finalize_month`, which re-reads it and does nothing
more; the list only keeps a second run from reading and charging what is done.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from csms.domain.billing.invoice import Invoice, InvoiceState
from csms.domain.errors import (
    ConcurrentModificationError,
    DomainError,
    PaymentProviderError,
)
from csms.services.billing import BillingService


@dataclass(frozen=True)
class StatementRef:
    """A monthly statement: whose account, in which tenant."""

    tenant_id: str
    account_id: str


class StatementsToClose(Protocol):
    """Monthly statements of a month that still need closing, across tenants."""

    def statements_to_close(self, month: str) -> Iterable[StatementRef]:
        """Statements of `month` (YYYY-MM) still open, or finalized with nothing collected yet."""
        ...


def still_to_close(statement: Invoice) -> bool:
    """Whether the close has work left on a statement: it is open, or due with nothing tried.

    A finalized statement of nothing or of a credit has nothing to collect, and one with a
    payment outcome (collected, invoiced, declined) or voided is settled: both are done.
    """
    if statement.state is InvoiceState.OPEN:
        return True
    return (
        statement.state is InvoiceState.FINALIZED
        and not statement.payments
        and statement.total_incl_tax > 0
    )


@dataclass(frozen=True)
class MonthCloseReport:
    """What a run of the monthly close did."""

    month: str
    closed: int = 0
    # Refused for good (an alert: an operator must look) and failed for now (retried).
    refused: tuple[tuple[StatementRef, str], ...] = ()
    retry: tuple[StatementRef, ...] = field(default=())


def is_transient(exc: DomainError) -> bool:
    """Whether trying the same again later may succeed (the provider failed, or a write race)."""
    if isinstance(exc, PaymentProviderError):
        return exc.retryable
    return isinstance(exc, ConcurrentModificationError)


def previous_month(now: datetime) -> str:
    """The month (YYYY-MM, UTC) before the one `now` falls in."""
    return (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


class MonthlyClose:
    """Closes every statement of a month; one statement's failure holds up no other."""

    def __init__(self, *, billing: BillingService, statements: StatementsToClose) -> None:
        self._billing = billing
        self._statements = statements

    def close(self, month: str, now: datetime) -> MonthCloseReport:
        """Finalize and collect each statement of `month` still to close."""
        closed = 0
        refused: list[tuple[StatementRef, str]] = []
        retry: list[StatementRef] = []
        for ref in self._statements.statements_to_close(month):
            try:
                self._billing.finalize_month(ref.tenant_id, ref.account_id, month, now)
            except DomainError as exc:
                if is_transient(exc):
                    retry.append(ref)
                else:
                    refused.append((ref, str(exc)))
                continue
            closed += 1
        return MonthCloseReport(month, closed, tuple(refused), tuple(retry))
