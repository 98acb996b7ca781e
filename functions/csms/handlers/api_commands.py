"""Commands to stations: send one in the station's OCPP version, read the history, cancel.

A command goes out at once when the station is online and free, else it waits in the station's
queue for its time-to-live (`ttl`). The POST waits a few seconds for the station's answer: 200
with the outcome (a Rejected is an answer, not an error), else 202 with `Location` to poll.
"""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from csms.domain.access import Permission, Principal
from csms.domain.command_records import MAX_COMMAND_TTL, CommandRecord, CommandState
from csms.domain.commands import Command
from csms.domain.errors import ForbiddenError
from csms.handlers.api_access import Change, current_principal, operation, record_change
from csms.handlers.api_common import (
    BAD_REQUEST,
    FORBIDDEN,
    Cursor,
    Limit,
    StationId,
    new_router,
    problems,
    responses,
    runtime,
    station_of,
)
from csms.handlers.api_models_commands import CommandPage, CommandView

router = new_router()

# Commands that change who charges, when and how much need more than station maintenance.
_CHARGING_CONTROL = (
    "StartCharging",
    "StopCharging",
    "ReserveNow",
    "CancelReservation",
    "SendLocalList",
    "SetChargingProfile",
    "ClearChargingProfile",
)
_MAINTENANCE = (
    "Reset",
    "UnlockConnector",
    "ChangeAvailability",
    "GetConfiguration",
    "SetConfiguration",
    "TriggerMessage",
    "ClearCache",
    "GetLocalListVersion",
    "UpdateFirmware",
    "GetDiagnostics",
    "GetCompositeSchedule",
)
# The permission each command needs besides the route's MAINTAIN_STATIONS (docs are generated
# from this); a command not listed needs only that.
COMMAND_PERMISSIONS: dict[str, Permission] = {
    **dict.fromkeys(_MAINTENANCE, Permission.MAINTAIN_STATIONS),
    **dict.fromkeys(_CHARGING_CONTROL, Permission.CONTROL_CHARGING),
}

CommandId = Annotated[
    str, Path(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9._:-]+$", description="From `id`")
]
_NO_COMMAND = (HTTPStatus.NOT_FOUND, "No such station or command in the caller's reach")
_NOT_SUPPORTED = (
    HTTPStatus.UNPROCESSABLE_ENTITY,
    "The station's OCPP version cannot carry this command (the body says why)",
)

_EXAMPLES = {
    "reset": Example(summary="Reboot the station when idle", value={"action": "Reset"}),
    "hard-reset": Example(
        summary="Reboot the station now", value={"action": "Reset", "kind": "Hard"}
    ),
    "trigger": Example(
        summary="Ask EVSE 1 for its status",
        value={"action": "TriggerMessage", "message": "StatusNotification", "evseId": 1},
    ),
}


def _check_command_permission(principal: Principal, action: str) -> None:
    needed = COMMAND_PERMISSIONS.get(action, Permission.MAINTAIN_STATIONS)
    if not principal.may(needed):
        raise ForbiddenError(f"role {principal.role.value} may not {needed.value} ({action})")


def _view(record: CommandRecord) -> CommandView:
    return CommandView.of(record, runtime().commands.progress(record))


def _command_response(station_id: str, record: CommandRecord) -> Response[str]:
    waiting = record.state in (CommandState.QUEUED, CommandState.PENDING)
    status = HTTPStatus.ACCEPTED if waiting else HTTPStatus.OK
    return Response(
        status_code=status.value,
        content_type="application/json",
        body=_view(record).model_dump_json(by_alias=True),
        headers={"Location": f"/v1/stations/{station_id}/commands/{record.id}"},
    )


@operation(
    router,
    "POST",
    "/v1/stations/<station_id>/commands",
    Permission.MAINTAIN_STATIONS,
    summary="Send a command to a station",
    tags=["commands"],
    responses={
        200: {
            "description": "The command ended: answered (its status may be Rejected), failed"
            " (CALLERROR), timed out or expired",
            "content": {"application/json": {"model": CommandView}},
        },
        202: {
            "description": "Queued or sent, not answered yet; poll `Location`",
            "content": {"application/json": {"model": CommandView}},
        },
        **problems(BAD_REQUEST, FORBIDDEN, _NO_COMMAND, _NOT_SUPPORTED),
    },
)
def send_command(
    station_id: StationId,
    body: Annotated[Command, Body(openapi_examples=_EXAMPLES)],
    ttl: Annotated[
        int | None,
        Query(
            ge=1,
            le=int(MAX_COMMAND_TTL.total_seconds()),
            description="Seconds the command may wait for an offline or busy station"
            " (default CSMS_COMMAND_TTL_S, 600)",
        ),
    ] = None,
) -> Response[str]:
    """Send now, or queue; wait briefly for the answer, in either OCPP version."""
    rt = runtime()
    caller = current_principal()
    _check_command_permission(caller, body.action)
    station_of(caller, station_id)
    default_ttl = int(getattr(rt.settings, "command_ttl_s", 600))
    record = rt.commands.send(
        caller.tenant_id, station_id, body, timedelta(seconds=ttl or default_ttl)
    )
    wait_s = float(getattr(rt.settings, "command_wait_s", 0.0))
    record = rt.commands.wait(caller.tenant_id, station_id, record.id, wait_s)
    record_change(
        Change(
            kind="command",
            resource_id=f"{station_id}/{record.id}",
            after=CommandView.of(record).audit(),
            action=f"command.{record.action}",
            details={"stationId": station_id, "action": record.action},
        )
    )
    return _command_response(station_id, record)


@operation(
    router,
    "GET",
    "/v1/stations/<station_id>/commands",
    Permission.READ,
    summary="A station's command history",
    tags=["commands"],
    responses=responses("A page of commands, newest first", BAD_REQUEST, _NO_COMMAND),
)
def list_commands(
    station_id: StationId,
    *,
    limit: Limit = 50,
    cursor: Cursor = None,
    state: Annotated[
        list[CommandState] | None, Query(description="Only commands in these states")
    ] = None,
    action: Annotated[
        str | None,
        Query(max_length=64, pattern=r"^[A-Za-z]+$", description="Only this command"),
    ] = None,
) -> CommandPage:
    """Newest first, as they stand now; a page may be short when filters leave many out."""
    caller = current_principal()
    station_of(caller, station_id)
    page = runtime().commands.history(
        caller.tenant_id, station_id, limit, cursor, states=state or (), action=action
    )
    return CommandPage(items=[_view(r) for r in page.items], next_cursor=page.next_cursor)


@operation(
    router,
    "GET",
    "/v1/stations/<station_id>/commands/<command_id>",
    Permission.READ,
    summary="A command and its outcome",
    tags=["commands"],
    responses=responses("The command", _NO_COMMAND),
)
def get_command(station_id: StationId, command_id: CommandId) -> CommandView:
    """Queued, pending, answered, failed (CALLERROR), timed out, expired or cancelled.

    A firmware update or a log upload shows the station's status notifications since.
    """
    caller = current_principal()
    station_of(caller, station_id)
    return _view(runtime().commands.result(caller.tenant_id, station_id, command_id))


@operation(
    router,
    "DELETE",
    "/v1/stations/<station_id>/commands/<command_id>",
    Permission.MAINTAIN_STATIONS,
    summary="Cancel a queued command",
    tags=["commands"],
    responses=responses(
        "The command, cancelled",
        FORBIDDEN,
        _NO_COMMAND,
        (HTTPStatus.CONFLICT, "The command was sent already, or has ended"),
    ),
)
def cancel_command(station_id: StationId, command_id: CommandId) -> CommandView:
    """Only a command still in the queue can be cancelled; it is then never sent."""
    commands = runtime().commands
    caller = current_principal()
    station_of(caller, station_id)
    before = commands.result(caller.tenant_id, station_id, command_id)
    _check_command_permission(caller, before.action)
    cancelled = commands.cancel(caller.tenant_id, station_id, command_id)
    record_change(
        Change(
            kind="command",
            resource_id=f"{station_id}/{command_id}",
            before=CommandView.of(before).audit(),
            after=CommandView.of(cancelled).audit(),
            action="command.cancel",
            details={"stationId": station_id, "action": cancelled.action},
        )
    )
    return _view(cancelled)
