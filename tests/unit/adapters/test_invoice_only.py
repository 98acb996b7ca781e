"""The invoice-only provider: no money moves, same key -> same answer; and how one is chosen."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from csms.adapters.invoice_only import InvoiceOnlyProvider
from csms.adapters.stripe_payments import StripePaymentProvider
from csms.adapters.stripe_webhooks import StripeWebhookVerifier
from csms.domain.billing.payments import PaymentResult, PaymentStatus
from csms.handlers import _runtime
from csms.settings import PaymentSettings, SettingsError, load_settings

TENANT = "t-1"


def authorize(
    provider: InvoiceOnlyProvider, *, key: str = "session-1:authorize", tenant: str = TENANT
) -> PaymentResult:
    return provider.authorize(
        tenant,
        customer="account:acct-7",
        payment_method=None,
        amount_minor=3000,
        currency="EUR",
        idempotency_key=key,
        description="Charging at Hotel Aurora",
    )


def test_invoice_only_authorize_and_charge_are_invoiced_with_a_stable_reference() -> None:
    # GIVEN the invoice-only provider
    provider = InvoiceOnlyProvider()
    # WHEN the same authorisation is asked twice, and another one once
    first, again, other = authorize(provider), authorize(provider), authorize(provider, key="x")
    charged = provider.charge(
        TENANT,
        customer="account:acct-7",
        payment_method=None,
        amount_minor=8450,
        currency="eur",
        idempotency_key="invoice-2025-01",
        description="Garage charging, January",
    )
    # THEN each amount is due on the invoice; the same key gives the same answer
    assert first.status is PaymentStatus.INVOICED
    assert (first.amount_minor, first.currency) == (3000, "EUR")
    assert again == first
    assert other.reference != first.reference
    assert (charged.status, charged.amount_minor, charged.currency) == (
        PaymentStatus.INVOICED,
        8450,
        "EUR",
    )


def test_invoice_only_references_differ_between_tenants() -> None:
    # GIVEN two tenants whose sessions share an id (2.0.1 ids come from stations)
    provider = InvoiceOnlyProvider()
    # WHEN both authorise with the same key
    # THEN their references differ
    assert authorize(provider).reference != authorize(provider, tenant="t-2").reference


def test_invoice_only_capture_cancel_refund_follow_the_authorisation() -> None:
    # GIVEN an invoiced authorisation
    provider = InvoiceOnlyProvider()
    held = authorize(provider)
    assert held.reference is not None
    # WHEN the final price is captured, a hold cancelled, and part refunded
    captured = provider.capture(
        TENANT, reference=held.reference, amount_minor=1234, idempotency_key="cap"
    )
    canceled = provider.cancel(TENANT, reference=held.reference, idempotency_key="cancel")
    refunded = provider.refund(
        TENANT, reference=held.reference, amount_minor=234, idempotency_key="credit-1", reason="x"
    )
    refunded_again = provider.refund(
        TENANT, reference=held.reference, amount_minor=234, idempotency_key="credit-1", reason="x"
    )
    # THEN the captured amount is invoiced in the authorisation's currency, and the refund is a
    # credit with its own reference, the same for the same key
    assert (captured.status, captured.amount_minor, captured.currency) == (
        PaymentStatus.INVOICED,
        1234,
        "EUR",
    )
    assert captured.reference == held.reference
    assert (canceled.status, canceled.amount_minor) == (PaymentStatus.CANCELED, 0)
    assert (refunded.status, refunded.amount_minor, refunded.currency) == (
        PaymentStatus.REFUNDED,
        234,
        "EUR",
    )
    assert refunded.reference not in (None, held.reference)
    assert refunded_again == refunded


def test_invoice_only_unknown_reference_fails_permanently() -> None:
    # GIVEN a reference that the provider never handed out (a Stripe id, say)
    provider = InvoiceOnlyProvider()
    # WHEN it is captured, cancelled or refunded
    results = [
        provider.capture(TENANT, reference="pi_123", amount_minor=100, idempotency_key="k"),
        provider.cancel(TENANT, reference="pi_123", idempotency_key="k"),
        provider.refund(TENANT, reference="pi_123", amount_minor=1, idempotency_key="k", reason=""),
    ]
    # THEN each fails for good with the reason
    assert {(r.status, r.failure_code, r.retryable) for r in results} == {
        (PaymentStatus.FAILED, "unknown_reference", False)
    }


def test_invoice_only_non_positive_amounts_fail_permanently() -> None:
    # GIVEN an invoiced authorisation
    provider = InvoiceOnlyProvider()
    held = authorize(provider)
    assert held.reference is not None
    # WHEN zero or negative amounts are asked for
    results = [
        provider.authorize(
            TENANT,
            customer="c",
            payment_method=None,
            amount_minor=0,
            currency="EUR",
            idempotency_key="k",
            description="",
        ),
        provider.capture(TENANT, reference=held.reference, amount_minor=0, idempotency_key="k"),
        provider.refund(
            TENANT, reference=held.reference, amount_minor=-1, idempotency_key="k", reason=""
        ),
    ]
    # THEN each fails for good
    assert {(r.status, r.failure_code, r.retryable) for r in results} == {
        (PaymentStatus.FAILED, "invalid_amount", False)
    }


def test_invoice_only_customer_is_the_account() -> None:
    # GIVEN / WHEN a customer is ensured / THEN it names the account
    provider = InvoiceOnlyProvider()
    assert provider.ensure_customer(TENANT, "acct-7", email=None, name=None) == "account:acct-7"
    assert provider.name == "invoice-only"


@pytest.fixture
def base_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("CSMS_TABLE_NAME", "csms-table")
    monkeypatch.setenv("CSMS_EVENT_BUS_NAME", "bus")
    for name in ("API_KEY", "API_BASE", "WEBHOOK_SECRETS", "TIMEOUT_S", "MAX_NETWORK_RETRIES"):
        monkeypatch.delenv(f"CSMS_STRIPE_{name}", raising=False)
    _runtime.reset()
    yield monkeypatch
    # The built providers are cached per process: leave none behind for other tests.
    _runtime.reset()


def test_payment_provider_without_stripe_key_is_invoice_only(
    base_env: pytest.MonkeyPatch,
) -> None:
    # GIVEN no Stripe configuration (the local default)
    # WHEN the payment provider and webhook check are built
    provider = _runtime.payment_provider()
    # THEN money goes on invoices and Stripe webhooks are not accepted
    assert provider.name == "invoice-only"
    assert _runtime.payment_webhooks() is None
    assert _runtime.payment_provider() is provider


def test_payment_provider_with_stripe_key_is_stripe(base_env: pytest.MonkeyPatch) -> None:
    # GIVEN a Stripe key, a local API base and two webhook secrets
    base_env.setenv("CSMS_STRIPE_API_KEY", "sk_test_abc123")
    base_env.setenv("CSMS_STRIPE_API_BASE", "http://127.0.0.1:12111/")
    base_env.setenv("CSMS_STRIPE_WEBHOOK_SECRETS", "whsec_new1, whsec_old2")
    # WHEN they are built
    provider = _runtime.payment_provider()
    verifier = _runtime.payment_webhooks()
    # THEN Stripe is used, at that base, and webhooks are checked
    assert isinstance(provider, StripePaymentProvider)
    assert provider.api_base == "http://127.0.0.1:12111"
    assert isinstance(verifier, StripeWebhookVerifier)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CSMS_STRIPE_API_KEY", "pk_test_publishable"),
        ("CSMS_STRIPE_API_BASE", "http://api.example.com"),
        ("CSMS_STRIPE_API_BASE", "https://api.stripe.com/v1"),
        ("CSMS_STRIPE_WEBHOOK_SECRETS", "whsec_ok,not-a-secret"),
        ("CSMS_STRIPE_TIMEOUT_S", "0"),
        ("CSMS_STRIPE_MAX_NETWORK_RETRIES", "9"),
    ],
)
def test_payment_settings_wrong_values_are_named_without_the_secret(
    base_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    # GIVEN one wrong payment setting
    base_env.setenv(name, value)
    # WHEN the settings are loaded
    with pytest.raises(SettingsError) as caught:
        load_settings(PaymentSettings)
    # THEN the message names the variable and never repeats a secret
    assert name in str(caught.value)
    assert "publishable" not in str(caught.value)
    assert "not-a-secret" not in str(caught.value)


def test_payment_settings_default_to_stripe_over_tls(base_env: pytest.MonkeyPatch) -> None:
    # GIVEN nothing set / WHEN loaded / THEN no key, Stripe's own base, bounded timeouts
    settings = load_settings(PaymentSettings)
    assert settings.stripe_api_key is None
    assert settings.stripe_api_base == "https://api.stripe.com"
    assert (settings.stripe_timeout_s, settings.stripe_max_network_retries) == (10.0, 2)
    assert settings.stripe_webhook_secrets == ()
