"""DynamoDB implementations of the service ports (pynamodb on the single table)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from csms.adapters.dynamo_models import (
    ConnectionItem,
    ConnectionLogItem,
    ConnectorStatusItem,
    SiteItem,
    StationItem,
    StatusHistoryItem,
    TokenItem,
)
from csms.adapters.outbox import OutboxEncoder
from csms.domain.connection import (
    ConnectionBinding,
    ConnectionLogEntry,
    ConnectionOutcome,
    RefusalReason,
)
from csms.domain.connector import (
    AppliedStatus,
    ConnectorState,
    ConnectorStatus,
    EvseRef,
    OccupancyDetail,
    StatusOutcome,
    StatusReport,
)
from csms.domain.errors import InvalidCursorError, StationNotFoundError
from csms.domain.events import DomainEvent
from csms.domain.seed import Site
from csms.domain.station import (
    BootInfo,
    BootReason,
    PasswordUsed,
    ProtocolVersion,
    RegistrationStatus,
    Station,
    StationState,
)
from csms.domain.tokens import IdToken
from csms.services.ports import Page, StationQuery

META = "META"
# API Gateway cuts a WebSocket after 2 hours; a binding left behind by a lost $disconnect
# expires an hour after that.
BINDING_TTL = timedelta(hours=3)


def station_pk(station_id: str) -> str:
    """Partition of everything about one station."""
    return f"STATION#{station_id}"


def tenant_pk(tenant_id: str) -> str:
    """Partition of a tenant's own records."""
    return f"TENANT#{tenant_id}"


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def _epoch_ms(value: datetime) -> int:
    # Deadlines compare in milliseconds: whole seconds would end a 1 s call up to 1 s early.
    return int(value.timestamp() * 1000)


def _is_conditional_failure(exc: Exception) -> bool:
    cause = getattr(exc, "cause_response_code", None)
    return cause in ("ConditionalCheckFailedException", "TransactionCanceledException")


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    """Opaque cursor from DynamoDB's LastEvaluatedKey."""
    if not last_key:
        return None
    raw = json.dumps(last_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str | None, partition: str, key_attribute: str = "PK", *, sort_prefix: str = ""
) -> dict[str, Any] | None:
    """LastEvaluatedKey back from a cursor this very list handed out.

    The key must have exactly the attributes of its index, point into the partition being
    listed and, on the table, at an item of the listed kind; anything else is refused here
    rather than reaching DynamoDB as an ExclusiveStartKey.
    """
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursorError from None
    index_keys = {key_attribute, key_attribute.removesuffix("PK") + "SK"}
    names = {"PK", "SK"} | (index_keys if key_attribute != "PK" else set())
    if not isinstance(key, dict) or set(key) != names:
        raise InvalidCursorError
    if not all(
        isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values()
    ):
        raise InvalidCursorError
    if key[key_attribute]["S"] != partition or not key["SK"]["S"].startswith(sort_prefix):
        raise InvalidCursorError
    return key


def _outbox_actions(model: Any, outbox: OutboxEncoder, events: Sequence[DomainEvent]) -> list[Any]:
    """Update actions that put events in the item's outbox, or clear an earlier one."""
    encoded = outbox.encode(events)
    if encoded is None:
        return [model.outbox.remove(), model.outbox_id.remove()]
    return [model.outbox.set(encoded[0]), model.outbox_id.set(encoded[1])]


def _outbox_values(outbox: OutboxEncoder, events: Sequence[DomainEvent]) -> dict[str, str]:
    """Attributes of a new item that carries events in its outbox."""
    encoded = outbox.encode(events)
    return {} if encoded is None else {"outbox": encoded[0], "outbox_id": encoded[1]}


class DynamoStationRepository:
    """StationRepository on the single table.

    Station updates that carry no event clear the item's outbox, so the item stays small and
    the stream publishes nothing twice.
    """

    def __init__(self, outbox: OutboxEncoder) -> None:
        self._outbox = outbox

    def get(self, station_id: str) -> Station | None:
        """Return the station (strongly consistent: connect follows registration closely)."""
        try:
            item = StationItem.get(station_pk(station_id), META, consistent_read=True)
        except StationItem.DoesNotExist:
            return None
        return _station(station_id, item)

    def register(self, station: Station) -> None:
        """Upsert the registration data and keep boot data and connection state."""
        item = StationItem(station_pk(station.id), META)
        pinned = station.pinned_protocol
        item.update(
            actions=[
                StationItem.tenant_id.set(station.tenant_id),
                StationItem.GSI1PK.set(tenant_pk(station.tenant_id)),
                StationItem.GSI1SK.set(station_pk(station.id)),
                *_site_actions(station),
                StationItem.password_hash.set(station.password_hash),
                StationItem.pinned_protocol.set(pinned.value)
                if pinned
                else StationItem.pinned_protocol.remove(),
                *_outbox_actions(StationItem, self._outbox, ()),
            ]
        )

    def list_for_tenant(
        self, tenant_id: str, limit: int, cursor: str | None = None
    ) -> Page[Station]:
        """A tenant's stations by id, one page at a time."""
        partition = tenant_pk(tenant_id)
        result = StationItem.by_tenant.query(
            partition,
            StationItem.GSI1SK.startswith("STATION#"),
            limit=limit,
            last_evaluated_key=decode_cursor(cursor, partition, "GSI1PK", sort_prefix=META),
        )
        keys = [(item.PK, item.SK) for item in result]
        # The index holds keys only: read the items (eventually consistent, like the index).
        found = {item.PK: item for item in StationItem.batch_get(keys)}
        items = [_station(pk.removeprefix("STATION#"), found[pk]) for pk, _ in keys if pk in found]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))

    def create(self, station: Station) -> bool:
        """One conditional put: station ids are global (they are the station's URL)."""
        item = StationItem(
            station_pk(station.id),
            META,
            tenant_id=station.tenant_id,
            GSI1PK=tenant_pk(station.tenant_id),
            GSI1SK=station_pk(station.id),
            GSI2PK=site_partition(station.tenant_id, station.site_id) if station.site_id else None,
            GSI2SK=station_pk(station.id) if station.site_id else None,
            site_id=station.site_id,
            name=station.name,
            state=station.state.value,
            password_hash=station.password_hash,
            previous_password_hash=station.previous_password_hash,
            previous_password_until=station.previous_password_until,
            pinned_protocol=station.pinned_protocol.value if station.pinned_protocol else None,
            trace_until=station.trace_until,
            registered_at=station.registered_at,
            decommissioned_at=station.decommissioned_at,
            version=station.version,
        )
        try:
            item.save(condition=StationItem.PK.does_not_exist())
        except PutError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def save(self, station: Station, expected_version: int) -> bool:
        """An update of the managed attributes only, conditional on the version read."""
        pinned = station.pinned_protocol
        actions: list[Any] = [
            *_site_actions(station),
            _set_or_remove(StationItem.name, station.name),
            StationItem.state.set(station.state.value),
            StationItem.password_hash.set(station.password_hash),
            _set_or_remove(StationItem.previous_password_hash, station.previous_password_hash),
            _set_or_remove(StationItem.previous_password_until, station.previous_password_until),
            _set_or_remove(StationItem.pinned_protocol, pinned.value if pinned else None),
            _set_or_remove(StationItem.decommissioned_at, station.decommissioned_at),
            StationItem.version.set(expected_version + 1),
            *_outbox_actions(StationItem, self._outbox, ()),
        ]
        stored = StationItem.version == expected_version
        if expected_version == 0:
            stored = stored | StationItem.version.does_not_exist()
        try:
            StationItem(station_pk(station.id), META).update(
                actions=actions, condition=StationItem.PK.exists() & stored
            )
        except UpdateError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    # An index page holds up to `limit` keys; a filtered list reads at most this many of them
    # per request, then hands out a cursor (bounded cost, however sparse the matches).
    _MAX_INDEX_PAGES = 5

    def list(
        self, tenant_id: str, query: StationQuery, limit: int, cursor: str | None = None
    ) -> Page[Station]:
        """By site through GSI2, else by tenant through GSI1; other filters on the items.

        Costs at most `_MAX_INDEX_PAGES` index queries and as many BatchGetItems. The cursor
        is the index key of the last station returned, so a page that stops in the middle of
        an index page resumes right after it.
        """
        if query.site_id is not None:
            if query.sites is not None and query.site_id not in query.sites:
                return Page(items=[])
            index: Any = StationItem.by_site
            name, partition = "GSI2", site_partition(tenant_id, query.site_id)
        else:
            index, name, partition = StationItem.by_tenant, "GSI1", tenant_pk(tenant_id)
        sort_attribute = getattr(StationItem, f"{name}SK")
        start = decode_cursor(cursor, partition, f"{name}PK", sort_prefix=META)
        if start is not None and not start[f"{name}SK"]["S"].startswith("STATION#"):
            raise InvalidCursorError
        found: list[Station] = []
        for _ in range(self._MAX_INDEX_PAGES):
            result = index.query(
                partition,
                sort_attribute.startswith("STATION#"),
                scan_index_forward=not query.descending,
                limit=limit,
                last_evaluated_key=start,
            )
            keys = [(item.PK, item.SK) for item in result]
            items = {item.PK: item for item in StationItem.batch_get(keys)} if keys else {}
            for pk, _sk in keys:
                if pk not in items:
                    continue
                station = _station(pk.removeprefix("STATION#"), items[pk])
                if not query.matches(station):
                    continue
                found.append(station)
                if len(found) == limit:
                    last = {
                        f"{name}PK": {"S": partition},
                        f"{name}SK": {"S": pk},
                        "PK": {"S": pk},
                        "SK": {"S": META},
                    }
                    return Page(items=found, next_cursor=encode_cursor(last))
            start = result.last_evaluated_key
            if start is None:
                return Page(items=found)
        return Page(items=found, next_cursor=encode_cursor(start))

    def set_trace(self, station_id: str, until: datetime | None) -> None:
        """Two writes when online (station, then its binding), one otherwise; no read.

        The station update returns the item, which tells whether a live binding needs it too.
        """
        item = StationItem(station_pk(station_id), META)
        try:
            item.update(
                actions=[
                    _set_or_remove(StationItem.trace_until, until),
                    *_outbox_actions(StationItem, self._outbox, ()),
                ],
                condition=StationItem.PK.exists(),
            )
        except UpdateError as exc:
            if _is_conditional_failure(exc):
                raise StationNotFoundError(station_id) from None
            raise
        if not item.online or not item.connection_id:
            return
        try:
            ConnectionItem(f"CONN#{item.connection_id}", META).update(
                actions=[_set_or_remove(ConnectionItem.trace_until, until)],
                condition=ConnectionItem.PK.exists(),
            )
        except UpdateError as exc:
            # The connection closed meanwhile: the next one copies the station's setting.
            if not _is_conditional_failure(exc):
                raise

    def bind(self, binding: ConnectionBinding, *, clear_previous_password: bool = False) -> None:
        """Write the binding first, so the first message after `$connect` finds it."""
        ConnectionItem(
            f"CONN#{binding.connection_id}",
            META,
            tenant_id=binding.tenant_id,
            station_id=binding.station_id,
            site_id=binding.site_id,
            protocol=binding.protocol.value,
            connected_at=binding.connected_at,
            deliver_queue=binding.deliver_queue or None,
            trace_until=binding.trace_until,
            expires_at=_epoch(binding.connected_at + BINDING_TTL),
        ).save()
        actions: list[Any] = [
            StationItem.online.set(True),
            StationItem.protocol.set(binding.protocol.value),
            StationItem.connection_id.set(binding.connection_id),
            StationItem.connected_at.set(binding.connected_at),
            *_outbox_actions(StationItem, self._outbox, ()),
        ]
        if clear_previous_password:
            actions += [
                StationItem.previous_password_hash.remove(),
                StationItem.previous_password_until.remove(),
            ]
        StationItem(station_pk(binding.station_id), META).update(
            actions=actions, condition=StationItem.PK.exists()
        )

    def lookup(self, connection_id: str) -> ConnectionBinding | None:
        """The binding of a connection (strongly consistent)."""
        try:
            item = ConnectionItem.get(f"CONN#{connection_id}", META, consistent_read=True)
        except ConnectionItem.DoesNotExist:
            return None
        return ConnectionBinding(
            connection_id=connection_id,
            station_id=item.station_id,
            tenant_id=item.tenant_id or "",
            protocol=ProtocolVersion(item.protocol),
            connected_at=item.connected_at,
            site_id=item.site_id,
            deliver_queue=bool(item.deliver_queue),
            trace_until=item.trace_until,
        )

    def unbind(self, binding: ConnectionBinding, at: datetime) -> bool:
        """Offline only if this connection is still the station's current one."""
        ConnectionItem(f"CONN#{binding.connection_id}", META).delete()
        try:
            StationItem(station_pk(binding.station_id), META).update(
                actions=[
                    StationItem.online.set(False),
                    StationItem.disconnected_at.set(at),
                    StationItem.connection_id.remove(),
                    *_outbox_actions(StationItem, self._outbox, ()),
                ],
                condition=StationItem.connection_id == binding.connection_id,
            )
        except UpdateError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def record_boot(
        self,
        station_id: str,
        boot: BootInfo,
        status: RegistrationStatus,
        at: datetime,
        *,
        events: Sequence[DomainEvent] = (),
        message_id: str | None = None,
    ) -> bool:
        """Store boot data on the station item, its events in the item's outbox.

        Conditional on the last recorded boot not having come in this very CALL.
        """
        values: dict[str, str | None] = {
            "vendor": boot.vendor,
            "model": boot.model,
            "serial_number": boot.serial_number,
            "firmware_version": boot.firmware_version,
            "iccid": boot.iccid,
            "imsi": boot.imsi,
            "meter_type": boot.meter_type,
            "meter_serial_number": boot.meter_serial_number,
            "boot_reason": boot.reason.value,
            "registration_status": status.value,
        }
        actions: list[Any] = [
            StationItem.last_boot_at.set(at),
            *_outbox_actions(StationItem, self._outbox, events),
        ]
        actions.extend(_set_or_remove(getattr(StationItem, n), v) for n, v in values.items())
        condition = StationItem.PK.exists()
        if message_id is not None:
            actions.append(StationItem.last_boot_message.set(message_id))
            condition = condition & (
                StationItem.last_boot_message.does_not_exist()
                | (StationItem.last_boot_message != message_id)
            )
        try:
            StationItem(station_pk(station_id), META).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if message_id is not None and _is_conditional_failure(exc):
                current = self.get(station_id)
                if current is not None:
                    return False
            raise
        return True


def site_partition(tenant_id: str, site_id: str) -> str:
    """GSI2 partition of a site's stations."""
    return f"{tenant_pk(tenant_id)}#SITE#{site_id}"


def _site_actions(station: Station) -> list[Any]:
    """Set the site and its GSI2 keys, or remove all three (a station at no site)."""
    if station.site_id is None:
        return [
            StationItem.site_id.remove(),
            StationItem.GSI2PK.remove(),
            StationItem.GSI2SK.remove(),
        ]
    return [
        StationItem.site_id.set(station.site_id),
        StationItem.GSI2PK.set(site_partition(station.tenant_id, station.site_id)),
        StationItem.GSI2SK.set(station_pk(station.id)),
    ]


def _station(station_id: str, item: StationItem) -> Station:
    boot = None
    if item.vendor is not None and item.model is not None:
        boot = BootInfo(
            vendor=item.vendor,
            model=item.model,
            serial_number=item.serial_number,
            firmware_version=item.firmware_version,
            iccid=item.iccid,
            imsi=item.imsi,
            meter_type=item.meter_type,
            meter_serial_number=item.meter_serial_number,
            reason=BootReason(item.boot_reason or BootReason.UNKNOWN),
        )
    return Station(
        id=station_id,
        tenant_id=item.tenant_id or "",
        site_id=item.site_id,
        name=item.name,
        state=StationState(item.state) if item.state else StationState.ACTIVE,
        password_hash=item.password_hash or "",
        previous_password_hash=item.previous_password_hash,
        previous_password_until=item.previous_password_until,
        pinned_protocol=ProtocolVersion(item.pinned_protocol) if item.pinned_protocol else None,
        trace_until=item.trace_until,
        registered_at=item.registered_at,
        decommissioned_at=item.decommissioned_at,
        version=int(item.version or 0),
        boot=boot,
        registration_status=RegistrationStatus(item.registration_status)
        if item.registration_status
        else None,
        last_boot_at=item.last_boot_at,
        online=bool(item.online),
        protocol=ProtocolVersion(item.protocol) if item.protocol else None,
        connection_id=item.connection_id,
        connected_at=item.connected_at,
        disconnected_at=item.disconnected_at,
    )


class DynamoConnectionLog:
    """ConnectionLog on the single table, entries expiring after the retention period."""

    def __init__(self, retention: timedelta, outbox: OutboxEncoder) -> None:
        self._retention = retention
        self._outbox = outbox

    def append(self, entry: ConnectionLogEntry, events: Sequence[DomainEvent] = ()) -> None:
        """Add one entry (its events in its outbox); unknown stations' attempts too."""
        item = ConnectionLogItem(
            station_pk(entry.station_id),
            f"LOG#{entry.at.astimezone(UTC).isoformat()}#{entry.connection_id or ''}",
            at=entry.at,
            outcome=entry.outcome.value,
            reason=entry.reason.value if entry.reason else None,
            protocol=entry.protocol.value if entry.protocol else None,
            connection_id=entry.connection_id,
            source_ip=entry.source_ip,
            offered_protocols=list(entry.offered_protocols) or None,
            password_used=entry.password_used.value if entry.password_used else None,
            expires_at=_epoch(entry.at + self._retention),
        )
        for name, value in _outbox_values(self._outbox, events).items():
            setattr(item, name, value)
        item.save()

    def list(
        self, station_id: str, limit: int, cursor: str | None = None
    ) -> Page[ConnectionLogEntry]:
        """Newest first."""
        partition = station_pk(station_id)
        result = ConnectionLogItem.query(
            partition,
            ConnectionLogItem.SK.startswith("LOG#"),
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=decode_cursor(cursor, partition, sort_prefix="LOG#"),
        )
        entries = [
            ConnectionLogEntry(
                station_id=station_id,
                at=item.at,
                outcome=ConnectionOutcome(item.outcome),
                reason=RefusalReason(item.reason) if item.reason else None,
                protocol=ProtocolVersion(item.protocol) if item.protocol else None,
                connection_id=item.connection_id,
                source_ip=item.source_ip,
                offered_protocols=tuple(item.offered_protocols or ()),
                password_used=PasswordUsed(item.password_used) if item.password_used else None,
            )
            for item in result
        ]
        return Page(items=entries, next_cursor=encode_cursor(result.last_evaluated_key))


def _evse_sk(evse: EvseRef) -> str:
    # Zero-padded to the domain's bound, so that the sort key orders numerically.
    return f"EVSE#{evse.evse_id:05d}#{evse.connector_id:05d}"


class DynamoConnectorStatusRepository:
    """ConnectorStatusRepository on the single table."""

    _CACHE_SIZE = 4096

    def __init__(self, outbox: OutboxEncoder) -> None:
        self._outbox = outbox
        # (station, EVSE) -> the status key last written from this container.
        self._last_keys: dict[tuple[str, EvseRef], str] = {}

    def get(self, station_id: str, evse: EvseRef) -> ConnectorState | None:
        """Strongly consistent, since a conditional write follows."""
        try:
            item = ConnectorStatusItem.get(
                station_pk(station_id), _evse_sk(evse), consistent_read=True
            )
        except ConnectorStatusItem.DoesNotExist:
            return None
        return _connector_state(item)

    def apply(
        self,
        station_id: str,
        tenant_id: str,
        report: StatusReport,
        on_change: Sequence[DomainEvent] = (),
    ) -> AppliedStatus:
        """`fold_report` as conditional writes, with no read first.

        The change (a first report, or a newer one with another status) goes in one
        transaction with its history item, so state and history never disagree. Failing
        that, the repeat (newer, same status) moves the report time and details. Failing
        both, the report is stale.
        """
        at = _timestamp_of(report)
        item = ConnectorStatusItem
        key = _status_key(report.status, report.detail)
        details = [
            _set_or_remove(item.error_code, report.error_code),
            _set_or_remove(item.info, report.info),
            _set_or_remove(item.vendor_error_code, report.vendor_error_code),
            item.reported_at.set(at),
        ]
        state = item(station_pk(station_id), _evse_sk(report.evse))
        seen = (station_id, report.evse)
        # A status this container last saw for the connector is probably a repeat: try the
        # cheap write first. Only the order of the attempts depends on this cache, never the
        # outcome: each write is conditional.
        likely_repeat = self._last_keys.get(seen) == key
        if likely_repeat and self._repeat(state, details, at, key):
            return AppliedStatus(outcome=StatusOutcome.REPEATED)
        try:
            with TransactWrite(connection=item._get_connection().connection) as tx:
                tx.update(
                    state,
                    actions=[
                        item.tenant_id.set(tenant_id),
                        item.evse_id.set(report.evse.evse_id),
                        item.connector_id.set(report.evse.connector_id),
                        item.status.set(report.status.value),
                        _set_or_remove(item.detail, report.detail.value if report.detail else None),
                        item.status_key.set(key),
                        item.since.set(at),
                        *details,
                    ],
                    condition=item.PK.does_not_exist()
                    | ((item.reported_at < at) & (item.status_key != key)),
                )
                history = _history_item(station_id, tenant_id, report)
                for name, value in _outbox_values(self._outbox, on_change).items():
                    setattr(history, name, value)
                tx.save(history)
        except TransactWriteError as exc:
            if not _is_conditional_failure(exc):
                raise
        else:
            self._remember(seen, key)
            return AppliedStatus(outcome=StatusOutcome.CHANGED)
        if not likely_repeat and self._repeat(state, details, at, key):
            self._remember(seen, key)
            return AppliedStatus(outcome=StatusOutcome.REPEATED)
        return AppliedStatus(outcome=StatusOutcome.STALE)

    @staticmethod
    def _repeat(state: ConnectorStatusItem, details: list[Any], at: datetime, key: str) -> bool:
        condition = (ConnectorStatusItem.reported_at < at) & (ConnectorStatusItem.status_key == key)
        try:
            state.update(actions=details, condition=condition)
        except UpdateError as exc:
            if not _is_conditional_failure(exc):
                raise
            return False
        return True

    def _remember(self, seen: tuple[str, EvseRef], key: str) -> None:
        self._last_keys[seen] = key
        if len(self._last_keys) > self._CACHE_SIZE:
            self._last_keys.pop(next(iter(self._last_keys)))

    def append_history(self, station_id: str, tenant_id: str, report: StatusReport) -> None:
        """One item per report; a retransmitted report overwrites itself."""
        _history_item(station_id, tenant_id, report).save()

    def history(self, station_id: str, limit: int = 1000) -> list[StatusReport]:
        """Kept reports, oldest first."""
        return [
            StatusReport(
                evse=EvseRef(evse_id=int(item.evse_id), connector_id=int(item.connector_id)),
                status=ConnectorStatus(item.status),
                detail=OccupancyDetail(item.detail) if item.detail else None,
                error_code=item.error_code,
                timestamp=datetime.fromisoformat(item.SK.split("#", 1)[0]),
            )
            for item in StatusHistoryItem.query(f"{station_pk(station_id)}#STATUS", limit=limit)
        ]

    def list(self, station_id: str) -> list[ConnectorState]:
        """All connectors in EVSE/connector order."""
        return [
            _connector_state(item)
            for item in ConnectorStatusItem.query(
                station_pk(station_id), ConnectorStatusItem.SK.startswith("EVSE#")
            )
        ]


def _timestamp_of(report: StatusReport) -> datetime:
    if report.timestamp is None:
        raise ValueError("the report needs its timestamp")
    return report.timestamp


def _history_item(station_id: str, tenant_id: str, report: StatusReport) -> StatusHistoryItem:
    at = _timestamp_of(report).astimezone(UTC).isoformat()
    return StatusHistoryItem(
        f"{station_pk(station_id)}#STATUS",
        f"{at}#{report.evse.evse_id:05d}#{report.evse.connector_id:05d}",
        tenant_id=tenant_id,
        evse_id=report.evse.evse_id,
        connector_id=report.evse.connector_id,
        status=report.status.value,
        detail=report.detail.value if report.detail else None,
        error_code=report.error_code,
    )


def _status_key(status: ConnectorStatus, detail: OccupancyDetail | None) -> str:
    # What counts as a change of status (ConnectorState.status_key), as one comparable string.
    return f"{status.value}|{detail.value if detail else ''}"


def _set_or_remove(attribute: Any, value: object) -> Any:
    return attribute.set(value) if value is not None else attribute.remove()


def _connector_state(item: ConnectorStatusItem) -> ConnectorState:
    return ConnectorState(
        evse=EvseRef(evse_id=int(item.evse_id), connector_id=int(item.connector_id)),
        status=ConnectorStatus(item.status),
        detail=OccupancyDetail(item.detail) if item.detail else None,
        error_code=item.error_code,
        info=item.info,
        vendor_error_code=item.vendor_error_code,
        since=item.since,
        reported_at=item.reported_at,
    )


class DynamoSeedRepository:
    """SeedRepository on the single table."""

    def put_site(self, tenant_id: str, site: Site) -> None:
        """Create the site, or give it the seed's name and limit; what the API added stays.

        A seed loaded again (every restart of the local runtime) writes nothing.
        """
        item = SiteItem
        limit = str(site.limit_kw)
        try:
            item(tenant_pk(tenant_id), f"SITE#{site.id}").update(
                actions=[
                    item.tenant_id.set(tenant_id),
                    item.name.set(site.name),
                    item.limit_kw.set(limit),
                    item.timezone.set(item.timezone | site.timezone),
                    item.version.set((item.version | 0) + 1),
                ],
                condition=item.PK.does_not_exist()
                | (item.name != site.name)
                | (item.limit_kw != limit),
            )
        except UpdateError as exc:
            if not _is_conditional_failure(exc):
                raise

    def put_token(self, tenant_id: str, token: IdToken) -> None:
        """Create or replace an id token."""
        _token_item(tenant_id, token, datetime.now(UTC)).save()


def _token_item(tenant_id: str, token: IdToken, at: datetime, version: int = 1) -> TokenItem:
    """The item of an id token, keyed by its case-insensitive value."""
    return TokenItem(
        tenant_pk(tenant_id),
        f"TOKEN#{token.key}",
        tenant_id=tenant_id,
        id_token=token.id_token,
        status=token.status.value,
        type=token.type.value if token.type else None,
        expires_at_time=token.expires_at,
        group_id=token.group_id,
        parent_id_token=token.parent_id_token,
        updated_at=at,
        version=version,
    )
