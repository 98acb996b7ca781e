"""One contract suite for WebhookRepository (csms.services.webhooks), run against the in-memory
fake of the service tests and against the DynamoDB adapter on moto."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.unit.services.test_webhook_service import InMemoryWebhookRepository

from csms.adapters.dynamo_webhooks import DynamoWebhookRepository
from csms.domain.errors import InvalidCursorError
from csms.domain.webhooks import (
    DeliveryAttempt,
    DeliveryOutcome,
    StoredEvent,
    Subscription,
    SubscriptionStatus,
    WebhookEventType,
)
from csms.services.webhooks import WebhookRepository

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "dynamo"])
def repository(request: pytest.FixtureRequest) -> WebhookRepository:
    if request.param == "memory":
        return InMemoryWebhookRepository()
    request.getfixturevalue("dynamo_table")
    return DynamoWebhookRepository(timedelta(days=30))


def a_subscription(subscription_id: str = "w-1", tenant: str = "t-1", **over: Any) -> Subscription:
    values: dict[str, Any] = {
        "id": subscription_id,
        "tenant_id": tenant,
        "url": "https://partner.example.com/hook",
        "event_types": frozenset({WebhookEventType.SESSION_ENDED}),
        "secret_ref": f"arn:{subscription_id}",
        "created_at": T0,
        "updated_at": T0,
        **over,
    }
    return Subscription(**values)


def an_event(n: int, subscription_id: str = "w-1", **over: Any) -> StoredEvent:
    values: dict[str, Any] = {
        "subscription_id": subscription_id,
        "event_id": f"e-{n}",
        "event_type": WebhookEventType.SESSION_ENDED,
        "occurred_at": T0 + timedelta(minutes=n),
        "body": f'{{"n":{n}}}',
        **over,
    }
    return StoredEvent(**values)


def test_webhook_repository_keeps_subscriptions_per_tenant(repository: WebhookRepository) -> None:
    # GIVEN two subscriptions of one tenant and one of another
    repository.create(a_subscription("w-1"))
    repository.create(a_subscription("w-2"))
    repository.create(a_subscription("w-9", tenant="t-2"))
    # WHEN reading them back by tenant
    # THEN each tenant sees only its own
    assert repository.count("t-1") == 2
    assert [s.id for s in repository.all("t-1")] == ["w-1", "w-2"]
    assert repository.get("t-1", "w-9") is None
    assert repository.get("t-2", "w-9") == a_subscription("w-9", tenant="t-2")
    assert [s.id for s in repository.page("t-1", 10, None).items] == ["w-1", "w-2"]


def test_webhook_repository_pages_through_subscriptions(repository: WebhookRepository) -> None:
    # GIVEN three subscriptions
    for n in range(3):
        repository.create(a_subscription(f"w-{n}"))
    # WHEN paging two at a time (the fake pages by slicing: the adapter by cursor)
    first = repository.page("t-1", 2, None)
    # THEN the first page holds two, and a cursor (if any) leads to the rest
    assert [s.id for s in first.items] == ["w-0", "w-1"]
    if first.next_cursor is not None:
        rest = repository.page("t-1", 2, first.next_cursor)
        assert [s.id for s in rest.items] == ["w-2"]


def test_webhook_repository_refuses_a_foreign_cursor() -> None:
    # GIVEN a cursor of another list WHEN paging the subscriptions THEN it is refused
    with pytest.raises(InvalidCursorError):
        DynamoWebhookRepository(timedelta(days=1)).page("t-1", 2, "bm90LWEtY3Vyc29y")


def test_webhook_repository_writes_only_the_version_read(repository: WebhookRepository) -> None:
    # GIVEN a stored subscription at version 1
    repository.create(a_subscription())
    changed = a_subscription(status=SubscriptionStatus.DISABLED, version=2)
    # WHEN replacing and deleting with a stale version, then with the right one
    # THEN only the right version is written or deleted
    assert not repository.replace(changed, 5)
    assert repository.replace(changed, 1)
    assert repository.get("t-1", "w-1") == changed
    assert not repository.delete("t-1", "w-1", 1)
    assert repository.delete("t-1", "w-1", 2)
    assert repository.get("t-1", "w-1") is None


def test_webhook_repository_keeps_event_copies_by_id_and_time(
    repository: WebhookRepository,
) -> None:
    # GIVEN copies of three events (one as two types) for a subscription, and one for another
    alert = {"event_type": WebhookEventType.ALERT_OPENED}
    fault = {"event_type": WebhookEventType.STATION_FAULTED}
    repository.put_events(
        "t-1", [an_event(0), an_event(1, **alert), an_event(1, **fault), an_event(2)]
    )
    repository.put_events("t-1", [an_event(0, subscription_id="w-2")])
    # WHEN reading them by id, by id and type, and by time
    by_id: Callable[[str], list[StoredEvent]] = lambda e: repository.events_of("t-1", "w-1", e)  # noqa: E731
    # THEN each read finds what it names, and the range's end is exclusive
    assert {c.event_type for c in by_id("e-1")} == {
        WebhookEventType.ALERT_OPENED,
        WebhookEventType.STATION_FAULTED,
    }
    assert by_id("e-9") == []
    assert repository.event("t-1", "w-1", "e-0", WebhookEventType.SESSION_ENDED) == an_event(0)
    assert repository.event("t-2", "w-1", "e-0", WebhookEventType.SESSION_ENDED) is None
    between = repository.events_between("t-1", "w-1", T0, T0 + timedelta(minutes=2), 10)
    assert sorted((e.event_id, e.event_type.value) for e in between) == [
        ("e-0", "session.ended"),
        ("e-1", "alert.opened"),
        ("e-1", "station.faulted"),
    ]
    assert len(repository.events_between("t-1", "w-1", T0, T0 + timedelta(hours=1), 2)) == 2


def test_webhook_repository_lists_the_delivery_log_newest_first(
    repository: WebhookRepository,
) -> None:
    # GIVEN three attempts of one subscription and one of another
    for n in range(3):
        repository.add_attempt(
            "t-1",
            DeliveryAttempt(
                subscription_id="w-1",
                event_id="e-1",
                event_type=WebhookEventType.SESSION_ENDED,
                webhook_id="msg_e-1_session_ended",
                attempt=n + 1,
                at=T0 + timedelta(minutes=n),
                outcome=DeliveryOutcome.RETRYING,
                status_code=500,
            ),
        )
    # WHEN listing the log
    page = repository.attempts("t-1", "w-1", 10, None)
    # THEN it is newest first, and empty for another subscription or tenant
    assert [a.attempt for a in page.items] == [3, 2, 1]
    assert repository.attempts("t-1", "w-2", 10, None).items == []
    assert repository.attempts("t-2", "w-1", 10, None).items == []
