"""Ports: what the use cases need from the outside world, as typing.Protocol.

Adapters in `csms.adapters` implement them on AWS; `InMemory*` fakes in tests implement them
in memory. Both pass the same contract tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from csms.domain.command_records import CommandRecord, QueuedCommand
from csms.domain.commands import Command
from csms.domain.connection import ConnectionBinding, ConnectionLogEntry
from csms.domain.connector import AppliedStatus, ConnectorState, EvseRef, StatusReport
from csms.domain.events import DomainEvent
from csms.domain.load.allocation import Allocation
from csms.domain.load.config import SiteLoadConfig
from csms.domain.load.inputs import Reading as LoadReading
from csms.domain.load.needs import DeclaredNeeds
from csms.domain.meter import Reading
from csms.domain.seed import Site
from csms.domain.sessions import MeterChunk, Session, SessionState
from csms.domain.station import (
    BootInfo,
    ProtocolVersion,
    RegistrationStatus,
    Station,
    StationState,
)
from csms.domain.tokens import Authorization, IdToken, PresentedToken

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, with an opaque cursor to the next page (None at the end)."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class EncodedCall:
    """A CALL ready for the wire.

    `redacted` is the payload with credentials (AuthorizationKey, BasicAuthPassword, anything
    password-like) replaced by "***": store, log and audit it, never `payload` or `frame`.
    Left out, it is the payload itself (nothing to hide).
    """

    action: str
    # Out of repr, so that printing the call cannot leak a credential.
    payload: dict[str, Any] = field(repr=False)
    frame: str = field(repr=False)
    redacted: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.redacted:
            object.__setattr__(self, "redacted", self.payload)


class Clock(Protocol):
    """Where time comes from (tz-aware UTC)."""

    def now(self) -> datetime:
        """Return the current instant."""
        ...


class IdGenerator(Protocol):
    """Unique ids for events and calls."""

    def __call__(self) -> str:
        """Return a new unique id."""
        ...


class PasswordHasher(Protocol):
    """Salted password hashing."""

    def hash(self, password: str) -> str:
        """Return a salted hash of the password."""
        ...

    def verify(self, password_hash: str, password: str) -> bool:
        """Tell whether the password matches the hash (never raises on mismatch)."""
        ...

    def decoy_hash(self) -> str:
        """A hash of an unguessable password, made with the current parameters.

        Verified against when there is no real hash, so that an unknown station id and a
        wrong password take the same time.
        """
        ...


class StationRepository(Protocol):
    """Stations and the binding of live connections to them."""

    def get(self, station_id: str) -> Station | None:
        """Return the station, whatever its tenant, or None."""
        ...

    def register(self, station: Station) -> None:
        """Create the station, or update its registration data and keep its history."""
        ...

    def list_for_tenant(
        self, tenant_id: str, limit: int, cursor: str | None = None
    ) -> Page[Station]:
        """List a tenant's stations by id."""
        ...

    def create(self, station: Station) -> bool:
        """Store a new station; False, with nothing written, when its id exists (any tenant)."""
        ...

    def save(self, station: Station, expected_version: int) -> bool:
        """Store what operators manage (name, site, pin, passwords, state) as version + 1.

        Conditional on the stored version being `expected_version`; False, with nothing
        written, when it is not. Connection, boot and trace data are left as they are.
        """
        ...

    def list(
        self, tenant_id: str, query: StationQuery, limit: int, cursor: str | None = None
    ) -> Page[Station]:
        """A tenant's stations by id (descending if asked), filtered.

        A page may hold fewer than `limit` stations when many are left out; only a missing
        `next_cursor` means the end.
        """
        ...

    def set_trace(self, station_id: str, until: datetime | None) -> None:
        """Trace the station's frames until then (None: stop), its live connection too.

        Raises StationNotFoundError when there is no such station.
        """
        ...

    def bind(self, binding: ConnectionBinding, *, clear_previous_password: bool = False) -> None:
        """Record a new live connection: the station is online on it from now on.

        `clear_previous_password` ends a rotation's grace period in the same write (the
        station connected with its new password).
        """
        ...

    def lookup(self, connection_id: str) -> ConnectionBinding | None:
        """Return the binding of a live connection."""
        ...

    def unbind(self, binding: ConnectionBinding, at: datetime) -> bool:
        """Forget a closed connection; True when the station went offline by it.

        False when the station had already moved to a newer connection.
        """
        ...

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
        """Store what the station said at boot; the events go out with the write (outbox).

        False, with nothing written, when the last boot recorded came in the CALL with this
        `message_id`: a retransmission.
        """
        ...


@dataclass(frozen=True)
class StationQuery:
    """Filters and order of a station list; every list is within one tenant."""

    site_id: str | None = None
    online: bool | None = None
    protocol: ProtocolVersion | None = None
    state: StationState | None = StationState.ACTIVE  # None: every state
    descending: bool = False
    # Only stations at these sites (a caller restricted to some sites); None: every station.
    sites: frozenset[str] | None = None

    def matches(self, station: Station) -> bool:
        """Whether a station passes the filters (the site filter aside, which picks the index)."""
        return (
            (self.site_id is None or station.site_id == self.site_id)
            and (self.online is None or station.online == self.online)
            and (self.protocol is None or station.protocol == self.protocol)
            and (self.state is None or station.state == self.state)
            and (self.sites is None or station.site_id in self.sites)
        )


class ConnectionLog(Protocol):
    """The per-station log of connects, disconnects and refusals."""

    def append(self, entry: ConnectionLogEntry, events: Sequence[DomainEvent] = ()) -> None:
        """Add one entry; the events go out with it (outbox)."""
        ...

    def list(
        self, station_id: str, limit: int, cursor: str | None = None
    ) -> Page[ConnectionLogEntry]:
        """Newest first."""
        ...


class ConnectorStatusRepository(Protocol):
    """Current connector status, and its history (for uptime)."""

    def get(self, station_id: str, evse: EvseRef) -> ConnectorState | None:
        """Return the state held for one connector."""
        ...

    def apply(
        self,
        station_id: str,
        tenant_id: str,
        report: StatusReport,
        on_change: Sequence[DomainEvent] = (),
    ) -> AppliedStatus:
        """Fold a report (with its timestamp set) into the connector's state, atomically.

        `on_change` goes out with the write when the report is a change (outbox).

        The rule is `csms.domain.connector.fold_report`: a first or changed status replaces the
        state (`since` moves) and is kept in history with it, in one write; a repeated one moves
        only the report time and error details; a report not newer than the state held changes
        nothing (the caller may still keep it in history).
        """
        ...

    def append_history(self, station_id: str, tenant_id: str, report: StatusReport) -> None:
        """Keep a late report for uptime; idempotent per report."""
        ...

    def history(self, station_id: str, limit: int = 1000) -> list[StatusReport]:
        """The station's kept reports, oldest first (uptime reads these)."""
        ...

    def list(self, station_id: str) -> list[ConnectorState]:
        """All connectors of a station, ordered by EVSE and connector."""
        ...


class CallRepository(Protocol):
    """Commands to stations: their records, each station's queue, its one outstanding call."""

    def add(self, record: CommandRecord, command: Command | None = None) -> None:
        """Store a new record; a Queued one joins the end of its station's queue with `command`."""
        ...

    def open(self, record: CommandRecord, now: datetime, *, from_queue: bool = False) -> bool:
        """Store the record as Pending and take the station's outstanding slot, atomically.

        The record is new, or (`from_queue`) leaves the station's queue. Raises
        CallInProgressError when another call holds the slot and has neither ended nor passed
        its deadline. False, with nothing written, when a queued record is no longer queued
        (another sender took it, or it was cancelled).
        """
        ...

    def requeue(self, record: CommandRecord, command: Command) -> bool:
        """Put a Pending record back in its place in the queue (its CALL never went out).

        False when it was no longer pending.
        """
        ...

    def close(self, record: CommandRecord) -> bool:
        """Store the final state of a Pending record; that frees the slot.

        False, with nothing written, when it was no longer pending.
        """
        ...

    def drop(self, record: CommandRecord) -> bool:
        """Store the final state of a Queued record (expired, cancelled) and unqueue it.

        False, with nothing written, when it was no longer queued.
        """
        ...

    def get(self, station_id: str, command_id: str) -> CommandRecord | None:
        """Return a record by its id (strongly consistent)."""
        ...

    def head(self, station_id: str) -> QueuedCommand | None:
        """The oldest command in the station's queue."""
        ...

    def has_queued(self, station_id: str) -> bool:
        """Whether the station's queue holds anything (one small read)."""
        ...

    def history(
        self,
        station_id: str,
        limit: int,
        cursor: str | None = None,
        keep: Callable[[CommandRecord], bool] | None = None,
    ) -> Page[CommandRecord]:
        """The station's records, newest first, those `keep` refuses left out.

        A page may hold fewer than `limit` records when many are left out; only a missing
        `next_cursor` means the end.
        """
        ...

    def next_list_version(self, station_id: str) -> int:
        """The next local authorization list version of the station (1, 2, ...; atomic)."""
        ...


class FrameSender(Protocol):
    """Frames out to a live station connection."""

    def send(self, connection_id: str, frame: str) -> None:
        """Send; raises StationOfflineError when the connection is gone."""
        ...

    def last_active_at(self, connection_id: str) -> datetime | None:
        """When the connection last carried a message (None when it is gone)."""
        ...


class CallEncoder(Protocol):
    """Turns a version-neutral command into the station's version of the CALL."""

    def encode(self, protocol: ProtocolVersion, unique_id: str, command: Command) -> EncodedCall:
        """Return the CALL frame for this command in this protocol version."""
        ...


class TokenRepository(Protocol):
    """A tenant's id tokens, keyed by their case-insensitive value."""

    def get(self, tenant_id: str, value: str) -> IdToken | None:
        """Return the token whose value matches, whatever its case."""
        ...

    def create(self, tenant_id: str, token: IdToken, at: datetime) -> bool:
        """Store a new token; False (and nothing changed) when one with its value exists."""
        ...

    def replace(self, tenant_id: str, token: IdToken, at: datetime) -> bool:
        """Store the token over the one with its value, if that is still `token.version`.

        The stored token then has the next version; False (nothing changed) when another write
        came first.
        """
        ...

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> Page[IdToken]:
        """A tenant's tokens by value."""
        ...


@dataclass(frozen=True)
class SessionSnapshot:
    """A session as stored, and its newest meter chunk (read together, in one query)."""

    session: Session | None
    newest: MeterChunk | None = None


@dataclass(frozen=True)
class AuthorizationRecord:
    """An Authorize a station sent (keyed by its unique id) and the answer it got."""

    tenant_id: str
    station_id: str
    unique_id: str
    token: PresentedToken
    authorization: Authorization
    at: datetime


@dataclass(frozen=True)
class SessionQuery:
    """Filters of a session list; every list is within one tenant."""

    station_id: str | None = None
    site_id: str | None = None
    id_token: str | None = None
    group_id: str | None = None
    state: SessionState | None = None
    started_from: datetime | None = None
    started_to: datetime | None = None


class SessionRepository(Protocol):
    """Charging sessions, their meter chunks, and what makes their messages idempotent.

    Every session write is conditional: `create` on the session not existing, `save` on the
    version read (`Session.version`), chunks on their key not existing.
    """

    def load(self, session_id: str) -> SessionSnapshot:
        """The session and its newest chunk (strongly consistent)."""
        ...

    def next_transaction_number(self) -> int:
        """A new 1.6 transactionId from the atomic counter (never the same one twice)."""
        ...

    def find_start(self, station_id: str, start_key: str) -> str | None:
        """The session a 1.6 StartTransaction with this content already started, if any."""
        ...

    def create(
        self,
        session: Session,
        *,
        chunk: MeterChunk | None = None,
        start_key: str | None = None,
        events: Sequence[DomainEvent] = (),
    ) -> bool:
        """Store a new session (with its first chunk and its start key) in one transaction.

        False, with nothing written, when the session or the start key already exists.
        """
        ...

    def save(
        self,
        session: Session,
        *,
        chunk: MeterChunk | None = None,
        events: Sequence[DomainEvent] = (),
    ) -> None:
        """Write the session over the version it was read at, with a new chunk, atomically.

        The stored version is the session's `version` + 1.

        Raises StaleSessionError when the session changed since it was read, and
        DuplicateChunkError when the chunk exists (the message was seen before).
        """
        ...

    def add_chunk(
        self, tenant_id: str, chunk: MeterChunk, events: Sequence[DomainEvent] = ()
    ) -> bool:
        """Store a chunk; False when its key exists (a retransmission)."""
        ...

    def chunks(self, session_id: str, limit: int, cursor: str | None = None) -> Page[MeterChunk]:
        """A session's chunks, oldest first."""
        ...

    def get(self, session_id: str) -> Session | None:
        """The session item alone."""
        ...

    def active_for_token(self, tenant_id: str, token_value: str) -> list[Session]:
        """Active sessions of a token (eventually consistent)."""
        ...

    def list(
        self, tenant_id: str, query: SessionQuery, limit: int, cursor: str | None = None
    ) -> Page[Session]:
        """A tenant's sessions, newest start first, filtered."""
        ...

    def open_sessions(self, limit: int, cursor: str | None = None) -> Page[Session]:
        """Active sessions of every tenant, oldest start first (the cleanup job reads these)."""
        ...

    def record_authorization(
        self, record: AuthorizationRecord, events: Sequence[DomainEvent] = ()
    ) -> bool:
        """Keep an Authorize in the station's log; False when that message was seen before."""
        ...

    def put_station_readings(
        self, tenant_id: str, station_id: str, evse: EvseRef, readings: Sequence[Reading]
    ) -> None:
        """Keep meter readings that belong to no session (connector 0, idle connectors)."""
        ...


class SeedRepository(Protocol):
    """Bulk registration of sites and tokens (stations go through StationRepository)."""

    def put_site(self, tenant_id: str, site: Site) -> None:
        """Create or replace a site."""
        ...

    def put_token(self, tenant_id: str, token: IdToken) -> None:
        """Create or replace an id token."""
        ...


# --- notifications ---------------------------------------------------------------------------
# Appended as a section of its own (its import too) so that it merges cleanly with the ports
# above; move the import up when the file is next tidied.
from csms.domain.notifications import ChargingNeeds, NoteKind, StationNote  # noqa: E402


class StationNoteRepository(Protocol):
    """A station's notes: one per message kept, and the latest of each kind (no expiry)."""

    def record(self, station_id: str, tenant_id: str, note: StationNote) -> bool:
        """Keep the note and make it the latest of its kind, in one atomic write.

        False, with nothing written, when the kind's latest note is this very message sent
        again (`StationNote.is_retransmission_of`): a retransmission is stored once.
        """
        ...

    def latest(self, station_id: str, kind: NoteKind) -> StationNote | None:
        """The latest note of a kind, as recorded but without its detail."""
        ...

    def list(
        self, station_id: str, kind: NoteKind, limit: int, cursor: str | None = None
    ) -> Page[StationNote]:
        """A station's notes of one kind, newest `at` first."""
        ...


class ChargingNeedsRepository(Protocol):
    """The current charging needs of each EVSE of a station (one record per EVSE)."""

    def put(self, station_id: str, tenant_id: str, needs: ChargingNeeds) -> bool:
        """Make these the EVSE's needs (their `received_at` set); False when newer ones are held.

        False as well, with nothing written, when the needs held came in the same CALL
        (`message_id`): a retransmission.
        """
        ...

    def get(self, station_id: str, evse_id: int) -> ChargingNeeds | None:
        """The current needs of one EVSE."""
        ...

    def list(self, station_id: str) -> list[ChargingNeeds]:
        """The current needs of every EVSE of the station, by EVSE id."""
        ...


# --- station management and the live view ----------------------------------------------------
# A section of its own, so that it merges cleanly with the ports above.


class ConnectionCloser(Protocol):
    """Closes live station connections (API Gateway `DELETE @connections/{id}`)."""

    def disconnect(self, connection_id: str) -> None:
        """Close the connection; one that is already gone is no error."""
        ...


@dataclass(frozen=True)
class SiteRef:
    """What the station management and the live view need to know of a site."""

    id: str
    name: str | None = None
    # IANA time zone name; "UTC" when the site has none.
    timezone: str = "UTC"


class SiteDirectory(Protocol):
    """A tenant's sites, read by their keys."""

    def site(self, tenant_id: str, site_id: str) -> SiteRef | None:
        """The tenant's site, or None."""
        ...

    def sites(self, tenant_id: str, limit: int, after: str | None = None) -> list[SiteRef]:
        """The tenant's sites by id, those after `after` (exclusive)."""
        ...


# --- load management -------------------------------------------------------------------------
# A section of its own, so that it merges cleanly with the ports above.


LOAD_READINGS_KEPT = 20
"""Readings of one kind kept per site: the engine wants the newest fresh one, no history."""


@dataclass(frozen=True)
class LoadState:
    """Everything of a site's load management that one rebalance reads (in one query)."""

    config: SiteLoadConfig | None = None
    allocation: Allocation | None = None
    # The newest readings of each kind (meter, pv, battery; at most LOAD_READINGS_KEPT of a
    # kind), newest first, expired ones gone.
    readings: tuple[LoadReading, ...] = ()
    # Needs declared through the API, by session id.
    needs: dict[str, DeclaredNeeds] = field(default_factory=dict)
    # The stored allocation's revision (0: none stored): what put_allocation is conditional on.
    allocation_revision: int = 0


@dataclass(frozen=True)
class ManagedSite:
    """A site that has load management configured (for the periodic rebalance)."""

    tenant_id: str
    site_id: str


class LoadRepository(Protocol):
    """A site's load configuration, readings, declared needs and current allocation.

    All of a site's items share one partition, so `state` is a single query. `events` go out
    with the write that records them (the outbox), and only when it succeeds.
    """

    def state(self, tenant_id: str, site_id: str) -> LoadState:
        """The site's configuration, allocation, fresh readings and declared needs."""
        ...

    def put_config(
        self,
        tenant_id: str,
        config: SiteLoadConfig,
        expected_version: int | None,
        events: Sequence[DomainEvent] = (),
    ) -> bool:
        """Store the configuration as `config.version` (the stored one + 1; 1 when new).

        `expected_version` None: only if none is stored. False when the stored version differs.
        """
        ...

    def delete_config(
        self,
        tenant_id: str,
        site_id: str,
        expected_version: int,
        events: Sequence[DomainEvent] = (),
    ) -> bool:
        """Remove the configuration (load management off); False when the version differs."""
        ...

    def add_readings(
        self,
        tenant_id: str,
        site_id: str,
        readings: Sequence[LoadReading],
        expires_at: datetime,
        events: Sequence[DomainEvent] = (),
    ) -> None:
        """Keep readings until `expires_at` (they are worthless after their staleness limit).

        A reading of the kind and time of one kept replaces it; beyond LOAD_READINGS_KEPT of a
        kind, the oldest go.
        """
        ...

    def put_needs(
        self,
        tenant_id: str,
        site_id: str,
        needs: DeclaredNeeds,
        expires_at: datetime,
        events: Sequence[DomainEvent] = (),
    ) -> None:
        """Make these the declared needs of their session (replacing earlier ones)."""
        ...

    def put_allocation(
        self, tenant_id: str, allocation: Allocation, expected_revision: int
    ) -> bool:
        """Make this the site's allocation in force, as revision `expected_revision + 1`.

        Only while the stored one is still at `expected_revision` (0: none stored), so that of
        two rebalances of a site that read the same state, one wins; False for the other.
        """
        ...

    def delete_allocation(self, tenant_id: str, site_id: str, expected_revision: int) -> bool:
        """Forget the site's allocation (load management off), if still at that revision.

        True also when there is none (and `expected_revision` is 0); False when it changed.
        """
        ...

    def managed_sites(self, limit: int, cursor: str | None = None) -> Page[ManagedSite]:
        """Every site of every tenant with a load configuration (a system-wide index).

        Each site once across the pages, in no promised order; InvalidCursorError for a cursor
        this list did not hand out.
        """
        ...
