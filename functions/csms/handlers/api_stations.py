"""Stations: list, detail, connection log, and commands sent to them."""

from __future__ import annotations

from csms.domain.access import Permission
from csms.handlers.api_access import current_principal, operation
from csms.handlers.api_common import Cursor, Limit, StationId, new_router, runtime, station_of
from csms.handlers.api_models import (
    BootView,
    ConnectionLogPage,
    ConnectionLogView,
    ConnectorView,
    StationDetail,
    StationPage,
    StationSummary,
)

router = new_router()


@operation(
    router, "GET", "/v1/stations", Permission.READ, summary="List stations", tags=["stations"]
)
def list_stations(limit: Limit = 50, cursor: Cursor = None) -> StationPage:
    """The caller's stations by id, a page at a time."""
    page = runtime().station_repository.list_for_tenant(
        current_principal().tenant_id, limit, cursor
    )
    return StationPage(
        items=[StationSummary.of(s) for s in page.items], next_cursor=page.next_cursor
    )


@operation(
    router,
    "GET",
    "/v1/stations/<station_id>",
    Permission.READ,
    summary="Get a station",
    tags=["stations"],
)
def get_station(station_id: StationId) -> StationDetail:
    """Identity, protocol, online state, last boot, last message time and connectors."""
    rt = runtime()
    station = station_of(current_principal(), station_id)
    last_seen = station.disconnected_at
    if station.online and station.connection_id:
        last_seen = rt.sender.last_active_at(station.connection_id) or station.connected_at
    boot = None
    if station.boot is not None:
        boot = BootView(
            at=station.last_boot_at,
            vendor=station.boot.vendor,
            model=station.boot.model,
            serial_number=station.boot.serial_number,
            firmware_version=station.boot.firmware_version,
            reason=station.boot.reason.value,
            registration_status=station.registration_status.value
            if station.registration_status
            else None,
        )
    summary = StationSummary.of(station)
    return StationDetail(
        **summary.model_dump(),
        connected_at=station.connected_at,
        disconnected_at=station.disconnected_at,
        last_seen_at=last_seen,
        last_boot=boot,
        connectors=[ConnectorView.of(c) for c in rt.statuses.list(station_id)],
    )


@operation(
    router,
    "GET",
    "/v1/stations/<station_id>/connection-log",
    Permission.READ,
    summary="A station's connection log",
    tags=["stations"],
)
def connection_log(
    station_id: StationId, limit: Limit = 50, cursor: Cursor = None
) -> ConnectionLogPage:
    """Connects, disconnects and refused attempts with their reasons, newest first."""
    station_of(current_principal(), station_id)
    page = runtime().connection_log.list(station_id, limit, cursor)
    return ConnectionLogPage(
        items=[ConnectionLogView.of(e) for e in page.items], next_cursor=page.next_cursor
    )
