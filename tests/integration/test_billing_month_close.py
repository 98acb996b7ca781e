"""The monthly close on moto: `close_month_handler` collects last month's statements through the
real `stripe` client (against the fake Stripe on 127.0.0.1), across tenants, exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import stripe
from tests.integration.conftest import Ctx
from tests.stripe_fake import API_KEY, FakeStripe
from tests.unit.domain.billing.builders import a_tariff, a_usage

from csms.adapters.dynamo_billing import DynamoBillingAccountStore
from csms.domain.billing.invoice import (
    BillingAccount,
    BillingMode,
    Invoice,
    InvoiceKind,
    InvoiceState,
    session_line,
    statement_id,
    with_lines,
)
from csms.domain.billing.pricing import price
from csms.handlers import _runtime, sfn_billing
from csms_local import emulation

OCTOBER_END = datetime(2026, 10, 30, 12, tzinfo=UTC)


@pytest.fixture
def fake(aws: emulation.EmulatedResources, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    del aws
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.01)
    monkeypatch.setattr(stripe.HTTPClient, "MAX_DELAY", 0.01)
    with FakeStripe.running() as running:
        monkeypatch.setenv("CSMS_STRIPE_API_KEY", API_KEY)
        monkeypatch.setenv("CSMS_STRIPE_API_BASE", running.url)
        _runtime.reset()
        yield running


def open_statement(fake: FakeStripe, tenant_id: str, account_id: str, month: str) -> str:
    """An account with a saved card and its open statement of `month` with one 3.00 EUR line."""
    billing = _runtime.billing()
    customer = fake.add_customer(default_payment_method="pm_card_visa")
    account = BillingAccount(
        id=account_id, mode=BillingMode.MONTHLY, customer=customer, payment_method="pm_card_visa"
    )
    assert DynamoBillingAccountStore().save_account(tenant_id, account, 0)
    usage = a_usage(OCTOBER_END, 1, "10", sessionId=f"S-{account_id}", idToken="TOK-1")
    line = session_line(f"S-{account_id}", 1, "cdr-1", price(a_tariff(), usage), "Charging")
    invoice_id = statement_id(tenant_id, account_id, month)
    statement = with_lines(
        Invoice(
            id=invoice_id,
            tenant_id=tenant_id,
            kind=InvoiceKind.STATEMENT,
            state=InvoiceState.OPEN,
            account_id=account_id,
            currency="EUR",
            period=month,
            created_at=OCTOBER_END,
            updated_at=OCTOBER_END,
        ),
        [line],
    )
    billing.repository.create_invoice(tenant_id, statement, [line], lambda _: [])
    return invoice_id


def test_close_month_handler_collects_last_months_statements_once_across_tenants(
    fake: FakeStripe,
) -> None:
    # GIVEN October statements of two tenants, and a September one still open
    october = {
        ("default", "group:fleet"): open_statement(fake, "default", "group:fleet", "2026-10"),
        ("hotel", "token:ANNA"): open_statement(fake, "hotel", "token:ANNA", "2026-10"),
    }
    september = open_statement(fake, "default", "token:BOB", "2026-09")

    # WHEN the monthly close runs for October, then runs again (a retried schedule)
    first = sfn_billing.close_month_handler({"month": "2026-10"}, Ctx("billing"))
    second = sfn_billing.close_month_handler({"month": "2026-10"}, Ctx("billing"))

    # THEN each October statement was numbered, charged 3.00 EUR once at Stripe, and is paid
    assert (first["closed"], first["refused"], first["retry"]) == (2, 0, 0)
    assert (second["closed"], second["refused"], second["retry"]) == (0, 0, 0)
    intents = list(fake.payment_intents.values())
    assert sorted(i["metadata"]["tenant_id"] for i in intents) == ["default", "hotel"]
    assert all(i["amount"] == 300 and i["status"] == "succeeded" for i in intents)
    repository = _runtime.billing().repository
    for (tenant_id, _), invoice_id in october.items():
        closed = repository.get_invoice(tenant_id, invoice_id)
        assert closed is not None
        assert (closed.state, closed.number) == (InvoiceState.PAID, 1)
        assert closed.paid == Decimal("3.00")
    # AND September's statement was left alone
    left = repository.get_invoice("default", september)
    assert left is not None
    assert left.state is InvoiceState.OPEN
