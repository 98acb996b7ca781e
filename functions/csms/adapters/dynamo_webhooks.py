"""WebhookRepository on the single table.

| item            | PK                       | SK                                        |
|-----------------|--------------------------|-------------------------------------------|
| subscription    | TENANT#{t}               | WEBHOOK#{id}                              |
| event copy      | TENANT#{t}#WEBHOOK#{id}  | EVENT#{event id}#{type} (TTL)             |
| event by time   | TENANT#{t}#WEBHOOK#{id}  | EVENTAT#{occurred}#{event id}#{type} (TTL)|
| delivery log    | TENANT#{t}#WEBHOOK#{id}  | ATTEMPT#{at}#{event id}#{type}#{n} (TTL)  |

The copy is kept twice (by id for delivery and replay of one event, by time for the replay of
a range): two small puts per event and subscription, off the charger's message path, instead
of an index. Every key starts with the tenant, so no read crosses tenants.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from csms.adapters.dynamo import (
    _epoch,
    _is_conditional_failure,
    decode_cursor,
    encode_cursor,
    tenant_pk,
)
from csms.adapters.dynamo_models import _Item
from csms.domain.webhooks import (
    MAX_SUBSCRIPTIONS_PER_TENANT,
    DeliveryAttempt,
    StoredEvent,
    Subscription,
    WebhookEventType,
)
from csms.services.ports import Page

_SUBSCRIPTION = "WEBHOOK#"
_EVENT = "EVENT#"
_EVENT_AT = "EVENTAT#"
_ATTEMPT = "ATTEMPT#"


class WebhookItem(_Item):
    """Subscriptions, event copies and delivery log lines (told apart by their keys)."""

    body = UnicodeAttribute()
    version = NumberAttribute(null=True)
    expires_at = NumberAttribute(null=True)


def _log_pk(tenant_id: str, subscription_id: str) -> str:
    return f"{tenant_pk(tenant_id)}#WEBHOOK#{subscription_id}"


def _at(value: datetime) -> str:
    # Fixed width, UTC: the keys sort by time.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class DynamoWebhookRepository:
    """Subscriptions, copies and the log; copies and log lines expire after `retention`."""

    def __init__(self, retention: timedelta) -> None:
        self._retention = retention

    # -- subscriptions --

    def count(self, tenant_id: str) -> int:
        """How many subscriptions the tenant has."""
        return len(self.all(tenant_id))

    def create(self, subscription: Subscription) -> None:
        """Store a new subscription."""
        self._item(subscription).save(condition=WebhookItem.PK.does_not_exist())

    def get(self, tenant_id: str, subscription_id: str) -> Subscription | None:
        """One subscription."""
        try:
            item = WebhookItem.get(
                tenant_pk(tenant_id), _SUBSCRIPTION + subscription_id, consistent_read=True
            )
        except WebhookItem.DoesNotExist:
            return None
        return Subscription.model_validate_json(item.body)

    def page(self, tenant_id: str, limit: int, cursor: str | None) -> Page[Subscription]:
        """A page of the tenant's subscriptions, by id."""
        partition = tenant_pk(tenant_id)
        result = WebhookItem.query(
            partition,
            WebhookItem.SK.startswith(_SUBSCRIPTION),
            last_evaluated_key=decode_cursor(cursor, partition, sort_prefix=_SUBSCRIPTION),
            limit=limit,
            page_size=limit,
        )
        items = [Subscription.model_validate_json(item.body) for item in result]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))

    def all(self, tenant_id: str) -> list[Subscription]:
        """Every subscription of the tenant (a few: their number is capped)."""
        result = WebhookItem.query(
            tenant_pk(tenant_id),
            WebhookItem.SK.startswith(_SUBSCRIPTION),
            limit=MAX_SUBSCRIPTIONS_PER_TENANT * 2,
        )
        return [Subscription.model_validate_json(item.body) for item in result]

    def replace(self, subscription: Subscription, expected_version: int) -> bool:
        """Write it if the stored version is `expected_version`."""
        try:
            self._item(subscription).save(condition=WebhookItem.version == expected_version)
        except Exception as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def delete(self, tenant_id: str, subscription_id: str, expected_version: int) -> bool:
        """Remove it if the stored version is `expected_version` (copies expire by TTL)."""
        try:
            WebhookItem(tenant_pk(tenant_id), _SUBSCRIPTION + subscription_id).delete(
                condition=WebhookItem.version == expected_version
            )
        except Exception as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    @staticmethod
    def _item(subscription: Subscription) -> WebhookItem:
        return WebhookItem(
            tenant_pk(subscription.tenant_id),
            _SUBSCRIPTION + subscription.id,
            tenant_id=subscription.tenant_id,
            body=subscription.model_dump_json(),
            version=subscription.version,
        )

    # -- event copies --

    def put_events(self, tenant_id: str, events: Sequence[StoredEvent]) -> None:
        """Keep copies (puts: a repeated fan-out writes the same items again)."""
        expires = _epoch(datetime.now(UTC) + self._retention)
        with WebhookItem.batch_write() as batch:
            for event in events:
                pk = _log_pk(tenant_id, event.subscription_id)
                body = event.model_dump_json()
                suffix = f"{event.event_id}#{event.event_type.value}"
                for sk in (_EVENT + suffix, f"{_EVENT_AT}{_at(event.occurred_at)}#{suffix}"):
                    batch.save(
                        WebhookItem(pk, sk, tenant_id=tenant_id, body=body, expires_at=expires)
                    )

    def events_of(self, tenant_id: str, subscription_id: str, event_id: str) -> list[StoredEvent]:
        """The kept copies of one event (one per webhook type)."""
        result = WebhookItem.query(
            _log_pk(tenant_id, subscription_id),
            WebhookItem.SK.startswith(f"{_EVENT}{event_id}#"),
        )
        return [StoredEvent.model_validate_json(item.body) for item in result]

    def event(
        self, tenant_id: str, subscription_id: str, event_id: str, event_type: WebhookEventType
    ) -> StoredEvent | None:
        """One kept copy."""
        try:
            item = WebhookItem.get(
                _log_pk(tenant_id, subscription_id), f"{_EVENT}{event_id}#{event_type.value}"
            )
        except WebhookItem.DoesNotExist:
            return None
        return StoredEvent.model_validate_json(item.body)

    def events_between(
        self, tenant_id: str, subscription_id: str, start: datetime, end: datetime, limit: int
    ) -> list[StoredEvent]:
        """Kept copies that occurred in [start, end), oldest first."""
        result = WebhookItem.query(
            _log_pk(tenant_id, subscription_id),
            WebhookItem.SK.between(f"{_EVENT_AT}{_at(start)}", f"{_EVENT_AT}{_at(end)}"),
            limit=limit,
        )
        found = [StoredEvent.model_validate_json(item.body) for item in result]
        # `between` is inclusive; the range's end is not.
        return [event for event in found if event.occurred_at < end]

    # -- delivery log --

    def add_attempt(self, tenant_id: str, attempt: DeliveryAttempt) -> None:
        """Append a line to the delivery log."""
        sk = (
            f"{_ATTEMPT}{_at(attempt.at)}#{attempt.event_id}#"
            f"{attempt.event_type.value}#{attempt.attempt:03d}"
        )
        WebhookItem(
            _log_pk(tenant_id, attempt.subscription_id),
            sk,
            tenant_id=tenant_id,
            body=attempt.model_dump_json(),
            expires_at=_epoch(attempt.at + self._retention),
        ).save()

    def attempts(
        self, tenant_id: str, subscription_id: str, limit: int, cursor: str | None
    ) -> Page[DeliveryAttempt]:
        """A page of the delivery log, newest first."""
        partition = _log_pk(tenant_id, subscription_id)
        result = WebhookItem.query(
            partition,
            WebhookItem.SK.startswith(_ATTEMPT),
            scan_index_forward=False,
            last_evaluated_key=decode_cursor(cursor, partition, sort_prefix=_ATTEMPT),
            limit=limit,
            page_size=limit,
        )
        items = [DeliveryAttempt.model_validate_json(item.body) for item in result]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))
