"""AlertRepository on the single table.

| item        | PK                      | SK                                 |
|-------------|-------------------------|------------------------------------|
| marker      | TENANT#{t}#ALERTMARK    | {station}#{evse:05}#{conn:05}#{kind} |
| due entry   | ALERTDUE#{0-9}          | {due}#{t}#{marker SK}              |
| alert       | TENANT#{t}#ALERT        | {alert id} (sorts by opening time) |
| boot times  | STATION#{id}            | ALERTBOOTS (TTL)                   |
| failed starts | STATION#{id}          | ALERTSTARTFAILS (TTL)              |

A marker exists while its key is watched (pending) or alerted (open); claiming it is a
conditional put, so racing detectors open one alert. The due entries are a small system index,
sharded like the managed-site index, that the sweep queries up to now (never a scan). Every
change of marker, due entry and alert happens in one transaction, with the alert's events in
the alert item's outbox.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from csms.adapters.dynamo import (
    _epoch,
    _is_conditional_failure,
    _outbox_values,
    decode_cursor,
    encode_cursor,
)
from csms.adapters.dynamo_models import _Item
from csms.adapters.outbox import OutboxEncoder
from csms.domain.alerts import Alert, AlertKey, BootHistory, Watch, WatchState
from csms.domain.events import DomainEvent
from csms.services.alerts import AlertQuery
from csms.services.ports import Page

SHARDS = 10
BOOTS = "ALERTBOOTS"
START_FAILURES = "ALERTSTARTFAILS"
# Boot times matter for a window of minutes; a day bounds what a quiet station keeps.
_BOOTS_TTL = timedelta(days=1)


class AlertItem(_Item):
    """Markers, due entries, alerts and boot histories (distinguished by their keys)."""

    station_id = UnicodeAttribute(null=True)
    site_id = UnicodeAttribute(null=True)
    state = UnicodeAttribute(null=True)
    since = UnicodeAttribute(null=True)
    due_at = UnicodeAttribute(null=True)
    version = NumberAttribute(null=True)
    body = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(null=True)


def _ts(at: datetime) -> str:
    """Fixed-width UTC text: sorts as the instants do."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def marker_key(key: AlertKey) -> tuple[str, str]:
    """PK and SK of a key's marker."""
    return f"TENANT#{key.tenant_id}#ALERTMARK", f"{key.station_id}#{key.port}#{key.kind}"


def due_key(watch: Watch, due_at: datetime | None = None) -> tuple[str, str]:
    """PK and SK of a marker's due entry."""
    _, sk = marker_key(watch.key)
    shard = zlib.crc32(f"{watch.key.tenant_id}#{sk}".encode()) % SHARDS
    return f"ALERTDUE#{shard}", f"{_ts(due_at or watch.due_at)}#{watch.key.tenant_id}#{sk}"


def alert_pk(tenant_id: str) -> str:
    """The partition of a tenant's alerts."""
    return f"TENANT#{tenant_id}#ALERT"


class DynamoAlertRepository:
    """AlertRepository on the single table."""

    def __init__(self, outbox: OutboxEncoder) -> None:
        self._outbox = outbox

    # -- markers -------------------------------------------------------------------------------

    def _marker_item(self, watch: Watch) -> AlertItem:
        pk, sk = marker_key(watch.key)
        return AlertItem(
            pk,
            sk,
            tenant_id=watch.key.tenant_id,
            station_id=watch.key.station_id,
            state=watch.state.value,
            since=_ts(watch.since),
            due_at=_ts(watch.due_at),
            body=watch.model_dump_json(),
        )

    def _due_item(self, watch: Watch, due_at: datetime | None = None) -> AlertItem:
        pk, sk = due_key(watch, due_at)
        body = watch if due_at is None else watch.model_copy(update={"due_at": due_at})
        return AlertItem(pk, sk, tenant_id=watch.key.tenant_id, body=body.model_dump_json())

    @staticmethod
    def _is_exactly(watch: Watch) -> Condition:
        condition: Condition = (
            (AlertItem.state == watch.state.value)
            & (AlertItem.since == _ts(watch.since))
            & (AlertItem.due_at == _ts(watch.due_at))
        )
        return condition

    @staticmethod
    def _transact(write: Any) -> bool:
        try:
            with TransactWrite(connection=AlertItem._get_connection().connection) as tx:
                write(tx)
        except TransactWriteError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def watch(self, watch: Watch) -> bool:
        """Claim the key: marker (if absent) and due entry together."""

        def write(tx: TransactWrite) -> None:
            tx.save(self._marker_item(watch), condition=AlertItem.PK.does_not_exist())
            tx.save(self._due_item(watch))

        return self._transact(write)

    def marker(self, key: AlertKey) -> Watch | None:
        """Strongly consistent: a clear must see the claim it races."""
        pk, sk = marker_key(key)
        try:
            item = AlertItem.get(pk, sk, consistent_read=True)
        except AlertItem.DoesNotExist:
            return None
        return Watch.model_validate_json(item.body or "{}")

    def drop(self, watch: Watch) -> bool:
        """Marker (if still exactly `watch`) and its due entry."""

        def write(tx: TransactWrite) -> None:
            tx.delete(AlertItem(*marker_key(watch.key)), condition=self._is_exactly(watch))
            tx.delete(AlertItem(*due_key(watch)))

        return self._transact(write)

    def open(self, watch: Watch, alert: Alert, events: Sequence[DomainEvent]) -> bool:
        """Open marker, alert with its events; the due entry stays only for a reboot loop."""
        opened = watch.model_copy(update={"state": WatchState.OPEN, "alert_id": alert.alert_id})
        keeps_due = alert.key.kind == "reboot-loop"

        def write(tx: TransactWrite) -> None:
            tx.save(self._marker_item(opened), condition=self._is_exactly(watch))
            if keeps_due:
                tx.save(self._due_item(opened))
            else:
                tx.delete(AlertItem(*due_key(watch)))
            tx.save(self._alert_item(alert, events), condition=AlertItem.PK.does_not_exist())

        return self._transact(write)

    def close(self, watch: Watch, alert: Alert, events: Sequence[DomainEvent]) -> bool:
        """Marker and due entry go; the closed alert replaces the open one (by version)."""

        def write(tx: TransactWrite) -> None:
            tx.delete(AlertItem(*marker_key(watch.key)), condition=self._is_exactly(watch))
            tx.delete(AlertItem(*due_key(watch)))
            tx.save(
                self._alert_item(alert, events), condition=AlertItem.version == alert.version - 1
            )

        return self._transact(write)

    def reschedule(self, watch: Watch, due_at: datetime) -> bool:
        """The marker's due time and its entry move together."""
        moved = watch.model_copy(update={"due_at": due_at})

        def write(tx: TransactWrite) -> None:
            tx.save(self._marker_item(moved), condition=self._is_exactly(watch))
            tx.delete(AlertItem(*due_key(watch)))
            tx.save(self._due_item(moved))

        return self._transact(write)

    def due(self, now: datetime, limit: int) -> list[Watch]:
        """Every shard up to now (a due entry's SK starts with its due time)."""
        upper = _ts(now) + "~"
        found: list[Watch] = []
        for shard in range(SHARDS):
            items = AlertItem.query(
                f"ALERTDUE#{shard}", AlertItem.SK.between("0", upper), limit=limit - len(found)
            )
            found.extend(Watch.model_validate_json(item.body or "{}") for item in items)
            if len(found) >= limit:
                break
        return sorted(found, key=lambda w: w.due_at)

    # -- alerts --------------------------------------------------------------------------------

    def _alert_item(self, alert: Alert, events: Sequence[DomainEvent]) -> AlertItem:
        item = AlertItem(
            alert_pk(alert.key.tenant_id),
            alert.alert_id,
            tenant_id=alert.key.tenant_id,
            station_id=alert.key.station_id,
            site_id=alert.site_id,
            state=alert.state.value,
            version=alert.version,
            body=alert.model_dump_json(),
        )
        for name, value in _outbox_values(self._outbox, events).items():
            setattr(item, name, value)
        return item

    def update(self, alert: Alert, events: Sequence[DomainEvent]) -> bool:
        """Replace the alert (its steps grew) if it is still at the version before `alert`'s."""
        try:
            self._alert_item(alert, events).save(condition=AlertItem.version == alert.version - 1)
        except PutError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def get(self, tenant_id: str, alert_id: str) -> Alert | None:
        """By key: the tenant is in the partition."""
        try:
            item = AlertItem.get(alert_pk(tenant_id), alert_id)
        except AlertItem.DoesNotExist:
            return None
        return Alert.model_validate_json(item.body or "{}")

    def list(
        self, tenant_id: str, query: AlertQuery, limit: int, cursor: str | None = None
    ) -> Page[Alert]:
        """Newest first; full pages even when filtering, the cursor naming the last returned."""
        partition = alert_pk(tenant_id)
        condition: Condition | None = None
        for part in (
            AlertItem.state == query.state.value if query.state else None,
            AlertItem.station_id == query.station_id if query.station_id else None,
            AlertItem.site_id == query.site_id if query.site_id else None,
            AlertItem.site_id.is_in(*query.sites) if query.sites else None,
        ):
            if part is not None:
                condition = part if condition is None else condition & part
        if query.sites is not None and not query.sites:
            return Page(items=[], next_cursor=None)
        result = AlertItem.query(
            partition,
            filter_condition=condition,
            scan_index_forward=False,
            last_evaluated_key=decode_cursor(cursor, partition),
            page_size=limit + 1,
        )
        found: list[tuple[str, Alert]] = []
        for item in result:
            found.append((item.SK, Alert.model_validate_json(item.body or "{}")))
            if len(found) > limit:
                break
        next_cursor = None
        if len(found) > limit:
            next_cursor = encode_cursor({"PK": {"S": partition}, "SK": {"S": found[limit - 1][0]}})
        return Page(items=[alert for _, alert in found[:limit]], next_cursor=next_cursor)

    # -- boot histories ------------------------------------------------------------------------

    def boots(self, tenant_id: str, station_id: str) -> BootHistory:
        """Empty when none is kept (or it belongs to another tenant)."""
        return self._times(tenant_id, station_id, BOOTS)

    def put_boots(self, tenant_id: str, station_id: str, history: BootHistory) -> None:
        """Last writer wins: boots of one station arrive one at a time."""
        self._put_times(tenant_id, station_id, BOOTS, history)

    def start_failures(self, tenant_id: str, station_id: str) -> BootHistory:
        """Empty when none is kept (or it belongs to another tenant)."""
        return self._times(tenant_id, station_id, START_FAILURES)

    def put_start_failures(self, tenant_id: str, station_id: str, history: BootHistory) -> None:
        """Last writer wins (a lost failure only delays an alert by one failed start)."""
        self._put_times(tenant_id, station_id, START_FAILURES, history)

    @staticmethod
    def _times(tenant_id: str, station_id: str, sort_key: str) -> BootHistory:
        try:
            item = AlertItem.get(f"STATION#{station_id}", sort_key)
        except AlertItem.DoesNotExist:
            return BootHistory()
        if item.tenant_id != tenant_id:
            return BootHistory()
        return BootHistory.model_validate_json(item.body or "{}")

    @staticmethod
    def _put_times(tenant_id: str, station_id: str, sort_key: str, history: BootHistory) -> None:
        AlertItem(
            f"STATION#{station_id}",
            sort_key,
            tenant_id=tenant_id,
            body=history.model_dump_json(),
            expires_at=_epoch(history.boots[-1] + _BOOTS_TTL) if history.boots else None,
        ).save()
