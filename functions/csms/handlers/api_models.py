"""Request and response bodies of the HTTP API (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from csms.domain.commands import (
    CallState,
    CommandStatus,
    OutgoingCall,
    ResetCommand,
    ResetKind,
    TriggerableMessage,
    TriggerMessageCommand,
)
from csms.domain.connection import ConnectionLogEntry
from csms.domain.connector import ConnectorState
from csms.domain.station import Station


class ApiModel(BaseModel):
    """camelCase JSON, snake_case Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class Problem(ApiModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class ConnectorView(ApiModel):
    """A connector's last known status."""

    evse_id: int
    connector_id: int
    status: str
    detail: str | None = None
    error_code: str | None = None
    info: str | None = None
    since: datetime
    reported_at: datetime

    @classmethod
    def of(cls, state: ConnectorState) -> ConnectorView:
        """From the domain state."""
        return cls(
            evse_id=state.evse.evse_id,
            connector_id=state.evse.connector_id,
            status=state.status.value,
            detail=state.detail.value if state.detail else None,
            error_code=state.error_code,
            info=state.info,
            since=state.since,
            reported_at=state.reported_at,
        )


class BootView(ApiModel):
    """What the station said when it last booted."""

    at: datetime | None
    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    reason: str
    registration_status: str | None = None


class StationSummary(ApiModel):
    """A station in a list."""

    id: str
    site_id: str | None = None
    pinned_protocol: str | None = None
    protocol: str | None = None
    online: bool
    last_boot_at: datetime | None = None

    @classmethod
    def of(cls, station: Station) -> StationSummary:
        """From the domain station."""
        return cls(
            id=station.id,
            site_id=station.site_id,
            pinned_protocol=station.pinned_protocol.value if station.pinned_protocol else None,
            protocol=station.protocol.value if station.protocol else None,
            online=station.online,
            last_boot_at=station.last_boot_at,
        )


class StationDetail(StationSummary):
    """A station with its connection, boot and connectors."""

    connected_at: datetime | None = None
    disconnected_at: datetime | None = None
    last_seen_at: datetime | None = Field(
        default=None,
        description="Last heartbeat or other message (from API Gateway's connection record); "
        "the disconnect time when offline.",
    )
    last_boot: BootView | None = None
    connectors: list[ConnectorView] = []


class StationPage(ApiModel):
    """A page of stations."""

    items: list[StationSummary]
    next_cursor: str | None = None


class ConnectionLogView(ApiModel):
    """One connection log entry."""

    at: datetime
    outcome: str
    reason: str | None = None
    protocol: str | None = None
    connection_id: str | None = None
    source_ip: str | None = None
    offered_protocols: list[str] = []

    @classmethod
    def of(cls, entry: ConnectionLogEntry) -> ConnectionLogView:
        """From the domain entry."""
        return cls(
            at=entry.at,
            outcome=entry.outcome.value,
            reason=entry.reason.value if entry.reason else None,
            protocol=entry.protocol.value if entry.protocol else None,
            connection_id=entry.connection_id,
            source_ip=entry.source_ip,
            offered_protocols=list(entry.offered_protocols),
        )


class ConnectionLogPage(ApiModel):
    """A page of a station's connection log, newest first."""

    items: list[ConnectionLogView]
    next_cursor: str | None = None


class ResetRequest(ApiModel):
    """Reboot the station: Hard (1.6) = Immediate (2.0.1), Soft = OnIdle."""

    action: Literal["Reset"]
    kind: ResetKind = ResetKind.SOFT

    def command(self) -> ResetCommand:
        """The domain command."""
        return ResetCommand(kind=self.kind)


class TriggerMessageRequest(ApiModel):
    """Ask the station to send one of its messages now."""

    action: Literal["TriggerMessage"]
    message: TriggerableMessage
    evse_id: Annotated[int, Field(ge=0)] | None = None

    def command(self) -> TriggerMessageCommand:
        """The domain command."""
        return TriggerMessageCommand(message=self.message, evse_id=self.evse_id)


CommandRequest = Annotated[ResetRequest | TriggerMessageRequest, Field(discriminator="action")]


class CommandView(ApiModel):
    """A command sent to a station and what became of it."""

    id: str
    station_id: str
    action: str
    state: CallState
    status: CommandStatus | None = None
    request: dict[str, Any]
    response: dict[str, Any] | None = None
    error_code: str | None = None
    error_description: str | None = None
    sent_at: datetime
    deadline: datetime
    answered_at: datetime | None = None

    @classmethod
    def of(cls, call: OutgoingCall) -> CommandView:
        """From the domain call."""
        return cls(
            id=call.unique_id,
            station_id=call.station_id,
            action=call.action,
            state=call.state,
            status=call.status,
            request=call.request,
            response=call.response,
            error_code=call.error_code,
            error_description=call.error_description,
            sent_at=call.sent_at,
            deadline=call.deadline,
            answered_at=call.answered_at,
        )
