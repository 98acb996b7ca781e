"""StripePaymentProvider's customer update and SetupIntent, against the fake Stripe."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe
from tests.stripe_fake import API_KEY, FakeStripe

from csms.adapters.stripe_payments import StripePaymentProvider
from csms.domain.errors import PaymentProviderError

T = "t-1"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.01)
    monkeypatch.setattr(stripe.HTTPClient, "MAX_DELAY", 0.01)
    with FakeStripe.running() as running:
        yield running


def provider_for(fake: FakeStripe, api_key: str = API_KEY) -> StripePaymentProvider:
    provider = StripePaymentProvider(
        api_key, api_base=fake.url, timeout_s=0.5, max_network_retries=1
    )
    assert provider.api_base.startswith("http://127.0.0.1:")
    return provider


def test_setup_intent_is_off_session_with_metadata_and_idempotent(fake: FakeStripe) -> None:
    # GIVEN a customer
    provider = provider_for(fake)
    customer = provider.ensure_customer(T, "token:ANNA", email=None, name=None)
    # WHEN a setup is started twice with one key, then with another
    first = provider.start_payment_method_setup(
        T, account_id="token:ANNA", customer=customer, idempotency_key="setup:token:ANNA:r1"
    )
    again = provider.start_payment_method_setup(
        T, account_id="token:ANNA", customer=customer, idempotency_key="setup:token:ANNA:r1"
    )
    other = provider.start_payment_method_setup(
        T, account_id="token:ANNA", customer=customer, idempotency_key="setup:token:ANNA:r2"
    )
    # THEN one SetupIntent per key, for off-session use, naming tenant and account
    assert first == again != other
    assert first.provider == "stripe"
    assert first.client_secret == f"{first.reference}_secret_fake"
    intent = fake.setup_intents[first.reference]
    assert intent["usage"] == "off_session"
    assert intent["customer"] == customer
    assert intent["metadata"] == {"tenant_id": T, "account_id": "token:ANNA"}
    assert len(fake.setup_intents) == 2
    assert [r.idempotency_key for r in fake.requests if r.path == "/v1/setup_intents"] == [
        f"{T}:setup:token:ANNA:r1",
        f"{T}:setup:token:ANNA:r1",
        f"{T}:setup:token:ANNA:r2",
    ]


def test_update_customer_sets_and_clears_email_and_name(fake: FakeStripe) -> None:
    # GIVEN a customer
    provider = provider_for(fake)
    customer = provider.ensure_customer(T, "token:ANNA", email=None, name=None)
    # WHEN its email and name are set, then cleared
    provider.update_customer(
        T, customer=customer, email="anna@example.com", name="Anna", idempotency_key="u:1"
    )
    set_to = dict(fake.customers[customer])
    provider.update_customer(T, customer=customer, email=None, name=None, idempotency_key="u:2")
    # THEN Stripe has them, then has them emptied (Stripe's way to unset)
    assert (set_to["email"], set_to["name"]) == ("anna@example.com", "Anna")
    assert (fake.customers[customer]["email"], fake.customers[customer]["name"]) == ("", "")


@pytest.mark.parametrize(
    ("fault", "retryable"),
    [(500, True), (401, False)],
)
def test_setup_and_update_failures_raise_provider_errors(
    fake: FakeStripe, fault: int, retryable: bool
) -> None:
    # GIVEN Stripe failing (5xx) or refusing the key (401)
    provider = provider_for(fake) if fault == 500 else provider_for(fake, "sk_test_wrong")
    if fault == 500:
        fake.fail_next(10, 500)
    # WHEN a setup is started and a customer updated
    # THEN PaymentProviderError, retryable only when Stripe itself failed
    with pytest.raises(PaymentProviderError) as setup:
        provider.start_payment_method_setup(
            T, account_id="token:ANNA", customer="cus_x", idempotency_key="k"
        )
    with pytest.raises(PaymentProviderError) as update:
        provider.update_customer(T, customer="cus_x", email=None, name=None, idempotency_key="k")
    assert setup.value.retryable is retryable
    assert update.value.retryable is retryable
