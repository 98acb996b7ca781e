"""Partner webhooks: subscriptions, the fan-out of events, delivery, the log and replay.

The path of an event: the bus -> `fan_out` (one stored copy and one queued delivery per
matching subscription) -> the queue -> `deliver` (one signed POST; the outcome decides whether
the queue tries again later). Copies are kept with the delivery log for the retention period,
so an event can be replayed with the `webhook-id` it was first delivered with.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from csms.domain.errors import (
    ConcurrentModificationError,
    InvalidWebhookUrlError,
    ResourceNotFoundError,
    VersionMismatchError,
    WebhookLimitError,
)
from csms.domain.webhooks import (
    MAX_SUBSCRIPTIONS_PER_TENANT,
    SECRET_BYTES,
    AttemptResult,
    DeliveryAttempt,
    DeliveryOutcome,
    EndpointUrl,
    StoredEvent,
    Subscription,
    SubscriptionStatus,
    UrlRefusal,
    WebhookEventType,
    check_addresses,
    new_secret,
    outcome_of,
    parse_endpoint,
    retry_delay,
    signed_headers,
    webhook_body,
    webhook_types_of,
)
from csms.services.ports import Clock, Page

KIND = "webhook"
# One replay request queues at most this many events; the answer says where to go on.
MAX_REPLAY = 500
_UPDATE_RETRIES = 3


@dataclass(frozen=True)
class DeliveryMessage:
    """What the queue carries: which stored event goes to which subscription."""

    tenant_id: str
    subscription_id: str
    event_id: str
    event_type: WebhookEventType


class WebhookRepository(Protocol):
    """Subscriptions, the stored event copies and the delivery log (tenant-scoped keys)."""

    def count(self, tenant_id: str) -> int:
        """How many subscriptions the tenant has."""
        ...

    def create(self, subscription: Subscription) -> None:
        """Store a new subscription (its id is fresh)."""
        ...

    def get(self, tenant_id: str, subscription_id: str) -> Subscription | None:
        """One subscription."""
        ...

    def page(self, tenant_id: str, limit: int, cursor: str | None) -> Page[Subscription]:
        """A page of the tenant's subscriptions."""
        ...

    def all(self, tenant_id: str) -> list[Subscription]:
        """Every subscription of the tenant (at most MAX_SUBSCRIPTIONS_PER_TENANT)."""
        ...

    def replace(self, subscription: Subscription, expected_version: int) -> bool:
        """Write it if the stored version is `expected_version`; False otherwise."""
        ...

    def delete(self, tenant_id: str, subscription_id: str, expected_version: int) -> bool:
        """Remove it if the stored version is `expected_version`; False otherwise."""
        ...

    def put_events(self, tenant_id: str, events: Sequence[StoredEvent]) -> None:
        """Keep copies of events for their subscriptions (a put: repeating it is harmless)."""
        ...

    def events_of(self, tenant_id: str, subscription_id: str, event_id: str) -> list[StoredEvent]:
        """The kept copies of one event for a subscription (one per webhook type)."""
        ...

    def event(
        self, tenant_id: str, subscription_id: str, event_id: str, event_type: WebhookEventType
    ) -> StoredEvent | None:
        """One kept copy."""
        ...

    def events_between(
        self, tenant_id: str, subscription_id: str, start: datetime, end: datetime, limit: int
    ) -> list[StoredEvent]:
        """Kept copies that occurred in [start, end), oldest first, at most `limit`."""
        ...

    def add_attempt(self, tenant_id: str, attempt: DeliveryAttempt) -> None:
        """Append a line to the delivery log."""
        ...

    def attempts(
        self, tenant_id: str, subscription_id: str, limit: int, cursor: str | None
    ) -> Page[DeliveryAttempt]:
        """A page of the delivery log, newest first."""
        ...


class WebhookSecrets(Protocol):
    """Where signing secrets are kept (Secrets Manager in AWS)."""

    def create(self, tenant_id: str, subscription_id: str, secret: str) -> str:
        """Keep a new secret; return its reference."""
        ...

    def replace(self, ref: str, secret: str) -> None:
        """Put a new value in place of the old."""
        ...

    def get(self, ref: str) -> str:
        """The current value."""
        ...

    def delete(self, ref: str) -> None:
        """Forget it."""
        ...


class DeliveryQueue(Protocol):
    """Where deliveries wait (SQS)."""

    def enqueue(self, messages: Sequence[DeliveryMessage]) -> None:
        """Queue every message, or raise."""
        ...


class HostResolver(Protocol):
    """Name resolution (DNS)."""

    def resolve(self, host: str) -> list[str]:
        """The host's addresses; empty when it does not resolve."""
        ...


class WebhookSender(Protocol):
    """Posts one request to an endpoint."""

    def post(self, url: str, body: str, headers: dict[str, str]) -> AttemptResult:
        """Send it; never raises for what the receiver or the network did."""
        ...


@dataclass(frozen=True)
class SubscriptionPatch:
    """A JSON merge patch of a subscription: None leaves a field as it is."""

    url: str | None = None
    event_types: frozenset[WebhookEventType] | None = None
    description: str | None = None
    clear_description: bool = False
    enabled: bool | None = None


@dataclass(frozen=True)
class DeliveryResult:
    """What became of one queued delivery, and when to try again (if at all)."""

    outcome: DeliveryOutcome
    retry_after: timedelta | None = None


@dataclass(frozen=True)
class ReplayResult:
    """How many events a replay queued, and where to go on when it stopped at the limit."""

    queued: int
    next_from: datetime | None = None


@dataclass
class WebhookService:
    """The use cases of partner webhooks."""

    repository: WebhookRepository
    secrets: WebhookSecrets
    queue: DeliveryQueue
    resolver: HostResolver
    sender: WebhookSender
    clock: Clock
    new_id: Callable[[], str]
    random_bytes: Callable[[int], bytes]
    allow_private: bool = False
    retention: timedelta = timedelta(days=30)
    max_attempts: int = 17

    # -- subscriptions --------------------------------------------------------------------------

    def create(
        self,
        tenant_id: str,
        url: str,
        event_types: frozenset[WebhookEventType],
        description: str | None = None,
    ) -> tuple[Subscription, str]:
        """A new subscription and its signing secret (the only time the secret is shown)."""
        self._check_url(url)
        if self.repository.count(tenant_id) >= MAX_SUBSCRIPTIONS_PER_TENANT:
            raise WebhookLimitError(MAX_SUBSCRIPTIONS_PER_TENANT)
        subscription_id = self.new_id()
        secret = new_secret(self.random_bytes(SECRET_BYTES))
        ref = self.secrets.create(tenant_id, subscription_id, secret)
        now = self.clock.now()
        subscription = Subscription(
            id=subscription_id,
            tenant_id=tenant_id,
            url=url,
            event_types=event_types,
            description=description,
            secret_ref=ref,
            created_at=now,
            updated_at=now,
        )
        self.repository.create(subscription)
        return subscription, secret

    def get(self, tenant_id: str, subscription_id: str) -> Subscription:
        """One subscription of the tenant."""
        found = self.repository.get(tenant_id, subscription_id)
        if found is None:
            raise ResourceNotFoundError(KIND, subscription_id)
        return found

    def page(self, tenant_id: str, limit: int, cursor: str | None) -> Page[Subscription]:
        """A page of the tenant's subscriptions."""
        return self.repository.page(tenant_id, limit, cursor)

    def update(
        self,
        tenant_id: str,
        subscription_id: str,
        patch: SubscriptionPatch,
        expected_version: int | None,
    ) -> tuple[Subscription, Subscription]:
        """Apply a merge patch; (before, after). Conditional on the version read."""
        if patch.url is not None:
            self._check_url(patch.url)
        for _ in range(_UPDATE_RETRIES):
            before = self.get(tenant_id, subscription_id)
            if expected_version is not None and before.version != expected_version:
                raise VersionMismatchError(KIND, subscription_id)
            after = _patched(before, patch, self.clock.now())
            if after == before:
                return before, before
            if self.repository.replace(after, before.version):
                return before, after
            if expected_version is not None:
                raise VersionMismatchError(KIND, subscription_id)
        raise ConcurrentModificationError(KIND, subscription_id)

    def delete(
        self, tenant_id: str, subscription_id: str, expected_version: int | None
    ) -> Subscription:
        """Remove a subscription and its secret; queued deliveries to it are skipped."""
        for _ in range(_UPDATE_RETRIES):
            current = self.get(tenant_id, subscription_id)
            if expected_version is not None and current.version != expected_version:
                raise VersionMismatchError(KIND, subscription_id)
            if self.repository.delete(tenant_id, subscription_id, current.version):
                self.secrets.delete(current.secret_ref)
                return current
            if expected_version is not None:
                raise VersionMismatchError(KIND, subscription_id)
        raise ConcurrentModificationError(KIND, subscription_id)

    def rotate_secret(self, tenant_id: str, subscription_id: str) -> tuple[Subscription, str]:
        """A new signing secret, in force at once (shown this one time)."""
        subscription = self.get(tenant_id, subscription_id)
        secret = new_secret(self.random_bytes(SECRET_BYTES))
        self.secrets.replace(subscription.secret_ref, secret)
        return subscription, secret

    def deliveries(
        self, tenant_id: str, subscription_id: str, limit: int, cursor: str | None
    ) -> Page[DeliveryAttempt]:
        """The subscription's delivery log, newest first."""
        self.get(tenant_id, subscription_id)
        return self.repository.attempts(tenant_id, subscription_id, limit, cursor)

    def _check_url(self, url: str) -> EndpointUrl:
        parsed = parse_endpoint(url, allow_private=self.allow_private)
        if isinstance(parsed, UrlRefusal):
            raise InvalidWebhookUrlError("url", parsed.value)
        refusal = self._address_refusal(parsed)
        if refusal is not None:
            raise InvalidWebhookUrlError("url", refusal.value)
        return parsed

    def _address_refusal(self, endpoint: EndpointUrl) -> UrlRefusal | None:
        literal = endpoint.ip_literal
        addresses = [str(literal)] if literal is not None else self.resolver.resolve(endpoint.host)
        return check_addresses(addresses, allow_private=self.allow_private)

    # -- fan-out --------------------------------------------------------------------------------

    def fan_out(self, detail_type: str, envelope: dict[str, Any]) -> int:
        """Keep a copy of the event for each subscription that wants it and queue a delivery.

        Repeating this (EventBridge delivers at least once) queues the same `webhook-id`
        again, which receivers deduplicate on.
        """
        metadata = envelope["metadata"]
        tenant_id = str(metadata["tenant_id"])
        event_id = str(metadata["event_id"])
        occurred_at = datetime.fromisoformat(str(metadata["occurred_at"]))
        types = webhook_types_of(detail_type, envelope.get("data") or {})
        if not types:
            return 0
        copies = [
            StoredEvent(
                subscription_id=subscription.id,
                event_id=event_id,
                event_type=event_type,
                occurred_at=occurred_at,
                body=_json(webhook_body(event_type, envelope)),
            )
            for subscription in self.repository.all(tenant_id)
            for event_type in types
            if subscription.receives(event_type)
        ]
        if not copies:
            return 0
        self.repository.put_events(tenant_id, copies)
        self.queue.enqueue([_message(tenant_id, copy) for copy in copies])
        return len(copies)

    # -- delivery -------------------------------------------------------------------------------

    def deliver(self, message: DeliveryMessage, attempt: int) -> DeliveryResult:
        """Make attempt number `attempt` of one delivery and log it."""
        tenant_id = message.tenant_id
        subscription = self.repository.get(tenant_id, message.subscription_id)
        stored = (
            self.repository.event(
                tenant_id, message.subscription_id, message.event_id, message.event_type
            )
            if subscription is not None and subscription.receives(message.event_type)
            else None
        )
        if subscription is None or stored is None:
            # Deleted, disabled, no longer subscribed, or the copy expired: nothing to send.
            return DeliveryResult(DeliveryOutcome.SKIPPED)
        at = self.clock.now()
        result = self._attempt(subscription, stored, at)
        outcome = outcome_of(result, attempt, self.max_attempts)
        self.repository.add_attempt(
            tenant_id,
            DeliveryAttempt(
                subscription_id=subscription.id,
                event_id=stored.event_id,
                event_type=stored.event_type,
                webhook_id=stored.webhook_id,
                attempt=attempt,
                at=at,
                outcome=outcome,
                status_code=result.status_code,
                error=result.error,
                duration_ms=result.duration_ms,
            ),
        )
        if outcome is DeliveryOutcome.GONE:
            self._disable(subscription, "the endpoint answered 410 Gone")
        if outcome is DeliveryOutcome.RETRYING:
            return DeliveryResult(outcome, retry_delay(attempt))
        return DeliveryResult(outcome)

    def _attempt(
        self, subscription: Subscription, stored: StoredEvent, at: datetime
    ) -> AttemptResult:
        # The host is resolved again at each attempt: the name may point elsewhere by now.
        parsed = parse_endpoint(subscription.url, allow_private=self.allow_private)
        refusal = parsed if isinstance(parsed, UrlRefusal) else self._address_refusal(parsed)
        if refusal is not None:
            return AttemptResult(None, f"endpoint refused: url {refusal.value}", 0)
        secret = self.secrets.get(subscription.secret_ref)
        headers = signed_headers(secret, stored.webhook_id, at, stored.body)
        return self.sender.post(subscription.url, stored.body, headers)

    def _disable(self, subscription: Subscription, reason: str) -> None:
        current: Subscription | None = subscription
        for _ in range(_UPDATE_RETRIES):
            if current is None or current.status is SubscriptionStatus.DISABLED:
                return
            disabled = current.model_copy(
                update={
                    "status": SubscriptionStatus.DISABLED,
                    "disabled_reason": reason,
                    "updated_at": self.clock.now(),
                    "version": current.version + 1,
                }
            )
            if self.repository.replace(disabled, current.version):
                return
            current = self.repository.get(current.tenant_id, current.id)

    # -- replay ---------------------------------------------------------------------------------

    def replay_event(self, tenant_id: str, subscription_id: str, event_id: str) -> ReplayResult:
        """Queue a kept event again, with the `webhook-id` it was first delivered with."""
        self.get(tenant_id, subscription_id)
        copies = self.repository.events_of(tenant_id, subscription_id, event_id)
        if not copies:
            raise ResourceNotFoundError("webhook-event", event_id)
        self.queue.enqueue([_message(tenant_id, copy) for copy in copies])
        return ReplayResult(len(copies))

    def replay_range(
        self, tenant_id: str, subscription_id: str, start: datetime, end: datetime
    ) -> ReplayResult:
        """Queue the kept events that occurred in [start, end) again, oldest first."""
        self.get(tenant_id, subscription_id)
        copies = self.repository.events_between(
            tenant_id, subscription_id, start, end, MAX_REPLAY + 1
        )
        next_from = copies[MAX_REPLAY].occurred_at if len(copies) > MAX_REPLAY else None
        copies = copies[:MAX_REPLAY]
        if copies:
            self.queue.enqueue([_message(tenant_id, copy) for copy in copies])
        return ReplayResult(len(copies), next_from)


def _patched(before: Subscription, patch: SubscriptionPatch, now: datetime) -> Subscription:
    update: dict[str, Any] = {}
    if patch.url is not None:
        update["url"] = patch.url
    if patch.event_types is not None:
        update["event_types"] = patch.event_types
    if patch.clear_description:
        update["description"] = None
    elif patch.description is not None:
        update["description"] = patch.description
    if patch.enabled is True:
        update["status"] = SubscriptionStatus.ACTIVE
        update["disabled_reason"] = None
    elif patch.enabled is False and before.status is SubscriptionStatus.ACTIVE:
        update["status"] = SubscriptionStatus.DISABLED
        update["disabled_reason"] = "disabled by an operator"
    changed = before.model_copy(update=update)
    if changed == before:
        return before
    return changed.model_copy(update={"updated_at": now, "version": before.version + 1})


def _message(tenant_id: str, copy: StoredEvent) -> DeliveryMessage:
    return DeliveryMessage(tenant_id, copy.subscription_id, copy.event_id, copy.event_type)


def _json(value: dict[str, Any]) -> str:
    # Compact and stable: the signature covers these exact bytes.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class NoDeliveryQueue:
    """Where deliveries go when this function has no queue configured: nowhere, loudly."""

    def enqueue(self, messages: Sequence[DeliveryMessage]) -> None:
        """Refuse: nothing may be queued and silently lost."""
        if messages:
            raise RuntimeError("no webhook queue is configured (CSMS_WEBHOOK_QUEUE_URL)")
