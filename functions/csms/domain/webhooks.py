"""Partner webhooks: the event catalogue, subscriptions, signing and the retry schedule.

Signing follows the Standard Webhooks scheme (https://www.standardwebhooks.com): the secret is
`whsec_` + base64 of random bytes; each request carries `webhook-id`, `webhook-timestamp` and
`webhook-signature` = `v1,` + base64(HMAC-SHA256(secret bytes, "{id}.{timestamp}.{body}")).
Everything here is pure: randomness, time and name resolution come in as arguments.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

SECRET_PREFIX = "whsec_"  # noqa: S105 - the scheme's prefix, not a secret
# The spec asks for 24 to 64 random bytes; 32 is HMAC-SHA256's own block of strength.
SECRET_BYTES = 32
MAX_SUBSCRIPTIONS_PER_TENANT = 20
MAX_URL_LENGTH = 2048


class WebhookEventType(StrEnum):
    """What a partner may subscribe to."""

    SESSION_STARTED = "session.started"
    SESSION_ENDED = "session.ended"
    INVOICE_FINALIZED = "invoice.finalized"
    INVOICE_PAID = "invoice.paid"
    INVOICE_PAYMENT_FAILED = "invoice.payment_failed"
    STATION_CONNECTED = "station.connected"
    STATION_DISCONNECTED = "station.disconnected"
    STATION_FAULTED = "station.faulted"
    STATION_RECOVERED = "station.recovered"
    ALERT_OPENED = "alert.opened"
    ALERT_CLOSED = "alert.closed"
    ALERT_ESCALATED = "alert.escalated"


# Domain event (EventBridge detail-type) -> the webhook event types it is delivered as.
_DIRECT: dict[str, WebhookEventType] = {
    "TransactionStarted": WebhookEventType.SESSION_STARTED,
    "TransactionEnded": WebhookEventType.SESSION_ENDED,
    "InvoiceFinalized": WebhookEventType.INVOICE_FINALIZED,
    "InvoicePaid": WebhookEventType.INVOICE_PAID,
    "PaymentFailed": WebhookEventType.INVOICE_PAYMENT_FAILED,
    "StationConnected": WebhookEventType.STATION_CONNECTED,
    "StationDisconnected": WebhookEventType.STATION_DISCONNECTED,
    "AlertOpened": WebhookEventType.ALERT_OPENED,
    "AlertClosed": WebhookEventType.ALERT_CLOSED,
    "AlertEscalated": WebhookEventType.ALERT_ESCALATED,
}
# The detail-types the fan-out rule delivers (infra lists the same; a test compares them).
SOURCE_DETAIL_TYPES: tuple[str, ...] = tuple(_DIRECT)
# Webhook event type -> the domain event (detail-type) it carries (the payload schemas).
DETAIL_TYPE_OF: dict[WebhookEventType, str] = {
    **{event_type: detail for detail, event_type in _DIRECT.items()},
    WebhookEventType.STATION_FAULTED: "AlertOpened",
    WebhookEventType.STATION_RECOVERED: "AlertClosed",
}
# A port is "faulted" for partners when fault detection opened a fault alert on it: the
# alert's hold-down already suppresses transient faults, and its closing is the recovery
# (a bare StatusNotification does not say what the port was before).
_FAULT_ALERT_KIND = "faulted"


def webhook_types_of(detail_type: str, data: dict[str, Any]) -> tuple[WebhookEventType, ...]:
    """The webhook event types one domain event is delivered as (none: not for partners)."""
    direct = _DIRECT.get(detail_type)
    if direct is None:
        return ()
    # A disconnect superseded by a newer connection (API Gateway's 2-hour cut) is no outage.
    if direct is WebhookEventType.STATION_DISCONNECTED and data.get("superseded") is True:
        return ()
    if detail_type in ("AlertOpened", "AlertClosed") and data.get("kind") == _FAULT_ALERT_KIND:
        derived = (
            WebhookEventType.STATION_FAULTED
            if detail_type == "AlertOpened"
            else WebhookEventType.STATION_RECOVERED
        )
        return (direct, derived)
    return (direct,)


def webhook_id(event_id: str, event_type: WebhookEventType) -> str:
    """The `webhook-id` of an event as one type: the same on every delivery and replay.

    One domain event can be two webhook events (alert.opened and station.faulted), so the
    type is part of the id; a receiver deduplicates on it.
    """
    return f"msg_{event_id}_{event_type.value.replace('.', '_')}"


class SubscriptionStatus(StrEnum):
    """Whether events are delivered to the subscription."""

    ACTIVE = "active"
    # The receiver answered 410 Gone, or an operator paused it.
    DISABLED = "disabled"


class Subscription(BaseModel):
    """A partner's endpoint and the event types it receives; its secret is kept elsewhere."""

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    url: str
    event_types: frozenset[WebhookEventType]
    description: str | None = None
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    disabled_reason: str | None = None
    # Where the signing secret is kept (a Secrets Manager secret's name in AWS).
    secret_ref: str
    created_at: datetime
    updated_at: datetime
    version: int = 1

    def receives(self, event_type: WebhookEventType) -> bool:
        """Whether an event of this type is delivered to it now."""
        return self.status is SubscriptionStatus.ACTIVE and event_type in self.event_types


# --- signing ---


def new_secret(random_bytes: bytes) -> str:
    """A signing secret from fresh random bytes (at least 24, as the spec asks)."""
    if len(random_bytes) < 24:
        raise ValueError("a webhook secret needs at least 24 random bytes")
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header value of one request."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    content = f"{msg_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, msg_id: str, at: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (the timestamp is the attempt's)."""
    timestamp = int(at.timestamp())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


# --- retries ---

# Standard Webhooks asks for retries with exponential backoff over days; SQS can hide a message
# for at most 12 hours (ChangeMessageVisibility), which caps one wait.
RETRY_WINDOW = timedelta(days=3)
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY_DELAY = timedelta(hours=12)


def retry_delay(attempt: int) -> timedelta:
    """How long to wait after failed attempt number `attempt` (1-based) before the next."""
    if attempt < 1:
        raise ValueError("attempts count from 1")
    # min() before the power would overflow timedelta for absurd counts.
    doublings: int = min(attempt - 1, 20)
    delay: timedelta = FIRST_RETRY * (1 << doublings)
    return min(delay, MAX_RETRY_DELAY)


def attempts_to_cover(window: timedelta = RETRY_WINDOW) -> int:
    """How many attempts the schedule makes before the last one is `window` after the first.

    The queue's redrive `maxReceiveCount` is this number: a message that failed that many
    times goes to the dead-letter queue instead of a further attempt.
    """
    attempts, elapsed = 1, timedelta(0)
    while elapsed < window:
        elapsed += retry_delay(attempts)
        attempts += 1
    return attempts


def attempt_times(first: datetime, attempts: int) -> list[datetime]:
    """When each of `attempts` attempts happens if every one fails (for docs and tests)."""
    times = [first]
    for attempt in range(1, attempts):
        times.append(times[-1] + retry_delay(attempt))
    return times


class DeliveryOutcome(StrEnum):
    """What became of one attempt."""

    DELIVERED = "delivered"  # 2xx
    RETRYING = "retrying"  # failed; attempted again later
    GAVE_UP = "gave-up"  # failed for the last time: the message goes to the dead-letter queue
    GONE = "gone"  # 410: the subscription is disabled
    SKIPPED = "skipped"  # the subscription is disabled, deleted or no longer wants the type


@dataclass(frozen=True)
class AttemptResult:
    """What the receiver did with one request."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        """A 2xx answer."""
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        """410 Gone: the receiver asks not to be called again."""
        return self.status_code == 410


def outcome_of(result: AttemptResult, attempt: int, max_attempts: int) -> DeliveryOutcome:
    """The outcome of attempt number `attempt` of at most `max_attempts`."""
    if result.delivered:
        return DeliveryOutcome.DELIVERED
    if result.gone:
        return DeliveryOutcome.GONE
    if attempt >= max_attempts:
        return DeliveryOutcome.GAVE_UP
    return DeliveryOutcome.RETRYING


class DeliveryAttempt(BaseModel):
    """One line of a subscription's delivery log."""

    model_config = ConfigDict(frozen=True)

    subscription_id: str
    event_id: str
    event_type: WebhookEventType
    webhook_id: str
    attempt: int
    at: datetime
    outcome: DeliveryOutcome
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0


class StoredEvent(BaseModel):
    """A copy of an event as delivered to a subscription (for retries and replay)."""

    model_config = ConfigDict(frozen=True)

    subscription_id: str
    event_id: str
    event_type: WebhookEventType
    occurred_at: datetime
    body: str

    @property
    def webhook_id(self) -> str:
        """The `webhook-id` every delivery of it carries."""
        return webhook_id(self.event_id, self.event_type)


def webhook_body(event_type: WebhookEventType, envelope: dict[str, Any]) -> dict[str, Any]:
    """The request body: the bus's `{metadata, data}` envelope with the webhook type first."""
    return {"type": event_type.value, "metadata": envelope["metadata"], "data": envelope["data"]}


# --- endpoint addresses (SSRF) ---

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


class UrlRefusal(StrEnum):
    """Why an endpoint URL is not accepted."""

    MALFORMED = "is not an absolute http(s) URL with a host"
    NOT_HTTPS = "must use https"
    HTTP_NOT_LOOPBACK = "may use http only on 127.0.0.1 or localhost"
    CREDENTIALS = "must not carry a user name or password"
    UNRESOLVED = "has a host name that does not resolve"
    PRIVATE = "resolves to a private, loopback, link-local or reserved address"


@dataclass(frozen=True)
class EndpointUrl:
    """An endpoint URL split into what the checks need."""

    scheme: str
    host: str

    @property
    def ip_literal(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The host as an address when it is one."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


def parse_endpoint(url: str, *, allow_private: bool) -> EndpointUrl | UrlRefusal:
    """Check what can be checked without the network: shape, scheme, credentials."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return UrlRefusal.MALFORMED
    if parts.scheme not in ("http", "https") or not host or len(url) > MAX_URL_LENGTH:
        return UrlRefusal.MALFORMED
    if parts.username is not None or parts.password is not None:
        return UrlRefusal.CREDENTIALS
    if parts.scheme == "http":
        # Payloads carry drivers' sessions and invoices: only over TLS, except to a receiver
        # on this very machine in the local runtime.
        if not allow_private:
            return UrlRefusal.NOT_HTTPS
        if host not in _LOOPBACK_NAMES:
            return UrlRefusal.HTTP_NOT_LOOPBACK
    return EndpointUrl(parts.scheme, host)


def address_refused(address: str) -> bool:
    """Whether an address is one a webhook must not reach in AWS (SSRF).

    Only globally routable unicast addresses are allowed: not private, loopback, link-local
    (the instance metadata service), multicast, reserved or shared (CGNAT) ones; an IPv4
    address mapped into IPv6 is judged as the IPv4 address it is.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_addresses(addresses: list[str], *, allow_private: bool) -> UrlRefusal | None:
    """Judge what a host resolved to: every address must be allowed, and there must be one."""
    if not addresses:
        return UrlRefusal.UNRESOLVED
    if allow_private:
        return None
    if any(address_refused(address) for address in addresses):
        return UrlRefusal.PRIVATE
    return None
