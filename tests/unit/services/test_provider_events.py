"""BillingService.apply_provider_event: a payment's late outcome (a webhook) applied once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.unit.services.test_billing_service import NOW, T, World

from csms.domain.billing.invoice import Invoice, InvoiceState
from csms.domain.billing.payments import PaymentStatus, ProviderEvent
from csms.domain.errors import ConcurrentModificationError
from csms.services.provider_events import (
    PaymentUpdate,
    ProviderEventOutcome,
    payment_updates,
    with_update,
)

LATER = NOW + timedelta(hours=1)


def an_event(kind: str, obj: dict[str, Any], event_id: str = "evt_1") -> ProviderEvent:
    return ProviderEvent(id=event_id, type=kind, created=LATER, object=obj)


def an_intent(reference: str, invoice_id: str, **more: Any) -> dict[str, Any]:
    return {
        "id": reference,
        "object": "payment_intent",
        "metadata": {"tenant_id": T, "invoice_id": invoice_id},
        **more,
    }


def a_refund(reference: str, invoice_id: str, status: str, **more: Any) -> dict[str, Any]:
    return {
        "id": reference,
        "object": "refund",
        "status": status,
        "metadata": {"tenant_id": T, "invoice_id": invoice_id},
        **more,
    }


@pytest.fixture
def world() -> World:
    return World()


def _processing_receipt(world: World) -> Invoice:
    """A public session whose charge the provider reported `processing` (a bank debit)."""
    world.ends()
    world.payments.script = [(PaymentStatus.PROCESSING, None)]
    invoice: Invoice = world.bill().invoice
    # Due until the provider tells how it ended: not a failure (no PaymentFailed).
    assert invoice.state is InvoiceState.FINALIZED
    assert invoice.payments[0].status == "processing"
    return invoice


def _apply(world: World, event: ProviderEvent) -> ProviderEventOutcome:
    return world.service.apply_provider_event(event, now=LATER)


# -- collections ------------------------------------------------------------------------------


def test_apply_provider_event_succeeded_marks_the_invoice_paid_once(world: World) -> None:
    # GIVEN a receipt whose charge was processing
    receipt = _processing_receipt(world)
    reference = receipt.payments[0].reference or ""
    before = len(world.repo.events)
    succeeded = an_event(
        "payment_intent.succeeded",
        an_intent(reference, receipt.id, amount_received=300, currency="eur"),
    )

    # WHEN Stripe tells it succeeded, twice (a redelivery)
    first = _apply(world, succeeded)
    again = _apply(world, succeeded)

    # THEN the receipt is paid, its failure cleared, and InvoicePaid published once
    assert (first, again) == (ProviderEventOutcome.APPLIED, ProviderEventOutcome.REPLAY)
    stored = world.repo.invoices[T, receipt.id]
    assert stored.state is InvoiceState.PAID
    assert (stored.failure_code, stored.failure_message) == (None, None)
    assert stored.payments[0].status == "succeeded"
    assert stored.payments[0].amount == Decimal("3.00")
    assert stored.updated_at == LATER
    assert [e.detail_type for e in world.repo.events[before:]] == ["InvoicePaid"]


def test_apply_provider_event_payment_failed_records_the_reason(world: World) -> None:
    # GIVEN a receipt whose charge was processing
    receipt = _processing_receipt(world)
    reference = receipt.payments[0].reference or ""
    failed = an_event(
        "payment_intent.payment_failed",
        an_intent(
            reference,
            receipt.id,
            last_payment_error={"code": "card_declined", "decline_code": "insufficient_funds"},
        ),
    )

    # WHEN Stripe tells the debit failed
    outcome = _apply(world, failed)

    # THEN the receipt failed with the bank's reason, and PaymentFailed says it
    assert outcome is ProviderEventOutcome.APPLIED
    stored = world.repo.invoices[T, receipt.id]
    assert (stored.state, stored.failure_code) == (
        InvoiceState.PAYMENT_FAILED,
        "insufficient_funds",
    )
    assert stored.payments[0].status == "declined"
    assert world.repo.of_type("PaymentFailed")[-1].model_dump()["code"] == "insufficient_funds"


def test_apply_provider_event_late_failure_after_success_changes_nothing(world: World) -> None:
    # GIVEN a receipt paid at once
    world.ends()
    receipt = world.bill().invoice
    reference = receipt.payments[0].reference or ""

    # WHEN an old failure of its payment arrives late, and then an unknown payment's success
    late = _apply(
        world, an_event("payment_intent.payment_failed", an_intent(reference, receipt.id))
    )
    stranger = _apply(
        world,
        an_event("payment_intent.succeeded", an_intent("pi_other", receipt.id), "evt_2"),
    )

    # THEN neither changes the receipt
    assert late is stranger is ProviderEventOutcome.IGNORED
    assert world.repo.invoices[T, receipt.id] == receipt


def test_apply_provider_event_of_other_types_is_not_even_claimed(world: World) -> None:
    # GIVEN an event type billing does not act on
    event = an_event("customer.created", {"id": "cus_1"})

    # WHEN it arrives
    outcome = _apply(world, event)

    # THEN it is ignored without a write
    assert outcome is ProviderEventOutcome.IGNORED
    assert world.repo.provider_events == {}


def test_apply_provider_event_without_billing_metadata_is_ignored(world: World) -> None:
    # GIVEN a payment made outside billing (no tenant and invoice in its metadata)
    event = an_event("payment_intent.succeeded", {"id": "pi_1", "metadata": {}})

    # WHEN it arrives
    # THEN nothing is changed
    assert _apply(world, event) is ProviderEventOutcome.IGNORED
    assert payment_updates(event) == []


def test_apply_provider_event_for_an_unknown_invoice_is_ignored(world: World) -> None:
    # GIVEN a notification naming an invoice that does not exist
    event = an_event("payment_intent.succeeded", an_intent("pi_1", "rcp-nothing"))

    # WHEN it arrives
    # THEN nothing is changed
    assert _apply(world, event) is ProviderEventOutcome.IGNORED


def test_apply_provider_event_retries_after_a_concurrent_write(world: World) -> None:
    # GIVEN a processing receipt whose first conditional write loses a race
    receipt = _processing_receipt(world)
    reference = receipt.payments[0].reference or ""
    repo = world.repo
    real = repo.update_invoice
    calls: list[int] = []

    def racing(*args: Any, **kwargs: Any) -> Invoice | None:
        calls.append(1)
        return None if len(calls) == 1 else real(*args, **kwargs)

    repo.update_invoice = racing  # type: ignore[method-assign]

    # WHEN the success arrives
    outcome = _apply(world, an_event("payment_intent.succeeded", an_intent(reference, receipt.id)))

    # THEN it is applied on the second attempt
    assert outcome is ProviderEventOutcome.APPLIED
    assert len(calls) == 2
    assert repo.invoices[T, receipt.id].state is InvoiceState.PAID


def test_apply_provider_event_gives_up_when_always_raced(world: World) -> None:
    # GIVEN a processing receipt whose every conditional write loses a race
    receipt = _processing_receipt(world)
    reference = receipt.payments[0].reference or ""
    world.repo.update_invoice = lambda *args, **kwargs: None  # type: ignore[method-assign]

    # WHEN the success arrives
    # THEN it gives up with a conflict (the webhook answers 409, Stripe delivers again) and
    # the event is not claimed, so the redelivery is applied, not taken for a replay
    event = an_event("payment_intent.succeeded", an_intent(reference, receipt.id))
    with pytest.raises(ConcurrentModificationError):
        _apply(world, event)
    del world.repo.update_invoice
    assert world.repo.provider_events == {}
    assert _apply(world, event) is ProviderEventOutcome.APPLIED


# -- refunds ----------------------------------------------------------------------------------


def _processing_refund(world: World) -> Invoice:
    """A paid receipt, refunded in full, the refund reported `processing`."""
    world.ends()
    receipt = world.bill().invoice
    world.payments.script = [(PaymentStatus.PROCESSING, None)]
    note = world.service.refund(T, receipt.id, amount=None, reason="x", request_id="r", now=NOW)
    assert note.state is InvoiceState.FINALIZED
    return note


def test_apply_provider_event_charge_refunded_settles_the_credit_note(world: World) -> None:
    # GIVEN a credit note whose refund was processing
    note = _processing_refund(world)
    reference = note.payments[0].reference or ""
    charge = {
        "id": "ch_1",
        "object": "charge",
        "refunds": {
            "data": [
                {"id": "re_dashboard", "status": "succeeded", "metadata": {}},
                a_refund(reference, note.id, "succeeded", amount=300, currency="eur"),
            ]
        },
    }

    # WHEN Stripe tells the charge was refunded
    outcome = _apply(world, an_event("charge.refunded", charge))

    # THEN the note is paid (money given back), its refund recorded negative
    assert outcome is ProviderEventOutcome.APPLIED
    stored = world.repo.invoices[T, note.id]
    assert stored.state is InvoiceState.PAID
    assert stored.payments[0].status == "refunded"
    assert stored.payments[0].amount == Decimal("-3.00")


def test_apply_provider_event_refund_failed_after_success_is_recorded(world: World) -> None:
    # GIVEN a credit note whose refund was reported done
    note = _processing_refund(world)
    reference = note.payments[0].reference or ""
    _apply(world, an_event("refund.updated", a_refund(reference, note.id, "succeeded")))

    # WHEN the refund fails later (the card was closed), and a pending update arrives
    failed = _apply(
        world,
        an_event(
            "refund.failed",
            a_refund(reference, note.id, "failed", failure_reason="expired_or_canceled_card"),
            "evt_2",
        ),
    )
    pending = _apply(
        world, an_event("refund.updated", a_refund(reference, note.id, "pending"), "evt_3")
    )

    # THEN the note says the refund failed and why; the pending update changes nothing
    assert (failed, pending) == (ProviderEventOutcome.APPLIED, ProviderEventOutcome.IGNORED)
    stored = world.repo.invoices[T, note.id]
    assert (stored.state, stored.failure_code) == (
        InvoiceState.PAYMENT_FAILED,
        "expired_or_canceled_card",
    )
    assert stored.payments[0].status == "failed"


def test_apply_provider_event_charge_without_refund_list_is_ignored(world: World) -> None:
    # GIVEN a charge.refunded whose refunds are not listed (newer Stripe API versions)
    event = an_event("charge.refunded", {"id": "ch_1", "object": "charge"})

    # WHEN it arrives
    # THEN nothing is changed
    assert _apply(world, event) is ProviderEventOutcome.IGNORED


# -- with_update, directly ---------------------------------------------------------------------


def test_with_update_leaves_open_statements_and_unknown_currencies_alone(world: World) -> None:
    # GIVEN a processing receipt, and the same as an open invoice
    receipt = _processing_receipt(world)
    reference = receipt.payments[0].reference or ""
    told = PaymentUpdate(
        tenant_id=T,
        invoice_id=receipt.id,
        reference=reference,
        purpose="collect",
        status="succeeded",
        amount_minor=999,
        currency="XXQ",
    )

    # WHEN the success is applied to each
    open_one = with_update(receipt.model_copy(update={"state": InvoiceState.OPEN}), told, LATER)
    paid = with_update(receipt, told, LATER)

    # THEN an open invoice is not changed; an unknown currency keeps the recorded amount
    assert open_one is None
    assert paid is not None
    assert paid.payments[0].amount == receipt.payments[0].amount
