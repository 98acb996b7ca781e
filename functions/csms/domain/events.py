"""Domain events and the `{metadata, data}` envelope they travel in (DESIGN §6)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from csms.domain.connection import RefusalReason
from csms.domain.connector import ConnectorStatus, EvseRef, OccupancyDetail
from csms.domain.station import BootReason, ProtocolVersion, RegistrationStatus


class DomainEvent(BaseModel):
    """Base of every event; subclasses name their source and detail type."""

    model_config = ConfigDict(frozen=True)

    source: ClassVar[str] = "csms.stations"
    detail_type: ClassVar[str]
    event_version: ClassVar[str] = "1"

    station_id: str
    tenant_id: str
    occurred_at: datetime


class StationConnected(DomainEvent):
    """A station opened a WebSocket connection and was accepted."""

    detail_type: ClassVar[str] = "StationConnected"

    connection_id: str
    protocol: ProtocolVersion


class StationDisconnected(DomainEvent):
    """A station's WebSocket connection closed.

    `superseded` is true when the station had already reconnected on a newer connection, so the
    station did not go offline.
    """

    detail_type: ClassVar[str] = "StationDisconnected"

    connection_id: str
    superseded: bool = False


class StationConnectionRefused(DomainEvent):
    """A connection attempt was refused at `$connect` (not published for unknown stations)."""

    detail_type: ClassVar[str] = "StationConnectionRefused"

    reason: RefusalReason


class StationBooted(DomainEvent):
    """A station sent a BootNotification."""

    detail_type: ClassVar[str] = "StationBooted"

    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    reason: BootReason
    registration_status: RegistrationStatus


class ConnectorStatusChanged(DomainEvent):
    """A connector (or the whole station, EVSE 0) changed status."""

    detail_type: ClassVar[str] = "ConnectorStatusChanged"

    evse: EvseRef
    status: ConnectorStatus
    detail: OccupancyDetail | None = None
    error_code: str | None = None


EVENT_TYPES: tuple[type[DomainEvent], ...] = (
    StationConnected,
    StationDisconnected,
    StationConnectionRefused,
    StationBooted,
    ConnectorStatusChanged,
)


class EventMetadata(BaseModel):
    """What every event carries besides its data."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    event_version: str
    occurred_at: datetime
    tenant_id: str
    station_id: str | None = None


E = TypeVar("E", bound=DomainEvent)


class EventEnvelope(BaseModel, Generic[E]):
    """The EventBridge `detail` and the webhook body: `{metadata, data}`."""

    model_config = ConfigDict(frozen=True)

    metadata: EventMetadata
    data: E

    @classmethod
    def wrap(cls, event: E, event_id: str) -> EventEnvelope[E]:
        """Put an event in its envelope."""
        return cls(
            metadata=EventMetadata(
                event_id=event_id,
                event_version=event.event_version,
                occurred_at=event.occurred_at,
                tenant_id=event.tenant_id,
                station_id=event.station_id,
            ),
            data=event,
        )
