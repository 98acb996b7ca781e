"""In-memory fakes of every service port, and builders. They pass the same contract tests as
the DynamoDB adapters (tests/contract/test_repository_contract.py)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from csms.domain.command_records import CommandRecord, CommandState, QueuedCommand
from csms.domain.commands import Command
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
    StationNotFoundError,
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
    SiteRef,
    StationQuery,
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

    def create(self, station: Station) -> bool:
        if station.id in self.stations:
            return False
        self.stations[station.id] = station
        return True

    _MANAGED = (
        "name",
        "site_id",
        "state",
        "password_hash",
        "previous_password_hash",
        "previous_password_until",
        "pinned_protocol",
        "decommissioned_at",
    )

    def save(self, station: Station, expected_version: int) -> bool:
        current = self.stations.get(station.id)
        if current is None or current.version != expected_version:
            return False
        managed = {name: getattr(station, name) for name in self._MANAGED}
        self.stations[station.id] = current.model_copy(
            update={**managed, "version": expected_version + 1}
        )
        return True

    def set_trace(self, station_id: str, until: datetime | None) -> None:
        station = self.stations.get(station_id)
        if station is None:
            raise StationNotFoundError(station_id)
        self.stations[station_id] = station.model_copy(update={"trace_until": until})
        binding = self.bindings.get(station.connection_id or "")
        if station.online and binding is not None:
            self.bindings[binding.connection_id] = binding.model_copy(update={"trace_until": until})

    def bind(self, binding: ConnectionBinding, *, clear_previous_password: bool = False) -> None:
        self.bindings[binding.connection_id] = binding
        station = self.stations[binding.station_id]
        cleared: dict[str, Any] = (
            {"previous_password_hash": None, "previous_password_until": None}
            if clear_previous_password
            else {}
        )
        self.stations[binding.station_id] = station.model_copy(
            update={
                "online": True,
                "protocol": binding.protocol,
                "connection_id": binding.connection_id,
                "connected_at": binding.connected_at,
                **cleared,
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

    def list(
        self, tenant_id: str, query: StationQuery, limit: int, cursor: str | None = None
    ) -> Page[Station]:
        items = sorted(
            (s for s in self.stations.values() if s.tenant_id == tenant_id and query.matches(s)),
            key=lambda s: s.id,
            reverse=query.descending,
        )
        return _page(items, limit, cursor, f"stations-{tenant_id}-{query.site_id or ''}")

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
    """Records by (station, id) in insertion order; the queue ordered by when a command joined."""

    def __init__(self) -> None:
        self.calls: dict[tuple[str, str], CommandRecord] = {}
        self.slots: dict[str, CommandRecord] = {}
        self.queue: dict[tuple[str, str], Command] = {}
        self.list_versions: dict[str, int] = {}
        # The order of creation, as the table orders command ids (they sort by time).
        self._order: dict[tuple[str, str], int] = {}
        self.heads_read = 0

    def add(self, record: CommandRecord, command: Command | None = None) -> None:
        key = (record.station_id, record.id)
        assert key not in self.calls
        self.calls[key] = record
        self._order.setdefault(key, len(self._order))
        if record.state is CommandState.QUEUED and command is not None:
            self.queue[key] = command

    def open(self, record: CommandRecord, now: datetime, *, from_queue: bool = False) -> bool:
        key = (record.station_id, record.id)
        if from_queue and (
            key not in self.calls or self.calls[key].state is not CommandState.QUEUED
        ):
            return False
        holder = self.slots.get(record.station_id)
        if holder is not None and holder.deadline is not None and holder.deadline > now:
            current = self.calls.get((record.station_id, holder.id))
            if current is not None and current.state is CommandState.PENDING:
                raise CallInProgressError(record.station_id, holder.id)
        self.slots[record.station_id] = record
        self.calls[key] = record
        self._order.setdefault(key, len(self._order))
        self.queue.pop(key, None)
        return True

    def requeue(self, record: CommandRecord, command: Command) -> bool:
        key = (record.station_id, record.id)
        if self.calls[key].state is not CommandState.PENDING:
            return False
        self.calls[key] = record
        self.queue[key] = command
        return True

    def close(self, record: CommandRecord) -> bool:
        current = self.calls.get((record.station_id, record.id))
        if current is None or current.state is not CommandState.PENDING:
            return False
        self.calls[(record.station_id, record.id)] = record
        return True

    def drop(self, record: CommandRecord) -> bool:
        key = (record.station_id, record.id)
        current = self.calls.get(key)
        if current is None or current.state is not CommandState.QUEUED:
            return False
        self.calls[key] = record
        self.queue.pop(key, None)
        return True

    def get(self, station_id: str, command_id: str) -> CommandRecord | None:
        return self.calls.get((station_id, command_id))

    def _queued(self, station_id: str) -> list[tuple[str, str]]:
        keys = [k for k in self.queue if k[0] == station_id]
        return sorted(keys, key=lambda k: self._order[k])

    def head(self, station_id: str) -> QueuedCommand | None:
        self.heads_read += 1
        keys = self._queued(station_id)
        if not keys:
            return None
        return QueuedCommand(record=self.calls[keys[0]], command=self.queue[keys[0]])

    def has_queued(self, station_id: str) -> bool:
        return bool(self._queued(station_id))

    def history(
        self,
        station_id: str,
        limit: int,
        cursor: str | None = None,
        keep: Callable[[CommandRecord], bool] | None = None,
    ) -> Page[CommandRecord]:
        keys = sorted((k for k in self.calls if k[0] == station_id), key=lambda k: -self._order[k])
        records = [self.calls[k] for k in keys]
        kept = [r for r in records if keep is None or keep(r)]
        return _page(kept, limit, cursor, f"cmd-{station_id}")

    def next_list_version(self, station_id: str) -> int:
        self.list_versions[station_id] = self.list_versions.get(station_id, 0) + 1
        return self.list_versions[station_id]


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
        self.tokens[(tenant_id, token.key)] = token.model_copy(update={"version": 1})
        return True

    def replace(self, tenant_id: str, token: IdToken, at: datetime) -> bool:
        stored = self.tokens.get((tenant_id, token.key))
        if stored is None or stored.version != token.version:
            return False
        self.tokens[(tenant_id, token.key)] = token.model_copy(
            update={"version": token.version + 1}
        )
        return True

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


# --- station management and the live view ---
# A section of its own, so that it merges cleanly with the fakes above.


class InMemorySiteDirectory:
    """Sites by (tenant, id)."""

    def __init__(self) -> None:
        self.refs: dict[tuple[str, str], SiteRef] = {}

    def add(self, tenant_id: str, site: SiteRef) -> None:
        self.refs[(tenant_id, site.id)] = site

    def site(self, tenant_id: str, site_id: str) -> SiteRef | None:
        return self.refs.get((tenant_id, site_id))

    def sites(self, tenant_id: str, limit: int, after: str | None = None) -> list[SiteRef]:
        ids = sorted(i for t, i in self.refs if t == tenant_id and (after is None or i > after))
        return [self.refs[(tenant_id, i)] for i in ids[:limit]]


class RecordingCloser:
    """A ConnectionCloser that remembers what it closed."""

    def __init__(self) -> None:
        self.closed: list[str] = []

    def disconnect(self, connection_id: str) -> None:
        self.closed.append(connection_id)


# --- tenancy: sites, driver groups, vehicles, users, tenant profile ---
# A section of its own (imports too), so that it merges cleanly with the fakes above.
from csms.domain.errors import (  # noqa: E402
    InvalidReferenceError,
    LastOwnerError,
    ResourceExistsError,
    UserDirectoryError,
)
from csms.domain.tenancy import DriverGroup, TenantProfile, User, Vehicle  # noqa: E402


class _InMemoryRecords:
    """Versioned records by (tenant, id), with the adapters' conditional-write semantics."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.records: dict[tuple[str, str], Any] = {}

    def get(self, tenant_id: str, record_id: str) -> Any:
        return self.records.get((tenant_id, record_id))

    def create(self, tenant_id: str, record: Any) -> bool:
        if (tenant_id, record.id) in self.records:
            return False
        self.records[(tenant_id, record.id)] = record
        return True

    def replace(self, tenant_id: str, record: Any, expected_version: int) -> bool:
        held = self.records.get((tenant_id, record.id))
        if held is None or held.version != expected_version:
            return False
        self.records[(tenant_id, record.id)] = record
        return True

    def delete(self, tenant_id: str, record_id: str, expected_version: int) -> bool:
        held = self.records.get((tenant_id, record_id))
        if held is None or held.version != expected_version:
            return False
        del self.records[(tenant_id, record_id)]
        return True

    def list(
        self, tenant_id: str, limit: int, cursor: str | None, keep: Callable[[Any], bool]
    ) -> Page[Any]:
        items = [r for (t, _), r in sorted(self.records.items()) if t == tenant_id and keep(r)]
        return _page(items, limit, cursor, f"{self.name}/{tenant_id}")


class InMemorySiteRepository:
    def __init__(self) -> None:
        self.store = _InMemoryRecords("sites")
        # (tenant, site) pairs with an assigned station, as GSI2 would show them.
        self.with_stations: set[tuple[str, str]] = set()

    def get_site(self, tenant_id: str, site_id: str) -> Site | None:
        site: Site | None = self.store.get(tenant_id, site_id)
        return site

    def create_site(self, tenant_id: str, site: Site) -> bool:
        return self.store.create(tenant_id, site)

    def replace_site(self, tenant_id: str, site: Site, expected_version: int) -> bool:
        return self.store.replace(tenant_id, site, expected_version)

    def delete_site(self, tenant_id: str, site_id: str, expected_version: int) -> bool:
        return self.store.delete(tenant_id, site_id, expected_version)

    def list_sites(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        only: frozenset[str] | None = None,
    ) -> Page[Site]:
        return self.store.list(
            tenant_id, limit, cursor, lambda site: only is None or site.id in only
        )

    def site_has_stations(self, tenant_id: str, site_id: str) -> bool:
        return (tenant_id, site_id) in self.with_stations


class InMemoryGroupRepository:
    def __init__(self) -> None:
        self.store = _InMemoryRecords("groups")

    def get_group(self, tenant_id: str, group_id: str) -> DriverGroup | None:
        group: DriverGroup | None = self.store.get(tenant_id, group_id)
        return group

    def create_group(self, tenant_id: str, group: DriverGroup) -> bool:
        return self.store.create(tenant_id, group)

    def replace_group(self, tenant_id: str, group: DriverGroup, expected_version: int) -> bool:
        return self.store.replace(tenant_id, group, expected_version)

    def delete_group(self, tenant_id: str, group_id: str, expected_version: int) -> bool:
        return self.store.delete(tenant_id, group_id, expected_version)

    def list_groups(
        self, tenant_id: str, limit: int, cursor: str | None = None
    ) -> Page[DriverGroup]:
        return self.store.list(tenant_id, limit, cursor, lambda _: True)


class InMemoryVehicleRepository:
    def __init__(self, groups: InMemoryGroupRepository) -> None:
        self.store = _InMemoryRecords("vehicles")
        self._groups = groups

    def _check_group(self, tenant_id: str, vehicle: Vehicle) -> None:
        if self._groups.get_group(tenant_id, vehicle.group_id) is None:
            raise InvalidReferenceError("groupId", "group", vehicle.group_id)

    def get_vehicle(self, tenant_id: str, vehicle_id: str) -> Vehicle | None:
        vehicle: Vehicle | None = self.store.get(tenant_id, vehicle_id)
        return vehicle

    def create_vehicle(self, tenant_id: str, vehicle: Vehicle) -> bool:
        self._check_group(tenant_id, vehicle)
        return self.store.create(tenant_id, vehicle)

    def replace_vehicle(self, tenant_id: str, vehicle: Vehicle, expected_version: int) -> bool:
        self._check_group(tenant_id, vehicle)
        return self.store.replace(tenant_id, vehicle, expected_version)

    def delete_vehicle(self, tenant_id: str, vehicle_id: str, expected_version: int) -> bool:
        return self.store.delete(tenant_id, vehicle_id, expected_version)

    def list_vehicles(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        group_id: str | None = None,
    ) -> Page[Vehicle]:
        return self.store.list(
            tenant_id, limit, cursor, lambda v: group_id is None or v.group_id == group_id
        )

    def group_in_use(self, tenant_id: str, group_id: str) -> bool:
        return any(
            t == tenant_id and v.group_id == group_id for (t, _), v in self.store.records.items()
        )


class InMemoryUserRepository:
    def __init__(self) -> None:
        self.store = _InMemoryRecords("users")

    def get_user(self, tenant_id: str, user_id: str) -> User | None:
        user: User | None = self.store.get(tenant_id, user_id)
        return user

    def _owner_stays(self, tenant_id: str, user: User | None, previous: User) -> None:
        if previous.active_owner and not (user is not None and user.active_owner):
            held = self.get_user(tenant_id, previous.id)
            current = held is not None and held.version == previous.version
            if current and self.active_owners(tenant_id) <= 1:
                raise LastOwnerError(previous.id)

    def create_user(self, tenant_id: str, user: User) -> bool:
        return self.store.create(tenant_id, user)

    def replace_user(
        self, tenant_id: str, user: User, previous: User, *, undo: bool = False
    ) -> bool:
        if not undo:
            self._owner_stays(tenant_id, user, previous)
        return self.store.replace(tenant_id, user, previous.version)

    def delete_user(self, tenant_id: str, previous: User, *, undo: bool = False) -> bool:
        if not undo:
            self._owner_stays(tenant_id, None, previous)
        return self.store.delete(tenant_id, previous.id, previous.version)

    def list_users(self, tenant_id: str, limit: int, cursor: str | None = None) -> Page[User]:
        return self.store.list(tenant_id, limit, cursor, lambda _: True)

    def active_owners(self, tenant_id: str) -> int:
        return sum(
            1 for (t, _), u in self.store.records.items() if t == tenant_id and u.active_owner
        )


class InMemoryTenantProfileRepository:
    def __init__(self) -> None:
        self.profiles: dict[str, TenantProfile] = {}

    def get_profile(self, tenant_id: str) -> TenantProfile | None:
        return self.profiles.get(tenant_id)

    def put_profile(self, tenant_id: str, profile: TenantProfile, expected_version: int) -> bool:
        held = self.profiles.get(tenant_id)
        if (held.version if held is not None else 0) != expected_version:
            return False
        self.profiles[tenant_id] = profile
        return True


class RecordingUserDirectory:
    """A UserDirectory that remembers its calls and refuses the operations named in `fail`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []  # (operation, user id, status or role)
        self.fail: set[str] = set()
        self.existing: set[str] = set()  # ids the directory already knows

    def _refuse(self, operation: str) -> None:
        if operation in self.fail:
            raise UserDirectoryError(f"{operation} refused")

    def create(self, tenant_id: str, user: User) -> None:
        self._refuse("create")
        if user.id in self.existing:
            raise ResourceExistsError("user", user.id)
        self.calls.append(("create", user.id, user.role.value))

    def update(self, tenant_id: str, before: User, after: User) -> None:
        self._refuse("update")
        self.calls.append(("update", after.id, f"{after.role.value}/{after.status.value}"))

    def delete(self, tenant_id: str, user: User) -> None:
        self._refuse("delete")
        self.calls.append(("delete", user.id, user.role.value))


# --- load management ---
# A section of its own (imports too), so that it merges cleanly with the fakes above.
from csms.domain.load.allocation import Allocation  # noqa: E402
from csms.domain.load.config import SiteLoadConfig  # noqa: E402
from csms.domain.load.inputs import Reading as LoadReading  # noqa: E402
from csms.domain.load.needs import DeclaredNeeds  # noqa: E402
from csms.services.ports import (  # noqa: E402
    LOAD_READINGS_KEPT,
    Clock,
    LoadState,
    ManagedSite,
)


class InMemoryLoadRepository:
    """LoadRepository in memory; expiry is judged by `clock` (the real time when left out).

    `bus` receives the events of every write that succeeds, as the outbox relay would.
    """

    def __init__(
        self, clock: Clock | None = None, bus: InMemoryEventPublisher | None = None
    ) -> None:
        self.clock = clock
        self.bus = bus if bus is not None else InMemoryEventPublisher()
        self.configs: dict[tuple[str, str], SiteLoadConfig] = {}
        self.allocations: dict[tuple[str, str], Allocation] = {}
        self.revisions: dict[tuple[str, str], int] = {}
        # (tenant, site) -> (kind, at) -> (reading, expires_at)
        self.readings: dict[
            tuple[str, str], dict[tuple[str, datetime], tuple[LoadReading, datetime]]
        ] = {}
        # (tenant, site) -> session id -> (needs, expires_at)
        self.needs: dict[tuple[str, str], dict[str, tuple[DeclaredNeeds, datetime]]] = {}
        self.writes = 0

    def _now(self) -> datetime:
        return self.clock.now() if self.clock is not None else datetime.now(UTC)

    def _publish(self, events: Sequence[DomainEvent]) -> None:
        self.writes += 1
        if events:
            self.bus.publish(events)

    def state(self, tenant_id: str, site_id: str) -> LoadState:
        key, now = (tenant_id, site_id), self._now()
        kept = [r for r, until in self.readings.get(key, {}).values() if until > now]
        kept.sort(key=lambda r: r.at, reverse=True)
        per_kind: dict[str, int] = {}
        newest: list[LoadReading] = []
        for reading in kept:
            per_kind[reading.kind] = per_kind.get(reading.kind, 0) + 1
            if per_kind[reading.kind] <= LOAD_READINGS_KEPT:
                newest.append(reading)
        needs = {s: n for s, (n, until) in self.needs.get(key, {}).items() if until > now}
        return LoadState(
            config=self.configs.get(key),
            allocation=self.allocations.get(key),
            readings=tuple(newest),
            needs=needs,
            allocation_revision=self.revisions.get(key, 0),
        )

    def put_config(
        self,
        tenant_id: str,
        config: SiteLoadConfig,
        expected_version: int | None,
        events: Sequence[DomainEvent] = (),
    ) -> bool:
        if config.version != (expected_version or 0) + 1:
            raise ValueError("the configuration's version must be the expected one + 1")
        key = (tenant_id, config.site_id)
        held = self.configs.get(key)
        if (held.version if held is not None else None) != expected_version:
            return False
        self.configs[key] = config
        self._publish(events)
        return True

    def delete_config(
        self,
        tenant_id: str,
        site_id: str,
        expected_version: int,
        events: Sequence[DomainEvent] = (),
    ) -> bool:
        held = self.configs.get((tenant_id, site_id))
        if held is None or held.version != expected_version:
            return False
        del self.configs[(tenant_id, site_id)]
        self._publish(events)
        return True

    def add_readings(
        self,
        tenant_id: str,
        site_id: str,
        readings: Sequence[LoadReading],
        expires_at: datetime,
        events: Sequence[DomainEvent] = (),
    ) -> None:
        held = self.readings.setdefault((tenant_id, site_id), {})
        for reading in readings:
            held[(reading.kind, reading.at)] = (reading, expires_at)
        for kind in {reading.kind for reading in readings}:
            of_kind = sorted((k for k in held if k[0] == kind), key=lambda k: k[1], reverse=True)
            for old in of_kind[LOAD_READINGS_KEPT:]:
                del held[old]
        self._publish(events)

    def put_needs(
        self,
        tenant_id: str,
        site_id: str,
        needs: DeclaredNeeds,
        expires_at: datetime,
        events: Sequence[DomainEvent] = (),
    ) -> None:
        self.needs.setdefault((tenant_id, site_id), {})[needs.session_id] = (needs, expires_at)
        self._publish(events)

    def put_allocation(
        self, tenant_id: str, allocation: Allocation, expected_revision: int
    ) -> bool:
        key = (tenant_id, allocation.site_id)
        if self.revisions.get(key, 0) != expected_revision:
            return False
        self.allocations[key] = allocation
        self.revisions[key] = expected_revision + 1
        self.writes += 1
        return True

    def delete_allocation(self, tenant_id: str, site_id: str, expected_revision: int) -> bool:
        key = (tenant_id, site_id)
        if self.revisions.get(key, 0) != expected_revision:
            return False
        self.allocations.pop(key, None)
        self.revisions.pop(key, None)
        self.writes += 1
        return True

    def managed_sites(self, limit: int, cursor: str | None = None) -> Page[ManagedSite]:
        sites = [ManagedSite(tenant_id=t, site_id=s) for t, s in sorted(self.configs)]
        return _page(sites, limit, cursor, "load-sites")


# -- tariffs and tariff assignments -------------------------------------------------------------

from csms.domain.billing.assignment import TariffAssignment  # noqa: E402
from csms.domain.errors import ResourceInUseError  # noqa: E402
from csms.services.tariffs import TariffVersion  # noqa: E402


@dataclass
class _TariffHead:
    versions: list[TariffVersion]
    deleted: bool = False
    refs: int = 0


class InMemoryTariffRepository:
    """TariffRepository with the DynamoDB adapter's semantics (tests/contract)."""

    def __init__(self) -> None:
        self.heads: dict[tuple[str, str], _TariffHead] = {}
        self.assignments: dict[tuple[str, str], TariffAssignment] = {}

    def get_tariff(self, tenant_id: str, tariff_id: str) -> TariffVersion | None:
        head = self.heads.get((tenant_id, tariff_id))
        return head.versions[-1] if head is not None and not head.deleted else None

    def create_tariff(self, tenant_id: str, first: TariffVersion) -> bool:
        if (tenant_id, first.tariff.id) in self.heads:
            return False
        self.heads[(tenant_id, first.tariff.id)] = _TariffHead([first])
        return True

    def add_version(self, tenant_id: str, new: TariffVersion, expected_version: int) -> bool:
        head = self.heads.get((tenant_id, new.tariff.id))
        if head is None or head.deleted or head.versions[-1].version != expected_version:
            return False
        head.versions.append(new)
        return True

    def delete_tariff(self, tenant_id: str, tariff_id: str, expected_version: int) -> bool:
        head = self.heads.get((tenant_id, tariff_id))
        if head is None or head.deleted or head.versions[-1].version != expected_version:
            return False
        if head.refs:
            raise ResourceInUseError("tariff", tariff_id, "tariff assignments name it")
        head.deleted = True
        return True

    def list_tariffs(
        self, tenant_id: str, limit: int, cursor: str | None = None
    ) -> Page[TariffVersion]:
        current = [
            head.versions[-1]
            for (tenant, _), head in sorted(self.heads.items())
            if tenant == tenant_id and not head.deleted
        ]
        return _page(current, limit, cursor, f"tariffs/{tenant_id}")

    def get_version(self, tenant_id: str, tariff_id: str, version: int) -> TariffVersion | None:
        head = self.heads.get((tenant_id, tariff_id))
        found = [v for v in head.versions if v.version == version] if head else []
        return found[0] if found else None

    def list_versions(
        self, tenant_id: str, tariff_id: str, limit: int, cursor: str | None = None
    ) -> Page[TariffVersion]:
        head = self.heads.get((tenant_id, tariff_id))
        versions = list(head.versions) if head else []
        return _page(versions, limit, cursor, f"versions/{tenant_id}/{tariff_id}")

    def version_at(self, tenant_id: str, tariff_id: str, moment: datetime) -> TariffVersion | None:
        head = self.heads.get((tenant_id, tariff_id))
        in_force = [v for v in head.versions if v.valid_from <= moment] if head else []
        return in_force[-1] if in_force else None

    def create_assignment(self, tenant_id: str, assignment: TariffAssignment) -> bool:
        if (tenant_id, assignment.id) in self.assignments:
            return False
        if any(
            tenant == tenant_id and not held.ended and held.slot == assignment.slot
            for (tenant, _), held in self.assignments.items()
        ):
            return False
        head = self.heads.get((tenant_id, assignment.tariff_id))
        if head is None or head.deleted:
            raise InvalidReferenceError("tariffId", "tariff", assignment.tariff_id)
        head.refs += 1
        self.assignments[(tenant_id, assignment.id)] = assignment
        return True

    def get_assignment(self, tenant_id: str, assignment_id: str) -> TariffAssignment | None:
        return self.assignments.get((tenant_id, assignment_id))

    def end_assignment(self, tenant_id: str, ended: TariffAssignment) -> bool:
        stored = self.assignments.get((tenant_id, ended.id))
        if stored is None or stored.ended:
            return False
        self.assignments[(tenant_id, ended.id)] = ended
        self.heads[(tenant_id, ended.tariff_id)].refs -= 1
        return True

    def list_assignments(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        only: frozenset[str] | None = None,
        include_ended: bool = False,
    ) -> Page[TariffAssignment]:
        found = [
            a
            for (tenant, _), a in sorted(self.assignments.items())
            if tenant == tenant_id
            and (only is None or a.site_id in only)
            and (include_ended or not a.ended)
        ]
        return _page(found, limit, cursor, f"assignments/{tenant_id}")

    def all_assignments(self, tenant_id: str) -> list[TariffAssignment]:
        return [a for (tenant, _), a in sorted(self.assignments.items()) if tenant == tenant_id]
