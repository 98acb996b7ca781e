"""BillingService: ended sessions billed exactly once, corrections as notes, statements, refunds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes_billing import (
    CrashError,
    FakeAccounts,
    FakePaymentProvider,
    FakePricer,
    InMemoryBillingRepository,
)
from tests.unit.domain.billing.builders import T0, a_tariff, a_usage

from csms.domain.billing.cdr import AuthMethod, SessionFacts, cdr_id
from csms.domain.billing.invoice import (
    BillingAccount,
    BillingMode,
    InvoiceKind,
    InvoiceState,
    LineKind,
    receipt_id,
    statement_id,
)
from csms.domain.billing.payments import PaymentStatus
from csms.domain.billing.pricing import price
from csms.domain.errors import BillingConflictError, PaymentProviderError, ResourceNotFoundError
from csms.domain.tokens import IdTokenType
from csms.services.billing import BillingService, EndedSession, Hold

T = "t-1"
NOW = T0 + timedelta(hours=3)
PUBLIC = BillingAccount(id="acct-anna", mode=BillingMode.AD_HOC, customer="cus-anna")
RESIDENTS = BillingAccount(id="acct-house", mode=BillingMode.MONTHLY, customer="cus-house")
STAFF = BillingAccount(id="acct-staff", mode=BillingMode.FREE)


class World:
    def __init__(self) -> None:
        self.repo = InMemoryBillingRepository()
        self.pricer = FakePricer()
        self.accounts = FakeAccounts(
            by_group={"residents": RESIDENTS, "staff": STAFF}, default=PUBLIC
        )
        self.payments = FakePaymentProvider()
        self.service = BillingService(
            repository=self.repo,
            pricer=self.pricer,
            accounts=self.accounts,
            payments=self.payments,
        )

    def ends(
        self,
        session_id: str = "S1",
        *,
        revision: int = 1,
        kwh: str = "10",
        group: str | None = None,
        start: datetime = T0,
        **tariff: Any,
    ) -> EndedSession:
        """The session `session_id` ended (revision `revision`): 0.30 EUR/kWh incl. 19 % VAT."""
        priced_under = a_tariff(**tariff)
        usage = a_usage(start, 1, kwh, sessionId=session_id, idToken="TOK-1")
        ended = EndedSession(
            facts=SessionFacts(
                tenant_id=T,
                session_id=session_id,
                revision=revision,
                station_id="CS-1",
                site_id="site-1",
                evse_id=1,
                connector_id=1,
                id_token="TOK-1",
                token_type=IdTokenType.ISO14443,
                group_id=group,
                auth_method=AuthMethod.AUTH_REQUEST,
            ),
            tariff=priced_under,
            usage=usage,
            priced=price(priced_under, usage),
        )
        self.pricer.sessions[T, session_id] = ended
        return ended

    def hold(self, session_id: str = "S1", amount_minor: int = 5000) -> None:
        self.repo.holds[T, session_id] = Hold(f"pi-hold-{session_id}", amount_minor, "EUR")

    def bill(self, session_id: str = "S1", now: datetime = NOW) -> Any:
        return self.service.bill_session(T, session_id, now)

    def types(self) -> list[str]:
        return [e.detail_type for e in self.repo.events]


@pytest.fixture
def world() -> World:
    return World()


# -- ad hoc ------------------------------------------------------------------------------------


def test_bill_session_ad_hoc_captures_the_hold(world: World) -> None:
    # GIVEN a public session of 10 kWh (3.00 EUR) with 50 EUR held at its start
    world.ends()
    world.hold()

    # WHEN it is billed
    outcome = world.bill()

    # THEN its CDR is written under the derived id, a numbered receipt is paid by capturing
    # 3.00 EUR of the hold, and CdrCreated, InvoiceFinalized and InvoicePaid are published
    assert outcome.cdr_id == cdr_id(T, "S1", 1)
    cdr = world.repo.cdrs[T, outcome.cdr_id]
    assert cdr.total_cost.incl_vat == Decimal("3.00")
    invoice = outcome.invoice
    assert invoice.id == receipt_id(T, "S1")
    assert (invoice.kind, invoice.state, invoice.number) == (
        InvoiceKind.RECEIPT,
        InvoiceState.PAID,
        1,
    )
    assert invoice.total_incl_tax == Decimal("3.00")
    assert world.payments.moved == [("capture", 300)]
    assert world.payments.calls[0].args["reference"] == "pi-hold-S1"
    assert world.types() == ["CdrCreated", "InvoiceFinalized", "InvoicePaid"]


def test_bill_session_ad_hoc_without_hold_charges_the_saved_method(world: World) -> None:
    # GIVEN a public session with no pre-authorisation
    world.ends()

    # WHEN it is billed
    outcome = world.bill()

    # THEN the account's customer is charged the price
    assert world.payments.moved == [("charge", 300)]
    assert world.payments.calls[0].args["customer"] == "cus-anna"
    assert outcome.invoice.state is InvoiceState.PAID


def test_bill_session_above_the_hold_captures_it_and_charges_the_rest(world: World) -> None:
    # GIVEN a 3.00 EUR session with only 2.00 EUR held
    world.ends()
    world.hold(amount_minor=200)

    # WHEN it is billed
    outcome = world.bill()

    # THEN the hold is captured in full and the rest charged
    assert world.payments.moved == [("capture", 200), ("charge", 100)]
    assert outcome.invoice.paid == Decimal("3.00")
    assert outcome.invoice.state is InvoiceState.PAID


def test_bill_session_replayed_bills_once(world: World) -> None:
    # GIVEN a session billed once
    world.ends()
    world.hold()
    first = world.bill()

    # WHEN the same TransactionEnded is delivered again
    again = world.bill(now=NOW + timedelta(minutes=5))

    # THEN the same CDR and receipt come back; nothing more is written, moved or published
    assert again == first
    assert len(world.repo.cdrs) == 1
    assert len(world.repo.invoices) == 1
    assert world.payments.moved == [("capture", 300)]
    assert world.types() == ["CdrCreated", "InvoiceFinalized", "InvoicePaid"]


@pytest.mark.parametrize(
    ("where", "crash"),
    [
        ("repo", "add_cdr"),  # after the CDR write
        ("repo", "save_ledger"),  # after the plan
        ("repo", "create_invoice"),  # after the receipt
        ("payments", "capture"),  # after the money moved, before its outcome (and event)
        ("repo", "update_invoice"),  # after the outcome, before the ledger is done
    ],
)
def test_bill_session_retried_after_a_crash_bills_once(
    world: World, where: str, crash: str
) -> None:
    # GIVEN a public session whose first billing dies after one step took effect
    world.ends()
    world.hold()
    (world.repo if where == "repo" else world.payments).crash_after(crash)
    with pytest.raises(CrashError):
        world.bill()

    # WHEN the workflow retries
    outcome = world.bill(now=NOW + timedelta(seconds=30))

    # THEN there is one CDR, one receipt (number 1), one capture and each event once
    assert len(world.repo.cdrs) == 1
    assert list(world.repo.invoices) == [(T, receipt_id(T, "S1"))]
    assert outcome.invoice.number == 1
    assert outcome.invoice.state is InvoiceState.PAID
    assert world.payments.moved == [("capture", 300)]
    assert world.types() == ["CdrCreated", "InvoiceFinalized", "InvoicePaid"]
    assert world.repo.ledgers[T, "S1"].done


def test_bill_session_declined_is_recorded_and_not_retried(world: World) -> None:
    # GIVEN a card that the bank declines
    world.ends()
    world.payments.script = [(PaymentStatus.DECLINED, "card_declined")]

    # WHEN the session is billed, and the event is delivered again
    outcome = world.bill()
    world.bill()

    # THEN the receipt is PAYMENT_FAILED with the reason, PaymentFailed is published once,
    # and the card was asked once
    assert outcome.invoice.state is InvoiceState.PAYMENT_FAILED
    assert outcome.invoice.failure_code == "card_declined"
    failed = world.repo.of_type("PaymentFailed")
    assert len(failed) == 1
    assert failed[0].code == "card_declined"  # type: ignore[attr-defined]
    assert failed[0].amount == Decimal("3.00")  # type: ignore[attr-defined]
    assert len([c for c in world.payments.calls if c.method == "charge"]) == 1


def test_bill_session_retryable_failure_then_success_uses_the_same_key(world: World) -> None:
    # GIVEN a provider that fails once (a 5xx) and then works
    world.ends()
    world.payments.script = [(PaymentStatus.FAILED, "api_error")]

    # WHEN billing raises for the workflow to retry, and it retries
    with pytest.raises(PaymentProviderError) as failure:
        world.bill()
    receipt = world.repo.invoices[T, receipt_id(T, "S1")]
    outcome = world.bill()

    # THEN the failure recorded nothing, the retry used the same key, and money moved once
    assert failure.value.retryable
    assert receipt.state is InvoiceState.FINALIZED
    assert not receipt.payments
    keys = [c.key for c in world.payments.calls]
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert outcome.invoice.state is InvoiceState.PAID
    assert world.payments.moved == [("charge", 300)]
    assert world.repo.of_type("PaymentFailed") == []


def test_bill_session_without_payment_method_fails_with_a_reason(world: World) -> None:
    # GIVEN an ad-hoc account with no saved payment method and no hold
    world.accounts.default = BillingAccount(id="acct-x", mode=BillingMode.AD_HOC)
    world.ends()

    # WHEN the session is billed
    outcome = world.bill()

    # THEN nothing is charged and the receipt says why it is unpaid
    assert world.payments.calls == []
    assert outcome.invoice.state is InvoiceState.PAYMENT_FAILED
    assert outcome.invoice.failure_code == "no-payment-method"
    assert world.types()[-1] == "PaymentFailed"


def test_bill_session_invoice_only_leaves_the_receipt_due(world: World) -> None:
    # GIVEN the invoice-only provider (it answers INVOICED: nothing moves)
    world.ends()
    world.payments.script = [(PaymentStatus.INVOICED, None)]

    # WHEN the session is billed
    outcome = world.bill()

    # THEN the receipt is issued and due, with the invoice recorded as its payment route
    assert outcome.invoice.state is InvoiceState.FINALIZED
    assert [p.kind for p in outcome.invoice.payments] == ["invoice"]
    assert world.types() == ["CdrCreated", "InvoiceFinalized"]


def test_bill_session_that_cost_nothing_releases_the_hold(world: World) -> None:
    # GIVEN a public session under a free tariff, with a hold made at start
    world.ends(prices={"energyPerKwh": "0"})
    world.hold()

    # WHEN it is billed
    outcome = world.bill()

    # THEN its CDR says 0, there is no receipt, and the hold is released
    assert world.repo.cdrs[T, outcome.cdr_id].total_cost.incl_vat == Decimal("0.00")
    assert outcome.invoice is None
    assert world.payments.moved == [("cancel", 0)]


def test_bill_session_free_account_writes_the_cdr_and_collects_nothing(world: World) -> None:
    # GIVEN an employee's session (a free account), priced under a free tariff
    world.ends(group="staff", prices={"energyPerKwh": "0"})

    # WHEN it is billed
    outcome = world.bill()

    # THEN the CDR records the 10 kWh at 0, nothing is invoiced or collected
    cdr = world.repo.cdrs[T, outcome.cdr_id]
    assert cdr.total_energy == Decimal(10)
    assert cdr.total_cost.incl_vat == Decimal("0.00")
    assert cdr.cdr_token.contract_id == "acct-staff"
    assert outcome.invoice is None
    assert world.payments.calls == []
    assert world.types() == ["CdrCreated"]


# -- corrections -------------------------------------------------------------------------------


def test_bill_session_correction_up_issues_a_debit_note(world: World) -> None:
    # GIVEN a public session billed at 10 kWh (3.00 EUR, captured from the hold)
    world.ends()
    world.hold()
    first = world.bill()

    # WHEN a replayed StopTransaction corrects it to 12 kWh (3.60 EUR), twice
    world.ends(revision=2, kwh="12")
    outcome = world.bill()
    again = world.bill()

    # THEN the old CDR is credited and a new one written; a debit note of 0.60 EUR reverses
    # the old line and carries the new one, charged once; the receipt is untouched
    credit = world.repo.cdrs[T, first.cdr_id + "-CR"]
    assert credit.credit
    assert credit.credit_reference_id == first.cdr_id
    assert credit.total_cost.incl_vat == Decimal("-3.00")
    assert outcome.cdr_id == cdr_id(T, "S1", 2)
    note = outcome.invoice
    assert (note.kind, note.state, note.refers_to) == (
        InvoiceKind.DEBIT_NOTE,
        InvoiceState.PAID,
        receipt_id(T, "S1"),
    )
    lines = world.repo.lines_of(T, note.id)
    assert [(line.kind, line.total_incl_tax) for line in lines] == [
        (LineKind.REVERSAL, Decimal("-3.00")),
        (LineKind.SESSION, Decimal("3.60")),
    ]
    assert note.total_incl_tax == Decimal("0.60")
    assert note.total_excl_tax + sum(t.amount for t in note.taxes) == note.total_incl_tax
    assert world.payments.moved == [("capture", 300), ("charge", 60)]
    assert again == outcome
    assert world.repo.invoices[T, receipt_id(T, "S1")] == first.invoice
    assert world.types().count("CdrCreated") == 3


def test_bill_session_correction_down_refunds_through_a_credit_note(world: World) -> None:
    # GIVEN a public session billed at 10 kWh (3.00 EUR)
    world.ends()
    world.hold()
    world.bill()

    # WHEN it is corrected to 8 kWh (2.40 EUR), and the correction is delivered twice
    world.ends(revision=2, kwh="8")
    outcome = world.bill()
    world.bill()

    # THEN a credit note of -0.60 EUR is refunded once against the capture
    note = outcome.invoice
    assert note.kind is InvoiceKind.CREDIT_NOTE
    assert note.total_incl_tax == Decimal("-0.60")
    assert note.state is InvoiceState.PAID
    refunds = [c for c in world.payments.calls if c.method == "refund"]
    assert {c.args["reference"] for c in refunds} == {"capture-1"}
    assert world.payments.moved == [("capture", 300), ("refund", 60)]
    receipt = world.repo.invoices[T, receipt_id(T, "S1")]
    assert receipt.refunded == Decimal("0.60")


def test_bill_session_correction_of_an_unpaid_receipt_leaves_the_credit_due(
    world: World,
) -> None:
    # GIVEN a receipt the bank declined
    world.ends()
    world.payments.script = [(PaymentStatus.DECLINED, "card_declined")]
    world.bill()

    # WHEN the session is corrected downwards
    world.ends(revision=2, kwh="8")
    outcome = world.bill()

    # THEN the credit note stands (nothing to refund against)
    assert outcome.invoice.kind is InvoiceKind.CREDIT_NOTE
    assert outcome.invoice.state is InvoiceState.FINALIZED
    assert [c.method for c in world.payments.calls] == ["charge"]


def test_bill_session_correction_without_a_money_change_writes_only_cdrs(world: World) -> None:
    # GIVEN a billed session
    world.ends()
    world.bill()

    # WHEN a correction changes the times but not the price
    world.ends(revision=2, start=T0 + timedelta(minutes=1))
    outcome = world.bill()

    # THEN a credit CDR and a new CDR, no note, no payment
    assert len(world.repo.cdrs) == 3
    assert outcome.invoice is None
    assert world.payments.moved == [("charge", 300)]


def test_bill_session_older_revision_after_a_newer_changes_nothing(world: World) -> None:
    # GIVEN a session billed at revision 2 already
    world.ends(revision=2)
    billed = world.bill()

    # WHEN revision 1's event arrives late (the pricer still sees revision 1)
    world.ends(revision=1, kwh="8")
    outcome = world.bill()

    # THEN what revision 2 billed stands
    assert outcome == billed
    assert len(world.repo.cdrs) == 1


def test_bill_session_finishes_an_interrupted_plan_before_its_correction(world: World) -> None:
    # GIVEN a first billing that died right after recording its plan
    world.ends()
    world.repo.crash_after("save_ledger")
    with pytest.raises(CrashError):
        world.bill()

    # WHEN the correction arrives before any retry of the first
    world.ends(revision=2, kwh="12")
    outcome = world.bill()

    # THEN the receipt is collected first, then the difference on a debit note
    assert world.payments.moved == [("charge", 300), ("charge", 60)]
    assert outcome.invoice.kind is InvoiceKind.DEBIT_NOTE
    assert world.repo.ledgers[T, "S1"].current.revision == 2


# -- monthly statements ------------------------------------------------------------------------


def test_bill_session_monthly_collects_lines_on_the_open_statement(world: World) -> None:
    # GIVEN three sessions of a resident in November (10, 5 and 2.5 kWh), one billed twice
    for n, kwh in enumerate(["10", "5", "2.5"]):
        world.ends(f"S{n}", kwh=kwh, group="residents", start=T0 + timedelta(days=n))
        world.bill(f"S{n}")
    world.bill("S0")

    # THEN one open statement holds three lines and their sums; nothing was charged yet
    statement = world.repo.invoices[T, statement_id(T, "acct-house", "2026-11")]
    assert (statement.kind, statement.state, statement.number) == (
        InvoiceKind.STATEMENT,
        InvoiceState.OPEN,
        None,
    )
    lines = world.repo.lines_of(T, statement.id)
    assert [line.total_incl_tax for line in lines] == [
        Decimal("3.00"),
        Decimal("1.50"),
        Decimal("0.75"),
    ]
    assert statement.total_incl_tax == Decimal("5.25")
    assert statement.total_excl_tax == sum(line.total_excl_tax for line in lines)
    assert statement.taxes[0].amount == sum(line.taxes[0].amount for line in lines)
    assert world.payments.calls == []

    # WHEN the month is finalized, twice
    closed = world.service.finalize_month(T, "acct-house", "2026-11", NOW + timedelta(days=8))
    again = world.service.finalize_month(T, "acct-house", "2026-11", NOW + timedelta(days=8))

    # THEN it is numbered, charged 5.25 EUR once, and paid
    assert closed is not None
    assert (closed.state, closed.number, closed.period) == (InvoiceState.PAID, 1, "2026-11")
    assert again == closed
    assert world.payments.moved == [("charge", 525)]
    assert world.types().count("InvoiceFinalized") == 1
    assert world.types().count("InvoicePaid") == 1


def test_bill_session_monthly_after_its_statement_closed_goes_to_the_current_month(
    world: World,
) -> None:
    # GIVEN November's statement closed, and a late November session
    world.ends("S0", group="residents")
    world.bill("S0")
    december = datetime(2026, 12, 2, tzinfo=UTC)
    world.service.finalize_month(T, "acct-house", "2026-11", december)
    world.ends("S1", group="residents", kwh="5")

    # WHEN the late session is billed in December
    outcome = world.bill("S1", now=december)

    # THEN it goes on December's open statement
    assert outcome.invoice.id == statement_id(T, "acct-house", "2026-12")
    assert outcome.invoice.period == "2026-12"
    assert outcome.invoice.total_incl_tax == Decimal("1.50")


def test_bill_session_monthly_correction_adds_reversal_and_new_line(world: World) -> None:
    # GIVEN a resident's session on the open statement
    world.ends(group="residents")
    world.bill()

    # WHEN it is corrected to 12 kWh
    world.ends(revision=2, kwh="12", group="residents")
    outcome = world.bill()
    world.bill()

    # THEN the statement has the line, its reversal and the corrected line (sum 3.60)
    lines = world.repo.lines_of(T, outcome.invoice.id)
    assert [line.kind for line in lines] == [LineKind.SESSION, LineKind.REVERSAL, LineKind.SESSION]
    assert outcome.invoice.total_incl_tax == Decimal("3.60")
    assert world.payments.calls == []


def test_bill_session_monthly_in_another_currency_is_refused(world: World) -> None:
    # GIVEN a resident's EUR statement this month
    world.ends("S0", group="residents")
    world.bill("S0")

    # WHEN a session priced in CHF comes to the same account
    world.ends("S1", group="residents", currency="CHF")

    # THEN it is refused loudly instead of being mixed in
    with pytest.raises(BillingConflictError):
        world.bill("S1")


def test_finalize_month_declined_records_payment_failed(world: World) -> None:
    # GIVEN a statement with one session and a card that declines
    world.ends(group="residents")
    world.bill()
    world.payments.script = [(PaymentStatus.DECLINED, "insufficient_funds")]

    # WHEN the month is finalized
    closed = world.service.finalize_month(T, "acct-house", "2026-11", NOW)

    # THEN it is issued but unpaid, with the reason
    assert closed is not None
    assert closed.state is InvoiceState.PAYMENT_FAILED
    assert closed.number == 1
    assert world.repo.of_type("PaymentFailed")[0].code == "insufficient_funds"  # type: ignore[attr-defined]


def test_finalize_month_without_statement_or_amount_collects_nothing(world: World) -> None:
    # GIVEN a resident whose only session (November) cost nothing
    world.ends(group="residents", prices={"energyPerKwh": "0"})
    world.bill()

    # WHEN October and November are finalized
    october = world.service.finalize_month(T, "acct-house", "2026-10", NOW)
    november = world.service.finalize_month(T, "acct-house", "2026-11", NOW)

    # THEN there was no statement to finalize, and nothing is charged
    assert (october, november) == (None, None)
    assert world.payments.calls == []


# -- refunds -----------------------------------------------------------------------------------


def test_refund_gives_back_part_then_the_rest_once_each(world: World) -> None:
    # GIVEN a paid 3.00 EUR receipt
    world.ends()
    receipt = world.bill().invoice

    # WHEN 1.00 EUR is refunded (the request retried), then the rest
    first = world.service.refund(
        T, receipt.id, amount=Decimal("1.00"), reason="slow", request_id="r1", now=NOW
    )
    retried = world.service.refund(
        T, receipt.id, amount=Decimal("1.00"), reason="slow", request_id="r1", now=NOW
    )
    rest = world.service.refund(T, receipt.id, amount=None, reason="x", request_id="r2", now=NOW)

    # THEN two credit notes, two refunds (1.00 and 2.00), taxes shared proportionally
    assert retried == first
    assert (first.kind, first.state, first.total_incl_tax) == (
        InvoiceKind.CREDIT_NOTE,
        InvoiceState.PAID,
        Decimal("-1.00"),
    )
    assert first.taxes[0].amount == Decimal("-0.16")
    assert first.total_excl_tax == Decimal("-0.84")
    assert rest.total_incl_tax == Decimal("-2.00")
    assert world.payments.moved == [("charge", 300), ("refund", 100), ("refund", 200)]
    assert world.repo.invoices[T, receipt.id].refunded == Decimal("3.00")


def test_refund_beyond_what_was_paid_is_refused(world: World) -> None:
    # GIVEN a paid 3.00 EUR receipt
    world.ends()
    receipt = world.bill().invoice

    # WHEN 3.01 EUR is asked back
    # THEN it is refused and nothing moves
    with pytest.raises(BillingConflictError):
        world.service.refund(
            T, receipt.id, amount=Decimal("3.01"), reason="x", request_id="r", now=NOW
        )
    assert world.payments.moved == [("charge", 300)]


def test_refund_of_an_unpaid_or_unknown_invoice_is_refused(world: World) -> None:
    # GIVEN a declined receipt
    world.ends()
    world.payments.script = [(PaymentStatus.DECLINED, "card_declined")]
    receipt = world.bill().invoice

    # WHEN it or an unknown invoice is refunded
    # THEN both are refused
    with pytest.raises(BillingConflictError):
        world.service.refund(T, receipt.id, amount=None, reason="x", request_id="r", now=NOW)
    with pytest.raises(ResourceNotFoundError):
        world.service.refund(T, "nope", amount=None, reason="x", request_id="r", now=NOW)


def test_refund_declined_by_the_provider_is_recorded(world: World) -> None:
    # GIVEN a paid receipt and a provider that refuses the refund
    world.ends()
    receipt = world.bill().invoice
    world.payments.script = [(PaymentStatus.DECLINED, "charge_disputed")]

    # WHEN it is refunded
    note = world.service.refund(T, receipt.id, amount=None, reason="x", request_id="r", now=NOW)

    # THEN the credit note says the refund failed, and why
    assert note.state is InvoiceState.PAYMENT_FAILED
    assert note.failure_code == "charge_disputed"


# -- numbering ---------------------------------------------------------------------------------


def test_invoices_are_numbered_per_tenant_in_the_order_issued(world: World) -> None:
    # GIVEN two public sessions and a resident's
    world.ends("S1")
    world.ends("S2")
    world.ends("S3", group="residents")

    # WHEN they are billed (the statement stays open)
    numbers = [world.bill(s).invoice.number for s in ("S1", "S2", "S3")]

    # THEN the receipts are 1 and 2; the open statement has none until finalized (3)
    assert numbers == [1, 2, None]
    closed = world.service.finalize_month(T, "acct-house", "2026-11", NOW)
    assert closed is not None
    assert closed.display_number == "INV-000003"
