"""AuditRepository on the single table: one partition per tenant, newest first by time.

| item        | PK             | SK                            |
|-------------|----------------|-------------------------------|
| audit entry | AUDIT#{tenant} | {at, fixed width UTC}#{id}    |

The entry is kept as JSON in `body`; the attributes the log is filtered by sit beside it.
Entries expire after the retention period (TTL attribute `expires_at`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from csms.adapters.dynamo import decode_cursor, encode_cursor
from csms.adapters.dynamo_models import _Item
from csms.domain.audit import AuditEntry
from csms.domain.errors import InvalidCursorError
from csms.services.audit import AuditQuery
from csms.services.ports import Page

M = TypeVar("M", bound=_Item)

# A page with filters reads at most this many rounds of items before it answers short.
_MAX_ROUNDS = 5


class AuditItem(_Item):
    """One audit entry."""

    at = UTCDateTimeAttribute()
    body = UnicodeAttribute()
    actor = UnicodeAttribute(null=True)
    resource_kind = UnicodeAttribute(null=True)
    resource_id = UnicodeAttribute(null=True)
    action = UnicodeAttribute()
    outcome = UnicodeAttribute()
    expires_at = NumberAttribute(null=True)


def audit_pk(tenant_id: str) -> str:
    """Partition of a tenant's audit log."""
    return f"AUDIT#{tenant_id}"


def time_key(at: datetime) -> str:
    """Fixed-width UTC time: sort keys order as the instants do."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class DynamoAuditRepository:
    """Audit entries of every tenant, each in its tenant's partition."""

    def __init__(self, retention: timedelta) -> None:
        self._retention = retention

    def append(self, entries: Sequence[AuditEntry]) -> None:
        """One put per entry (a request rarely changes more than one resource)."""
        for entry in entries:
            AuditItem(
                audit_pk(entry.tenant_id),
                f"{time_key(entry.at)}#{entry.id}",
                tenant_id=entry.tenant_id,
                at=entry.at,
                body=entry.model_dump_json(),
                actor=entry.actor.subject,
                resource_kind=entry.resource_kind,
                resource_id=entry.resource_id,
                action=entry.action,
                outcome=entry.outcome.value,
                expires_at=int((entry.at + self._retention).timestamp()),
            ).save()

    def find(
        self, tenant_id: str, query: AuditQuery, limit: int, cursor: str | None = None
    ) -> Page[AuditEntry]:
        """Newest first: the time range in the key condition, the other filters on the items.

        A filtered page reads up to `_MAX_ROUNDS` rounds of `limit` items; it can therefore come
        back short (even empty) with a cursor to go on from.
        """
        partition = audit_pk(tenant_id)
        low = time_key(query.from_) if query.from_ is not None else None
        high = time_key(query.to) if query.to is not None else None
        start = decode_cursor(cursor, partition)
        if start is not None and not _within(start["SK"]["S"], low, high):
            raise InvalidCursorError
        sort_key = AuditItem.SK
        key_condition: Any = None
        if low is not None and high is not None:
            # `between` is inclusive; `{to}` sorts before every `{to}#{id}`, so `to` stays out.
            key_condition = sort_key.between(low, high)
        elif low is not None:
            key_condition = sort_key >= low
        elif high is not None:
            key_condition = sort_key < high
        found, next_key = bounded_query(
            AuditItem,
            partition,
            key_condition=key_condition,
            filters=_filters(query),
            limit=limit,
            start=start,
        )
        items = [AuditEntry.model_validate_json(item.body) for item in found]
        return Page(items=items, next_cursor=encode_cursor(next_key))


def bounded_query(
    model: type[M],
    partition: str,
    *,
    key_condition: Any,
    filters: Any,
    limit: int,
    start: dict[str, Any] | None,
) -> tuple[list[M], dict[str, Any] | None]:
    """Up to `limit` matching items, newest first, reading at most `_MAX_ROUNDS` pages.

    pynamodb's iterator would keep reading until `limit` items match, which for a filter
    that matches nothing is the whole partition. Here each round asks DynamoDB for as many
    items as are still missing, so the next key is exact and the cost is bounded.
    """
    result = model.query(
        partition,
        key_condition,
        filter_condition=filters,
        scan_index_forward=False,
        page_size=limit,
        last_evaluated_key=start,
    )
    pages = result.page_iter
    found: list[M] = []
    next_key = start
    for _ in range(_MAX_ROUNDS):
        pages.page_size = limit - len(found)
        try:
            page = next(pages)
        except StopIteration:  # pragma: no cover - the loop stops at the last page first
            break
        found.extend(model.from_raw_data(raw) for raw in page.get("Items", []))
        next_key = pages.last_evaluated_key
        if next_key is None or len(found) >= limit:
            break
    return found, next_key


def _within(sort_key: str, low: str | None, high: str | None) -> bool:
    return (low is None or sort_key >= low) and (high is None or sort_key < high)


def _filters(query: AuditQuery) -> Any:
    conditions: list[Any] = []
    if query.actor is not None:
        conditions.append(AuditItem.actor == query.actor)
    if query.resource_kind is not None:
        conditions.append(AuditItem.resource_kind == query.resource_kind)
    if query.resource_id is not None:
        conditions.append(AuditItem.resource_id == query.resource_id)
    if query.action is not None:
        conditions.append(AuditItem.action == query.action)
    if query.outcome is not None:
        conditions.append(AuditItem.outcome == query.outcome.value)
    combined: Any = None
    for condition in conditions:
        combined = condition if combined is None else combined & condition
    return combined
