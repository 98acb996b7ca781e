"""Uptime's reads of a station's history, and the outage exclusions, on the single table.

| item             | PK                     | SK                    |
|------------------|------------------------|-----------------------|
| outage exclusion | TENANT#{t}#UPTIMEX     | EXCL#{exclusion id}   |

Exclusions are listed by id. They are compliance records: kept without expiry.

The status history (`STATION#{id}#STATUS`, sort key `{at}#{evse}#{connector}`) and the
connection log (`STATION#{id}`, `LOG#{at}#{connection}`) are read by key range: the window,
then backwards from its start until every connector (and the connection state) is known.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DeleteError

from csms.adapters.dynamo import (
    _is_conditional_failure,
    decode_cursor,
    encode_cursor,
    station_pk,
)
from csms.adapters.dynamo_models import (
    ConnectionLogItem,
    ConnectorStatusItem,
    StatusHistoryItem,
    _Item,
)
from csms.domain.connection import ConnectionOutcome
from csms.domain.connector import ConnectorStatus
from csms.domain.uptime import ConnectivityChange, OutageExclusion, StatusChange
from csms.services.ports import Page

_EXCLUSION = "EXCL#"
_LOG = "LOG#"
# Sort keys hold UTC ISO timestamps: a second-precision prefix bounds a range, and the exact
# time is checked on the item (the keys' offsets and fractions sort unevenly).
_SECOND = "%Y-%m-%dT%H:%M:%S"
# After every character of an ISO timestamp and its suffixes.
_HIGH = "~"
_BACKWARD_PAGE = 50
# How far back the walk from a window's start reads at most (a station that retried with a bad
# password for days leaves many refusals). Past it, a connector's earlier state is unknown, so its
# time before its first change found is not counted; an unknown connection state counts as up.
_BACKWARD_LIMIT = 2000
_CONNECTED = {ConnectionOutcome.CONNECTED.value: True, ConnectionOutcome.DISCONNECTED.value: False}


def _prefix(at: datetime) -> str:
    return at.astimezone(UTC).strftime(_SECOND)


class UptimeExclusionItem(_Item):
    """An outage exclusion: the model as JSON, with the station and site for reading."""

    station_id = UnicodeAttribute()
    site_id = UnicodeAttribute(null=True)
    body = UnicodeAttribute()


def _exclusion_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#UPTIMEX"


class DynamoExclusionRepository:
    """ExclusionRepository: one partition per tenant, read by key."""

    def add(self, exclusion: OutageExclusion) -> None:
        """One put, conditional on the (new) id being unused."""
        item = UptimeExclusionItem(
            _exclusion_pk(exclusion.tenant_id),
            f"{_EXCLUSION}{exclusion.id}",
            tenant_id=exclusion.tenant_id,
            station_id=exclusion.station_id,
            site_id=exclusion.site_id,
            body=exclusion.model_dump_json(),
        )
        item.save(condition=UptimeExclusionItem.PK.does_not_exist())

    def get(self, tenant_id: str, exclusion_id: str) -> OutageExclusion | None:
        """By key; None when absent."""
        try:
            item = UptimeExclusionItem.get(
                _exclusion_pk(tenant_id), f"{_EXCLUSION}{exclusion_id}", consistent_read=True
            )
        except UptimeExclusionItem.DoesNotExist:
            return None
        return OutageExclusion.model_validate_json(item.body)

    def delete(self, tenant_id: str, exclusion_id: str) -> bool:
        """Conditional on the item existing: False when it did not."""
        item = UptimeExclusionItem(_exclusion_pk(tenant_id), f"{_EXCLUSION}{exclusion_id}")
        try:
            item.delete(condition=UptimeExclusionItem.PK.exists())
        except DeleteError as exc:
            if not _is_conditional_failure(exc):
                raise
            return False
        return True

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> Page[OutageExclusion]:
        """By id."""
        partition = _exclusion_pk(tenant_id)
        result = UptimeExclusionItem.query(
            partition,
            UptimeExclusionItem.SK.startswith(_EXCLUSION),
            limit=limit,
            last_evaluated_key=decode_cursor(cursor, partition, sort_prefix=_EXCLUSION),
        )
        items = [OutageExclusion.model_validate_json(item.body) for item in result]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))


class DynamoUptimeHistory:
    """UptimeHistory over the status history and the connection log of a station."""

    def status_changes(self, station_id: str, start: datetime, end: datetime) -> list[StatusChange]:
        """The window's changes, then backwards until each connector held has its state."""
        partition = f"{station_pk(station_id)}#STATUS"
        changes = [
            change
            for item in StatusHistoryItem.query(
                partition, StatusHistoryItem.SK.between(_prefix(start), _prefix(end) + _HIGH)
            )
            if start <= (change := _status_change(item)).at < end
        ]
        # The connectors the station has now; a connector seen only before the window and
        # since removed is found on the way too, if the walk back reaches it.
        wanted = {
            (int(item.evse_id), int(item.connector_id))
            for item in ConnectorStatusItem.query(
                station_pk(station_id), ConnectorStatusItem.SK.startswith("EVSE#")
            )
        }
        before: dict[tuple[int, int], StatusChange] = {}
        for item in StatusHistoryItem.query(
            partition,
            _prefix(start) + _HIGH > StatusHistoryItem.SK,
            scan_index_forward=False,
            page_size=_BACKWARD_PAGE,
            limit=_BACKWARD_LIMIT,
        ):
            change = _status_change(item)
            if change.at >= start:
                continue
            before.setdefault((change.evse_id, change.connector_id), change)
            if wanted <= set(before):
                break
        return [*before.values(), *changes]

    def connectivity(
        self, station_id: str, start: datetime, end: datetime
    ) -> list[ConnectivityChange]:
        """The window's connects and disconnects, and the last one before it."""
        partition = station_pk(station_id)
        inside = [
            change
            for item in ConnectionLogItem.query(
                partition,
                ConnectionLogItem.SK.between(
                    f"{_LOG}{_prefix(start)}", f"{_LOG}{_prefix(end)}{_HIGH}"
                ),
            )
            if (change := _connectivity(item)) is not None and start <= change.at < end
        ]
        for item in ConnectionLogItem.query(
            partition,
            ConnectionLogItem.SK.between(_LOG, f"{_LOG}{_prefix(start)}{_HIGH}"),
            scan_index_forward=False,
            page_size=_BACKWARD_PAGE,
            limit=_BACKWARD_LIMIT,
        ):
            change = _connectivity(item)
            if change is not None and change.at < start:
                return [change, *inside]
        return inside


def _status_change(item: StatusHistoryItem) -> StatusChange:
    return StatusChange(
        evse_id=int(item.evse_id),
        connector_id=int(item.connector_id),
        at=datetime.fromisoformat(item.SK.split("#", 1)[0]),
        status=ConnectorStatus(item.status),
    )


def _connectivity(item: ConnectionLogItem) -> ConnectivityChange | None:
    connected = _CONNECTED.get(item.outcome)
    if connected is None:  # a refusal: the station was not connected by it
        return None
    return ConnectivityChange(at=item.at, connected=connected, connection_id=item.connection_id)
