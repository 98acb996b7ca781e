"""Connections of stations to the CSMS and the log an operator reads about them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from csms.domain.station import PasswordUsed, ProtocolVersion


class ConnectionOutcome(StrEnum):
    """What happened at the WebSocket edge."""

    CONNECTED = "Connected"
    DISCONNECTED = "Disconnected"
    REFUSED = "Refused"


class RefusalReason(StrEnum):
    """Why a connection attempt was refused; each maps to an HTTP status at the edge."""

    INVALID_STATION_ID = "InvalidStationId"
    UNKNOWN_STATION = "UnknownStation"
    MISSING_CREDENTIALS = "MissingCredentials"
    BAD_CREDENTIALS = "BadCredentials"
    NO_SUBPROTOCOL = "NoAcceptableSubprotocol"
    # The station authenticated, but the operator took it out of service.
    DECOMMISSIONED = "Decommissioned"

    @property
    def http_status(self) -> int:
        """The HTTP status of the refusal.

        401 for anything about who the station is, 400 for what it asked for, 403 for a
        station that authenticated but is no longer admitted.
        """
        if self in (RefusalReason.NO_SUBPROTOCOL, RefusalReason.INVALID_STATION_ID):
            return 400
        if self is RefusalReason.DECOMMISSIONED:
            return 403
        return 401


class ConnectionLogEntry(BaseModel):
    """One line of a station's connection log."""

    model_config = ConfigDict(frozen=True)

    station_id: str
    at: datetime
    outcome: ConnectionOutcome
    reason: RefusalReason | None = None
    protocol: ProtocolVersion | None = None
    connection_id: str | None = None
    source_ip: str | None = None
    offered_protocols: tuple[str, ...] = ()
    # Which password opened the connection (Previous: during a rotation's grace period).
    password_used: PasswordUsed | None = None


class ConnectionBinding(BaseModel):
    """Which station (and version) a live WebSocket connection belongs to."""

    model_config = ConfigDict(frozen=True)

    connection_id: str
    station_id: str
    tenant_id: str
    protocol: ProtocolVersion
    connected_at: datetime
    # The station's site when it connected: sessions are filed under it.
    site_id: str | None = None
    # Commands were queued for the station when it connected: its first message delivers them.
    deliver_queue: bool = False
    # Until then the connection's frames go to the message log (copied from the station).
    trace_until: datetime | None = None
