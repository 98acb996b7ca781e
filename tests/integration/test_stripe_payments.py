"""The Stripe payment adapter: the real `stripe` client against the fake Stripe on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe
from tests.stripe_fake import API_KEY, FakeStripe

from csms.adapters.stripe_payments import StripePaymentProvider
from csms.domain.billing.payments import PaymentResult, PaymentStatus
from csms.domain.errors import PaymentProviderError

TENANT = "t-1"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    # The client's back-off between network retries is 0.5 s or more: keep the tests quick.
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.01)
    monkeypatch.setattr(stripe.HTTPClient, "MAX_DELAY", 0.01)
    with FakeStripe.running() as running:
        yield running


def provider_for(fake: FakeStripe, *, api_key: str = API_KEY) -> StripePaymentProvider:
    provider = StripePaymentProvider(
        api_key, api_base=fake.url, timeout_s=0.5, max_network_retries=1
    )
    # Nothing in these tests may ever reach the real Stripe.
    assert provider.api_base == fake.url
    assert provider.api_base.startswith("http://127.0.0.1:")
    return provider


@pytest.fixture
def provider(fake: FakeStripe) -> StripePaymentProvider:
    return provider_for(fake)


def authorize(
    provider: StripePaymentProvider,
    customer: str,
    *,
    method: str | None = "pm_card_visa",
    amount: int = 3000,
    key: str = "session-1:authorize",
) -> PaymentResult:
    return provider.authorize(
        TENANT,
        customer=customer,
        payment_method=method,
        amount_minor=amount,
        currency="EUR",
        idempotency_key=key,
        description="Charging at Hotel Aurora",
    )


def test_stripe_ensure_customer_creates_one_customer_per_account(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN an account without a Stripe customer
    # WHEN its customer is ensured twice (a retried first call)
    first = provider.ensure_customer(TENANT, "acct-7", email="ana@example.com", name="Ana")
    again = provider.ensure_customer(TENANT, "acct-7", email="ana@example.com", name="Ana")
    # THEN one customer exists, tagged with tenant and account
    assert first == again
    assert list(fake.customers) == [first]
    assert fake.customers[first]["metadata"] == {"tenant_id": TENANT, "account_id": "acct-7"}
    assert fake.customers[first]["email"] == "ana@example.com"
    assert fake.requests[0].idempotency_key == f"{TENANT}:customer:acct-7"


def test_stripe_ensure_customer_unreachable_raises_retryable_error(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN Stripe failing every attempt
    fake.fail_next(2, 500)
    # WHEN a customer is ensured
    with pytest.raises(PaymentProviderError) as caught:
        provider.ensure_customer(TENANT, "acct-7", email=None, name=None)
    # THEN the error says so and may be retried; no customer was made
    assert (caught.value.code, caught.value.retryable) == ("api_error", True)
    assert fake.customers == {}


def test_stripe_authorize_holds_the_amount_off_session(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN a customer with a saved card
    customer = fake.add_customer()
    # WHEN 30 EUR are authorised
    result = authorize(provider, customer)
    # THEN Stripe holds them on a manual-capture PaymentIntent confirmed off session
    assert result.status is PaymentStatus.AUTHORIZED
    assert (result.amount_minor, result.currency) == (3000, "EUR")
    assert result.reference is not None
    intent = fake.payment_intents[result.reference]
    assert intent["capture_method"] == "manual"
    assert intent["metadata"] == {"tenant_id": TENANT}
    sent = fake.requests[-1]
    assert sent.params["confirm"] == sent.params["off_session"] == "true"
    assert sent.params["currency"] == "eur"
    assert sent.idempotency_key == f"{TENANT}:session-1:authorize"


def test_stripe_authorize_uses_the_customers_default_payment_method(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN a customer whose default payment method is a working card
    customer = fake.add_customer(default_payment_method="pm_card_visa")
    # WHEN an authorisation names no payment method
    result = authorize(provider, customer, method=None)
    # THEN the default one is held
    assert result.status is PaymentStatus.AUTHORIZED
    assert result.reference is not None
    assert fake.payment_intents[result.reference]["payment_method"] == "pm_card_visa"


def test_stripe_authorize_without_any_payment_method_is_declined_without_an_intent(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN a customer with no saved payment method
    customer = fake.add_customer()
    # WHEN an authorisation names none
    result = authorize(provider, customer, method=None)
    # THEN it is declined with a clear code and no PaymentIntent exists
    assert result.status is PaymentStatus.DECLINED
    assert result.failure_code == "no_payment_method"
    assert not result.retryable
    assert fake.payment_intents == {}


@pytest.mark.parametrize(
    ("method", "code", "message"),
    [
        ("pm_card_chargeDeclined", "generic_decline", "Your card was declined."),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
    ],
)
def test_stripe_authorize_declined_card_reports_the_decline_code(
    fake: FakeStripe, provider: StripePaymentProvider, method: str, code: str, message: str
) -> None:
    # GIVEN a card the bank declines
    customer = fake.add_customer()
    # WHEN it is authorised
    result = authorize(provider, customer, method=method)
    # THEN the result is DECLINED with Stripe's decline code and message, not retryable
    assert result.status is PaymentStatus.DECLINED
    assert (result.failure_code, result.failure_message) == (code, message)
    assert not result.retryable
    assert result.reference in fake.payment_intents


def test_stripe_authorize_card_needing_3ds_requires_action(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN a card whose bank asks for 3-D Secure
    customer = fake.add_customer()
    # WHEN it is authorised off session
    result = authorize(provider, customer, method="pm_card_authenticationRequired")
    # THEN the payment waits for the driver
    assert result.status is PaymentStatus.REQUIRES_ACTION
    assert result.failure_code == "authentication_required"
    assert result.reference in fake.payment_intents
    assert not result.retryable


def test_stripe_authorize_retried_with_the_same_key_makes_one_intent(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN an authorisation already made
    customer = fake.add_customer()
    first = authorize(provider, customer)
    # WHEN the same call is made again with the same key (a replayed step)
    again = authorize(provider, customer)
    # THEN the same answer comes back and Stripe holds one PaymentIntent
    assert again == first
    assert len(fake.payment_intents) == 1


def test_stripe_authorize_same_key_other_amount_fails_permanently(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN an authorisation made with a key
    customer = fake.add_customer()
    authorize(provider, customer, amount=3000)
    # WHEN the key is used again for another amount
    result = authorize(provider, customer, amount=4000)
    # THEN Stripe refuses it (idempotency_error), which no retry can change
    assert result.status is PaymentStatus.FAILED
    assert result.failure_code == "idempotency_error"
    assert not result.retryable
    assert len(fake.payment_intents) == 1


def test_stripe_lost_response_is_retried_with_the_same_key_and_replayed(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN Stripe does the authorisation but the answer never arrives (timeout)
    customer = fake.add_customer()
    fake.hang_next(1, 2.0, after_processing=True)
    # WHEN the adapter authorises
    result = authorize(provider, customer)
    # THEN the client's retry, with the same key, gets the first result: one intent only
    assert result.status is PaymentStatus.AUTHORIZED
    assert len(fake.payment_intents) == 1
    sent = [r.idempotency_key for r in fake.requests if r.path == "/v1/payment_intents"]
    assert sent == [f"{TENANT}:session-1:authorize"] * 2


def test_stripe_server_error_once_is_retried_by_the_client(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN Stripe answers one 500
    customer = fake.add_customer()
    fake.fail_next(1, 500)
    # WHEN the adapter authorises
    result = authorize(provider, customer)
    # THEN the bounded retry succeeds
    assert result.status is PaymentStatus.AUTHORIZED
    assert len(fake.payment_intents) == 1


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("500", "api_error"),
        ("503", "api_error"),
        ("409", "api_error"),
        ("429", "rate_limited"),
        ("hang", "connection_error"),
    ],
)
def test_stripe_unavailable_is_a_retryable_failure(
    fake: FakeStripe, provider: StripePaymentProvider, fault: str, code: str
) -> None:
    # GIVEN Stripe failing every attempt (errors, rate limit, or silence past the timeout)
    customer = fake.add_customer()
    if fault == "hang":
        fake.hang_next(2, 2.0)
    else:
        fake.fail_next(2, int(fault))
    # WHEN the adapter authorises
    result = authorize(provider, customer)
    # THEN it answers FAILED, worth retrying later with the same key; nothing was held
    assert result.status is PaymentStatus.FAILED
    assert result.failure_code == code
    assert result.retryable
    assert fake.payment_intents == {}


def test_stripe_bad_api_key_fails_permanently_without_quoting_the_key(
    fake: FakeStripe,
) -> None:
    # GIVEN a provider configured with a key Stripe does not know
    provider = provider_for(fake, api_key="sk_test_wrong_key_12345")
    customer = fake.add_customer()
    # WHEN it authorises
    result = authorize(provider, customer)
    # THEN the failure is permanent and its message does not carry the key
    assert result.status is PaymentStatus.FAILED
    assert (result.failure_code, result.retryable) == ("authentication_error", False)
    assert "sk_test" not in (result.failure_message or "")


def test_stripe_capture_less_than_authorised_releases_the_rest(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN 30 EUR held
    held = authorize(provider, fake.add_customer())
    assert held.reference is not None
    # WHEN the final price, 12.34 EUR, is captured
    result = provider.capture(
        TENANT, reference=held.reference, amount_minor=1234, idempotency_key="session-1:capture"
    )
    # THEN 12.34 EUR are taken and nothing remains capturable
    assert result.status is PaymentStatus.SUCCEEDED
    assert (result.amount_minor, result.currency, result.reference) == (1234, "EUR", held.reference)
    intent = fake.payment_intents[held.reference]
    assert (intent["amount_received"], intent["amount_capturable"]) == (1234, 0)


def test_stripe_capture_more_than_authorised_fails_permanently(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN 30 EUR held
    held = authorize(provider, fake.add_customer())
    assert held.reference is not None
    # WHEN 31 EUR are captured
    result = provider.capture(
        TENANT, reference=held.reference, amount_minor=3100, idempotency_key="session-1:capture"
    )
    # THEN Stripe refuses, and retrying would not help
    assert result.status is PaymentStatus.FAILED
    assert (result.failure_code, result.retryable) == ("amount_too_large", False)
    assert fake.payment_intents[held.reference]["status"] == "requires_capture"


def test_stripe_cancel_releases_the_hold(fake: FakeStripe, provider: StripePaymentProvider) -> None:
    # GIVEN 30 EUR held for a session that cost nothing
    held = authorize(provider, fake.add_customer())
    assert held.reference is not None
    # WHEN the hold is cancelled
    result = provider.cancel(TENANT, reference=held.reference, idempotency_key="session-1:cancel")
    # THEN the PaymentIntent is cancelled
    assert result.status is PaymentStatus.CANCELED
    assert fake.payment_intents[held.reference]["status"] == "canceled"
    assert fake.requests[-1].idempotency_key == f"{TENANT}:session-1:cancel"


def test_stripe_cancel_after_capture_fails_permanently(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN a captured payment
    held = authorize(provider, fake.add_customer())
    assert held.reference is not None
    provider.capture(TENANT, reference=held.reference, amount_minor=3000, idempotency_key="cap")
    # WHEN it is cancelled
    result = provider.cancel(TENANT, reference=held.reference, idempotency_key="cancel")
    # THEN Stripe refuses: the money is taken (a refund is the way back)
    assert result.status is PaymentStatus.FAILED
    assert (result.failure_code, result.retryable) == ("payment_intent_unexpected_state", False)


def test_stripe_charge_takes_the_amount_at_once(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN a resident with a saved card
    customer = fake.add_customer(default_payment_method="pm_card_visa")
    # WHEN the monthly invoice is charged
    result = provider.charge(
        TENANT,
        customer=customer,
        payment_method=None,
        amount_minor=8450,
        currency="EUR",
        idempotency_key="invoice-2025-01",
        description="Garage charging, January",
    )
    # THEN it is paid on an automatically captured PaymentIntent
    assert result.status is PaymentStatus.SUCCEEDED
    assert result.amount_minor == 8450
    assert result.reference is not None
    assert fake.payment_intents[result.reference]["capture_method"] == "automatic"


def test_stripe_refund_partial_then_full(fake: FakeStripe, provider: StripePaymentProvider) -> None:
    # GIVEN a captured payment of 20 EUR
    held = authorize(provider, fake.add_customer(), amount=2000)
    assert held.reference is not None
    provider.capture(TENANT, reference=held.reference, amount_minor=2000, idempotency_key="cap")
    # WHEN 5 EUR and then the remaining 15 EUR are refunded, and then 1 EUR more
    part = provider.refund(
        TENANT,
        reference=held.reference,
        amount_minor=500,
        idempotency_key="credit-1",
        reason="requested_by_customer",
    )
    rest = provider.refund(
        TENANT,
        reference=held.reference,
        amount_minor=1500,
        idempotency_key="credit-2",
        reason="late correction of session 1",
    )
    beyond = provider.refund(
        TENANT, reference=held.reference, amount_minor=100, idempotency_key="credit-3", reason="x"
    )
    # THEN two refunds exist, summing to the payment, and the third is refused for good
    assert (part.status, part.amount_minor) == (PaymentStatus.REFUNDED, 500)
    assert (rest.status, rest.amount_minor) == (PaymentStatus.REFUNDED, 1500)
    assert part.reference != rest.reference
    assert {r["amount"] for r in fake.refunds.values()} == {500, 1500}
    assert beyond.status is PaymentStatus.FAILED
    assert (beyond.failure_code, beyond.retryable) == ("charge_already_refunded", False)
    # Stripe's own reasons travel as `reason`; any other only in metadata.
    assert fake.refunds[str(part.reference)]["reason"] == "requested_by_customer"
    assert fake.refunds[str(rest.reference)]["reason"] is None
    assert fake.refunds[str(rest.reference)]["metadata"]["reason"] == (
        "late correction of session 1"
    )


def test_stripe_non_positive_amounts_are_refused_without_a_request(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN a customer
    customer = fake.add_customer()
    # WHEN amounts of zero or less are authorised, captured or refunded
    results = [
        authorize(provider, customer, amount=0),
        provider.capture(TENANT, reference="pi_x", amount_minor=0, idempotency_key="k"),
        provider.refund(TENANT, reference="pi_x", amount_minor=-5, idempotency_key="k", reason=""),
    ]
    # THEN each fails for good, and Stripe was not asked
    assert {(r.status, r.failure_code, r.retryable) for r in results} == {
        (PaymentStatus.FAILED, "invalid_amount", False)
    }
    assert fake.requests == []


def test_stripe_long_idempotency_keys_are_hashed_to_fit(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN a key longer than Stripe's 255 characters
    customer = fake.add_customer()
    # WHEN it is used twice
    first = authorize(provider, customer, key="x" * 300)
    again = authorize(provider, customer, key="x" * 300)
    # THEN Stripe sees one stable key that fits, and one PaymentIntent exists
    keys = {r.idempotency_key for r in fake.requests}
    assert len(keys) == 1
    assert all(k is not None and len(k) <= 255 for k in keys)
    assert again == first
    assert len(fake.payment_intents) == 1


def test_stripe_unknown_payment_intent_fails_permanently(
    provider: StripePaymentProvider,
) -> None:
    # GIVEN no such PaymentIntent
    # WHEN it is captured
    result = provider.capture(TENANT, reference="pi_missing", amount_minor=100, idempotency_key="k")
    # THEN Stripe's resource_missing comes back as a permanent failure
    assert (result.status, result.failure_code) == (PaymentStatus.FAILED, "resource_missing")
    assert not result.retryable
    assert provider.name == "stripe"


def test_stripe_forbidden_key_fails_permanently(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN a restricted key that may not create PaymentIntents (Stripe answers 403)
    customer = fake.add_customer()
    fake.fail_next(1, 403)
    # WHEN the adapter authorises
    result = authorize(provider, customer)
    # THEN the failure is permanent: someone has to fix the key
    assert (result.status, result.failure_code) == (PaymentStatus.FAILED, "permission_error")
    assert not result.retryable


def test_stripe_payments_carry_their_invoice_in_metadata_and_always_their_tenant(
    fake: FakeStripe, provider: StripePaymentProvider
) -> None:
    # GIVEN a customer with a saved card, and metadata naming invoices (one also trying to
    # name another tenant, and one with a value over Stripe's 500 characters)
    customer = fake.add_customer(default_payment_method="pm_card_visa")
    meta = {"invoice_id": "rcp-1", "session_id": "S1", "tenant_id": "someone-else"}
    # WHEN a hold, a charge and a refund are made with metadata
    held = provider.authorize(
        TENANT,
        customer=customer,
        payment_method=None,
        amount_minor=1000,
        currency="EUR",
        idempotency_key="hold",
        description="hold",
        metadata=meta,
    )
    charged = provider.charge(
        TENANT,
        customer=customer,
        payment_method=None,
        amount_minor=700,
        currency="EUR",
        idempotency_key="charge",
        description="charge",
        metadata={"invoice_id": "x" * 600},
    )
    assert charged.reference is not None
    refunded = provider.refund(
        TENANT,
        reference=charged.reference,
        amount_minor=100,
        idempotency_key="refund",
        reason="requested_by_customer",
        metadata={"invoice_id": "cn-1"},
    )
    # THEN Stripe keeps each payment's invoice (cut to its limit) and the caller's tenant,
    # which metadata cannot change; a refund also says why
    assert held.reference is not None
    assert fake.payment_intents[held.reference]["metadata"] == {
        "tenant_id": TENANT,
        "invoice_id": "rcp-1",
        "session_id": "S1",
    }
    assert fake.payment_intents[charged.reference]["metadata"] == {
        "tenant_id": TENANT,
        "invoice_id": "x" * 500,
    }
    assert fake.refunds[str(refunded.reference)]["metadata"] == {
        "tenant_id": TENANT,
        "invoice_id": "cn-1",
        "reason": "requested_by_customer",
    }
