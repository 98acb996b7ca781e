"""In-memory fakes of the billing ports (csms.services.billing) and of a payment provider.

The repository keeps the port's promises: first write wins, conditional writes on versions,
invoices numbered per tenant in the write that issues them, events kept only for writes that
happened. `crash_after` makes a method raise CrashError after its write, as a Lambda that dies
between two steps would.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from csms.domain.billing.cdr import Cdr
from csms.domain.billing.invoice import BillingAccount, Invoice, InvoiceKind, InvoiceLine
from csms.domain.billing.payments import PaymentResult, PaymentSetup, PaymentStatus
from csms.domain.errors import InvalidCursorError
from csms.domain.events import DomainEvent
from csms.services.billing import EndedSession, EventsFor, Hold, SessionLedger
from csms.services.billing_month import StatementRef, still_to_close
from csms.services.billing_wiring import StoredAccount
from csms.services.ports import Page


class CrashError(Exception):
    """The process died here (after the step's write or call took effect)."""


class InMemoryBillingRepository:
    def __init__(self) -> None:
        self.cdrs: dict[tuple[str, str], Cdr] = {}
        self.ledgers: dict[tuple[str, str], SessionLedger] = {}
        self.invoices: dict[tuple[str, str], Invoice] = {}
        self.lines: dict[tuple[str, str], list[InvoiceLine]] = {}
        self.holds: dict[tuple[str, str], Hold] = {}
        self.counters: dict[str, int] = {}
        self.provider_events: dict[str, datetime] = {}
        self.events: list[DomainEvent] = []
        self._crash: set[str] = set()

    def crash_after(self, method: str) -> None:
        """The next call of `method` takes effect, then raises CrashError."""
        self._crash.add(method)

    def _maybe_crash(self, method: str) -> None:
        if method in self._crash:
            self._crash.discard(method)
            raise CrashError(method)

    def of_type(self, detail_type: str) -> list[DomainEvent]:
        return [e for e in self.events if e.detail_type == detail_type]

    # -- CDRs
    def add_cdr(self, tenant_id: str, cdr: Cdr, events: Sequence[DomainEvent]) -> Cdr:
        key = (tenant_id, cdr.id)
        if key not in self.cdrs:
            self.cdrs[key] = cdr
            self.events.extend(events)
        self._maybe_crash("add_cdr")
        return self.cdrs[key]

    def get_cdr(self, tenant_id: str, cdr_id: str) -> Cdr | None:
        return self.cdrs.get((tenant_id, cdr_id))

    # -- ledgers
    def get_ledger(self, tenant_id: str, session_id: str) -> SessionLedger | None:
        return self.ledgers.get((tenant_id, session_id))

    def save_ledger(self, tenant_id: str, ledger: SessionLedger, expected_version: int) -> bool:
        key = (tenant_id, ledger.session_id)
        stored = self.ledgers.get(key)
        if (stored.version if stored else 0) != expected_version:
            return False
        self.ledgers[key] = ledger.model_copy(update={"version": expected_version + 1})
        self._maybe_crash("save_ledger")
        return True

    # -- invoices
    def get_invoice(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        return self.invoices.get((tenant_id, invoice_id))

    def _numbered(self, tenant_id: str, invoice: Invoice) -> Invoice:
        if not invoice.state.issued or invoice.number is not None:
            return invoice
        number = self.counters.get(tenant_id, 0) + 1
        self.counters[tenant_id] = number
        return invoice.model_copy(update={"number": number})

    def create_invoice(
        self, tenant_id: str, invoice: Invoice, lines: Sequence[InvoiceLine], events: EventsFor
    ) -> Invoice:
        key = (tenant_id, invoice.id)
        if key not in self.invoices:
            stored = self._numbered(tenant_id, invoice).model_copy(update={"version": 1})
            self.invoices[key] = stored
            self.lines[key] = list(lines)
            self.events.extend(events(stored))
        self._maybe_crash("create_invoice")
        return self.invoices[key]

    def update_invoice(
        self, tenant_id: str, invoice: Invoice, expected_version: int, events: EventsFor
    ) -> Invoice | None:
        key = (tenant_id, invoice.id)
        stored = self.invoices.get(key)
        if stored is None or stored.version != expected_version:
            return None
        new = self._numbered(tenant_id, invoice).model_copy(
            update={"version": expected_version + 1}
        )
        self.invoices[key] = new
        self.events.extend(events(new))
        self._maybe_crash("update_invoice")
        return new

    def add_lines(
        self,
        tenant_id: str,
        invoice: Invoice,
        lines: Sequence[InvoiceLine],
        expected_version: int,
    ) -> bool:
        key = (tenant_id, invoice.id)
        stored = self.invoices.get(key)
        have = {line.id for line in self.lines.get(key, [])}
        if stored is None or stored.version != expected_version:
            return False
        if any(line.id in have for line in lines):
            return False
        self.invoices[key] = invoice.model_copy(update={"version": expected_version + 1})
        self.lines.setdefault(key, []).extend(lines)
        self._maybe_crash("add_lines")
        return True

    def get_line(self, tenant_id: str, invoice_id: str, line_id: str) -> InvoiceLine | None:
        return next(
            (line for line in self.lines.get((tenant_id, invoice_id), []) if line.id == line_id),
            None,
        )

    def lines_of(self, tenant_id: str, invoice_id: str) -> list[InvoiceLine]:
        return list(self.lines.get((tenant_id, invoice_id), []))

    def list_invoice_lines(self, tenant_id: str, invoice_id: str) -> list[InvoiceLine]:
        return self.lines_of(tenant_id, invoice_id)

    def list_invoices(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        *,
        account_id: str | None = None,
    ) -> Page[Invoice]:
        found = [
            invoice
            for (tenant, _), invoice in self.invoices.items()
            if tenant == tenant_id and (account_id is None or invoice.account_id == account_id)
        ]
        found.sort(key=lambda i: (i.created_at, i.id), reverse=True)
        return _page(found, lambda i: f"{i.created_at.isoformat()}#{i.id}", limit, cursor)

    def list_cdrs(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Page[Cdr]:
        found = [
            cdr
            for (tenant, _), cdr in self.cdrs.items()
            if tenant == tenant_id
            and (since is None or cdr.end_date_time >= since)
            and (until is None or cdr.end_date_time < until)
        ]
        found.sort(key=lambda c: (c.end_date_time, c.id), reverse=True)
        return _page(found, lambda c: f"{c.end_date_time.isoformat()}#{c.id}", limit, cursor)

    # -- holds
    def get_hold(self, tenant_id: str, session_id: str) -> Hold | None:
        return self.holds.get((tenant_id, session_id))

    def put_hold(self, tenant_id: str, session_id: str, hold: Hold) -> bool:
        if (tenant_id, session_id) in self.holds:
            return False
        self.holds[tenant_id, session_id] = hold
        return True

    # -- the monthly close
    def statements_to_close(self, month: str) -> list[StatementRef]:
        return [
            StatementRef(tenant, invoice.account_id or "")
            for (tenant, _), invoice in sorted(self.invoices.items())
            if invoice.kind is InvoiceKind.STATEMENT
            and invoice.period == month
            and still_to_close(invoice)
        ]

    # -- provider events
    def claim_provider_event(self, event_id: str, received_at: datetime) -> bool:
        if event_id in self.provider_events:
            return False
        self.provider_events[event_id] = received_at
        return True


def _page(items: list[Any], key: Callable[[Any], str], limit: int, cursor: str | None) -> Page[Any]:
    """A page after the item whose key is `cursor` (keys of items handed out only)."""
    keys = [key(item) for item in items]
    start = 0
    if cursor is not None:
        if cursor not in keys:
            raise InvalidCursorError
        start = keys.index(cursor) + 1
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return Page(items=chunk, next_cursor=key(chunk[-1]) if more and chunk else None)


class InMemoryBillingAccountStore:
    """BillingAccountStore: accounts by (tenant, id), versioned."""

    def __init__(self) -> None:
        self.accounts: dict[tuple[str, str], StoredAccount] = {}

    def get_account(self, tenant_id: str, account_id: str) -> StoredAccount | None:
        return self.accounts.get((tenant_id, account_id))

    def save_account(self, tenant_id: str, account: BillingAccount, expected_version: int) -> bool:
        stored = self.accounts.get((tenant_id, account.id))
        if (stored.version if stored else 0) != expected_version:
            return False
        self.accounts[tenant_id, account.id] = StoredAccount(account, expected_version + 1)
        return True

    def list_accounts(
        self, tenant_id: str, limit: int, cursor: str | None = None
    ) -> Page[StoredAccount]:
        mine = sorted(
            (stored for (tenant, _), stored in self.accounts.items() if tenant == tenant_id),
            key=lambda stored: stored.account.id,
        )
        return _page(mine, lambda stored: stored.account.id, limit, cursor)


@dataclass
class FakePricer:
    """Ended sessions by (tenant, id): what `price_ended` answers."""

    sessions: dict[tuple[str, str], EndedSession] = field(default_factory=dict)
    calls: int = 0

    def price_ended(self, tenant_id: str, session_id: str) -> EndedSession:
        self.calls += 1
        return self.sessions[tenant_id, session_id]


@dataclass
class FakeAccounts:
    """Accounts by group id, then by token; everyone else ad hoc to `default`."""

    by_group: dict[str, BillingAccount] = field(default_factory=dict)
    by_token: dict[str, BillingAccount] = field(default_factory=dict)
    default: BillingAccount | None = None

    def account_for(
        self, tenant_id: str, *, id_token: str | None, group_id: str | None
    ) -> BillingAccount:
        if id_token is not None and id_token in self.by_token:
            return self.by_token[id_token]
        if group_id is not None and group_id in self.by_group:
            return self.by_group[group_id]
        assert self.default is not None
        return self.default

    def get_account(self, tenant_id: str, account_id: str) -> BillingAccount | None:
        known = [*self.by_group.values(), *self.by_token.values()]
        return next((a for a in known if a.id == account_id), None)

    def set_payment_method(
        self,
        tenant_id: str,
        account_id: str,
        payment_method: str | None,
        *,
        at: datetime | None = None,
    ) -> BillingAccount | None:
        for accounts in (self.by_group, self.by_token):
            for key, account in accounts.items():
                if account.id != account_id:
                    continue
                since = account.payment_method_since
                if at is not None and since is not None and at <= since:
                    return account
                update: dict[str, Any] = {"payment_method": payment_method}
                if at is not None:
                    update["payment_method_since"] = at
                accounts[key] = account.model_copy(update=update)
                return accounts[key]
        return None


@dataclass
class Call:
    method: str
    key: str
    args: dict[str, Any]


class FakePaymentProvider:
    """A provider that keeps Stripe's promise on idempotency keys.

    The same key returns the first answer and moves money once. `script` answers the next
    calls with these statuses (FAILED answers are not remembered, as a 5xx is not: the next
    call with the key is tried afresh). `crash_after` raises CrashError after the money moved.
    """

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.answers: dict[str, PaymentResult] = {}
        self.script: list[tuple[PaymentStatus, str | None]] = []
        self._crash: set[str] = set()
        self._ids = itertools.count(1)

    def crash_after(self, method: str) -> None:
        self._crash.add(method)

    @property
    def moved(self) -> list[tuple[str, int]]:
        """(method, amount) of every payment that took effect once."""
        return [
            (key.rsplit(":", 1)[-1], r.amount_minor)
            for key, r in self.answers.items()
            if r.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.CANCELED)
        ]

    def _answer(
        self, method: str, key: str, amount: int, currency: str, ok: PaymentStatus, **args: Any
    ) -> PaymentResult:
        self.calls.append(Call(method, key, args | {"amount_minor": amount}))
        if key in self.answers:
            return self.answers[key]
        status, code = self.script.pop(0) if self.script else (ok, None)
        result = PaymentResult(
            status=status,
            reference=f"{method}-{next(self._ids)}" if status is not PaymentStatus.FAILED else None,
            amount_minor=amount,
            currency=currency,
            failure_code=code,
            failure_message=f"{code} (fake)" if code else None,
        )
        if status is not PaymentStatus.FAILED:
            self.answers[key] = result
        if method in self._crash:
            self._crash.discard(method)
            raise CrashError(method)
        return result

    def ensure_customer(
        self, tenant_id: str, account_id: str, *, email: str | None, name: str | None
    ) -> str:
        return f"cus-{account_id}"

    def authorize(
        self,
        tenant_id: str,
        *,
        customer: str,
        payment_method: str | None,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
        metadata: Mapping[str, str] | None = None,
    ) -> PaymentResult:
        return self._answer(
            "authorize",
            idempotency_key,
            amount_minor,
            currency,
            PaymentStatus.AUTHORIZED,
            customer=customer,
            payment_method=payment_method,
            metadata=dict(metadata or {}),
        )

    def capture(
        self, tenant_id: str, *, reference: str, amount_minor: int, idempotency_key: str
    ) -> PaymentResult:
        return self._answer(
            "capture",
            idempotency_key,
            amount_minor,
            "EUR",
            PaymentStatus.SUCCEEDED,
            reference=reference,
        )

    def cancel(self, tenant_id: str, *, reference: str, idempotency_key: str) -> PaymentResult:
        return self._answer(
            "cancel", idempotency_key, 0, "EUR", PaymentStatus.CANCELED, reference=reference
        )

    def charge(
        self,
        tenant_id: str,
        *,
        customer: str,
        payment_method: str | None,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
        metadata: Mapping[str, str] | None = None,
    ) -> PaymentResult:
        return self._answer(
            "charge",
            idempotency_key,
            amount_minor,
            currency,
            PaymentStatus.SUCCEEDED,
            customer=customer,
            metadata=dict(metadata or {}),
        )

    def update_customer(
        self,
        tenant_id: str,
        *,
        customer: str,
        email: str | None,
        name: str | None,
        idempotency_key: str,
    ) -> None:
        args = {"customer": customer, "email": email, "name": name}
        self.calls.append(Call("update_customer", idempotency_key, args))

    def start_payment_method_setup(
        self, tenant_id: str, *, account_id: str, customer: str, idempotency_key: str
    ) -> PaymentSetup:
        self.calls.append(
            Call("setup", idempotency_key, {"account_id": account_id, "customer": customer})
        )
        return PaymentSetup(
            reference=f"seti-{idempotency_key}", client_secret="secret", provider=self.name
        )

    def refund(
        self,
        tenant_id: str,
        *,
        reference: str,
        amount_minor: int,
        idempotency_key: str,
        reason: str,
        metadata: Mapping[str, str] | None = None,
    ) -> PaymentResult:
        return self._answer(
            "refund",
            idempotency_key,
            amount_minor,
            "EUR",
            PaymentStatus.REFUNDED,
            reference=reference,
            metadata=dict(metadata or {}),
        )
