"""WebhookService on in-memory fakes: subscriptions, fan-out, delivery with retries, replay."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from tests.fakes import FixedClock
from tests.unit.domain.test_webhooks import verify_standard_webhook

from csms.domain.errors import (
    ConcurrentModificationError,
    InvalidWebhookUrlError,
    ResourceNotFoundError,
    VersionMismatchError,
    WebhookLimitError,
)
from csms.domain.webhooks import (
    MAX_SUBSCRIPTIONS_PER_TENANT,
    AttemptResult,
    DeliveryAttempt,
    DeliveryOutcome,
    StoredEvent,
    Subscription,
    SubscriptionStatus,
    WebhookEventType,
)
from csms.services.ports import Page
from csms.services.webhooks import (
    MAX_REPLAY,
    DeliveryMessage,
    NoDeliveryQueue,
    SubscriptionPatch,
    WebhookService,
)

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
PUBLIC = "93.184.216.34"
TENANT = "t-1"


class InMemoryWebhookRepository:
    """The WebhookRepository port in memory."""

    def __init__(self) -> None:
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        self.events: dict[tuple[str, str, str, WebhookEventType], StoredEvent] = {}
        self.log: list[tuple[str, DeliveryAttempt]] = []
        self.lose_next_replace = 0

    def count(self, tenant_id: str) -> int:
        return len(self.all(tenant_id))

    def create(self, subscription: Subscription) -> None:
        self.subscriptions[(subscription.tenant_id, subscription.id)] = subscription

    def get(self, tenant_id: str, subscription_id: str) -> Subscription | None:
        return self.subscriptions.get((tenant_id, subscription_id))

    def page(self, tenant_id: str, limit: int, cursor: str | None) -> Page[Subscription]:
        return Page(items=self.all(tenant_id)[:limit])

    def all(self, tenant_id: str) -> list[Subscription]:
        return sorted(
            (s for (t, _), s in self.subscriptions.items() if t == tenant_id), key=lambda s: s.id
        )

    def replace(self, subscription: Subscription, expected_version: int) -> bool:
        if self.lose_next_replace:
            self.lose_next_replace -= 1
            return False
        current = self.get(subscription.tenant_id, subscription.id)
        if current is None or current.version != expected_version:
            return False
        self.create(subscription)
        return True

    def delete(self, tenant_id: str, subscription_id: str, expected_version: int) -> bool:
        current = self.get(tenant_id, subscription_id)
        if current is None or current.version != expected_version or self.lose_next_replace:
            self.lose_next_replace = max(0, self.lose_next_replace - 1)
            return False
        del self.subscriptions[(tenant_id, subscription_id)]
        return True

    def put_events(self, tenant_id: str, events: Sequence[StoredEvent]) -> None:
        for event in events:
            key = (tenant_id, event.subscription_id, event.event_id, event.event_type)
            self.events[key] = event

    def events_of(self, tenant_id: str, subscription_id: str, event_id: str) -> list[StoredEvent]:
        return [
            e
            for (t, s, i, _), e in self.events.items()
            if (t, s, i) == (tenant_id, subscription_id, event_id)
        ]

    def event(
        self, tenant_id: str, subscription_id: str, event_id: str, event_type: WebhookEventType
    ) -> StoredEvent | None:
        return self.events.get((tenant_id, subscription_id, event_id, event_type))

    def events_between(
        self, tenant_id: str, subscription_id: str, start: datetime, end: datetime, limit: int
    ) -> list[StoredEvent]:
        found = [
            e
            for (t, s, _, _), e in self.events.items()
            if (t, s) == (tenant_id, subscription_id) and start <= e.occurred_at < end
        ]
        return sorted(found, key=lambda e: (e.occurred_at, e.event_id))[:limit]

    def add_attempt(self, tenant_id: str, attempt: DeliveryAttempt) -> None:
        self.log.append((tenant_id, attempt))

    def attempts(
        self, tenant_id: str, subscription_id: str, limit: int, cursor: str | None
    ) -> Page[DeliveryAttempt]:
        items = [a for t, a in reversed(self.log) if t == tenant_id]
        return Page(items=[a for a in items if a.subscription_id == subscription_id][:limit])


class InMemorySecrets:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def create(self, tenant_id: str, subscription_id: str, secret: str) -> str:
        ref = f"arn:secret:{tenant_id}/{subscription_id}"
        self.values[ref] = secret
        return ref

    def replace(self, ref: str, secret: str) -> None:
        self.values[ref] = secret

    def get(self, ref: str) -> str:
        return self.values[ref]

    def delete(self, ref: str) -> None:
        del self.values[ref]


@dataclass
class ListQueue:
    messages: list[DeliveryMessage] = field(default_factory=list)

    def enqueue(self, messages: Sequence[DeliveryMessage]) -> None:
        self.messages.extend(messages)


@dataclass
class TableResolver:
    table: dict[str, list[str]] = field(default_factory=dict)

    def resolve(self, host: str) -> list[str]:
        return self.table.get(host, [PUBLIC])


@dataclass
class Receiver:
    """A receiver on a simulated clock: it answers `status_when_down` until `up_at`."""

    clock: FixedClock
    up_at: datetime = T0
    status_when_down: int | None = 500
    status: int = 200
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def post(self, url: str, body: str, headers: dict[str, str]) -> AttemptResult:
        self.requests.append((url, body, headers))
        if self.clock.now() < self.up_at:
            if self.status_when_down is None:
                return AttemptResult(None, "timeout", 10_000)
            return AttemptResult(self.status_when_down, None, 12)
        return AttemptResult(self.status, None, 8)


@dataclass
class World:
    service: WebhookService
    repository: InMemoryWebhookRepository
    secrets: InMemorySecrets
    queue: ListQueue
    resolver: TableResolver
    receiver: Receiver
    clock: FixedClock


def a_world(*, allow_private: bool = False) -> World:
    clock = FixedClock(T0)
    repository, secrets, queue = InMemoryWebhookRepository(), InMemorySecrets(), ListQueue()
    resolver, receiver = TableResolver(), Receiver(clock)
    counter = itertools.count(1)
    service = WebhookService(
        repository=repository,
        secrets=secrets,
        queue=queue,
        resolver=resolver,
        sender=receiver,
        clock=clock,
        new_id=lambda: f"w-{next(counter)}",
        random_bytes=lambda n: bytes(range(n)),
        allow_private=allow_private,
    )
    return World(service, repository, secrets, queue, resolver, receiver, clock)


def an_envelope(
    detail_type: str = "TransactionEnded", event_id: str = "e-1", at: datetime = T0, **data: object
) -> tuple[str, dict[str, object]]:
    metadata = {
        "event_id": event_id,
        "event_version": "1",
        "occurred_at": at.isoformat(),
        "tenant_id": TENANT,
        "station_id": "CP-1",
    }
    return detail_type, {"metadata": metadata, "data": {"session_id": "s-1", **data}}


def subscribe(world: World, *types: WebhookEventType) -> tuple[Subscription, str]:
    return world.service.create(
        TENANT,
        "https://partner.example.com/hook",
        frozenset(types or {WebhookEventType.SESSION_ENDED}),
    )


def run_queue(world: World, *, limit: int = 100) -> list[DeliveryOutcome]:
    """Deliver what is queued as SQS and the delivery function would, moving the clock."""
    outcomes: list[DeliveryOutcome] = []
    pending = [(message, 1) for message in world.queue.messages]
    world.queue.messages.clear()
    while pending and len(outcomes) < limit:
        message, attempt = pending.pop(0)
        result = world.service.deliver(message, attempt)
        outcomes.append(result.outcome)
        if result.retry_after is not None:
            world.clock.advance(result.retry_after.total_seconds())
            pending.append((message, attempt + 1))
    return outcomes


# -- subscriptions --


def test_create_returns_a_whsec_secret_once_and_keeps_it_in_the_secret_store() -> None:
    # GIVEN a tenant without subscriptions
    world = a_world()
    # WHEN creating one
    subscription, secret = subscribe(world)
    # THEN the secret is a Standard Webhooks secret kept only in the secret store
    assert secret.startswith("whsec_")
    assert world.secrets.values[subscription.secret_ref] == secret
    assert secret not in subscription.model_dump_json()
    assert world.service.get(TENANT, subscription.id) == subscription


@pytest.mark.parametrize(
    ("url", "resolved", "reason"),
    [
        ("http://partner.example.com/", [PUBLIC], "must use https"),
        ("https://internal.example.com/", ["10.0.0.7"], "private"),
        ("https://169.254.169.254/latest/meta-data", [], "private"),
        ("https://nowhere.invalid/", [], "does not resolve"),
        ("not a url", [], "absolute"),
    ],
)
def test_create_refuses_urls_that_are_not_https_public_endpoints(
    url: str, resolved: list[str], reason: str
) -> None:
    # GIVEN the AWS mode and a host resolving to `resolved`
    world = a_world()
    world.resolver.table["internal.example.com"] = resolved
    world.resolver.table["nowhere.invalid"] = resolved
    # WHEN creating a subscription THEN it is refused, naming the field, and nothing is kept
    with pytest.raises(InvalidWebhookUrlError, match=reason) as refused:
        world.service.create(TENANT, url, frozenset({WebhookEventType.SESSION_ENDED}))
    assert refused.value.field == "url"
    assert world.repository.subscriptions == {}
    assert world.secrets.values == {}


def test_local_mode_allows_http_on_loopback() -> None:
    # GIVEN the local runtime's mode WHEN subscribing a receiver on 127.0.0.1 THEN it is kept
    world = a_world(allow_private=True)
    subscription, _ = world.service.create(
        TENANT, "http://127.0.0.1:9999/hook", frozenset({WebhookEventType.SESSION_ENDED})
    )
    assert subscription.url == "http://127.0.0.1:9999/hook"


def test_create_refuses_beyond_the_tenants_limit() -> None:
    # GIVEN a tenant at its limit
    world = a_world()
    for _ in range(MAX_SUBSCRIPTIONS_PER_TENANT):
        subscribe(world)
    # WHEN creating one more THEN it is refused
    with pytest.raises(WebhookLimitError):
        subscribe(world)


def test_update_applies_a_merge_patch_and_honours_the_version() -> None:
    # GIVEN a subscription with a description
    world = a_world()
    created, _ = world.service.create(
        TENANT,
        "https://partner.example.com/a",
        frozenset({WebhookEventType.SESSION_ENDED}),
        "ERP",
    )
    # WHEN changing its URL and types and clearing its description
    before, after = world.service.update(
        TENANT,
        created.id,
        SubscriptionPatch(
            url="https://partner.example.com/b",
            event_types=frozenset({WebhookEventType.INVOICE_PAID}),
            clear_description=True,
        ),
        expected_version=1,
    )
    # THEN the patch applies and the version moves; a stale version is refused; no change
    # leaves the version
    assert before == created
    assert (after.url, after.description, after.version) == (
        "https://partner.example.com/b",
        None,
        2,
    )
    assert after.event_types == {WebhookEventType.INVOICE_PAID}
    with pytest.raises(VersionMismatchError):
        world.service.update(TENANT, created.id, SubscriptionPatch(description="x"), 1)
    same = world.service.update(TENANT, created.id, SubscriptionPatch(), None)
    assert same == (after, after)
    described = world.service.update(TENANT, created.id, SubscriptionPatch(description="y"), 2)
    assert described[1].description == "y"


def test_update_refuses_a_private_url_and_a_missing_subscription() -> None:
    # GIVEN a subscription
    world = a_world()
    created, _ = subscribe(world)
    world.resolver.table["intranet.example.com"] = ["192.168.0.10"]
    # WHEN moving it to an intranet host, or patching an absent one THEN both are refused
    with pytest.raises(InvalidWebhookUrlError):
        world.service.update(
            TENANT, created.id, SubscriptionPatch(url="https://intranet.example.com/"), None
        )
    with pytest.raises(ResourceNotFoundError):
        world.service.update(TENANT, "absent", SubscriptionPatch(description="x"), None)


def test_update_retries_a_lost_race_then_gives_up() -> None:
    # GIVEN a subscription whose writes lose to concurrent changes
    world = a_world()
    created, _ = subscribe(world)
    world.repository.lose_next_replace = 1
    # WHEN disabling it without If-Match THEN the second try applies
    _, after = world.service.update(TENANT, created.id, SubscriptionPatch(enabled=False), None)
    assert after.status is SubscriptionStatus.DISABLED
    assert after.disabled_reason == "disabled by an operator"
    # AND WHEN every try loses THEN the change is refused as concurrent; with If-Match, as stale
    world.repository.lose_next_replace = 5
    with pytest.raises(ConcurrentModificationError):
        world.service.update(TENANT, created.id, SubscriptionPatch(enabled=True), None)
    world.repository.lose_next_replace = 1
    with pytest.raises(VersionMismatchError):
        world.service.update(TENANT, created.id, SubscriptionPatch(enabled=True), after.version)


def test_delete_removes_the_subscription_and_its_secret() -> None:
    # GIVEN a subscription
    world = a_world()
    created, _ = subscribe(world)
    # WHEN deleting it with a stale version, then with none
    with pytest.raises(VersionMismatchError):
        world.service.delete(TENANT, created.id, 7)
    world.service.delete(TENANT, created.id, None)
    # THEN it and its secret are gone
    assert world.repository.subscriptions == {}
    assert world.secrets.values == {}
    with pytest.raises(ResourceNotFoundError):
        world.service.delete(TENANT, created.id, None)


def test_delete_reports_lost_races() -> None:
    # GIVEN a subscription whose deletes lose to concurrent changes
    world = a_world()
    created, _ = subscribe(world)
    world.repository.lose_next_replace = 5
    # WHEN deleting THEN the delete is refused as concurrent (or stale with If-Match)
    with pytest.raises(ConcurrentModificationError):
        world.service.delete(TENANT, created.id, None)
    world.repository.lose_next_replace = 1
    with pytest.raises(VersionMismatchError):
        world.service.delete(TENANT, created.id, 1)


def test_rotate_secret_signs_from_then_on_with_the_new_secret() -> None:
    # GIVEN a subscription and a queued event
    world = a_world()
    created, old = subscribe(world)
    world.service.random_bytes = lambda n: bytes([7]) * n
    # WHEN rotating its secret and delivering
    _, new = world.service.rotate_secret(TENANT, created.id)
    world.service.fan_out(*an_envelope())
    run_queue(world)
    # THEN the new secret verifies the request and the old one does not
    [(_, body, headers)] = world.receiver.requests
    assert new != old
    assert verify_standard_webhook(new, headers, body)
    assert not verify_standard_webhook(old, headers, body)


# -- fan-out and delivery --


def test_fan_out_queues_one_delivery_per_matching_subscription_and_type() -> None:
    # GIVEN one subscription to faults and alerts, one to sessions, one disabled
    world = a_world()
    faults, _ = subscribe(world, WebhookEventType.STATION_FAULTED, WebhookEventType.ALERT_OPENED)
    subscribe(world, WebhookEventType.SESSION_ENDED)
    off, _ = subscribe(world, WebhookEventType.ALERT_OPENED)
    world.service.update(TENANT, off.id, SubscriptionPatch(enabled=False), None)
    # WHEN a fault alert opens
    queued = world.service.fan_out(*an_envelope("AlertOpened", kind="faulted"))
    # THEN the fault subscriber gets it twice (as alert.opened and station.faulted), kept
    assert queued == 2
    assert {(m.subscription_id, m.event_type) for m in world.queue.messages} == {
        (faults.id, WebhookEventType.ALERT_OPENED),
        (faults.id, WebhookEventType.STATION_FAULTED),
    }
    assert len(world.repository.events) == 2


def test_fan_out_ignores_events_no_partner_receives() -> None:
    # GIVEN a session subscriber
    world = a_world()
    subscribe(world, WebhookEventType.SESSION_ENDED)
    # WHEN events outside its types arrive THEN nothing is queued or kept
    assert world.service.fan_out(*an_envelope("TransactionUpdated")) == 0
    assert world.service.fan_out(*an_envelope("InvoicePaid")) == 0
    assert world.queue.messages == []
    assert world.repository.events == {}


def test_delivery_posts_the_envelope_signed_and_logs_it() -> None:
    # GIVEN a subscriber and an ended session
    world = a_world()
    created, secret = subscribe(world)
    world.service.fan_out(*an_envelope(energy_wh="1200"))
    # WHEN the queue is delivered
    outcomes = run_queue(world)
    # THEN one signed request carries the envelope with its type, and the log says so
    assert outcomes == [DeliveryOutcome.DELIVERED]
    [(url, body, headers)] = world.receiver.requests
    assert url == created.url
    assert verify_standard_webhook(secret, headers, body)
    assert headers["webhook-id"] == "msg_e-1_session_ended"
    payload = json.loads(body)
    assert payload["type"] == "session.ended"
    assert payload["metadata"]["event_id"] == "e-1"
    assert payload["data"]["energy_wh"] == "1200"
    [(tenant, attempt)] = world.repository.log
    assert (tenant, attempt.outcome, attempt.status_code) == (
        TENANT,
        DeliveryOutcome.DELIVERED,
        200,
    )
    assert world.service.deliveries(TENANT, created.id, 10, None).items == [attempt]


def test_receiver_down_for_an_hour_loses_no_event_and_duplicates_share_the_webhook_id() -> None:
    # GIVEN a receiver that answers 500 for the first hour, and three events
    world = a_world()
    _, secret = subscribe(world)
    world.receiver.up_at = T0 + timedelta(hours=1)
    for n in range(3):
        world.service.fan_out(*an_envelope(event_id=f"e-{n}", at=T0 + timedelta(seconds=n)))
    # WHEN the queue is worked on the simulated clock
    outcomes = run_queue(world)
    # THEN every event is delivered in the end, each request of one event carries the same
    # webhook-id and a valid signature, and it came back well within the schedule
    assert outcomes.count(DeliveryOutcome.DELIVERED) == 3
    assert DeliveryOutcome.GAVE_UP not in outcomes
    ids: dict[str, set[str]] = {}
    for _, body, headers in world.receiver.requests:
        assert verify_standard_webhook(secret, headers, body)
        ids.setdefault(json.loads(body)["metadata"]["event_id"], set()).add(headers["webhook-id"])
    assert ids == {f"e-{n}": {f"msg_e-{n}_session_ended"} for n in range(3)}
    assert world.clock.now() - world.receiver.up_at < timedelta(hours=3)


def test_a_hanging_receiver_is_retried_until_the_schedule_gives_up() -> None:
    # GIVEN a receiver that never answers in time
    world = a_world()
    subscribe(world)
    world.receiver.status_when_down = None
    world.receiver.up_at = T0 + timedelta(days=30)
    world.service.fan_out(*an_envelope())
    # WHEN the queue is worked
    outcomes = run_queue(world)
    # THEN 17 attempts are made over three days, the last one giving up (to the DLQ)
    assert outcomes == [DeliveryOutcome.RETRYING] * 16 + [DeliveryOutcome.GAVE_UP]
    assert world.clock.now() - T0 >= timedelta(days=3)
    assert {a.error for _, a in world.repository.log} == {"timeout"}


def test_410_disables_the_subscription_and_later_deliveries_are_skipped() -> None:
    # GIVEN a receiver that answers 410 Gone
    world = a_world()
    created, _ = subscribe(world)
    world.receiver.status = 410
    world.service.fan_out(*an_envelope(event_id="e-1"))
    world.service.fan_out(*an_envelope(event_id="e-2"))
    # WHEN both deliveries run
    outcomes = run_queue(world)
    # THEN the first disables the subscription and the second is skipped without a request
    assert outcomes == [DeliveryOutcome.GONE, DeliveryOutcome.SKIPPED]
    stored = world.service.get(TENANT, created.id)
    assert stored.status is SubscriptionStatus.DISABLED
    assert stored.disabled_reason == "the endpoint answered 410 Gone"
    assert len(world.receiver.requests) == 1


def test_410_disables_even_after_a_concurrent_change() -> None:
    # GIVEN a receiver answering 410 and a subscription changed while the request was out
    world = a_world()
    created, _ = subscribe(world)
    world.receiver.status = 410
    world.service.fan_out(*an_envelope())
    world.repository.lose_next_replace = 1
    # WHEN delivering THEN the disable is retried on the fresh version
    run_queue(world)
    assert world.service.get(TENANT, created.id).status is SubscriptionStatus.DISABLED


def test_delivery_to_a_host_now_resolving_privately_is_refused_and_retried() -> None:
    # GIVEN a subscription whose host later resolves to a private address (DNS rebinding)
    world = a_world()
    created, _ = subscribe(world)
    world.resolver.table["partner.example.com"] = ["10.0.0.5"]
    world.service.fan_out(*an_envelope())
    # WHEN delivering once
    message = world.queue.messages[0]
    result = world.service.deliver(message, 1)
    # THEN nothing is sent; the attempt is logged as refused and retried later
    assert result.outcome is DeliveryOutcome.RETRYING
    assert world.receiver.requests == []
    [(_, attempt)] = world.repository.log
    assert attempt.error is not None
    assert "private" in attempt.error
    assert created.id == attempt.subscription_id


def test_delivery_of_a_deleted_subscription_or_expired_copy_is_skipped() -> None:
    # GIVEN a queued delivery whose subscription is then deleted, and one without a copy
    world = a_world()
    created, _ = subscribe(world)
    world.service.fan_out(*an_envelope())
    message = world.queue.messages[0]
    other, _ = subscribe(world)
    missing = DeliveryMessage(TENANT, other.id, "e-unknown", WebhookEventType.SESSION_ENDED)
    world.service.delete(TENANT, created.id, None)
    # WHEN delivering both THEN both are skipped without a request
    assert world.service.deliver(message, 1).outcome is DeliveryOutcome.SKIPPED
    assert world.service.deliver(missing, 1).outcome is DeliveryOutcome.SKIPPED
    assert world.receiver.requests == []


# -- replay --


def test_replay_of_one_event_requeues_it_with_its_webhook_id() -> None:
    # GIVEN an event delivered once
    world = a_world()
    created, _ = subscribe(world)
    world.service.fan_out(*an_envelope())
    run_queue(world)
    # WHEN replaying it
    result = world.service.replay_event(TENANT, created.id, "e-1")
    run_queue(world)
    # THEN it is delivered again with the same webhook-id and body
    assert result.queued == 1
    first, second = world.receiver.requests
    assert first[2]["webhook-id"] == second[2]["webhook-id"]
    assert first[1] == second[1]
    with pytest.raises(ResourceNotFoundError):
        world.service.replay_event(TENANT, created.id, "e-unknown")


def test_replay_of_a_range_queues_what_occurred_in_it_up_to_the_limit() -> None:
    # GIVEN events over two hours, more than one replay takes
    world = a_world()
    created, _ = subscribe(world)
    world.repository.put_events(
        TENANT,
        [
            StoredEvent(
                subscription_id=created.id,
                event_id=f"e-{n:04d}",
                event_type=WebhookEventType.SESSION_ENDED,
                occurred_at=T0 + timedelta(seconds=n),
                body="{}",
            )
            for n in range(MAX_REPLAY + 10)
        ],
    )
    # WHEN replaying the whole range, then from where it stopped
    first = world.service.replay_range(TENANT, created.id, T0, T0 + timedelta(hours=2))
    assert first.next_from is not None
    second = world.service.replay_range(
        TENANT, created.id, first.next_from, T0 + timedelta(hours=2)
    )
    # THEN the two together queue every event once; an empty range queues nothing
    assert (first.queued, second.queued, second.next_from) == (MAX_REPLAY, 10, None)
    assert len({m.event_id for m in world.queue.messages}) == MAX_REPLAY + 10
    empty = world.service.replay_range(TENANT, created.id, T0 - timedelta(days=1), T0)
    assert empty.queued == 0


def test_no_delivery_queue_refuses_to_queue() -> None:
    # GIVEN a function without a queue WHEN queueing THEN it fails loudly (nothing silently lost)
    NoDeliveryQueue().enqueue([])
    with pytest.raises(RuntimeError, match="CSMS_WEBHOOK_QUEUE_URL"):
        NoDeliveryQueue().enqueue([DeliveryMessage("t", "w", "e", WebhookEventType.INVOICE_PAID)])


class RacingRepository(InMemoryWebhookRepository):
    """Someone else disables or deletes the subscription just before our next write."""

    def __init__(self, race: str) -> None:
        super().__init__()
        self.race = race

    def replace(self, subscription: Subscription, expected_version: int) -> bool:
        key = (subscription.tenant_id, subscription.id)
        if self.race == "deleted":
            del self.subscriptions[key]
        elif self.race == "disabled":
            self.subscriptions[key] = self.subscriptions[key].model_copy(
                update={"status": SubscriptionStatus.DISABLED, "version": 9}
            )
        if self.race:
            self.race = ""
            return False
        return super().replace(subscription, expected_version)


@pytest.mark.parametrize("race", ["disabled", "deleted"])
def test_410_leaves_a_subscription_changed_meanwhile_as_it_is(race: str) -> None:
    # GIVEN a receiver answering 410, and a subscription disabled or deleted by someone else
    # while the request was out
    world = a_world()
    repository = RacingRepository(race)
    world.service.repository = repository
    created, _ = subscribe(world)
    world.receiver.status = 410
    world.service.fan_out(*an_envelope())
    # WHEN delivering
    run_queue(world)
    # THEN the other change stands
    stored = repository.get(TENANT, created.id)
    if race == "deleted":
        assert stored is None
    else:
        assert stored is not None
        assert stored.version == 9
