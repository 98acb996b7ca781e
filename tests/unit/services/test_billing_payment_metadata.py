"""BillingService tells the payment provider which invoice each payment is for (metadata).

Stripe sends a payment's metadata back in its webhooks; csms.services.provider_events finds
the invoice by it, so every charge and refund must name the invoice that records it.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tests.unit.services.test_billing_service import NOW, RESIDENTS, T, World

from csms.domain.billing.invoice import statement_id


def test_billing_charge_names_its_receipt_and_session() -> None:
    # GIVEN a public session with no hold (the saved card is charged)
    world = World()
    world.ends()
    # WHEN it is billed
    receipt = world.bill().invoice
    # THEN the charge names the receipt that records it, and the session
    [charge] = [c for c in world.payments.calls if c.method == "charge"]
    assert charge.args["metadata"] == {"invoice_id": receipt.id, "session_id": "S1"}


def test_billing_refund_names_the_credit_note_that_records_it() -> None:
    # GIVEN a paid receipt
    world = World()
    world.ends()
    receipt = world.bill().invoice
    # WHEN part of it is refunded
    note = world.service.refund(
        T, receipt.id, amount=Decimal("1.00"), reason="slow", request_id="r1", now=NOW
    )
    # THEN the refund names the credit note (where its late outcome is recorded)
    [refund] = [c for c in world.payments.calls if c.method == "refund"]
    assert refund.args["metadata"] == {"invoice_id": note.id, "session_id": "S1"}
    assert note.refers_to == receipt.id


def test_billing_monthly_charge_names_the_statement() -> None:
    # GIVEN a resident's session on the November statement
    world = World()
    world.ends(group="residents")
    world.bill()
    month = (NOW - timedelta(hours=3)).strftime("%Y-%m")
    # WHEN the month is closed and collected
    statement = world.service.finalize_month(T, RESIDENTS.id, month, NOW + timedelta(days=30))
    # THEN the charge names the statement, with no session (it covers many)
    assert statement is not None
    assert statement.id == statement_id(T, RESIDENTS.id, month)
    [charge] = [c for c in world.payments.calls if c.method == "charge"]
    assert charge.args["metadata"] == {"invoice_id": statement.id}
