"""Payments end to end on moto and the fake Stripe: keys from Secrets Manager, a hold at the
start captured at the end, and a debit that settles later reaching its invoice by webhook."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
import stripe
from tests.integration.billing_world import signed
from tests.integration.conftest import Ctx, http_event, invoke_api
from tests.stripe_fake import API_KEY, FakeStripe

from csms.adapters.dynamo_billing import DynamoBillingAccountStore
from csms.adapters.dynamo_sessions import DynamoSessionRepository
from csms.adapters.dynamo_tariffs import DynamoTariffRepository
from csms.adapters.events import envelope_json
from csms.adapters.outbox import OutboxEncoder
from csms.adapters.stripe_payments import StripePaymentProvider
from csms.adapters.system import new_uuid
from csms.domain.billing.assignment import TariffAssignment
from csms.domain.billing.invoice import BillingAccount, BillingMode, InvoiceState, receipt_id
from csms.domain.billing.tariff import Tariff
from csms.domain.connector import EvseRef
from csms.domain.events import TransactionStarted
from csms.domain.sessions import MeterMark, Session, SessionState
from csms.domain.station import ProtocolVersion
from csms.handlers import _runtime, evt_preauth
from csms.services.billing import Hold
from csms.services.tariffs import TariffVersion
from csms_local import emulation

T = "default"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
WEBHOOK_SECRET = "whsec_apitests0secret"
WEBHOOK = "/v1/payments/stripe/webhook"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.01)
    monkeypatch.setattr(stripe.HTTPClient, "MAX_DELAY", 0.01)
    with FakeStripe.running() as running:
        yield running


@pytest.fixture
def stripe_from_secret(
    aws: emulation.EmulatedResources, fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> FakeStripe:
    """Stripe's keys in a Secrets Manager secret (as in AWS); requests go to the fake."""
    del aws
    secret = boto3.client("secretsmanager", region_name=emulation.REGION).create_secret(
        Name="csms/stripe",
        SecretString=json.dumps({"apiKey": API_KEY, "webhookSecret": WEBHOOK_SECRET}),
    )
    monkeypatch.delenv("CSMS_STRIPE_API_KEY", raising=False)
    monkeypatch.delenv("CSMS_STRIPE_WEBHOOK_SECRETS", raising=False)
    monkeypatch.setenv("CSMS_STRIPE_SECRET_ARN", secret["ARN"])
    monkeypatch.setenv("CSMS_STRIPE_API_BASE", fake.url)
    monkeypatch.setenv("CSMS_STRIPE_TIMEOUT_S", "2")
    _runtime.reset()
    provider = _runtime.payment_provider()
    # Nothing here may ever reach the real Stripe.
    assert isinstance(provider, StripePaymentProvider)
    assert provider.api_base == fake.url
    assert provider.api_base.startswith("http://127.0.0.1:")
    return fake


def _world(fake: FakeStripe, payment_method: str) -> str:
    """A priced tariff at site-1, and driver anna's account with a saved payment method."""
    _runtime.gateway()  # points the models at the emulated table
    tariff = Tariff.model_validate(
        {
            "id": "public",
            "version": 1,
            "name": "Public",
            "currency": "EUR",
            "taxRates": [{"name": "VAT", "percent": "19"}],
            "prices": {"energyPerKwh": "0.50"},
        }
    )
    tariffs = DynamoTariffRepository()
    assert tariffs.create_tariff(T, TariffVersion(tariff, T0 - timedelta(days=1)))
    assert tariffs.create_assignment(T, TariffAssignment(tariff_id="public", site_id="site-1"))
    customer = fake.add_customer(default_payment_method=payment_method)
    account = BillingAccount(
        id="token:ANNA",
        mode=BillingMode.AD_HOC,
        customer=customer,
        payment_method=payment_method,
    )
    assert DynamoBillingAccountStore().save_account(T, account, 0)
    return customer


def _started_event(session_id: str = "S1") -> dict[str, Any]:
    started = TransactionStarted(
        station_id="CP-1",
        tenant_id=T,
        occurred_at=T0,
        session_id=session_id,
        transaction_id="TX-1",
        evse=EvseRef(evse_id=1, connector_id=1),
        protocol=ProtocolVersion.OCPP201,
        site_id="site-1",
        id_token="anna",
        started_at=T0,
    )
    return {
        "id": "e-1",
        "source": "csms.sessions",
        "detail-type": "TransactionStarted",
        "detail": json.loads(envelope_json(started, "e-1")),
    }


def _end(session_id: str = "S1", kwh: int = 8) -> None:
    session = Session(
        id=session_id,
        tenant_id=T,
        station_id="CP-1",
        transaction_id="TX-1",
        protocol=ProtocolVersion.OCPP201,
        site_id="site-1",
        evse=EvseRef(evse_id=1, connector_id=1),
        state=SessionState.ENDED,
        id_token="anna",
        started_at=T0,
        stopped_at=T0 + timedelta(hours=1),
        meter_start=MeterMark(wh=Decimal(0), at=T0),
        meter_stop_wh=Decimal(kwh * 1000),
        revision=1,
        updated_at=T0 + timedelta(hours=1),
    )
    assert DynamoSessionRepository(OutboxEncoder(new_uuid)).create(session)


def _deliver(event: dict[str, Any]) -> tuple[int, Any]:
    body, headers = signed(event, secret=WEBHOOK_SECRET)
    text = base64.b64encode(body.encode()).decode()
    request = http_event(
        "POST", WEBHOOK, claims=None, headers=headers, body=text, base64_encoded=True
    )
    status, _, answer = invoke_api(request)
    return status, json.loads(answer) if answer else None


def test_preauth_hold_at_start_is_captured_at_the_end(stripe_from_secret: FakeStripe) -> None:
    # GIVEN anna with a saved card, Stripe's keys in Secrets Manager
    fake = stripe_from_secret
    customer = _world(fake, "pm_card_visa")

    # WHEN her session starts (TransactionStarted delivered twice, as EventBridge may)
    first = evt_preauth.lambda_handler(_started_event(), Ctx("preauth"))
    again = evt_preauth.lambda_handler(_started_event(), Ctx("preauth"))

    # THEN 50 EUR is held on her card once, for the receipt the session will be billed on
    assert (first["outcome"], again["outcome"]) == ("held", "already-held")
    [(intent_id, intent)] = fake.payment_intents.items()
    assert (intent["status"], intent["amount_capturable"]) == ("requires_capture", 5000)
    assert (intent["customer"], intent["capture_method"]) == (customer, "manual")
    assert intent["metadata"] == {
        "tenant_id": T,
        "invoice_id": receipt_id(T, "S1"),
        "session_id": "S1",
    }
    assert _runtime.billing().repository.get_hold(T, "S1") == Hold(
        reference=intent_id, amount_minor=5000, currency="EUR"
    )

    # WHEN the session ends with 8 kWh (4.00 EUR) and is billed
    _end()
    outcome = _runtime.billing_service().bill_session(T, "S1", T0 + timedelta(hours=2))

    # THEN 4.00 EUR of the hold is captured (the rest released), nothing else is charged,
    # and the receipt is paid with that capture
    assert (intent["status"], intent["amount_received"]) == ("succeeded", 400)
    assert len(fake.payment_intents) == 1
    assert outcome.invoice is not None
    assert outcome.invoice.state is InvoiceState.PAID
    assert [(p.kind, p.reference, p.amount) for p in outcome.invoice.payments] == [
        ("capture", intent_id, Decimal("4.00"))
    ]


def test_preauth_declined_card_holds_nothing_and_the_end_tries_the_card(
    stripe_from_secret: FakeStripe,
) -> None:
    # GIVEN anna's saved card is declined
    fake = stripe_from_secret
    _world(fake, "pm_card_chargeDeclined")
    # WHEN her session starts
    result = evt_preauth.lambda_handler(_started_event(), Ctx("preauth"))
    # THEN nothing is held or stored
    assert (result["outcome"], result["why"]) == ("refused", "generic_decline")
    assert _runtime.billing().repository.get_hold(T, "S1") is None
    # AND at the end the card is charged (and declined again): the receipt records why
    _end()
    outcome = _runtime.billing_service().bill_session(T, "S1", T0 + timedelta(hours=2))
    assert outcome.invoice is not None
    assert outcome.invoice.state is InvoiceState.PAYMENT_FAILED
    assert outcome.invoice.failure_code == "generic_decline"


def test_charge_settling_later_reaches_its_invoice_by_webhook(
    stripe_from_secret: FakeStripe,
) -> None:
    # GIVEN anna pays by a debit that settles later (SEPA), with no hold at the start
    fake = stripe_from_secret
    _world(fake, "pm_sepaDebit")
    _end()

    # WHEN her session is billed: the debit is accepted, its outcome to come
    outcome = _runtime.billing_service().bill_session(T, "S1", T0 + timedelta(hours=2))
    assert outcome.invoice is not None
    [(intent_id, intent)] = fake.payment_intents.items()
    assert intent["status"] == "processing"
    # AND the payment carries the invoice it is for
    assert intent["metadata"] == {
        "tenant_id": T,
        "invoice_id": outcome.invoice.id,
        "session_id": "S1",
    }
    assert outcome.invoice.payments[0].status == "processing"
    assert outcome.invoice.state is not InvoiceState.PAID

    # WHEN the debit settles and Stripe delivers payment_intent.succeeded (twice)
    event = fake.settle(intent_id)
    first = _deliver(event)
    again = _deliver(event)

    # THEN the receipt is paid, once
    assert first == (200, {"received": True, "outcome": "applied"})
    assert again == (200, {"received": True, "outcome": "replay"})
    invoice = _runtime.billing().repository.get_invoice(T, outcome.invoice.id)
    assert invoice is not None
    assert invoice.state is InvoiceState.PAID
    assert [(p.reference, p.status, p.amount) for p in invoice.payments] == [
        (intent_id, "succeeded", Decimal("4.00"))
    ]
