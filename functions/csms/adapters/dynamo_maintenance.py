"""Maintenance tickets, service records and preventive plans on the single table.

| item           | PK                      | SK            | GSI1PK / GSI1SK                   |
|----------------|-------------------------|---------------|-----------------------------------|
| ticket         | TENANT#{t}#TICKET       | {ticket id}   | TENANT#{t}#STATION#{s}#MAINT / id |
| ticket origin  | TENANT#{t}#TICKETORIGIN | {origin}      |                                   |
| service record | TENANT#{t}#SERVICE      | {record id}   | TENANT#{t}#STATION#{s}#MAINT / id |
| plan           | MAINTPLAN#{0-9}         | {t}#{plan id} | TENANT#{t}#MAINTPLAN / {plan id}  |

Ids start with their creation time, so a partition (or the station's GSI1 partition, keys-only)
read backwards is newest first: a station's service history is one index query and one batch
read. An origin (`alert#{id}`, `plan#{id}#{occurrence}`) is written in the ticket's own
transaction on the condition that it is new, so an alert or a plan occurrence opens one ticket.
Plans live in a small sharded system partition that the daily run queries (never a scan); a
tenant's plans are listed through GSI1.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.transactions import TransactWrite

from csms.adapters.dynamo import _is_conditional_failure, decode_cursor, encode_cursor
from csms.adapters.dynamo_models import _Item
from csms.domain.maintenance import MaintenancePlan, ServiceRecord, Ticket
from csms.services.maintenance import HistoryEntry, TicketQuery
from csms.services.ports import Page

SHARDS = 10


class _MaintenanceGsi1(GlobalSecondaryIndex[Any]):  # type: ignore[no-untyped-call]
    """A station's tickets and service records; a tenant's plans (keys only)."""

    class Meta:
        index_name = "GSI1"
        projection = KeysOnlyProjection()

    GSI1PK = UnicodeAttribute(hash_key=True)
    GSI1SK = UnicodeAttribute(range_key=True)


class MaintenanceItem(_Item):
    """Tickets, origins, service records and plans (told apart by their keys)."""

    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    by_gsi1 = _MaintenanceGsi1()
    station_id = UnicodeAttribute(null=True)
    site_id = UnicodeAttribute(null=True)
    state = UnicodeAttribute(null=True)
    ticket_id = UnicodeAttribute(null=True)
    version = NumberAttribute(null=True)
    body = UnicodeAttribute(null=True)


def ticket_pk(tenant_id: str) -> str:
    """The partition of a tenant's tickets."""
    return f"TENANT#{tenant_id}#TICKET"


def _origin_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#TICKETORIGIN"


def _service_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#SERVICE"


def _station_gsi(tenant_id: str, station_id: str) -> str:
    return f"TENANT#{tenant_id}#STATION#{station_id}#MAINT"


def _plans_gsi(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#MAINTPLAN"


def plan_key(tenant_id: str, plan_id: str) -> tuple[str, str]:
    """A plan's key: its shard follows from tenant and id, so it is read without an index."""
    shard = zlib.crc32(f"{tenant_id}#{plan_id}".encode()) % SHARDS
    return f"MAINTPLAN#{shard}", f"{tenant_id}#{plan_id}"


def _transact(write: Callable[[TransactWrite], None]) -> bool:
    try:
        with TransactWrite(connection=MaintenanceItem._get_connection().connection) as tx:
            write(tx)
    except TransactWriteError as exc:
        if _is_conditional_failure(exc):
            return False
        raise
    return True


def _ticket_item(ticket: Ticket, version: int) -> MaintenanceItem:
    return MaintenanceItem(
        ticket_pk(ticket.tenant_id),
        ticket.id,
        tenant_id=ticket.tenant_id,
        GSI1PK=_station_gsi(ticket.tenant_id, ticket.station_id),
        GSI1SK=ticket.id,
        station_id=ticket.station_id,
        site_id=ticket.site_id,
        state=ticket.state.value,
        version=version,
        body=ticket.model_copy(update={"version": version}).model_dump_json(),
    )


def _ticket(item: MaintenanceItem) -> Ticket:
    return Ticket.model_validate_json(item.body or "{}")


class DynamoTicketRepository:
    """TicketRepository: a partition of tickets per tenant, a GSI1 partition per station."""

    def create(self, ticket: Ticket, origin: str | None = None) -> str | None:
        """The ticket (and its origin, if new) in one transaction; the origin's holder if not."""
        item = _ticket_item(ticket, 1)
        if origin is None:
            item.save(condition=MaintenanceItem.PK.does_not_exist())
            return None
        marker = MaintenanceItem(
            _origin_pk(ticket.tenant_id),
            origin,
            tenant_id=ticket.tenant_id,
            ticket_id=ticket.id,
        )

        def write(tx: TransactWrite) -> None:
            tx.save(item, condition=MaintenanceItem.PK.does_not_exist())
            tx.save(marker, condition=MaintenanceItem.PK.does_not_exist())

        if _transact(write):
            return None
        held = MaintenanceItem.get(_origin_pk(ticket.tenant_id), origin, consistent_read=True)
        return held.ticket_id

    def get(self, tenant_id: str, ticket_id: str) -> Ticket | None:
        """By key: the tenant is in the partition."""
        try:
            item = MaintenanceItem.get(ticket_pk(tenant_id), ticket_id, consistent_read=True)
        except MaintenanceItem.DoesNotExist:
            return None
        return _ticket(item)

    def replace(self, ticket: Ticket) -> bool:
        """Conditional on the stored version being `ticket.version`."""
        try:
            _ticket_item(ticket, ticket.version + 1).save(
                condition=MaintenanceItem.version == ticket.version
            )
        except PutError as exc:
            if not _is_conditional_failure(exc):
                raise
            return False
        return True

    def list(
        self, tenant_id: str, query: TicketQuery, limit: int, cursor: str | None = None
    ) -> Page[Ticket]:
        """Newest first; full pages even when filtering, the cursor naming the last returned."""
        if query.sites is not None and not query.sites:
            return Page(items=[])
        partition = ticket_pk(tenant_id)
        condition: Condition | None = None
        for part in (
            MaintenanceItem.state == query.state.value if query.state else None,
            MaintenanceItem.station_id == query.station_id if query.station_id else None,
            MaintenanceItem.site_id == query.site_id if query.site_id else None,
            MaintenanceItem.site_id.is_in(*query.sites) if query.sites else None,
        ):
            if part is not None:
                condition = part if condition is None else condition & part
        result = MaintenanceItem.query(
            partition,
            filter_condition=condition,
            scan_index_forward=False,
            last_evaluated_key=decode_cursor(cursor, partition),
            page_size=limit + 1,
        )
        found: list[Ticket] = []
        for item in result:
            found.append(_ticket(item))
            if len(found) > limit:
                break
        next_cursor = None
        if len(found) > limit:
            last = {"PK": {"S": partition}, "SK": {"S": found[limit - 1].id}}
            next_cursor = encode_cursor(last)
        return Page(items=found[:limit], next_cursor=next_cursor)

    def history(
        self, tenant_id: str, station_id: str, limit: int, cursor: str | None = None
    ) -> Page[HistoryEntry]:
        """One keys-only index query, newest first, and one batch read of the items."""
        partition = _station_gsi(tenant_id, station_id)
        result = MaintenanceItem.by_gsi1.query(
            partition,
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=decode_cursor(cursor, partition, "GSI1PK"),
        )
        keys = [(item.PK, item.SK) for item in result]
        found = {(i.PK, i.SK): i for i in MaintenanceItem.batch_get(keys)} if keys else {}
        entries: list[HistoryEntry] = []
        for key in keys:
            item = found.get(key)
            if item is None:  # pragma: no cover - the index lags a write by moments
                continue
            if key[0] == _service_pk(tenant_id):
                entries.append(ServiceRecord.model_validate_json(item.body or "{}"))
            else:
                entries.append(_ticket(item))
        return Page(items=entries, next_cursor=encode_cursor(result.last_evaluated_key))


def _plan_item(plan: MaintenancePlan, version: int) -> MaintenanceItem:
    pk, sk = plan_key(plan.tenant_id, plan.id)
    return MaintenanceItem(
        pk,
        sk,
        tenant_id=plan.tenant_id,
        GSI1PK=_plans_gsi(plan.tenant_id),
        GSI1SK=plan.id,
        station_id=plan.station_id,
        site_id=plan.site_id,
        version=version,
        body=plan.model_copy(update={"version": version}).model_dump_json(),
    )


def _plan(item: MaintenanceItem) -> MaintenancePlan:
    return MaintenancePlan.model_validate_json(item.body or "{}")


class DynamoPlanRepository:
    """PlanRepository: sharded system partitions, a tenant's plans through GSI1."""

    def create(self, plan: MaintenancePlan) -> None:
        """Conditional on the (new) id being unused."""
        _plan_item(plan, 1).save(condition=MaintenanceItem.PK.does_not_exist())

    def get(self, tenant_id: str, plan_id: str) -> MaintenancePlan | None:
        """By key (the tenant is in the sort key)."""
        try:
            item = MaintenanceItem.get(*plan_key(tenant_id, plan_id), consistent_read=True)
        except MaintenanceItem.DoesNotExist:
            return None
        return _plan(item)

    def replace(self, plan: MaintenancePlan) -> bool:
        """Conditional on the stored version being `plan.version`."""
        try:
            _plan_item(plan, plan.version + 1).save(
                condition=MaintenanceItem.version == plan.version
            )
        except PutError as exc:
            if not _is_conditional_failure(exc):
                raise
            return False
        return True

    def delete(self, tenant_id: str, plan_id: str, expected_version: int) -> bool:
        """Conditional on the stored version."""
        try:
            MaintenanceItem(*plan_key(tenant_id, plan_id)).delete(
                condition=MaintenanceItem.version == expected_version
            )
        except DeleteError as exc:
            if not _is_conditional_failure(exc):
                raise
            return False
        return True

    def serviced(self, plan: MaintenancePlan, record: ServiceRecord) -> bool:
        """The plan (conditional on its version) and the new service record together."""
        record_item = MaintenanceItem(
            _service_pk(record.tenant_id),
            record.id,
            tenant_id=record.tenant_id,
            GSI1PK=_station_gsi(record.tenant_id, record.station_id),
            GSI1SK=record.id,
            station_id=record.station_id,
            site_id=record.site_id,
            body=record.model_dump_json(),
        )

        def write(tx: TransactWrite) -> None:
            tx.save(
                _plan_item(plan, plan.version + 1),
                condition=MaintenanceItem.version == plan.version,
            )
            tx.save(record_item, condition=MaintenanceItem.PK.does_not_exist())

        return _transact(write)

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> Page[MaintenancePlan]:
        """By id, through the keys-only GSI1 and one batch read."""
        partition = _plans_gsi(tenant_id)
        result = MaintenanceItem.by_gsi1.query(
            partition,
            limit=limit,
            last_evaluated_key=decode_cursor(cursor, partition, "GSI1PK"),
        )
        keys = [(item.PK, item.SK) for item in result]
        found = {(i.PK, i.SK): i for i in MaintenanceItem.batch_get(keys)} if keys else {}
        plans = [_plan(found[key]) for key in keys if key in found]
        return Page(items=plans, next_cursor=encode_cursor(result.last_evaluated_key))

    def every_plan(self) -> Iterator[MaintenancePlan]:
        """Every shard's partition, page by page."""
        for shard in range(SHARDS):
            for item in MaintenanceItem.query(f"MAINTPLAN#{shard}"):
                yield _plan(item)
