"""Billing data for the API tests: a CDR and a paid receipt stored, Stripe's signature scheme.

`stripe_signature` signs the way Stripe documents it (HMAC-SHA256 of `{t}.{body}` under the
endpoint's secret, sent as `t=...,v1=...`), written here from the documentation and not with
the `stripe` package, so the endpoint is checked against the scheme rather than against itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.unit.domain.billing.builders import a_tariff, a_usage

from csms.domain.billing.cdr import AuthMethod, SessionFacts, build_cdr
from csms.domain.billing.invoice import (
    Invoice,
    InvoiceKind,
    InvoiceState,
    Payment,
    receipt_id,
    session_line,
    with_lines,
)
from csms.domain.billing.pricing import price
from csms.domain.tokens import IdTokenType
from csms.handlers import _runtime

WEBHOOK_SECRET = "whsec_apitests0secret"
# A payment reference of the invoice-only provider (`inv_<currency>_<24 hex>`): it refunds it.
PAID_REFERENCE = "inv_EUR_" + "0" * 24


def stripe_signature(payload: str, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send with this body."""
    timestamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def signed(event: dict[str, Any], **how: Any) -> tuple[str, dict[str, str]]:
    """The body text and headers of a signed webhook delivery."""
    body = json.dumps(event)
    return body, {"Stripe-Signature": stripe_signature(body, **how)}


@dataclass(frozen=True)
class Stored:
    """What `store_paid_receipt` wrote."""

    cdr_id: str
    invoice_id: str
    invoice: Invoice


def store_paid_receipt(
    tenant_id: str,
    session_id: str,
    *,
    site_id: str | None,
    station_id: str = "CS-1",
    kwh: str = "10",
    ended: datetime | None = None,
    payment: Payment | None = None,
    state: InvoiceState = InvoiceState.PAID,
) -> Stored:
    """A billed session's CDR and its receipt (3.00 EUR for 10 kWh), paid, through the adapter."""
    start = (ended or datetime.now(UTC).replace(microsecond=0)) - timedelta(hours=1)
    tariff = a_tariff()
    usage = a_usage(start, 1, kwh, sessionId=session_id, idToken="TOK-1")
    priced = price(tariff, usage)
    facts = SessionFacts(
        tenant_id=tenant_id,
        session_id=session_id,
        revision=1,
        station_id=station_id,
        site_id=site_id,
        evse_id=1,
        connector_id=1,
        id_token="TOK-1",
        token_type=IdTokenType.ISO14443,
        auth_method=AuthMethod.AUTH_REQUEST,
        account_id="acct-1",
    )
    now = usage.stop
    repository = _runtime.billing().repository
    cdr = repository.add_cdr(tenant_id, build_cdr(facts, tariff, usage, priced, now), [])
    line = session_line(session_id, 1, cdr.id, priced, f"Charging at {station_id}")
    paid = payment or Payment(
        reference=PAID_REFERENCE, kind="charge", amount=priced.total_incl_tax, status="succeeded"
    )
    draft = with_lines(
        Invoice(
            id=receipt_id(tenant_id, session_id),
            tenant_id=tenant_id,
            kind=InvoiceKind.RECEIPT,
            state=state,
            account_id="acct-1",
            currency="EUR",
            session_id=session_id,
            payments=(paid,),
            created_at=now,
            finalized_at=now,
            updated_at=now,
        ),
        [line],
    )
    invoice = repository.create_invoice(tenant_id, draft, [line], lambda _: [])
    assert invoice.total_incl_tax == Decimal("3.00")
    return Stored(cdr_id=cdr.id, invoice_id=invoice.id, invoice=invoice)
