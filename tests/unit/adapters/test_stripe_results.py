"""Stripe objects in states the fake does not reach map to the right payment results."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from csms.adapters.stripe_payments import _intent_result, _refund_result
from csms.domain.billing.payments import PaymentStatus


def intent(status: str, **fields: Any) -> stripe.PaymentIntent:
    values = {
        "id": "pi_1",
        "object": "payment_intent",
        "amount": 3000,
        "amount_capturable": 0,
        "amount_received": 0,
        "currency": "eur",
        "status": status,
        "last_payment_error": None,
        **fields,
    }
    return stripe.PaymentIntent.construct_from(values, "sk_test_unused")


def refund(status: str, **fields: Any) -> stripe.Refund:
    values = {
        "id": "re_1",
        "object": "refund",
        "amount": 500,
        "currency": "eur",
        "status": status,
        **fields,
    }
    return stripe.Refund.construct_from(values, "sk_test_unused")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("processing", PaymentStatus.PROCESSING),
        ("canceled", PaymentStatus.CANCELED),
        ("requires_action", PaymentStatus.REQUIRES_ACTION),
    ],
)
def test_stripe_intent_status_maps_to_payment_status(status: str, expected: PaymentStatus) -> None:
    # GIVEN a PaymentIntent in a status / WHEN mapped / THEN the payment status follows
    result = _intent_result(intent(status))
    assert (result.status, result.reference, result.amount_minor, result.currency) == (
        expected,
        "pi_1",
        3000,
        "EUR",
    )


def test_stripe_intent_back_to_payment_method_is_declined_with_the_last_error() -> None:
    # GIVEN a PaymentIntent whose confirmation failed (status requires_payment_method)
    failed = intent(
        "requires_payment_method",
        last_payment_error={
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "do_not_honor",
            "message": "Your card was declined.",
        },
    )
    bare = intent("requires_payment_method")
    # WHEN mapped
    # THEN it is a decline with the bank's code, or a generic one without an error
    declined = _intent_result(failed)
    assert (declined.status, declined.failure_code) == (PaymentStatus.DECLINED, "do_not_honor")
    assert declined.failure_message == "Your card was declined."
    assert _intent_result(bare).failure_code == "payment_failed"


def test_stripe_intent_unexpected_status_fails_permanently() -> None:
    # GIVEN a PaymentIntent still waiting for confirmation (never after confirm=true)
    # WHEN mapped
    result = _intent_result(intent("requires_confirmation"))
    # THEN it is a permanent failure naming the status
    assert (result.status, result.failure_code) == (PaymentStatus.FAILED, "unexpected_status")
    assert not result.retryable


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("succeeded", PaymentStatus.REFUNDED),
        ("pending", PaymentStatus.PROCESSING),
        ("requires_action", PaymentStatus.PROCESSING),
        ("canceled", PaymentStatus.CANCELED),
    ],
)
def test_stripe_refund_status_maps_to_payment_status(status: str, expected: PaymentStatus) -> None:
    # GIVEN a Refund in a status / WHEN mapped / THEN the payment status follows
    result = _refund_result(refund(status))
    assert (result.status, result.reference, result.amount_minor) == (expected, "re_1", 500)


def test_stripe_refund_failed_fails_permanently_with_the_reason() -> None:
    # GIVEN a refund the bank sent back (an expired card)
    failed = refund("failed", failure_reason="expired_or_canceled_card")
    # WHEN mapped
    result = _refund_result(failed)
    # THEN it is a permanent failure with Stripe's reason
    assert (result.status, result.failure_code) == (
        PaymentStatus.FAILED,
        "expired_or_canceled_card",
    )
    assert not result.retryable
    assert _refund_result(refund("failed")).failure_code == "refund_failed"
