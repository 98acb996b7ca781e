"""Use cases of a station's life: connect, boot, heartbeat, report status, disconnect."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from csms.domain.connection import (
    ConnectionBinding,
    ConnectionLogEntry,
    ConnectionOutcome,
    RefusalReason,
)
from csms.domain.connector import StatusOutcome, StatusReport
from csms.domain.errors import InvalidStationIdError, UnknownConnectionError
from csms.domain.events import (
    ConnectorStatusChanged,
    StationBooted,
    StationConnected,
    StationConnectionRefused,
    StationDisconnected,
)
from csms.domain.station import (
    BootInfo,
    PasswordUsed,
    ProtocolVersion,
    RegistrationStatus,
    Station,
    negotiate_subprotocol,
    validate_station_id,
)
from csms.services.ports import (
    Clock,
    ConnectionLog,
    ConnectorStatusRepository,
    PasswordHasher,
    StationRepository,
)
from csms.services.resends import message_key


@dataclass(frozen=True)
class Credentials:
    """HTTP Basic credentials as the station sent them."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"


@dataclass(frozen=True)
class ConnectRequest:
    """Everything `$connect` knows about a connection attempt."""

    station_id: str
    connection_id: str
    credentials: Credentials | None
    offered_protocols: tuple[str, ...]
    source_ip: str | None = None


@dataclass(frozen=True)
class ConnectDecision:
    """Accept with a subprotocol, or refuse with a reason (and its HTTP status)."""

    protocol: ProtocolVersion | None = None
    refusal: RefusalReason | None = None

    @property
    def accepted(self) -> bool:
        """True when the connection may open."""
        return self.protocol is not None


@dataclass(frozen=True)
class BootResult:
    """The answer to a BootNotification."""

    status: RegistrationStatus
    current_time: datetime
    interval_s: int


class StationService:
    """Connect, boot, heartbeat, status and disconnect of stations."""

    # Bound on the per-container cache of connection -> station bindings.
    _BINDING_CACHE_SIZE = 4096
    # A binding's station, site and version never change, but its trace window can (an operator
    # turns tracing on): a cached binding is read again after this long. At most one small read
    # per connection and container every few minutes.
    _BINDING_CACHE_TTL = timedelta(minutes=5)

    def __init__(
        self,
        *,
        stations: StationRepository,
        connection_log: ConnectionLog,
        statuses: ConnectorStatusRepository,
        hasher: PasswordHasher,
        clock: Clock,
        heartbeat_interval_s: int = 300,
        has_queued_commands: Callable[[str], bool] | None = None,
    ) -> None:
        self._stations = stations
        # CommandService.has_queued: one read per connect, so that no message has to look.
        self._has_queued = has_queued_commands
        self._log = connection_log
        self._statuses = statuses
        self._hasher = hasher
        self._clock = clock
        self._interval = heartbeat_interval_s
        # connection id -> (binding, when it was read)
        self._bindings: OrderedDict[str, tuple[ConnectionBinding, datetime]] = OrderedDict()

    # -- $connect ------------------------------------------------------------------------
    def connect(self, request: ConnectRequest) -> ConnectDecision:
        """Authorize a connection attempt and pick its subprotocol."""
        now = self._clock.now()
        try:
            station_id = validate_station_id(request.station_id)
        except InvalidStationIdError:
            return ConnectDecision(refusal=RefusalReason.INVALID_STATION_ID)
        station = self._stations.get(station_id)
        used = self._check_credentials(station_id, station, request.credentials, now)
        refusal = used if isinstance(used, RefusalReason) else None
        if refusal is None and station is not None and station.decommissioned:
            # Checked after the password: only the station itself learns that it is retired.
            refusal = RefusalReason.DECOMMISSIONED
        protocol = None
        if refusal is None and station is not None:
            protocol = negotiate_subprotocol(request.offered_protocols, station.pinned_protocol)
            if protocol is None:
                refusal = RefusalReason.NO_SUBPROTOCOL
        if refusal is not None or protocol is None or station is None:
            reason = refusal or RefusalReason.UNKNOWN_STATION
            # Unknown ids belong to no tenant: their attempts are logged, not published.
            refused = (
                [
                    StationConnectionRefused(
                        station_id=station_id,
                        tenant_id=station.tenant_id,
                        occurred_at=now,
                        reason=reason,
                    )
                ]
                if station is not None
                else []
            )
            self._log.append(
                ConnectionLogEntry(
                    station_id=station_id,
                    at=now,
                    outcome=ConnectionOutcome.REFUSED,
                    reason=reason,
                    connection_id=request.connection_id,
                    source_ip=request.source_ip,
                    offered_protocols=request.offered_protocols,
                ),
                events=refused,
            )
            return ConnectDecision(refusal=reason)

        binding = ConnectionBinding(
            connection_id=request.connection_id,
            station_id=station_id,
            tenant_id=station.tenant_id,
            protocol=protocol,
            connected_at=now,
            site_id=station.site_id,
            deliver_queue=self._has_queued is not None and self._has_queued(station_id),
            trace_until=station.trace_until,
        )
        # The first connection with a new password ends the rotation's grace period.
        self._stations.bind(
            binding,
            clear_previous_password=used is PasswordUsed.CURRENT
            and station.previous_password_hash is not None,
        )
        self._remember(binding)
        self._log.append(
            ConnectionLogEntry(
                station_id=station_id,
                at=now,
                outcome=ConnectionOutcome.CONNECTED,
                protocol=protocol,
                connection_id=request.connection_id,
                source_ip=request.source_ip,
                offered_protocols=request.offered_protocols,
                password_used=used if isinstance(used, PasswordUsed) else None,
            ),
            events=[
                StationConnected(
                    station_id=station_id,
                    tenant_id=station.tenant_id,
                    occurred_at=now,
                    connection_id=request.connection_id,
                    protocol=protocol,
                )
            ],
        )
        return ConnectDecision(protocol=protocol)

    def _check_credentials(
        self,
        station_id: str,
        station: Station | None,
        credentials: Credentials | None,
        now: datetime,
    ) -> RefusalReason | PasswordUsed:
        """Which password the credentials match, or why they are refused."""
        if credentials is None:
            return (
                RefusalReason.UNKNOWN_STATION
                if station is None
                else RefusalReason.MISSING_CREDENTIALS
            )
        # Unknown ids and wrong passwords take the same time and cannot be told apart.
        password_hash = station.password_hash if station is not None else self._hasher.decoy_hash()
        matches = self._hasher.verify(password_hash, credentials.password)
        if station is None:
            return RefusalReason.UNKNOWN_STATION
        if credentials.username != station_id:
            return RefusalReason.BAD_CREDENTIALS
        if matches:
            return PasswordUsed.CURRENT
        # During a rotation's grace period the password before it still opens a connection.
        if station.previous_password_valid(now) and self._hasher.verify(
            station.previous_password_hash or "", credentials.password
        ):
            return PasswordUsed.PREVIOUS
        return RefusalReason.BAD_CREDENTIALS

    # -- $disconnect ---------------------------------------------------------------------
    def disconnect(self, connection_id: str) -> None:
        """Record that a connection closed; the station is offline unless it already reconnected."""
        now = self._clock.now()
        cached = self._bindings.pop(connection_id, None)
        binding = cached[0] if cached else self._stations.lookup(connection_id)
        if binding is None:
            return
        went_offline = self._stations.unbind(binding, now)
        self._log.append(
            ConnectionLogEntry(
                station_id=binding.station_id,
                at=now,
                outcome=ConnectionOutcome.DISCONNECTED,
                protocol=binding.protocol,
                connection_id=connection_id,
            ),
            events=[
                StationDisconnected(
                    station_id=binding.station_id,
                    tenant_id=binding.tenant_id,
                    occurred_at=now,
                    connection_id=connection_id,
                    superseded=not went_offline,
                )
            ],
        )

    # -- $default ------------------------------------------------------------------------
    def resolve(self, connection_id: str) -> ConnectionBinding:
        """Return the station behind a connection (cached for a few minutes)."""
        cached = self._bindings.get(connection_id)
        if cached is not None and self._clock.now() - cached[1] < self._BINDING_CACHE_TTL:
            self._bindings.move_to_end(connection_id)
            return cached[0]
        binding = self._stations.lookup(connection_id)
        if binding is None:
            raise UnknownConnectionError(connection_id)
        self._remember(binding)
        return binding

    def _remember(self, binding: ConnectionBinding) -> None:
        self._bindings[binding.connection_id] = (binding, self._clock.now())
        self._bindings.move_to_end(binding.connection_id)
        while len(self._bindings) > self._BINDING_CACHE_SIZE:
            self._bindings.popitem(last=False)

    def register_boot(
        self, binding: ConnectionBinding, boot: BootInfo, message_id: str | None = None
    ) -> BootResult:
        """Store boot information; a station that authenticated is accepted.

        A retransmitted BootNotification (same `message_id`, same content) is answered alike and
        recorded once. The content counts too: many stations number their messages from 1 again
        after every reboot, so an id alone does not tell a new boot from a resend.
        """
        now = self._clock.now()
        status = RegistrationStatus.ACCEPTED
        self._stations.record_boot(
            binding.station_id,
            boot,
            status,
            now,
            message_id=message_key(message_id, boot) if message_id else None,
            events=[
                StationBooted(
                    station_id=binding.station_id,
                    tenant_id=binding.tenant_id,
                    occurred_at=now,
                    vendor=boot.vendor,
                    model=boot.model,
                    serial_number=boot.serial_number,
                    firmware_version=boot.firmware_version,
                    reason=boot.reason,
                    registration_status=status,
                )
            ],
        )
        return BootResult(status=status, current_time=now, interval_s=self._interval)

    def heartbeat(self, binding: ConnectionBinding) -> datetime:
        """Answer a heartbeat with the time. Writes nothing: API Gateway keeps LastActiveAt."""
        del binding
        return self._clock.now()

    def report_status(
        self, binding: ConnectionBinding, report: StatusReport
    ) -> StatusReport | None:
        """Fold the report into the connector's state; keep transitions for uptime.

        A repeated status is not history (nothing changed); a late report is, since it may be
        a real transition that a station queued while offline. Returns the report, with its
        time, when it changed the connector's status (the session on it may care).
        """
        at = report.timestamp or self._clock.now()
        report = report.model_copy(update={"timestamp": at})
        changed = ConnectorStatusChanged(
            station_id=binding.station_id,
            tenant_id=binding.tenant_id,
            occurred_at=at,
            evse=report.evse,
            status=report.status,
            detail=report.detail,
            error_code=report.error_code,
            info=report.info,
            vendor_id=report.vendor_id,
            vendor_error_code=report.vendor_error_code,
        )
        applied = self._statuses.apply(
            binding.station_id, binding.tenant_id, report, on_change=[changed]
        )
        if applied.outcome is StatusOutcome.STALE:
            self._statuses.append_history(binding.station_id, binding.tenant_id, report)
        return report if applied.outcome is StatusOutcome.CHANGED else None
