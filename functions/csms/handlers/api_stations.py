"""Stations: list, detail, connection log, and commands sent to them."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from csms.domain.access import Permission, Principal
from csms.domain.commands import CallState
from csms.domain.errors import StationNotFoundError
from csms.domain.station import Station
from csms.handlers.api_access import current_principal, operation
from csms.handlers.api_common import Cursor, Limit, StationId, new_router, runtime
from csms.handlers.api_models import (
    BootView,
    CommandRequest,
    CommandView,
    ConnectionLogPage,
    ConnectionLogView,
    ConnectorView,
    StationDetail,
    StationPage,
    StationSummary,
)

router = new_router()


def station_of(principal: Principal, station_id: str) -> Station:
    """The caller's station; another tenant's, or one beyond the caller's sites, is absent."""
    station = runtime().station_repository.get(station_id)
    if (
        station is None
        or station.tenant_id != principal.tenant_id
        or not principal.reaches(station.site_id)
    ):
        raise StationNotFoundError(station_id)
    return station


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


@operation(
    router,
    "POST",
    "/v1/stations/<station_id>/commands",
    Permission.MAINTAIN_STATIONS,
    summary="Send a command to a station",
    tags=["commands"],
    responses={
        200: {"description": "The station answered (or the call timed out)"},
        202: {"description": "Still waiting for the station; poll the command"},
    },
)
def send_command(station_id: StationId, body: Annotated[CommandRequest, Body()]) -> Response[str]:
    """Send Reset or TriggerMessage in the station's OCPP version and wait briefly."""
    rt = runtime()
    caller = current_principal()
    station_of(caller, station_id)
    call = rt.commands.send(caller.tenant_id, station_id, body.command())
    wait_s = getattr(rt.settings, "command_wait_s", 0.0)
    call = rt.commands.wait(caller.tenant_id, station_id, call.unique_id, wait_s)
    status = HTTPStatus.ACCEPTED if call.state is CallState.PENDING else HTTPStatus.OK
    return Response(
        status_code=status.value,
        content_type="application/json",
        body=CommandView.of(call).model_dump_json(by_alias=True),
        headers={"Location": f"/v1/stations/{station_id}/commands/{call.unique_id}"},
    )


@operation(
    router,
    "GET",
    "/v1/stations/<station_id>/commands/<command_id>",
    Permission.READ,
    summary="A command and its outcome",
    tags=["commands"],
)
def get_command(
    station_id: StationId, command_id: Annotated[str, Path(min_length=1, max_length=36)]
) -> CommandView:
    """Pending, answered, failed (CALLERROR) or timed out."""
    caller = current_principal()
    station_of(caller, station_id)
    return CommandView.of(runtime().commands.result(caller.tenant_id, station_id, command_id))
