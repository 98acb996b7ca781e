"""BillingService on the paths a plain run does not take: races, retries and odd payments.

Each test is one behaviour an operator relies on: two runs of one session racing bill it once,
a statement closed between the plan and the write sends its line to the current month's, a
refund racing another gives back no more than was paid, a payment whose outcome comes later is
not reported as failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes_billing import CrashError, FakePaymentProvider, InMemoryBillingRepository
from tests.unit.services.test_billing_service import NOW, RESIDENTS, T, World

from csms.domain.billing.invoice import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceState,
    LineKind,
    receipt_id,
    refund_note_id,
    statement_id,
)
from csms.domain.billing.payments import PaymentResult, PaymentStatus, ProviderEvent
from csms.domain.errors import BillingConflictError, ConcurrentModificationError
from csms.services.billing import BillingService, EventsFor, Hold, SessionLedger

NOVEMBER = "2026-11"
DECEMBER = datetime(2026, 12, 2, 9, tzinfo=UTC)
LATE_NOVEMBER = datetime(2026, 11, 30, 20, tzinfo=UTC)


class RacingRepository(InMemoryBillingRepository):
    """The in-memory repository, where another run can get in first.

    `meanwhile[method]` runs once, right before the next call of `method` writes (another run
    of the workflow, a webhook, a refund request): the write then finds what it did. A method
    in `losing` loses every conditional write, as against a writer that never stops.
    """

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: dict[str, Callable[[], object]] = {}
        self.losing: set[str] = set()

    def _race(self, method: str) -> bool:
        hook = self.meanwhile.pop(method, None)
        if hook is not None:
            hook()
        return method in self.losing

    def save_ledger(self, tenant_id: str, ledger: SessionLedger, expected_version: int) -> bool:
        if self._race("save_ledger"):
            return False
        return super().save_ledger(tenant_id, ledger, expected_version)

    def update_invoice(
        self, tenant_id: str, invoice: Invoice, expected_version: int, events: EventsFor
    ) -> Invoice | None:
        if self._race("update_invoice"):
            return None
        return super().update_invoice(tenant_id, invoice, expected_version, events)

    def add_lines(
        self,
        tenant_id: str,
        invoice: Invoice,
        lines: Sequence[InvoiceLine],
        expected_version: int,
    ) -> bool:
        if self._race("add_lines"):
            return False
        return super().add_lines(tenant_id, invoice, lines, expected_version)


class RacingProvider(FakePaymentProvider):
    """The fake provider, where another run can call first (`meanwhile[method]`, once)."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: dict[str, Callable[[], object]] = {}

    def _answer(
        self, method: str, key: str, amount: int, currency: str, ok: PaymentStatus, **args: Any
    ) -> PaymentResult:
        hook = self.meanwhile.pop(method, None)
        if hook is not None:
            hook()
        return super()._answer(method, key, amount, currency, ok, **args)


class Racing(World):
    """The billing world of test_billing_service, with a racing repository and provider."""

    repo: RacingRepository
    payments: RacingProvider

    def __init__(self) -> None:
        super().__init__()
        self.repo = RacingRepository()
        self.payments = RacingProvider()
        self.service = BillingService(
            repository=self.repo,
            pricer=self.pricer,
            accounts=self.accounts,
            payments=self.payments,
        )

    def statement(self, month: str = NOVEMBER) -> Invoice:
        return self.repo.invoices[T, statement_id(T, RESIDENTS.id, month)]

    def statement_lines(self, month: str = NOVEMBER) -> list[InvoiceLine]:
        return self.repo.lines_of(T, statement_id(T, RESIDENTS.id, month))

    def refund(self, invoice_id: str, amount: str | None, request_id: str) -> Invoice:
        return self.service.refund(
            T,
            invoice_id,
            amount=Decimal(amount) if amount is not None else None,
            reason="goodwill",
            request_id=request_id,
            now=NOW,
        )


@pytest.fixture
def world() -> Racing:
    return Racing()


def _provider_event(kind: str, invoice: Invoice, **fields: object) -> ProviderEvent:
    """A verified provider notification about the invoice's (first) payment."""
    return ProviderEvent.model_validate(
        {
            "id": f"evt-{kind}-{invoice.id}",
            "type": kind,
            "created": NOW,
            "object": {
                "id": invoice.payments[0].reference,
                "currency": "eur",
                "metadata": {"tenant_id": T, "invoice_id": invoice.id},
                **fields,
            },
        }
    )


# -- two runs of one session -------------------------------------------------------------------


def test_bill_session_two_deliveries_racing_bill_once(world: Racing) -> None:
    # GIVEN a public session, and a second delivery of its TransactionEnded that records its
    # plan (and carries it out) while the first is about to record its own
    world.ends()
    second: list[Any] = []
    world.repo.meanwhile["save_ledger"] = lambda: second.append(world.bill())

    # WHEN the first delivery is billed
    first = world.bill()

    # THEN the first finds the plan of the second, and follows it: one CDR, one receipt, one
    # charge, each event once
    assert first == second[0]
    assert first.invoice.state is InvoiceState.PAID
    assert len(world.repo.cdrs) == 1
    assert list(world.repo.invoices) == [(T, receipt_id(T, "S1"))]
    assert world.payments.moved == [("charge", 300)]
    assert world.types() == ["CdrCreated", "InvoiceFinalized", "InvoicePaid"]


def test_bill_session_ledger_that_keeps_changing_gives_up_for_a_retry(world: Racing) -> None:
    # GIVEN a session whose ledger write loses every time
    world.ends()
    world.repo.losing.add("save_ledger")

    # WHEN it is billed
    # THEN billing gives up with a conflict for the workflow to retry, having invoiced and
    # collected nothing
    with pytest.raises(ConcurrentModificationError):
        world.bill()
    assert world.repo.invoices == {}
    assert world.payments.calls == []

    # WHEN the workflow retries once the writes go through
    world.repo.losing.clear()
    outcome = world.bill()

    # THEN the session is billed once (the CDR written by the first try is the one kept)
    assert outcome.invoice.state is InvoiceState.PAID
    assert len(world.repo.cdrs) == 1
    assert world.payments.moved == [("charge", 300)]


def test_bill_session_two_runs_carrying_out_one_plan_collect_once(world: Racing) -> None:
    # GIVEN a session whose first billing died right after recording its plan
    world.ends()
    world.repo.crash_after("save_ledger")
    with pytest.raises(CrashError):
        world.bill()
    # ... and two retries: the second runs to the end while the first is at the charge
    second: list[Any] = []
    world.payments.meanwhile["charge"] = lambda: second.append(world.bill())

    # WHEN the first retry goes on
    first = world.bill()

    # THEN both answer the same paid receipt; the charge (same key) moved money once and the
    # receipt's outcome and InvoicePaid were written once
    assert first == second[0]
    assert first.invoice.state is InvoiceState.PAID
    assert first.invoice.version == 2
    assert world.payments.moved == [("charge", 300)]
    keys = {c.key for c in world.payments.calls}
    assert len(world.payments.calls) == 2
    assert len(keys) == 1
    assert world.types() == ["CdrCreated", "InvoiceFinalized", "InvoicePaid"]
    assert world.repo.ledgers[T, "S1"].done


# -- ad hoc collection -------------------------------------------------------------------------


def test_bill_session_that_cost_nothing_without_a_hold_calls_no_provider(world: Racing) -> None:
    # GIVEN a public session under a free tariff, with no pre-authorisation
    world.ends(prices={"energyPerKwh": "0"})

    # WHEN it is billed
    outcome = world.bill()

    # THEN there is nothing to release, invoice or collect, and the ledger is done
    assert outcome.invoice is None
    assert world.payments.calls == []
    assert world.repo.ledgers[T, "S1"].done


def test_bill_session_hold_in_another_currency_is_released_and_the_price_charged(
    world: Racing,
) -> None:
    # GIVEN a 3.00 EUR session whose hold was made in CHF (the tariff changed currency)
    world.ends()
    world.repo.holds[T, "S1"] = Hold("pi-hold-chf", 5000, "CHF")

    # WHEN it is billed
    outcome = world.bill()

    # THEN the hold is not captured (it cannot pay EUR) but released, and the saved method is
    # charged 3.00 EUR
    assert [c.method for c in world.payments.calls] == ["cancel", "charge"]
    assert world.payments.moved == [("cancel", 0), ("charge", 300)]
    assert outcome.invoice.state is InvoiceState.PAID


def test_bill_session_capture_of_a_lapsed_hold_charges_the_saved_method(world: Racing) -> None:
    # GIVEN a 3.00 EUR session with 2.00 EUR held, and a capture the provider refuses (the
    # hold lapsed)
    world.ends()
    world.hold(amount_minor=200)
    world.payments.script = [(PaymentStatus.DECLINED, "authorization_expired")]

    # WHEN it is billed
    outcome = world.bill()

    # THEN the whole price is charged to the saved method instead, and the receipt is paid by
    # that charge alone (the failed capture moved no money)
    assert [c.method for c in world.payments.calls] == ["capture", "charge"]
    assert world.payments.moved == [("charge", 300)]
    assert outcome.invoice.state is InvoiceState.PAID
    assert [p.kind for p in outcome.invoice.payments] == ["charge"]
    assert world.repo.of_type("PaymentFailed") == []


def test_bill_session_lapsed_hold_and_declined_card_fails_with_the_cards_reason(
    world: Racing,
) -> None:
    # GIVEN a session whose hold lapsed and whose saved card is declined too
    world.ends()
    world.hold(amount_minor=200)
    world.payments.script = [
        (PaymentStatus.DECLINED, "authorization_expired"),
        (PaymentStatus.DECLINED, "card_declined"),
    ]

    # WHEN it is billed
    outcome = world.bill()

    # THEN the receipt is PAYMENT_FAILED with the card's reason, told once by PaymentFailed
    assert outcome.invoice.state is InvoiceState.PAYMENT_FAILED
    assert outcome.invoice.failure_code == "card_declined"
    assert [e.detail_type for e in world.repo.of_type("PaymentFailed")] == ["PaymentFailed"]


def test_bill_session_charge_processing_stays_due_until_the_provider_tells(
    world: Racing,
) -> None:
    # GIVEN a payment method whose charges settle later (a bank debit: `processing`)
    world.ends()
    world.payments.script = [(PaymentStatus.PROCESSING, None)]

    # WHEN the session is billed
    outcome = world.bill()

    # THEN the receipt is issued and due with the processing charge recorded; nothing says the
    # payment failed (the provider's webhook tells how it ends)
    receipt = outcome.invoice
    assert receipt.state is InvoiceState.FINALIZED
    assert [(p.kind, p.status) for p in receipt.payments] == [("charge", "processing")]
    assert receipt.failure_code is None
    assert world.types() == ["CdrCreated", "InvoiceFinalized"]

    # WHEN it is delivered again, then the provider tells the debit settled
    world.bill()
    world.service.apply_provider_event(
        _provider_event("payment_intent.succeeded", receipt, amount_received=300), now=NOW
    )

    # THEN the charge was not asked again, and the receipt is paid
    assert [c.method for c in world.payments.calls] == ["charge"]
    paid = world.repo.invoices[T, receipt.id]
    assert paid.state is InvoiceState.PAID
    assert world.types()[-1] == "InvoicePaid"


# -- corrections and refunds -------------------------------------------------------------------


def test_bill_session_correction_down_with_refund_processing_is_not_a_failure(
    world: Racing,
) -> None:
    # GIVEN a paid 3.00 EUR receipt, and a provider whose refunds settle later (`pending`)
    world.ends()
    world.bill()
    world.payments.script = [(PaymentStatus.PROCESSING, None)]

    # WHEN the session is corrected to 8 kWh (2.40 EUR)
    world.ends(revision=2, kwh="8")
    outcome = world.bill()

    # THEN the credit note records the refund as processing and stays issued (the webhook
    # tells how it ends); no PaymentFailed, and the receipt counts the 0.60 EUR given back
    note = outcome.invoice
    assert note.kind is InvoiceKind.CREDIT_NOTE
    assert note.state is InvoiceState.FINALIZED
    assert [(p.kind, p.status, p.amount) for p in note.payments] == [
        ("refund", "processing", Decimal("-0.60"))
    ]
    assert world.repo.of_type("PaymentFailed") == []
    assert world.repo.invoices[T, receipt_id(T, "S1")].refunded == Decimal("0.60")

    # WHEN the provider tells the refund succeeded
    world.service.apply_provider_event(
        _provider_event("refund.updated", note, status="succeeded", amount=60), now=NOW
    )

    # THEN the note is settled (PAID)
    assert world.repo.invoices[T, note.id].state is InvoiceState.PAID


def test_refund_processing_is_recorded_and_not_asked_again(world: Racing) -> None:
    # GIVEN a paid receipt and a refund the provider accepts as pending
    world.ends()
    receipt = world.bill().invoice
    world.payments.script = [(PaymentStatus.PROCESSING, None)]

    # WHEN it is refunded, and the request retried
    note = world.refund(receipt.id, None, "r1")
    again = world.refund(receipt.id, None, "r1")

    # THEN the note is issued with the pending refund, and the provider was asked once
    assert note.state is InvoiceState.FINALIZED
    assert [(p.kind, p.status) for p in note.payments] == [("refund", "processing")]
    assert again == note
    assert [c.method for c in world.payments.calls] == ["charge", "refund"]
    assert world.repo.of_type("PaymentFailed") == []


def test_refund_retried_after_a_crash_between_claim_and_note_refunds_once(
    world: Racing,
) -> None:
    # GIVEN a paid receipt, and a refund request that died once the receipt counted it
    world.ends()
    receipt = world.bill().invoice
    world.repo.crash_after("update_invoice")
    with pytest.raises(CrashError):
        world.refund(receipt.id, "1.00", "r1")

    # WHEN the request is retried
    note = world.refund(receipt.id, "1.00", "r1")

    # THEN one credit note, one refund of 1.00 EUR, and the receipt counts it once
    assert note.id == refund_note_id(T, receipt.id, "r1")
    assert note.state is InvoiceState.PAID
    assert world.payments.moved == [("charge", 300), ("refund", 100)]
    assert world.repo.invoices[T, receipt.id].refunded == Decimal("1.00")


def test_refund_racing_another_gives_back_no_more_than_was_paid(world: Racing) -> None:
    # GIVEN a paid 3.00 EUR receipt, and a second full refund counted while the first is
    # about to count itself
    world.ends()
    receipt = world.bill().invoice
    other: list[Invoice] = []
    world.repo.meanwhile["update_invoice"] = lambda: other.append(
        world.refund(receipt.id, None, "r2")
    )

    # WHEN the first full refund goes on
    # THEN it is refused: 3.00 EUR was given back already; only the other note exists
    with pytest.raises(BillingConflictError, match="exceed"):
        world.refund(receipt.id, None, "r1")
    assert other[0].state is InvoiceState.PAID
    assert world.payments.moved == [("charge", 300), ("refund", 300)]
    assert (T, refund_note_id(T, receipt.id, "r1")) not in world.repo.invoices
    assert world.repo.invoices[T, receipt.id].refunded == Decimal("3.00")


def test_refund_counted_against_a_receipt_that_keeps_changing_gives_up(world: Racing) -> None:
    # GIVEN a paid receipt whose every write loses
    world.ends()
    receipt = world.bill().invoice
    world.repo.losing.add("update_invoice")

    # WHEN it is refunded
    # THEN the request fails as a conflict to retry; no note, nothing given back
    with pytest.raises(ConcurrentModificationError):
        world.refund(receipt.id, "1.00", "r1")
    assert world.repo.invoices[T, receipt.id].refunds == ()
    assert world.payments.moved == [("charge", 300)]


def test_bill_session_correction_down_after_a_full_refund_gives_nothing_back_twice(
    world: Racing,
) -> None:
    # GIVEN a 3.00 EUR receipt refunded in full by an operator
    world.ends()
    receipt = world.bill().invoice
    world.refund(receipt.id, None, "goodwill")

    # WHEN the session is corrected down to 2.40 EUR
    world.ends(revision=2, kwh="8")
    outcome = world.bill()

    # THEN the credit note records the correction, but nothing more is refunded (the driver
    # got everything back already), and the session's billing is done
    assert outcome.invoice is not None
    assert outcome.invoice.kind is InvoiceKind.CREDIT_NOTE
    assert outcome.invoice.total_incl_tax == Decimal("-0.60")
    assert outcome.invoice.state is InvoiceState.FINALIZED
    assert world.payments.moved == [("charge", 300), ("refund", 300)]
    assert world.repo.invoices[T, receipt.id].refunded == Decimal("3.00")
    assert world.repo.ledgers[T, "S1"].done


def test_bill_session_correction_down_after_a_partial_refund_gives_back_what_is_left(
    world: Racing,
) -> None:
    # GIVEN a 3.00 EUR receipt of which an operator refunded 2.80 EUR
    world.ends()
    receipt = world.bill().invoice
    world.refund(receipt.id, "2.80", "goodwill")

    # WHEN the session is corrected down to 2.40 EUR (0.60 EUR less)
    world.ends(revision=2, kwh="8")
    world.bill()

    # THEN only the 0.20 EUR still paid goes back, and never more than was paid in all
    assert world.payments.moved == [("charge", 300), ("refund", 280), ("refund", 20)]
    assert world.repo.invoices[T, receipt.id].refunded == Decimal("3.00")
    assert world.repo.ledgers[T, "S1"].done


# -- monthly statements ------------------------------------------------------------------------


def _plan_then_crash(world: Racing, session_id: str = "S1", kwh: str = "10") -> None:
    """A resident's session whose billing died right after recording its plan (November)."""
    world.ends(session_id, group="residents", kwh=kwh)
    world.repo.crash_after("save_ledger")
    with pytest.raises(CrashError):
        world.bill(session_id)


def _another_november_session(world: Racing) -> None:
    """A resident's session S0 (5 kWh, 1.50 EUR) on November's statement."""
    world.ends("S0", group="residents", kwh="5")
    world.bill("S0")


def test_bill_session_statement_closed_between_plan_and_write_takes_the_current_month(
    world: Racing,
) -> None:
    # GIVEN a November plan for a resident's session, and November's statement closed before
    # the plan was carried out
    _another_november_session(world)
    _plan_then_crash(world)
    world.service.finalize_month(T, RESIDENTS.id, NOVEMBER, DECEMBER)

    # WHEN the workflow retries in December
    outcome = world.bill(now=DECEMBER)

    # THEN the line goes on December's statement, the plan says so, and November's statement
    # (collected) is untouched
    december = statement_id(T, RESIDENTS.id, "2026-12")
    assert outcome.invoice.id == december
    assert outcome.invoice.total_incl_tax == Decimal("3.00")
    assert world.repo.ledgers[T, "S1"].current.invoice_id == december
    assert world.statement().total_incl_tax == Decimal("1.50")
    assert [line.session_id for line in world.statement_lines()] == ["S0"]
    assert world.payments.moved == [("charge", 150)]


def test_bill_session_statement_closed_early_in_its_own_month_is_a_conflict(
    world: Racing,
) -> None:
    # GIVEN a November plan, and November's statement closed while it is still November
    _another_november_session(world)
    _plan_then_crash(world)
    world.service.finalize_month(T, RESIDENTS.id, NOVEMBER, LATE_NOVEMBER)

    # WHEN the workflow retries in November
    # THEN there is no open statement to take the line: billing refuses (and alerts), adding
    # nothing to the closed statement
    with pytest.raises(BillingConflictError, match="closed"):
        world.bill(now=LATE_NOVEMBER)
    assert [line.session_id for line in world.statement_lines()] == ["S0"]
    assert not world.repo.ledgers[T, "S1"].done


def test_bill_session_retries_racing_past_a_closed_statement_add_the_line_once(
    world: Racing,
) -> None:
    # GIVEN a November plan, November closed, and two December retries: the second moves the
    # plan to December and finishes while the first is about to move it too
    _another_november_session(world)
    _plan_then_crash(world)
    world.service.finalize_month(T, RESIDENTS.id, NOVEMBER, DECEMBER)
    second: list[Any] = []
    world.repo.meanwhile["save_ledger"] = lambda: second.append(world.bill(now=DECEMBER))

    # WHEN the first retry goes on
    # THEN it loses the ledger write and gives up for a retry
    with pytest.raises(ConcurrentModificationError):
        world.bill(now=DECEMBER)

    # WHEN it is retried
    outcome = world.bill(now=DECEMBER)

    # THEN the line is on December's statement once
    assert outcome == second[0]
    assert [line.session_id for line in world.statement_lines("2026-12")] == ["S1"]
    assert world.statement("2026-12").total_incl_tax == Decimal("3.00")


def test_bill_session_monthly_retried_after_the_lines_were_added_adds_them_once(
    world: Racing,
) -> None:
    # GIVEN a resident's session whose billing died right after its line was added
    world.ends(group="residents")
    world.repo.crash_after("add_lines")
    with pytest.raises(CrashError):
        world.bill()

    # WHEN the workflow retries
    outcome = world.bill()

    # THEN the statement has the line once, and the ledger is done
    assert [line.session_id for line in world.statement_lines()] == ["S1"]
    assert outcome.invoice.total_incl_tax == Decimal("3.00")
    assert world.repo.ledgers[T, "S1"].done


def test_bill_session_lines_of_two_sessions_racing_both_land(world: Racing) -> None:
    # GIVEN a resident's statement, and another session's line added while this one's is
    # being added
    _another_november_session(world)
    world.ends("S1", group="residents")
    world.ends("S2", group="residents", kwh="2.5")
    world.repo.meanwhile["add_lines"] = lambda: world.bill("S2")

    # WHEN the session is billed
    outcome = world.bill("S1")

    # THEN its write, refused on the stale statement, is made again on the fresh one: all
    # three lines are on the statement and its totals add up
    assert sorted(line.session_id or "" for line in world.statement_lines()) == [
        "S0",
        "S1",
        "S2",
    ]
    assert outcome.invoice.total_incl_tax == Decimal("5.25")


def test_bill_session_statement_that_keeps_changing_gives_up_for_a_retry(
    world: Racing,
) -> None:
    # GIVEN a resident's statement whose line writes lose every time
    _another_november_session(world)
    world.ends("S1", group="residents")
    world.repo.losing.add("add_lines")

    # WHEN the session is billed
    # THEN billing fails as a conflict to retry, the statement unchanged and the ledger open
    with pytest.raises(ConcurrentModificationError):
        world.bill("S1")
    assert world.statement().total_incl_tax == Decimal("1.50")
    assert not world.repo.ledgers[T, "S1"].done


def test_finalize_month_takes_a_line_added_while_it_closes(world: Racing) -> None:
    # GIVEN November's statement with one session, and a late November session billed while
    # the statement is being closed
    _another_november_session(world)
    world.ends("S1", group="residents")
    world.repo.meanwhile["update_invoice"] = lambda: world.bill("S1", now=LATE_NOVEMBER)

    # WHEN the month is finalized
    closed = world.service.finalize_month(T, RESIDENTS.id, NOVEMBER, DECEMBER)

    # THEN the close, refused on the stale header, closes the fresh one: both sessions are on
    # it and charged together, once
    assert closed is not None
    assert closed.state is InvoiceState.PAID
    assert closed.total_incl_tax == Decimal("4.50")
    assert world.payments.moved == [("charge", 450)]
    assert world.types().count("InvoiceFinalized") == 1


def test_finalize_month_racing_another_close_charges_once(world: Racing) -> None:
    # GIVEN November's statement, and another run of the close finishing first
    _another_november_session(world)
    other: list[Invoice | None] = []
    world.repo.meanwhile["update_invoice"] = lambda: other.append(
        world.service.finalize_month(T, RESIDENTS.id, NOVEMBER, DECEMBER)
    )

    # WHEN this run closes it
    closed = world.service.finalize_month(T, RESIDENTS.id, NOVEMBER, DECEMBER)

    # THEN both answer the paid statement; it was numbered, finalized and charged once
    assert closed == other[0]
    assert closed is not None
    assert (closed.state, closed.number) == (InvoiceState.PAID, 1)
    assert world.payments.moved == [("charge", 150)]
    assert world.types().count("InvoiceFinalized") == 1


def test_finalize_month_header_that_keeps_changing_gives_up(world: Racing) -> None:
    # GIVEN November's statement whose header writes lose every time
    _another_november_session(world)
    world.repo.losing.add("update_invoice")

    # WHEN the month is finalized
    # THEN the close fails as a conflict (the monthly close retries it), nothing charged
    with pytest.raises(ConcurrentModificationError):
        world.service.finalize_month(T, RESIDENTS.id, NOVEMBER, DECEMBER)
    assert world.statement().state is InvoiceState.OPEN
    assert world.payments.calls == []


def test_finalize_month_of_a_credit_collects_nothing(world: Racing) -> None:
    # GIVEN a November session (3.00 EUR) collected with November's statement, corrected down
    # to 2.40 EUR in December: its reversal and new line go on December's statement
    world.ends(group="residents")
    world.bill()
    world.service.finalize_month(T, RESIDENTS.id, NOVEMBER, DECEMBER)
    world.ends(revision=2, kwh="8", group="residents")
    world.bill(now=DECEMBER)

    # WHEN December is finalized
    closed = world.service.finalize_month(T, RESIDENTS.id, "2026-12", DECEMBER + timedelta(31))

    # THEN it is issued (numbered) as a credit of 0.60 EUR, and nothing is charged for it
    assert closed is not None
    assert [line.kind for line in world.statement_lines("2026-12")] == [
        LineKind.REVERSAL,
        LineKind.SESSION,
    ]
    assert (closed.state, closed.number, closed.total_incl_tax) == (
        InvoiceState.FINALIZED,
        2,
        Decimal("-0.60"),
    )
    assert world.payments.moved == [("charge", 300)]
