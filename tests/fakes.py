"""In-memory fakes of every service port, and builders. They pass the same contract tests as
the DynamoDB adapters (tests/contract/test_repository_contract.py)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from csms.domain.commands import CallState, Command, OutgoingCall
from csms.domain.connection import ConnectionBinding, ConnectionLogEntry
from csms.domain.connector import (
    AppliedStatus,
    ConnectorState,
    EvseRef,
    StatusOutcome,
    StatusReport,
    fold_report,
)
from csms.domain.errors import CallInProgressError, InvalidCursorError, StationOfflineError
from csms.domain.events import DomainEvent
from csms.domain.seed import IdToken, Site
from csms.domain.station import BootInfo, ProtocolVersion, RegistrationStatus, Station
from csms.services.ports import EncodedCall, Page

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@dataclass
class FixedClock:
    """A clock that moves only when told."""

    at: datetime = T0

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class SequentialIds:
    """id-1, id-2, ..."""

    def __init__(self, prefix: str = "id") -> None:
        self._counter = itertools.count(1)
        self._prefix = prefix

    def __call__(self) -> str:
        return f"{self._prefix}-{next(self._counter)}"


class PlainHasher:
    """A reversible stand-in for Argon2 (tests only): 'plain$' + password."""

    def __init__(self) -> None:
        self.verifications = 0

    def hash(self, password: str) -> str:
        return "plain$" + password

    def verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        return password_hash == "plain$" + password

    def decoy_hash(self) -> str:
        return "plain$\x00decoy"


def _page(items: list[Any], limit: int, cursor: str | None, key: str) -> Page[Any]:
    start = 0
    if cursor is not None:
        prefix, _, number = cursor.partition(":")
        if prefix != key or not number.isdigit():
            raise InvalidCursorError
        start = int(number)
    end = start + limit
    next_cursor = f"{key}:{end}" if end < len(items) else None
    return Page(items=items[start:end], next_cursor=next_cursor)


class InMemoryEventPublisher:
    """The bus as the fakes see it: events land here when the write they ride with happens."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def publish(self, events: Sequence[DomainEvent]) -> None:
        self.events.extend(events)

    def of_type(self, detail_type: str) -> list[DomainEvent]:
        return [e for e in self.events if e.detail_type == detail_type]


class InMemoryStationRepository:
    def __init__(self, outbox: InMemoryEventPublisher | None = None) -> None:
        self.outbox = outbox or InMemoryEventPublisher()
        self.stations: dict[str, Station] = {}
        self.bindings: dict[str, ConnectionBinding] = {}

    def get(self, station_id: str) -> Station | None:
        return self.stations.get(station_id)

    def register(self, station: Station) -> None:
        existing = self.stations.get(station.id)
        if existing is None:
            self.stations[station.id] = station
            return
        self.stations[station.id] = existing.model_copy(
            update={
                "tenant_id": station.tenant_id,
                "site_id": station.site_id,
                "password_hash": station.password_hash,
                "pinned_protocol": station.pinned_protocol,
            }
        )

    def list_for_tenant(
        self, tenant_id: str, limit: int, cursor: str | None = None
    ) -> Page[Station]:
        items = sorted(
            (s for s in self.stations.values() if s.tenant_id == tenant_id), key=lambda s: s.id
        )
        return _page(items, limit, cursor, f"stations-{tenant_id}")

    def bind(self, binding: ConnectionBinding) -> None:
        self.bindings[binding.connection_id] = binding
        station = self.stations[binding.station_id]
        self.stations[binding.station_id] = station.model_copy(
            update={
                "online": True,
                "protocol": binding.protocol,
                "connection_id": binding.connection_id,
                "connected_at": binding.connected_at,
            }
        )

    def lookup(self, connection_id: str) -> ConnectionBinding | None:
        return self.bindings.get(connection_id)

    def unbind(self, binding: ConnectionBinding, at: datetime) -> bool:
        self.bindings.pop(binding.connection_id, None)
        station = self.stations.get(binding.station_id)
        if station is None or station.connection_id != binding.connection_id:
            return False
        self.stations[binding.station_id] = station.model_copy(
            update={"online": False, "disconnected_at": at, "connection_id": None}
        )
        return True

    def record_boot(
        self,
        station_id: str,
        boot: BootInfo,
        status: RegistrationStatus,
        at: datetime,
        events: Sequence[DomainEvent] = (),
    ) -> None:
        station = self.stations[station_id]
        self.stations[station_id] = station.model_copy(
            update={"boot": boot, "registration_status": status, "last_boot_at": at}
        )
        self.outbox.publish(events)


class InMemoryConnectionLog:
    def __init__(self, outbox: InMemoryEventPublisher | None = None) -> None:
        self.outbox = outbox or InMemoryEventPublisher()
        self.entries: list[ConnectionLogEntry] = []

    def append(self, entry: ConnectionLogEntry, events: Sequence[DomainEvent] = ()) -> None:
        self.entries.append(entry)
        self.outbox.publish(events)

    def list(
        self, station_id: str, limit: int, cursor: str | None = None
    ) -> Page[ConnectionLogEntry]:
        items = sorted(
            (e for e in self.entries if e.station_id == station_id),
            key=lambda e: e.at,
            reverse=True,
        )
        return _page(items, limit, cursor, f"log-{station_id}")


class InMemoryConnectorStatusRepository:
    def __init__(self, outbox: InMemoryEventPublisher | None = None) -> None:
        self.outbox = outbox or InMemoryEventPublisher()
        self.states: dict[tuple[str, EvseRef], ConnectorState] = {}
        self.history_items: dict[tuple[str, datetime, EvseRef], StatusReport] = {}

    def get(self, station_id: str, evse: EvseRef) -> ConnectorState | None:
        return self.states.get((station_id, evse))

    def apply(
        self,
        station_id: str,
        tenant_id: str,
        report: StatusReport,
        on_change: Sequence[DomainEvent] = (),
    ) -> AppliedStatus:
        assert report.timestamp is not None
        held = self.states.get((station_id, report.evse))
        applied, state = fold_report(report, held, report.timestamp)
        if state is not None:
            self.states[(station_id, report.evse)] = state
        if applied.outcome is StatusOutcome.CHANGED:
            self.append_history(station_id, tenant_id, report)
            self.outbox.publish(on_change)
        return applied

    def append_history(self, station_id: str, tenant_id: str, report: StatusReport) -> None:
        del tenant_id
        assert report.timestamp is not None
        # Keyed like the table's history items: a retransmitted report overwrites itself.
        self.history_items[(station_id, report.timestamp, report.evse)] = report

    def history(self, station_id: str, limit: int = 1000) -> list[StatusReport]:
        kept = sorted(
            (key for key in self.history_items if key[0] == station_id),
            key=lambda key: (key[1], key[2].evse_id, key[2].connector_id),
        )
        return [self.history_items[key] for key in kept[:limit]]

    def list(self, station_id: str) -> list[ConnectorState]:
        return sorted(
            (s for (sid, _), s in self.states.items() if sid == station_id),
            key=lambda s: (s.evse.evse_id, s.evse.connector_id),
        )


class InMemoryCallRepository:
    def __init__(self) -> None:
        self.calls: dict[tuple[str, str], OutgoingCall] = {}
        self.slots: dict[str, OutgoingCall] = {}

    def open(self, call: OutgoingCall, now: datetime) -> None:
        holder = self.slots.get(call.station_id)
        if holder is not None and holder.deadline > now:
            record = self.calls.get((call.station_id, holder.unique_id))
            if record is not None and record.state is CallState.PENDING:
                raise CallInProgressError(call.station_id, holder.unique_id)
        self.slots[call.station_id] = call
        self.calls[(call.station_id, call.unique_id)] = call

    def get(self, station_id: str, unique_id: str) -> OutgoingCall | None:
        return self.calls.get((station_id, unique_id))

    def close(self, call: OutgoingCall) -> bool:
        current = self.calls.get((call.station_id, call.unique_id))
        if current is None or current.state is not CallState.PENDING:
            return False
        self.calls[(call.station_id, call.unique_id)] = call
        return True


@dataclass
class InMemoryFrameSender:
    sent: list[tuple[str, str]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    activity: dict[str, datetime] = field(default_factory=dict)

    def send(self, connection_id: str, frame: str) -> None:
        if connection_id in self.gone:
            raise StationOfflineError(connection_id)
        self.sent.append((connection_id, frame))

    def last_active_at(self, connection_id: str) -> datetime | None:
        if connection_id in self.gone:
            return None
        return self.activity.get(connection_id)


class InMemorySeedRepository:
    def __init__(self) -> None:
        self.sites: dict[tuple[str, str], Site] = {}
        self.tokens: dict[tuple[str, str], IdToken] = {}

    def put_site(self, tenant_id: str, site: Site) -> None:
        self.sites[(tenant_id, site.id)] = site

    def put_token(self, tenant_id: str, token: IdToken) -> None:
        self.tokens[(tenant_id, token.id_token)] = token


class StubEncoder:
    """CallEncoder that needs no OCPP layer."""

    def encode(self, protocol: ProtocolVersion, unique_id: str, command: Command) -> EncodedCall:
        payload = command.model_dump(mode="json", exclude={"action"})
        return EncodedCall(action=command.action, payload=payload, frame=f"{protocol}:{unique_id}")


def a_station(**over: Any) -> Station:
    """A registered station, password 'secret-password'."""
    values: dict[str, Any] = {
        "id": "CP-1",
        "tenant_id": "tenant-a",
        "site_id": "site-1",
        "password_hash": "plain$secret-password",
    }
    values.update(over)
    return Station(**values)


def a_binding(**over: Any) -> ConnectionBinding:
    """A live connection of CP-1 (tenant-a) over 2.0.1."""
    values: dict[str, Any] = {
        "connection_id": "conn-1",
        "station_id": "CP-1",
        "tenant_id": "tenant-a",
        "protocol": ProtocolVersion.OCPP201,
        "connected_at": T0,
    }
    values.update(over)
    return ConnectionBinding(**values)
