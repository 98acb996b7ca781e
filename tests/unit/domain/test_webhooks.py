"""Partner webhooks' pure parts: catalogue, ids, signing (checked from the spec), retries, URLs."""

from __future__ import annotations

import base64
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.domain.webhooks import (
    MAX_RETRY_DELAY,
    RETRY_WINDOW,
    AttemptResult,
    DeliveryOutcome,
    EndpointUrl,
    Subscription,
    SubscriptionStatus,
    UrlRefusal,
    WebhookEventType,
    address_refused,
    attempt_times,
    attempts_to_cover,
    check_addresses,
    new_secret,
    outcome_of,
    parse_endpoint,
    retry_delay,
    sign,
    signed_headers,
    webhook_body,
    webhook_id,
    webhook_types_of,
)

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def verify_standard_webhook(secret: str, headers: dict[str, str], body: str) -> bool:
    """A verifier written from the Standard Webhooks spec, independent of `sign`.

    Signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the key is the base64 part of
    the secret after `whsec_`; the header holds space-separated `v1,{base64 signature}`.
    """
    key = base64.b64decode(secret.split("_", 1)[1])
    content = ".".join((headers["webhook-id"], headers["webhook-timestamp"], body))
    expected = base64.b64encode(hmac.digest(key, content.encode("utf-8"), "sha256"))
    for candidate in headers["webhook-signature"].split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return True
    return False


def test_signing_matches_the_specs_published_example() -> None:
    # GIVEN the example of the Standard Webhooks specification (standard-webhooks repo, spec)
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    timestamp = 1614265330
    body = '{"test": 2432232314}'
    # WHEN signing it
    signature = sign(secret, msg_id, timestamp, body)
    # THEN the signature is the one the spec publishes
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@settings(max_examples=40, deadline=None)
@given(
    raw=st.binary(min_size=24, max_size=64),
    body=st.text(max_size=200),
    # hypothesis takes naive bounds and adds the time zone itself.
    at=st.datetimes(
        min_value=datetime(2001, 1, 1),  # noqa: DTZ001
        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
)
def test_signed_headers_verify_with_an_independent_implementation(
    raw: bytes, body: str, at: datetime
) -> None:
    # GIVEN a fresh secret and any body
    secret = new_secret(raw)
    # WHEN signing a request
    headers = signed_headers(secret, "msg_1", at, body)
    # THEN the spec's verifier accepts it, and rejects it for another body or another secret
    assert headers["webhook-timestamp"] == str(int(at.timestamp()))
    assert verify_standard_webhook(secret, headers, body)
    assert not verify_standard_webhook(secret, headers, body + " ")
    assert not verify_standard_webhook(new_secret(bytes(24)), headers, body) or raw == bytes(24)


def test_new_secret_refuses_too_few_random_bytes() -> None:
    # GIVEN 23 bytes WHEN making a secret THEN it is refused (the spec asks for 24 or more)
    with pytest.raises(ValueError, match="24"):
        new_secret(bytes(23))
    assert new_secret(bytes(24)).startswith("whsec_")


@pytest.mark.parametrize(
    ("detail_type", "data", "expected"),
    [
        ("TransactionStarted", {}, (WebhookEventType.SESSION_STARTED,)),
        ("TransactionEnded", {}, (WebhookEventType.SESSION_ENDED,)),
        ("InvoiceFinalized", {}, (WebhookEventType.INVOICE_FINALIZED,)),
        ("InvoicePaid", {}, (WebhookEventType.INVOICE_PAID,)),
        ("PaymentFailed", {}, (WebhookEventType.INVOICE_PAYMENT_FAILED,)),
        ("StationConnected", {}, (WebhookEventType.STATION_CONNECTED,)),
        ("StationDisconnected", {"superseded": False}, (WebhookEventType.STATION_DISCONNECTED,)),
        ("StationDisconnected", {"superseded": True}, ()),
        (
            "AlertOpened",
            {"kind": "faulted"},
            (WebhookEventType.ALERT_OPENED, WebhookEventType.STATION_FAULTED),
        ),
        (
            "AlertClosed",
            {"kind": "faulted"},
            (WebhookEventType.ALERT_CLOSED, WebhookEventType.STATION_RECOVERED),
        ),
        ("AlertOpened", {"kind": "offline"}, (WebhookEventType.ALERT_OPENED,)),
        ("AlertEscalated", {"kind": "faulted"}, (WebhookEventType.ALERT_ESCALATED,)),
        ("TransactionUpdated", {}, ()),
    ],
)
def test_webhook_types_of_maps_domain_events(
    detail_type: str, data: dict[str, object], expected: tuple[WebhookEventType, ...]
) -> None:
    # GIVEN a domain event WHEN mapping it THEN it is delivered as the catalogue's types
    assert webhook_types_of(detail_type, data) == expected


def test_webhook_id_is_stable_per_event_and_type() -> None:
    # GIVEN one event delivered as two types
    # WHEN deriving their ids twice
    first = webhook_id("e-1", WebhookEventType.ALERT_OPENED)
    # THEN the id repeats for the same event and type, and differs between types
    assert first == webhook_id("e-1", WebhookEventType.ALERT_OPENED) == "msg_e-1_alert_opened"
    assert first != webhook_id("e-1", WebhookEventType.STATION_FAULTED)


def test_webhook_body_is_the_envelope_with_its_type() -> None:
    # GIVEN the bus's envelope WHEN building the body THEN it carries type, metadata and data
    body = webhook_body(WebhookEventType.SESSION_ENDED, {"metadata": {"a": 1}, "data": {"b": 2}})
    assert body == {"type": "session.ended", "metadata": {"a": 1}, "data": {"b": 2}}


def test_retry_delay_doubles_from_thirty_seconds_up_to_twelve_hours() -> None:
    # GIVEN the schedule WHEN asking for the waits THEN they double and stop at SQS's maximum
    assert [retry_delay(n).total_seconds() for n in range(1, 5)] == [30, 60, 120, 240]
    assert retry_delay(12) == MAX_RETRY_DELAY
    assert retry_delay(10_000) == MAX_RETRY_DELAY
    with pytest.raises(ValueError, match="from 1"):
        retry_delay(0)


def test_attempts_cover_three_days() -> None:
    # GIVEN the schedule WHEN counting attempts until three days after the first
    attempts = attempts_to_cover()
    times = attempt_times(T0, attempts)
    # THEN the last attempt is at least three days after the first, the one before is not
    assert times[-1] - T0 >= RETRY_WINDOW
    assert times[-2] - T0 < RETRY_WINDOW
    assert attempts == 17


def test_receiver_down_for_an_hour_gets_the_event_within_the_schedule() -> None:
    # GIVEN a receiver that is down from T0 for an hour (simulated clock, attempts failing)
    up_at = T0 + timedelta(hours=1)
    times = attempt_times(T0, attempts_to_cover())
    # WHEN the first attempt after it came back is found
    delivered = next(i for i, at in enumerate(times) if at >= up_at)
    # THEN it comes before the schedule gives up, and not much later than the outage's end
    assert delivered < len(times) - 1
    assert times[delivered] - up_at < timedelta(hours=1)


@pytest.mark.parametrize(
    ("status", "error", "attempt", "expected"),
    [
        (200, None, 1, DeliveryOutcome.DELIVERED),
        (204, None, 17, DeliveryOutcome.DELIVERED),
        (410, None, 1, DeliveryOutcome.GONE),
        (500, None, 1, DeliveryOutcome.RETRYING),
        (None, "timeout", 16, DeliveryOutcome.RETRYING),
        (301, None, 17, DeliveryOutcome.GAVE_UP),
    ],
)
def test_outcome_of_an_attempt(
    status: int | None, error: str | None, attempt: int, expected: DeliveryOutcome
) -> None:
    # GIVEN what the receiver did WHEN judging attempt n of 17 THEN the outcome follows
    assert outcome_of(AttemptResult(status, error, 5), attempt, 17) is expected


@pytest.mark.parametrize(
    ("url", "allow_private", "expected"),
    [
        ("https://partner.example.com/hook", False, EndpointUrl("https", "partner.example.com")),
        ("http://partner.example.com/hook", False, UrlRefusal.NOT_HTTPS),
        ("http://127.0.0.1:8080/hook", True, EndpointUrl("http", "127.0.0.1")),
        ("http://localhost/hook", True, EndpointUrl("http", "localhost")),
        ("http://10.0.0.1/hook", True, UrlRefusal.HTTP_NOT_LOOPBACK),
        ("https://user:pw@partner.example.com/", False, UrlRefusal.CREDENTIALS),
        ("ftp://partner.example.com/", False, UrlRefusal.MALFORMED),
        ("https:///nohost", False, UrlRefusal.MALFORMED),
        ("https://example.com:99999/", False, UrlRefusal.MALFORMED),
        ("https://[::1/", False, UrlRefusal.MALFORMED),
        ("https://example.com/" + "a" * 2048, False, UrlRefusal.MALFORMED),
    ],
)
def test_parse_endpoint(url: str, allow_private: bool, expected: object) -> None:
    # GIVEN a URL WHEN checking its shape THEN it is accepted or refused with the reason
    assert parse_endpoint(url, allow_private=allow_private) == expected


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("93.184.216.34", False),
        ("2606:2800:220:1:248:1893:25c8:1946", False),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("127.0.0.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),  # noqa: S104 - an address judged, not bound
        ("224.0.0.1", True),
        ("::1", True),
        ("fe80::1%eth0", True),
        ("fd00::1", True),
        ("::ffff:10.0.0.1", True),
        ("not an address", True),
    ],
)
def test_address_refused(address: str, refused: bool) -> None:
    # GIVEN an address WHEN judging it for SSRF THEN only global unicast ones pass
    assert address_refused(address) is refused


def test_check_addresses() -> None:
    # GIVEN resolution results WHEN judging them THEN every address must pass, and one exist
    assert check_addresses([], allow_private=True) is UrlRefusal.UNRESOLVED
    assert check_addresses(["93.184.216.34", "10.0.0.1"], allow_private=False) is (
        UrlRefusal.PRIVATE
    )
    assert check_addresses(["10.0.0.1"], allow_private=True) is None
    assert check_addresses(["93.184.216.34"], allow_private=False) is None
    assert EndpointUrl("https", "example.com").ip_literal is None


def test_subscription_receives_only_its_types_while_active() -> None:
    # GIVEN an active subscription to session events
    subscription = Subscription(
        id="w-1",
        tenant_id="t",
        url="https://x.example.com",
        event_types=frozenset({WebhookEventType.SESSION_ENDED}),
        secret_ref="arn",
        created_at=T0,
        updated_at=T0,
    )
    # WHEN asking about types, then disabling it
    disabled = subscription.model_copy(update={"status": SubscriptionStatus.DISABLED})
    # THEN it receives its types only while active
    assert subscription.receives(WebhookEventType.SESSION_ENDED)
    assert not subscription.receives(WebhookEventType.SESSION_STARTED)
    assert not disabled.receives(WebhookEventType.SESSION_ENDED)
