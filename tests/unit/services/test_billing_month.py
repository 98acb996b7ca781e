"""MonthlyClose over the in-memory repository: every statement of a month closed, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from tests.unit.services.test_billing_service import RESIDENTS, T, World

from csms.domain.billing.invoice import (
    Invoice,
    InvoiceKind,
    InvoiceState,
    Payment,
    statement_id,
)
from csms.domain.billing.payments import PaymentStatus
from csms.services.billing_month import MonthlyClose, StatementRef, still_to_close

DECEMBER = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture
def world() -> World:
    return World()


def _statement(state: InvoiceState, total: str = "3.00", *payments: Payment) -> Invoice:
    return Invoice(
        id="stm-1",
        tenant_id=T,
        kind=InvoiceKind.STATEMENT,
        state=state,
        account_id="acct-house",
        currency="EUR",
        period="2026-11",
        total_incl_tax=Decimal(total),
        payments=payments,
        created_at=DECEMBER,
        updated_at=DECEMBER,
    )


@pytest.mark.parametrize(
    ("statement", "left"),
    [
        (_statement(InvoiceState.OPEN), True),
        (_statement(InvoiceState.OPEN, "0"), True),
        (_statement(InvoiceState.FINALIZED), True),
        (_statement(InvoiceState.FINALIZED, "0"), False),
        (_statement(InvoiceState.FINALIZED, "-1.00"), False),
        (
            _statement(
                InvoiceState.FINALIZED,
                "3.00",
                Payment(reference="inv_1", kind="invoice", amount=Decimal(3), status="due"),
            ),
            False,
        ),
        (_statement(InvoiceState.PAID), False),
        (_statement(InvoiceState.PAYMENT_FAILED), False),
        (_statement(InvoiceState.VOID), False),
    ],
)
def test_still_to_close_only_open_or_due_with_nothing_tried(statement: Invoice, left: bool) -> None:
    # GIVEN a statement in some state WHEN asked THEN the close has work left only when it is
    # open, or finalized with an amount due and no payment outcome
    assert still_to_close(statement) is left


def test_close_collects_every_statement_of_the_month_once(world: World) -> None:
    # GIVEN two residents' November sessions on the house's statement, and a December one
    world.ends("S1", group="residents")
    world.ends("S2", group="residents", kwh="5", start=datetime(2026, 11, 24, tzinfo=UTC))
    world.bill("S1")
    world.bill("S2")
    world.ends("S3", group="residents", start=DECEMBER)
    world.bill("S3", now=DECEMBER + timedelta(hours=2))
    close = MonthlyClose(billing=world.service, statements=world.repo)
    assert world.repo.statements_to_close("2026-11") == [StatementRef(T, RESIDENTS.id)]

    # WHEN November is closed, twice (a retried schedule)
    first = close.close("2026-11", DECEMBER + timedelta(hours=12))
    second = close.close("2026-11", DECEMBER + timedelta(hours=13))

    # THEN November's statement was charged 4.50 EUR once and is paid; December's is open
    assert (first.closed, first.refused, first.retry) == (1, (), ())
    assert (second.closed, second.refused, second.retry) == (0, (), ())
    assert world.payments.moved == [("charge", 450)]
    november = world.repo.invoices[T, statement_id(T, RESIDENTS.id, "2026-11")]
    assert november.state is InvoiceState.PAID
    december = world.repo.invoices[T, statement_id(T, RESIDENTS.id, "2026-12")]
    assert december.state is InvoiceState.OPEN


def test_close_leaves_a_failed_provider_call_for_the_retry(world: World) -> None:
    # GIVEN a November statement and a provider that fails once (a 5xx)
    world.ends(group="residents")
    world.bill()
    world.payments.script = [(PaymentStatus.FAILED, "api_error")]
    close = MonthlyClose(billing=world.service, statements=world.repo)

    # WHEN November is closed, then closed again
    first = close.close("2026-11", DECEMBER)
    second = close.close("2026-11", DECEMBER + timedelta(hours=1))

    # THEN the first run leaves it for the retry (finalized, nothing collected), the second
    # collects it
    assert first.retry == (StatementRef(T, RESIDENTS.id),)
    assert second.closed == 1
    assert world.payments.moved == [("charge", 300)]
