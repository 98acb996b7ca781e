"""Ports: what the use cases need from the outside world, as typing.Protocol.

Adapters in `csms.adapters` implement them on AWS; `InMemory*` fakes in tests implement them
in memory. Both pass the same contract tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from csms.domain.commands import Command, OutgoingCall
from csms.domain.connection import ConnectionBinding, ConnectionLogEntry
from csms.domain.connector import AppliedStatus, ConnectorState, EvseRef, StatusReport
from csms.domain.events import DomainEvent
from csms.domain.seed import IdToken, Site
from csms.domain.station import BootInfo, ProtocolVersion, RegistrationStatus, Station

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, with an opaque cursor to the next page (None at the end)."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class EncodedCall:
    """A CALL ready for the wire."""

    action: str
    payload: dict[str, Any]
    frame: str = field(repr=False)


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

    def bind(self, binding: ConnectionBinding) -> None:
        """Record a new live connection: the station is online on it from now on."""
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
        events: Sequence[DomainEvent] = (),
    ) -> None:
        """Store what the station said at boot; the events go out with the write (outbox)."""
        ...


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
    """CSMS-initiated calls: at most one outstanding per station."""

    def open(self, call: OutgoingCall, now: datetime) -> None:
        """Store a new pending call and take the station's outstanding slot.

        Raises CallInProgressError when another call holds the slot and has not yet expired.
        """
        ...

    def get(self, station_id: str, unique_id: str) -> OutgoingCall | None:
        """Return a call by its unique id."""
        ...

    def close(self, call: OutgoingCall) -> bool:
        """Store the final state of a pending call and free the slot.

        Returns False (and changes nothing) when the call was no longer pending.
        """
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


class SeedRepository(Protocol):
    """Bulk registration of sites and tokens (stations go through StationRepository)."""

    def put_site(self, tenant_id: str, site: Site) -> None:
        """Create or replace a site."""
        ...

    def put_token(self, tenant_id: str, token: IdToken) -> None:
        """Create or replace an id token."""
        ...
