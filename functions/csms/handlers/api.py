"""The HTTP API under /v1 (API Gateway HTTP API, JWT authorizer in front).

In AWS the JWT authorizer has verified the token before this function runs; the local runtime
does the same with its own key. Either way the claims arrive in
`requestContext.authorizer.jwt.claims`, and every read and write is scoped to their tenant.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from csms.domain.commands import CallState
from csms.domain.errors import DomainError, StationNotFoundError
from csms.domain.station import Station
from csms.handlers._runtime import Runtime, api, logger
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
from csms.handlers.problems import domain_problem, problem

OPENAPI_PATH = "/v1/openapi.json"
API_TITLE = "CSMS operator API"
API_VERSION = "1"

app = APIGatewayHttpResolver(enable_validation=True)

StationId = Annotated[str, Path(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._~:*+@-]+$")]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=2048, description="From `nextCursor`")]


@dataclass(frozen=True)
class Caller:
    """Who is calling, from the verified JWT."""

    subject: str
    tenant_id: str
    role: str | None


class UnauthorizedError(Exception):
    """No usable identity on the request."""


def caller_from_claims(claims: dict[str, Any]) -> Caller:
    """Read subject, tenant and role; a token without a tenant is not ours."""
    tenant = claims.get("tenant_id") or claims.get("custom:tenant_id")
    subject = claims.get("sub")
    if not tenant or not subject:
        raise UnauthorizedError
    role = claims.get("role") or claims.get("custom:role")
    groups = claims.get("cognito:groups")
    if role is None and groups:
        role = groups[0] if isinstance(groups, list) else str(groups).strip("[]").split(" ")[0]
    return Caller(subject=str(subject), tenant_id=str(tenant), role=str(role) if role else None)


def current_caller() -> Caller:
    """The caller of the request being handled."""
    ctx = app.current_event.raw_event.get("requestContext") or {}
    claims = ((ctx.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    return caller_from_claims(claims)


def require_caller(app_: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """401 unless the request carries verified claims (the OpenAPI document is public)."""
    if app_.current_event.path != OPENAPI_PATH:
        try:
            current_caller()
        except UnauthorizedError:
            return problem(
                HTTPStatus.UNAUTHORIZED,
                "unauthorized",
                "a bearer token with a tenant is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
    return next_middleware(app_)


app.use(middlewares=[require_caller])


def _runtime() -> Runtime:
    return api()


def _station_of(caller: Caller, station_id: str) -> Station:
    station = _runtime().station_repository.get(station_id)
    # Another tenant's station is as absent as one that does not exist.
    if station is None or station.tenant_id != caller.tenant_id:
        raise StationNotFoundError(station_id)
    return station


@app.get("/v1/stations", summary="List stations", tags=["stations"])
def list_stations(limit: Limit = 50, cursor: Cursor = None) -> StationPage:
    """The caller's stations by id, a page at a time."""
    page = _runtime().station_repository.list_for_tenant(current_caller().tenant_id, limit, cursor)
    return StationPage(
        items=[StationSummary.of(s) for s in page.items], next_cursor=page.next_cursor
    )


@app.get("/v1/stations/<station_id>", summary="Get a station", tags=["stations"])
def get_station(station_id: StationId) -> StationDetail:
    """Identity, protocol, online state, last boot, last message time and connectors."""
    runtime = _runtime()
    station = _station_of(current_caller(), station_id)
    last_seen = station.disconnected_at
    if station.online and station.connection_id:
        last_seen = runtime.sender.last_active_at(station.connection_id) or station.connected_at
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
        connectors=[ConnectorView.of(c) for c in runtime.statuses.list(station_id)],
    )


@app.get(
    "/v1/stations/<station_id>/connection-log",
    summary="A station's connection log",
    tags=["stations"],
)
def connection_log(
    station_id: StationId, limit: Limit = 50, cursor: Cursor = None
) -> ConnectionLogPage:
    """Connects, disconnects and refused attempts with their reasons, newest first."""
    _station_of(current_caller(), station_id)
    page = _runtime().connection_log.list(station_id, limit, cursor)
    return ConnectionLogPage(
        items=[ConnectionLogView.of(e) for e in page.items], next_cursor=page.next_cursor
    )


@app.post(
    "/v1/stations/<station_id>/commands",
    summary="Send a command to a station",
    tags=["commands"],
    responses={
        200: {"description": "The station answered (or the call timed out)"},
        202: {"description": "Still waiting for the station; poll the command"},
    },
)
def send_command(station_id: StationId, body: Annotated[CommandRequest, Body()]) -> Response[str]:
    """Send Reset or TriggerMessage in the station's OCPP version and wait briefly."""
    runtime = _runtime()
    caller = current_caller()
    _station_of(caller, station_id)
    call = runtime.commands.send(caller.tenant_id, station_id, body.command())
    wait_s = getattr(runtime.settings, "command_wait_s", 0.0)
    call = runtime.commands.wait(caller.tenant_id, station_id, call.unique_id, wait_s)
    status = HTTPStatus.ACCEPTED if call.state is CallState.PENDING else HTTPStatus.OK
    return Response(
        status_code=status.value,
        content_type="application/json",
        body=CommandView.of(call).model_dump_json(by_alias=True),
        headers={"Location": f"/v1/stations/{station_id}/commands/{call.unique_id}"},
    )


@app.get(
    "/v1/stations/<station_id>/commands/<command_id>",
    summary="A command and its outcome",
    tags=["commands"],
)
def get_command(
    station_id: StationId, command_id: Annotated[str, Path(min_length=1, max_length=36)]
) -> CommandView:
    """Pending, answered, failed (CALLERROR) or timed out."""
    caller = current_caller()
    _station_of(caller, station_id)
    return CommandView.of(_runtime().commands.result(caller.tenant_id, station_id, command_id))


@app.get(OPENAPI_PATH, include_in_schema=False)
def openapi_document() -> Response[str]:
    """The OpenAPI 3.1 document of this API, generated from the code."""
    return Response(status_code=200, content_type="application/json", body=openapi_json())


def openapi_json() -> str:
    """The generated OpenAPI document (also written to schemas/openapi.json)."""
    document = json.loads(
        app.get_openapi_json_schema(
            title=API_TITLE,
            version=API_VERSION,
            openapi_version="3.1.0",
            security_schemes={"bearer": HTTPBearer(bearerFormat="JWT")},
            security=[{"bearer": []}],
        )
    )
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


@app.exception_handler(DomainError)
def _domain_error(exc: DomainError) -> Response[str]:
    return domain_problem(exc, instance=app.current_event.path)


@app.exception_handler(RequestValidationError)
def _invalid_request(exc: RequestValidationError) -> Response[str]:
    errors = [
        {"location": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg", "")}
        for err in exc.errors()
    ]
    return problem(
        HTTPStatus.BAD_REQUEST,
        "invalid-request",
        "the request does not match the API's schema",
        instance=app.current_event.path,
        errors=errors,
    )


@app.not_found
def _not_found(exc: NotFoundError) -> Response[str]:
    del exc
    return problem(
        HTTPStatus.NOT_FOUND, "not-found", "no such resource", instance=app.current_event.path
    )


@app.exception_handler(Exception)
def _internal(exc: Exception) -> Response[str]:
    logger.exception("unhandled error in the HTTP API", exc_info=exc)
    return problem(HTTPStatus.INTERNAL_SERVER_ERROR, "internal-error", "internal error")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Resolve the HTTP request."""
    return app.resolve(event, context)
