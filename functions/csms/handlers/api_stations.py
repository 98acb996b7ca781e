"""Stations: register, list, read, change, rotate the password, decommission; connection log.

A station id is global (it is the station's URL), so registering an id that exists in any
tenant is a conflict. A caller restricted to some sites sees and manages only the stations at
those sites; their list filters the tenant's stations by site (one index, filtered on the
items), and a site filter beyond their reach lists nothing.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import BaseModel

from csms.domain.access import Permission
from csms.domain.station import ProtocolVersion, StationState
from csms.handlers.api_access import (
    Change,
    current_principal,
    etag,
    expected_version,
    if_match_header,
    operation,
    record_change,
)
from csms.handlers.api_common import (
    BAD_REQUEST,
    PRECONDITION_FAILED,
    Cursor,
    Limit,
    StationId,
    new_router,
    problems,
    responses,
    runtime,
    station_of,
)
from csms.handlers.api_models import BootView, ConnectionLogPage, ConnectionLogView
from csms.handlers.api_models_stations import (
    PasswordRotation,
    StationConnectorView,
    StationCreate,
    StationDetailView,
    StationListPage,
    StationUpdate,
    StationView,
    StationWithPassword,
)
from csms.services.ports import StationQuery

router = new_router()

_NO_STATION = (HTTPStatus.NOT_FOUND, "No such station in the caller's tenant and sites")
_DECOMMISSIONED = (HTTPStatus.CONFLICT, "The station is decommissioned (read-only)")
_BAD_SITE = (
    HTTPStatus.UNPROCESSABLE_ENTITY,
    "`siteId` names no site of the tenant that the caller reaches",
)
_TAGS = ["stations"]


def _json(model: StationView, status: HTTPStatus = HTTPStatus.OK) -> Response[str]:
    """The station as JSON with its ETag; one that shows a password is never cached."""
    headers = {"ETag": etag(model.version)}
    if isinstance(model, StationWithPassword):
        headers["Cache-Control"] = "no-store"
    if status is HTTPStatus.CREATED:
        headers["Location"] = f"/v1/stations/{model.id}"
    return Response(
        status_code=status.value,
        content_type="application/json",
        body=model.model_dump_json(by_alias=True),
        headers=headers,
    )


def _ok(description: str, model: type[BaseModel]) -> dict[int, dict[str, object]]:
    return {
        HTTPStatus.OK.value: {
            "description": description + "; `ETag` names its version",
            "content": {"application/json": {"model": model}},
        }
    }


@operation(
    router,
    "GET",
    "/v1/stations",
    Permission.READ,
    summary="List stations",
    tags=_TAGS,
    responses=responses("A page of stations", BAD_REQUEST),
)
def list_stations(
    *,
    limit: Limit = 50,
    cursor: Cursor = None,
    site_id: Annotated[
        str | None,
        Query(alias="siteId", max_length=64, description="Stations at this site"),
    ] = None,
    online: Annotated[bool | None, Query(description="Online (true) or offline (false)")] = None,
    protocol: Annotated[
        ProtocolVersion | None, Query(description="Negotiated protocol (current or last)")
    ] = None,
    state: Annotated[
        Literal["active", "decommissioned", "all"],
        Query(description="In service (default), decommissioned, or both"),
    ] = "active",
    sort: Annotated[
        Literal["id", "-id"], Query(description="By id, ascending (`id`) or descending (`-id`)")
    ] = "id",
) -> StationListPage:
    """The caller's stations, filtered and sorted by id, a page at a time."""
    query = StationQuery(
        site_id=site_id,
        online=online,
        protocol=protocol,
        state=None if state == "all" else StationState(state),
        descending=sort == "-id",
    )
    page = runtime().station_admin.find(current_principal(), query, limit, cursor)
    return StationListPage(
        items=[StationView.of(s) for s in page.items], next_cursor=page.next_cursor
    )


_CREATE_EXAMPLES = {
    "generated": Example(
        summary="The CSMS generates the password",
        value={"id": "CP-0042", "siteId": "depot-north", "name": "Bay 42"},
    ),
    "pinned": Example(
        summary="A 1.6 station with the password already set in it",
        value={
            "id": "CP-0043",
            "siteId": "depot-north",
            "pinnedProtocol": "ocpp1.6",
            "password": "s3cret-Station-Key-0043",
        },
    ),
}


@operation(
    router,
    "POST",
    "/v1/stations",
    Permission.MANAGE_STATIONS,
    summary="Register a station",
    tags=_TAGS,
    responses={
        HTTPStatus.CREATED.value: {
            "description": "Registered; the answer shows the password once (it is stored "
            "hashed and never shown again); `Location` names the station",
            "content": {"application/json": {"model": StationWithPassword}},
        },
        **problems(
            BAD_REQUEST,
            (HTTPStatus.CONFLICT, "A station with this id exists (in any tenant)"),
            _BAD_SITE,
        ),
    },
)
def register_station(
    body: Annotated[StationCreate, Body(openapi_examples=_CREATE_EXAMPLES)],
) -> Response[str]:
    """A new station at one of the caller's sites; its first 24 h of frames are traced."""
    created = runtime().station_admin.register(current_principal(), body.registration())
    view = StationView.of(created.station)
    record_change(
        Change(
            kind="station",
            resource_id=view.id,
            before=None,
            after=view.audit(),
            action="station.register",
        )
    )
    answer = StationWithPassword(**view.model_dump(), password=created.password)
    return _json(answer, HTTPStatus.CREATED)


@operation(
    router,
    "GET",
    "/v1/stations/<station_id>",
    Permission.READ,
    summary="Get a station",
    tags=_TAGS,
    responses={**_ok("The station", StationDetailView), **problems(_NO_STATION)},
)
def get_station(station_id: StationId) -> Response[str]:
    """Identity, state, protocol, online since / offline since, last boot, connectors."""
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
    detail = StationDetailView(
        **StationView.fields_of(station),
        connected_at=station.connected_at,
        disconnected_at=station.disconnected_at,
        last_seen_at=last_seen,
        last_boot=boot,
        connectors=[StationConnectorView.of(c) for c in rt.statuses.list(station_id)],
    )
    return _json(detail)


@operation(
    router,
    "PATCH",
    "/v1/stations/<station_id>",
    Permission.MANAGE_STATIONS,
    summary="Change a station",
    tags=_TAGS,
    responses={
        **_ok("The station as changed", StationView),
        **problems(BAD_REQUEST, _NO_STATION, _DECOMMISSIONED, PRECONDITION_FAILED, _BAD_SITE),
    },
)
def update_station(
    station_id: StationId,
    body: Annotated[
        StationUpdate,
        Body(
            openapi_examples={
                "move": Example(
                    summary="Move to another site and rename",
                    value={"siteId": "depot-south", "name": "South bay 1"},
                ),
                "unpin": Example(
                    summary="Let the station negotiate its protocol again",
                    value={"pinnedProtocol": None},
                ),
            }
        ),
    ],
) -> Response[str]:
    """JSON merge patch semantics; honours `If-Match` (412 when the station changed)."""
    change = runtime().station_admin.update(
        current_principal(),
        station_id,
        body.patch(),
        expected_version(if_match_header(router), "station", station_id),
    )
    before, after = StationView.of(change.before), StationView.of(change.after)
    if change.changed:
        record_change(
            Change(
                kind="station",
                resource_id=station_id,
                before=before.audit(),
                after=after.audit(),
                action="station.update",
            )
        )
    return _json(after)


@operation(
    router,
    "POST",
    "/v1/stations/<station_id>/password",
    Permission.MANAGE_STATIONS,
    summary="Rotate a station's password",
    tags=_TAGS,
    responses={
        HTTPStatus.OK.value: {
            "description": "The new password, shown once. The previous one keeps opening "
            "connections for the grace period (CSMS_STATION_PASSWORD_GRACE_S) or until the "
            "station first connects with the new one",
            "content": {"application/json": {"model": StationWithPassword}},
        },
        **problems(BAD_REQUEST, _NO_STATION, _DECOMMISSIONED, PRECONDITION_FAILED),
    },
)
def rotate_password(
    station_id: StationId,
    body: Annotated[
        PasswordRotation | None,
        Body(
            openapi_examples={
                "generated": Example(summary="The CSMS generates the password", value={}),
                "chosen": Example(
                    summary="A password chosen by the operator",
                    value={"password": "n3w-Station-Key-0042"},
                ),
            }
        ),
    ] = None,
) -> Response[str]:
    """A new password; set it in the station (1.6 AuthorizationKey, 2.0.1 BasicAuthPassword)."""
    rotated = runtime().station_admin.rotate_password(
        current_principal(),
        station_id,
        body.password if body is not None else None,
        expected_version(if_match_header(router), "station", station_id),
    )
    view = StationView.of(rotated.station)
    before = StationView.of(rotated.before) if rotated.before else None
    record_change(
        Change(
            kind="station",
            resource_id=station_id,
            before=before.audit() if before else None,
            after=view.audit(),
            action="station.rotate-password",
        )
    )
    answer = StationWithPassword(**view.model_dump(), password=rotated.password)
    return _json(answer)


@operation(
    router,
    "POST",
    "/v1/stations/<station_id>/decommission",
    Permission.MANAGE_STATIONS,
    summary="Decommission a station",
    tags=_TAGS,
    responses={
        **_ok("The decommissioned station", StationView),
        **problems(_NO_STATION, PRECONDITION_FAILED),
    },
)
def decommission_station(station_id: StationId) -> Response[str]:
    """Refused at connect from now on and its live connection closed; history and sessions stay.

    Decommissioning a decommissioned station changes nothing.
    """
    change = runtime().station_admin.decommission(
        current_principal(),
        station_id,
        expected_version(if_match_header(router), "station", station_id),
    )
    after = StationView.of(change.after)
    if change.changed:
        record_change(
            Change(
                kind="station",
                resource_id=station_id,
                before=StationView.of(change.before).audit(),
                after=after.audit(),
                action="station.decommission",
            )
        )
    return _json(after)


@operation(
    router,
    "GET",
    "/v1/stations/<station_id>/connection-log",
    Permission.READ,
    summary="A station's connection log",
    tags=_TAGS,
    responses=responses("A page of the connection log", BAD_REQUEST, _NO_STATION),
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
