"""A station's message log (recent frames, for troubleshooting) and switching tracing on/off."""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from csms.domain.access import Permission
from csms.domain.frames import FrameDirection
from csms.handlers.api_access import Change, current_principal, operation, record_change
from csms.handlers.api_common import (
    BAD_REQUEST,
    Cursor,
    Limit,
    StationId,
    new_router,
    problems,
    responses,
    runtime,
    station_of,
)
from csms.handlers.api_models_audit import FramePage, FrameView, TraceRequest, TraceView
from csms.services.message_log import FrameQuery

router = new_router()

_NO_STATION = (HTTPStatus.NOT_FOUND, "No such station in the caller's tenant and sites")


@operation(
    router,
    "GET",
    "/v1/stations/<station_id>/messages",
    Permission.TRACE_STATIONS,
    summary="A station's recent OCPP frames",
    tags=["stations"],
    responses=responses("A page of frames, newest first", BAD_REQUEST, _NO_STATION),
)
def list_messages(
    station_id: StationId,
    limit: Limit = 50,
    cursor: Cursor = None,
    direction: Annotated[FrameDirection | None, Query(description="Who sent the frame")] = None,
    action: Annotated[
        str | None,
        Query(max_length=64, description="Frames of CALLs with this action (and our replies)"),
    ] = None,
) -> FramePage:
    """Frames of a traced station (and the CSMS's replies and calls), kept for a day.

    Stations are traced for their first day after registration and while an operator traces
    them (`PUT .../trace`). Credentials are removed, id tokens masked, frames cut at 4 KB.
    """
    caller = current_principal()
    station_of(caller, station_id)
    page = runtime().message_log.list(
        station_id, caller.tenant_id, FrameQuery(direction=direction, action=action), limit, cursor
    )
    return FramePage(items=[FrameView.of(r) for r in page.items], next_cursor=page.next_cursor)


@operation(
    router,
    "PUT",
    "/v1/stations/<station_id>/trace",
    Permission.TRACE_STATIONS,
    summary="Trace a station's frames for a while",
    tags=["stations"],
    responses=responses("Traced until the time given", BAD_REQUEST, _NO_STATION),
)
def start_trace(
    station_id: StationId,
    body: Annotated[
        TraceRequest,
        Body(
            openapi_examples={
                "hour": Example(summary="Trace for an hour", value={"minutes": 60}),
            }
        ),
    ],
) -> TraceView:
    """Keep the station's frames in the message log from now on, for 1 to 1440 minutes.

    A new connection is traced from its start. A live one is traced once the message
    handler reads its binding again (message handlers cache bindings), at the latest from the
    station's next connection.
    """
    rt = runtime()
    station = station_of(current_principal(), station_id)
    until = rt.message_log.trace_until(body.minutes)
    rt.station_repository.set_trace(station_id, until)
    _note(station_id, station.trace_until, until, "station.trace")
    return TraceView(station_id=station_id, trace_until=until)


@operation(
    router,
    "DELETE",
    "/v1/stations/<station_id>/trace",
    Permission.TRACE_STATIONS,
    summary="Stop tracing a station",
    tags=["stations"],
    responses={
        HTTPStatus.NO_CONTENT.value: {"description": "No longer traced"},
        **problems(_NO_STATION),
    },
)
def stop_trace(station_id: StationId) -> Response[str]:
    """Stop keeping the station's frames (those kept already expire as planned)."""
    station = station_of(current_principal(), station_id)
    runtime().station_repository.set_trace(station_id, None)
    _note(station_id, station.trace_until, None, "station.untrace")
    return Response(status_code=HTTPStatus.NO_CONTENT.value, body="")


def _note(station_id: str, before: datetime | None, after: datetime | None, action: str) -> None:
    def view(value: datetime | None) -> dict[str, str | None]:
        return {"traceUntil": value.isoformat() if value is not None else None}

    record_change(
        Change(
            kind="station",
            resource_id=station_id,
            before=view(before),
            after=view(after),
            action=action,
        )
    )
