"""Stripe webhook signatures, checked with the `stripe` package's own verification."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
import stripe

from csms.adapters.stripe_webhooks import StripeWebhookVerifier
from csms.domain.errors import InvalidWebhookSignatureError

SECRET = "whsec_current0123456789"
OLD_SECRET = "whsec_previous0123456789"

EVENT = {
    "id": "evt_1PaymentSucceeded",
    "object": "event",
    "type": "payment_intent.succeeded",
    "created": 1_735_689_600,
    "livemode": False,
    "data": {"object": {"id": "pi_123", "object": "payment_intent", "amount_received": 1234}},
}


def body(event: dict[str, object] | None = None) -> bytes:
    return json.dumps(event or EVENT).encode()


def signed(payload: bytes, *secrets: str, at: int | None = None) -> str:
    """A Stripe-Signature header: one v1 signature per secret, as Stripe sends them."""
    timestamp = int(time.time()) if at is None else at
    text = payload.decode()
    # Stripe's scheme, written out: HMAC-SHA256 of "{timestamp}.{body}" under the secret.
    signatures = [
        hmac.new(secret.encode(), f"{timestamp}.{text}".encode(), hashlib.sha256).hexdigest()
        for secret in secrets
    ]
    return ",".join([f"t={timestamp}", *(f"v1={s}" for s in signatures)])


def test_stripe_webhook_valid_signature_gives_the_event() -> None:
    # GIVEN a delivery signed with the endpoint's secret just now
    payload = body()
    verifier = StripeWebhookVerifier([SECRET])
    # WHEN it is verified
    event = verifier.verify(payload, signed(payload, SECRET))
    # THEN its id, type, time and object come back for the caller to apply once
    assert (event.id, event.type) == ("evt_1PaymentSucceeded", "payment_intent.succeeded")
    assert event.created == datetime(2025, 1, 1, tzinfo=UTC)
    assert event.object["id"] == "pi_123"


def test_stripe_webhook_header_made_by_stripe_package_is_accepted() -> None:
    # GIVEN a header made by the stripe package's own test helper
    payload = body()
    header = stripe.WebhookSignature.generate_signature_header(payload.decode(), SECRET)
    # WHEN / THEN it verifies
    assert StripeWebhookVerifier([SECRET]).verify(payload, header).id == EVENT["id"]


def test_stripe_webhook_several_signatures_one_matching_is_accepted() -> None:
    # GIVEN Stripe rolling the secret: a v1 signature for the old and for the new secret
    payload = body()
    header = signed(payload, OLD_SECRET, SECRET)
    # WHEN an endpoint that knows only the new secret verifies it
    event = StripeWebhookVerifier([SECRET]).verify(payload, header)
    # THEN it is accepted
    assert event.id == EVENT["id"]


def test_stripe_webhook_previous_secret_still_configured_is_accepted() -> None:
    # GIVEN our side rotated first: both secrets configured, the delivery signed with the old
    payload = body()
    verifier = StripeWebhookVerifier([SECRET, OLD_SECRET])
    # WHEN it is verified
    event = verifier.verify(payload, signed(payload, OLD_SECRET))
    # THEN it is accepted
    assert event.id == EVENT["id"]


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "no Stripe-Signature header"),
        ("", "no Stripe-Signature header"),
        ("garbage", "Unable to extract timestamp and signatures from header"),
        ("t=1,v1=00", "No signatures found matching the expected signature for payload"),
    ],
)
def test_stripe_webhook_missing_or_bad_header_is_rejected(header: str | None, reason: str) -> None:
    # GIVEN a delivery with no header, an unreadable one, or a wrong signature
    # WHEN it is verified
    with pytest.raises(InvalidWebhookSignatureError) as caught:
        StripeWebhookVerifier([SECRET]).verify(body(), header)
    # THEN it is rejected with the reason
    assert caught.value.reason == reason


def test_stripe_webhook_signed_with_another_secret_is_rejected() -> None:
    # GIVEN a delivery signed with a secret we do not have
    payload = body()
    # WHEN it is verified
    with pytest.raises(InvalidWebhookSignatureError) as caught:
        StripeWebhookVerifier([SECRET]).verify(payload, signed(payload, "whsec_attacker"))
    # THEN it is rejected and the message names no secret
    assert "whsec" not in str(caught.value)


def test_stripe_webhook_changed_body_is_rejected() -> None:
    # GIVEN a signed delivery whose body was changed afterwards
    payload = body()
    header = signed(payload, SECRET)
    tampered = payload.replace(b"1234", b"9999")
    # WHEN it is verified
    # THEN it is rejected
    with pytest.raises(InvalidWebhookSignatureError):
        StripeWebhookVerifier([SECRET]).verify(tampered, header)


def test_stripe_webhook_older_than_tolerance_is_rejected_as_stale() -> None:
    # GIVEN a correctly signed delivery from 301 seconds ago (a replay of a captured request)
    payload = body()
    header = signed(payload, SECRET, at=int(time.time()) - 301)
    # WHEN it is verified with the 300 s tolerance, even with a second secret configured
    with pytest.raises(InvalidWebhookSignatureError) as caught:
        StripeWebhookVerifier([SECRET, OLD_SECRET]).verify(payload, header)
    # THEN it is rejected as outside the tolerance
    assert caught.value.reason.startswith("Timestamp outside the tolerance zone")


def test_stripe_webhook_within_tolerance_is_accepted() -> None:
    # GIVEN a delivery from 290 seconds ago
    payload = body()
    header = signed(payload, SECRET, at=int(time.time()) - 290)
    # WHEN / THEN it is accepted
    assert StripeWebhookVerifier([SECRET]).verify(payload, header).id == EVENT["id"]


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        json.dumps({**EVENT, "object": "charge"}).encode(),
        json.dumps({**EVENT, "id": "x"}).encode(),
        json.dumps({k: v for k, v in EVENT.items() if k != "data"}).encode(),
    ],
)
def test_stripe_webhook_signed_but_malformed_payload_is_rejected(payload: bytes) -> None:
    # GIVEN a correctly signed body that is not a Stripe event
    header = signed(payload, SECRET)
    # WHEN it is verified
    with pytest.raises(InvalidWebhookSignatureError) as caught:
        StripeWebhookVerifier([SECRET]).verify(payload, header)
    # THEN it is rejected as such
    assert caught.value.reason == "the body is not a Stripe event"


def test_stripe_webhook_body_not_utf8_is_rejected() -> None:
    # GIVEN a body that is not text
    payload = b"\xff\xfe\x00"
    # WHEN it is verified
    with pytest.raises(InvalidWebhookSignatureError) as caught:
        StripeWebhookVerifier([SECRET]).verify(payload, "t=1,v1=00")
    # THEN it is rejected without a crash
    assert caught.value.reason == "the body is not UTF-8"


def test_stripe_webhook_verifier_needs_a_secret() -> None:
    # GIVEN / WHEN a verifier without secrets / THEN it cannot be built
    with pytest.raises(ValueError, match="secret"):
        StripeWebhookVerifier([])
    with pytest.raises(ValueError, match="secret"):
        StripeWebhookVerifier([""])
