"""Commands to stations: send one in the station's OCPP version, read what became of it."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from csms.domain.access import Permission
from csms.domain.commands import CallState
from csms.handlers.api_access import current_principal, operation
from csms.handlers.api_common import StationId, new_router, runtime, station_of
from csms.handlers.api_models import CommandRequest, CommandView

router = new_router()


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
