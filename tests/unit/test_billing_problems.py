"""Billing and payment errors become precise problem bodies (RFC 9457)."""

from __future__ import annotations

import json

import pytest

from csms.domain.errors import (
    BillingConflictError,
    DomainError,
    InvalidWebhookSignatureError,
    PaymentProviderError,
)
from csms.handlers.problems import domain_problem


@pytest.mark.parametrize(
    ("error", "status", "slug"),
    [
        (BillingConflictError("invoice", "inv-1", "already paid"), 409, "invoice-conflict"),
        (InvalidWebhookSignatureError("stale timestamp"), 400, "invalid-webhook-signature"),
        (
            PaymentProviderError("api_connection_error", retryable=True),
            502,
            "payment-provider-failed",
        ),
    ],
)
def test_billing_errors_map_to_their_problem(error: DomainError, status: int, slug: str) -> None:
    # WHEN a billing or payment error reaches the HTTP edge
    response = domain_problem(error)
    body = json.loads(str(response.body))
    # THEN it is answered with its own status and problem type, saying why
    assert response.status_code == status
    assert body["type"] == f"/problems/{slug}"
    assert body["detail"] == str(error)
