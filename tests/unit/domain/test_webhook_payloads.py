"""Every partner webhook, built from a real domain event, matches its published JSON schema, and
the verification snippet of docs/webhooks.md accepts what the CSMS signs."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from csms.adapters.events import envelope_json
from csms.domain.alerts import AlertDetails, AlertKind, Severity
from csms.domain.connector import EvseRef
from csms.domain.events import (
    AlertClosed,
    AlertEscalated,
    AlertOpened,
    DomainEvent,
    InvoiceFinalized,
    InvoicePaid,
    PaymentFailed,
    StationConnected,
    StationDisconnected,
    TransactionEnded,
    TransactionStarted,
)
from csms.domain.station import ProtocolVersion
from csms.domain.webhooks import (
    WebhookEventType,
    new_secret,
    signed_headers,
    webhook_body,
    webhook_id,
    webhook_types_of,
)

ROOT = Path(__file__).resolve().parents[3]
AT = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
PORT = EvseRef(evse_id=1, connector_id=1)
_ALERT: dict[str, Any] = {
    "station_id": "CP-1",
    "tenant_id": "t1",
    "occurred_at": AT,
    "alert_id": "20261124T083000000000Z-abc123def456",
    "kind": AlertKind.FAULTED,
    "severity": Severity.CRITICAL,
    "evse": PORT,
    "site_id": "s1",
    "details": AlertDetails(error_code="GroundFailure", vendor_error_code="E-42"),
}
_BILLING: dict[str, Any] = {"tenant_id": "t1", "occurred_at": AT, "currency": "EUR"}
_SESSION: dict[str, Any] = {
    "station_id": "CP-1",
    "tenant_id": "t1",
    "occurred_at": AT,
    "session_id": "s-1",
    "transaction_id": "tx-1",
    "evse": PORT,
}

EVENTS: list[DomainEvent] = [
    TransactionStarted(**_SESSION, protocol=ProtocolVersion.OCPP201, id_token="TAG-1"),
    TransactionEnded(**_SESSION, revision=1, energy_wh=Decimal("12345.6"), duration_s=3600),
    InvoiceFinalized(
        **_BILLING,
        invoice_id="inv-1",
        number=7,
        kind="receipt",
        session_id="s-1",
        total_excl_tax=Decimal("10.00"),
        total_incl_tax=Decimal("11.90"),
    ),
    InvoicePaid(**_BILLING, invoice_id="inv-1", amount=Decimal("11.90"), payment_reference="pi_1"),
    PaymentFailed(
        **_BILLING,
        invoice_id="inv-1",
        amount=Decimal("11.90"),
        code="card_declined",
        reason="The card was declined",
    ),
    StationConnected(
        station_id="CP-1",
        tenant_id="t1",
        occurred_at=AT,
        connection_id="c-1",
        protocol=ProtocolVersion.OCPP16,
    ),
    StationDisconnected(station_id="CP-1", tenant_id="t1", occurred_at=AT, connection_id="c-1"),
    AlertOpened(**_ALERT),
    AlertClosed(**_ALERT, opened_at=AT),
    AlertEscalated(**_ALERT, opened_at=AT, ticket_id="T-1"),
]


def _deliveries() -> list[tuple[WebhookEventType, dict[str, Any]]]:
    """Every (webhook type, body) the events above are delivered as."""
    found: list[tuple[WebhookEventType, dict[str, Any]]] = []
    for event in EVENTS:
        envelope = json.loads(envelope_json(event, "e-1"))
        types = webhook_types_of(event.detail_type, envelope["data"])
        found.extend((event_type, webhook_body(event_type, envelope)) for event_type in types)
    return found


def test_the_samples_cover_every_webhook_type() -> None:
    assert {event_type for event_type, _ in _deliveries()} == set(WebhookEventType)


@pytest.mark.parametrize(
    ("event_type", "body"), _deliveries(), ids=[t.value for t, _ in _deliveries()]
)
def test_webhook_body_matches_its_published_schema(
    event_type: WebhookEventType, body: dict[str, Any]
) -> None:
    # GIVEN the published schema of the type (schemas/webhooks/v1)
    schema = json.loads((ROOT / "schemas" / "webhooks" / "v1" / f"{event_type}.json").read_text())
    # THEN the body a partner receives validates against it
    jsonschema.validate(body, schema)
    # AND a body of another type does not
    wrong = {**body, "type": "session.started" if event_type != "session.started" else "x"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, schema)


def _docs_verify() -> Any:
    """The `verify` function of docs/webhooks.md, run as a partner would copy it."""
    text = (ROOT / "docs" / "webhooks.md").read_text()
    [code] = [c for c in re.findall(r"```python\n(.*?)```", text, re.S) if "def verify" in c]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)  # noqa: S102 - our own docs
    return namespace["verify"]


def test_the_docs_snippet_verifies_what_the_csms_signs_and_refuses_tampering() -> None:
    # GIVEN a delivery signed now, as the delivery function signs it
    verify = _docs_verify()
    secret = new_secret(bytes(range(32)))
    body = json.dumps(_deliveries()[0][1])
    msg_id = webhook_id("e-1", WebhookEventType.SESSION_STARTED)
    headers = signed_headers(secret, msg_id, datetime.fromtimestamp(time.time(), UTC), body)
    # THEN the snippet accepts it, over the raw bytes
    assert verify(secret, headers, body.encode()) is True
    # AND refuses another body, another secret, and a signature older than its tolerance
    assert verify(secret, headers, body.encode() + b" ") is False
    assert verify(new_secret(bytes(32)), headers, body.encode()) is False
    old = signed_headers(secret, msg_id, datetime(2026, 1, 1, tzinfo=UTC), body)
    assert verify(secret, old, body.encode()) is False
    # AND accepts a signature among several (a rotation: old and new secrets both sign)
    both = {**headers, "webhook-signature": "v1,bm90LWl0 " + headers["webhook-signature"]}
    assert verify(secret, both, body.encode()) is True
