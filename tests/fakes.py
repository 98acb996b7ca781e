"""In-memory fakes of every service port, and builders. They pass the same contract tests as
the DynamoDB adapters (tests/contract/test_repository_contract.py)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
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
from csms.domain.errors import (
    CallInProgressError,
    DuplicateChunkError,
    InvalidCursorError,
    StaleSessionError,
    StationOfflineError,
)
from csms.domain.events import DomainEvent
from csms.domain.meter import Reading
from csms.domain.seed import Site
from csms.domain.sessions import MeterChunk, Session, SessionState
from csms.domain.station import BootInfo, ProtocolVersion, RegistrationStatus, Station
from csms.domain.tokens import IdToken, token_key
from csms.services.ports import (
    AuthorizationRecord,
    EncodedCall,
    Page,
    SessionQuery,
    SessionSnapshot,
)

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
        self.boot_messages: dict[str, str] = {}

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
        *,
        events: Sequence[DomainEvent] = (),
        message_id: str | None = None,
    ) -> bool:
        if message_id is not None and self.boot_messages.get(station_id) == message_id:
            return False
        station = self.stations[station_id]
        self.stations[station_id] = station.model_copy(
            update={"boot": boot, "registration_status": status, "last_boot_at": at}
        )
        if message_id is not None:
            self.boot_messages[station_id] = message_id
        self.outbox.publish(events)
        return True


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
    def __init__(self, tokens: InMemoryTokenRepository | None = None) -> None:
        self.sites: dict[tuple[str, str], Site] = {}
        self.tokens: dict[tuple[str, str], IdToken] = {}
        self._token_repo = tokens

    def put_site(self, tenant_id: str, site: Site) -> None:
        self.sites[(tenant_id, site.id)] = site

    def put_token(self, tenant_id: str, token: IdToken) -> None:
        self.tokens[(tenant_id, token.id_token)] = token
        if self._token_repo is not None:
            self._token_repo.replace(tenant_id, token, T0)


# --- sessions ---


class InMemoryTokenRepository:
    def __init__(self) -> None:
        self.tokens: dict[tuple[str, str], IdToken] = {}

    def get(self, tenant_id: str, value: str) -> IdToken | None:
        return self.tokens.get((tenant_id, token_key(value)))

    def create(self, tenant_id: str, token: IdToken, at: datetime) -> bool:
        if (tenant_id, token.key) in self.tokens:
            return False
        self.tokens[(tenant_id, token.key)] = token
        return True

    def replace(self, tenant_id: str, token: IdToken, at: datetime) -> None:
        self.tokens[(tenant_id, token.key)] = token

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> Page[IdToken]:
        items = [t for (tenant, key), t in sorted(self.tokens.items()) if tenant == tenant_id]
        return _page(items, limit, cursor, f"tokens/{tenant_id}")


class InMemorySessionRepository:
    """Sessions with the same conditional-write semantics as the DynamoDB adapter."""

    def __init__(self, outbox: InMemoryEventPublisher | None = None) -> None:
        self.outbox = outbox or InMemoryEventPublisher()
        self.sessions: dict[str, Session] = {}
        self.chunk_store: dict[str, dict[str, MeterChunk]] = {}
        self.starts: dict[tuple[str, str], str] = {}
        # (station, unique id # token key) -> the record
        self.authorizations: dict[tuple[str, str], AuthorizationRecord] = {}
        self.station_readings: list[tuple[str, str, EvseRef, Reading]] = []
        self.counter = 0
        self.writes = 0
        # Called before each conditional write: tests make another writer win the race.
        self.before_write: Callable[[], None] | None = None

    def _race(self) -> None:
        hook, self.before_write = self.before_write, None
        if hook is not None:
            hook()

    def load(self, session_id: str) -> SessionSnapshot:
        chunks = self.chunk_store.get(session_id, {})
        newest = chunks[max(chunks)] if chunks else None
        return SessionSnapshot(session=self.sessions.get(session_id), newest=newest)

    def next_transaction_number(self) -> int:
        self.counter += 1
        return self.counter

    def find_start(self, station_id: str, start_key: str) -> str | None:
        return self.starts.get((station_id, start_key))

    def create(
        self,
        session: Session,
        *,
        chunk: MeterChunk | None = None,
        start_key: str | None = None,
        events: Sequence[DomainEvent] = (),
    ) -> bool:
        self._race()
        if session.id in self.sessions:
            return False
        if start_key is not None and (session.station_id, start_key) in self.starts:
            return False
        if chunk is not None and chunk.key in self.chunk_store.get(session.id, {}):
            raise DuplicateChunkError(session.id, chunk.key)
        self.sessions[session.id] = session.model_copy(update={"version": 1})
        if start_key is not None:
            self.starts[(session.station_id, start_key)] = session.id
        if chunk is not None:
            self.chunk_store.setdefault(session.id, {})[chunk.key] = chunk
        self.writes += 1
        self.outbox.publish(events)
        return True

    def save(
        self,
        session: Session,
        *,
        chunk: MeterChunk | None = None,
        events: Sequence[DomainEvent] = (),
    ) -> None:
        self._race()
        current = self.sessions.get(session.id)
        if current is None or current.version != session.version:
            raise StaleSessionError(session.id)
        if chunk is not None and chunk.key in self.chunk_store.get(session.id, {}):
            raise DuplicateChunkError(session.id, chunk.key)
        self.sessions[session.id] = session.model_copy(update={"version": session.version + 1})
        if chunk is not None:
            self.chunk_store.setdefault(session.id, {})[chunk.key] = chunk
        self.writes += 1
        self.outbox.publish(events)

    def add_chunk(
        self, tenant_id: str, chunk: MeterChunk, events: Sequence[DomainEvent] = ()
    ) -> bool:
        self._race()
        chunks = self.chunk_store.setdefault(chunk.session_id, {})
        if chunk.key in chunks:
            return False
        chunks[chunk.key] = chunk
        self.writes += 1
        self.outbox.publish(events)
        return True

    def chunks(self, session_id: str, limit: int, cursor: str | None = None) -> Page[MeterChunk]:
        chunks = self.chunk_store.get(session_id, {})
        return _page([chunks[k] for k in sorted(chunks)], limit, cursor, f"chunks/{session_id}")

    def get(self, session_id: str) -> Session | None:
        return self.sessions.get(session_id)

    def active_for_token(self, tenant_id: str, token_value: str) -> list[Session]:
        key = token_key(token_value)
        return [
            s
            for s in self.sessions.values()
            if s.tenant_id == tenant_id
            and s.state is SessionState.ACTIVE
            and s.id_token is not None
            and token_key(s.id_token) == key
        ]

    def list(
        self, tenant_id: str, query: SessionQuery, limit: int, cursor: str | None = None
    ) -> Page[Session]:
        def keep(s: Session) -> bool:
            start = s.started_at or s.updated_at
            return (
                s.tenant_id == tenant_id
                and query.station_id in (None, s.station_id)
                and query.site_id in (None, s.site_id)
                and query.group_id in (None, s.group_id)
                and query.state in (None, s.state)
                and (
                    query.id_token is None
                    or (
                        s.id_token is not None
                        and token_key(s.id_token) == token_key(query.id_token)
                    )
                )
                and (query.started_from is None or start >= query.started_from)
                and (query.started_to is None or start < query.started_to)
            )

        found = sorted(
            (s for s in self.sessions.values() if keep(s)),
            key=lambda s: (s.started_at or s.updated_at, s.id),
            reverse=True,
        )
        return _page(found, limit, cursor, f"sessions/{tenant_id}")

    def open_sessions(self, limit: int, cursor: str | None = None) -> Page[Session]:
        found = sorted(
            (s for s in self.sessions.values() if s.state is SessionState.ACTIVE),
            key=lambda s: (s.started_at or s.updated_at, s.id),
        )
        return _page(found, limit, cursor, "open")

    def record_authorization(
        self, record: AuthorizationRecord, events: Sequence[DomainEvent] = ()
    ) -> bool:
        key = (record.station_id, f"{record.unique_id}#{record.token.key}")
        if key in self.authorizations:
            return False
        self.authorizations[key] = record
        self.outbox.publish(events)
        return True

    def put_station_readings(
        self, tenant_id: str, station_id: str, evse: EvseRef, readings: Sequence[Reading]
    ) -> None:
        for reading in readings:
            entry = (tenant_id, station_id, evse, reading)
            if entry not in self.station_readings:
                self.station_readings.append(entry)


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


# --- notifications ---
# A section of its own (imports too), so that it merges cleanly with the fakes above.
from csms.domain.notifications import ChargingNeeds, NoteKind, StationNote  # noqa: E402


class InMemoryStationNoteRepository:
    def __init__(self) -> None:
        self.notes: dict[tuple[str, NoteKind, datetime, str], StationNote] = {}
        self.latest_notes: dict[tuple[str, NoteKind], StationNote] = {}
        self.tenants: dict[str, str] = {}

    def record(self, station_id: str, tenant_id: str, note: StationNote) -> bool:
        held = self.latest_notes.get((station_id, note.kind))
        if held is not None and note.is_retransmission_of(held):
            return False
        # Keyed like the table's note items: kind, time, fingerprint.
        self.notes[(station_id, note.kind, note.at, note.fingerprint)] = note
        self.latest_notes[(station_id, note.kind)] = note.without_detail()
        self.tenants[station_id] = tenant_id
        return True

    def latest(self, station_id: str, kind: NoteKind) -> StationNote | None:
        return self.latest_notes.get((station_id, kind))

    def list(
        self, station_id: str, kind: NoteKind, limit: int, cursor: str | None = None
    ) -> Page[StationNote]:
        keys = sorted(
            (key for key in self.notes if key[:2] == (station_id, kind)),
            key=lambda key: (key[2], key[3]),
            reverse=True,
        )
        return _page([self.notes[key] for key in keys], limit, cursor, f"notes-{station_id}-{kind}")


class InMemoryChargingNeedsRepository:
    def __init__(self) -> None:
        self.needs: dict[tuple[str, int], ChargingNeeds] = {}
        self.tenants: dict[str, str] = {}

    def put(self, station_id: str, tenant_id: str, needs: ChargingNeeds) -> bool:
        if needs.received_at is None:
            raise ValueError("the needs need their received_at")
        held = self.needs.get((station_id, needs.evse_id))
        held_at = held.received_at if held is not None else None
        if held_at is not None and held_at > needs.received_at:
            return False
        if (
            held is not None
            and needs.message_id is not None
            and held.message_id == needs.message_id
        ):
            return False
        self.needs[(station_id, needs.evse_id)] = needs
        self.tenants[station_id] = tenant_id
        return True

    def get(self, station_id: str, evse_id: int) -> ChargingNeeds | None:
        return self.needs.get((station_id, evse_id))

    def list(self, station_id: str) -> list[ChargingNeeds]:
        return [self.needs[key] for key in sorted(k for k in self.needs if k[0] == station_id)]
