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
from aws_lambda_powertools.event_handler.openapi.models import Example, HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime

from csms.domain.commands import CallState
from csms.domain.errors import DomainError, StationNotFoundError
from csms.domain.sessions import SessionState
from csms.domain.station import Station
from csms.domain.tokens import MAX_TOKEN_LENGTH
from csms.handlers._runtime import Runtime, api, logger
from csms.handlers.api_models import (
    TOKEN_PATTERN,
    BootView,
    CommandRequest,
    CommandView,
    ConnectionLogPage,
    ConnectionLogView,
    ConnectorView,
    MeterReadingView,
    MeterValuePage,
    Problem,
    SessionDetail,
    SessionPage,
    SessionSummary,
    StationDetail,
    StationPage,
    StationSummary,
    TokenCreate,
    TokenPage,
    TokenUpdate,
    TokenView,
)
from csms.handlers.problems import PROBLEM_JSON, domain_problem, problem
from csms.services.ports import SessionQuery

OPENAPI_PATH = "/v1/openapi.json"
API_TITLE = "CSMS operator API"
API_VERSION = "1"

app = APIGatewayHttpResolver(enable_validation=True)

StationId = Annotated[str, Path(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._~:*+@-]+$")]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=2048, description="From `nextCursor`")]
SessionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")]
IdTokenValue = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_TOKEN_LENGTH,
        pattern=TOKEN_PATTERN,
        description="The token value, matched without regard to case",
    ),
]


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


def _problems(*described: tuple[HTTPStatus, str]) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses for the problem details (RFC 9457) an operation can answer."""
    return {
        status.value: {"description": text, "content": {PROBLEM_JSON: {"model": Problem}}}
        for status, text in described
    }


def _responses(ok: str, *problems: tuple[HTTPStatus, str]) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses: 200 (its body from the return type) and the problems."""
    return {HTTPStatus.OK.value: {"description": ok}, **_problems(*problems)}


_BAD_REQUEST = (HTTPStatus.BAD_REQUEST, "A parameter, the body or the cursor is invalid")
_NO_SESSION = (HTTPStatus.NOT_FOUND, "No such session in the caller's tenant")
_NO_TOKEN = (HTTPStatus.NOT_FOUND, "No such id token in the caller's tenant")


@app.get(
    "/v1/sessions",
    summary="List charging sessions",
    tags=["sessions"],
    responses=_responses("A page of sessions", _BAD_REQUEST),
)
def list_sessions(
    *,
    limit: Limit = 50,
    cursor: Cursor = None,
    station_id: Annotated[
        str | None,
        Query(alias="stationId", max_length=48, description="Sessions of this station"),
    ] = None,
    site_id: Annotated[
        str | None, Query(alias="siteId", max_length=64, description="Sessions at this site")
    ] = None,
    id_token: Annotated[
        str | None,
        Query(
            alias="idToken",
            max_length=MAX_TOKEN_LENGTH,
            description="Sessions started with this token (without regard to case)",
        ),
    ] = None,
    group_id: Annotated[
        str | None,
        Query(alias="groupId", max_length=64, description="Sessions of this driver group"),
    ] = None,
    state: Annotated[SessionState | None, Query(description="Active or Ended")] = None,
    started_from: Annotated[
        AwareDatetime | None,
        Query(alias="startedFrom", description="Started at or after (RFC 3339, inclusive)"),
    ] = None,
    started_to: Annotated[
        AwareDatetime | None,
        Query(alias="startedTo", description="Started before (RFC 3339, exclusive)"),
    ] = None,
) -> SessionPage:
    """The caller's sessions, newest start first, filtered; a page at a time."""
    if started_from is not None and started_to is not None and started_from >= started_to:
        return SessionPage(items=[])  # an empty time range (and not a query the index refuses)
    query = SessionQuery(
        station_id=station_id,
        site_id=site_id,
        id_token=id_token,
        group_id=group_id,
        state=state,
        started_from=started_from,
        started_to=started_to,
    )
    page = _runtime().sessions.find(current_caller().tenant_id, query, limit, cursor)
    return SessionPage(
        items=[SessionSummary.of(s) for s in page.items], next_cursor=page.next_cursor
    )


@app.get(
    "/v1/sessions/<session_id>",
    summary="Get a charging session",
    tags=["sessions"],
    responses=_responses("The session", _NO_SESSION),
)
def get_session(session_id: SessionId) -> SessionDetail:
    """State, station, EVSE, token, start/stop, live totals, stop reason and anomalies."""
    return SessionDetail.of_view(_runtime().sessions.view(current_caller().tenant_id, session_id))


@app.get(
    "/v1/sessions/<session_id>/meter-values",
    summary="A session's meter values",
    tags=["sessions"],
    responses=_responses("A page of meter values", _BAD_REQUEST, _NO_SESSION),
)
def session_meter_values(
    session_id: SessionId,
    limit: Annotated[int, Query(ge=1, le=100, description="Stored station messages per page")] = 50,
    cursor: Cursor = None,
) -> MeterValuePage:
    """Readings in base units, oldest first, a page of stored station messages at a time.

    A page holds the readings of up to `limit` messages, in time order. Pages follow the
    messages in the order of their first reading (2.0.1: seqNo), so a 1.6 StopTransaction's
    `transactionData`, which begins at the start, comes in the first page. A page can be
    empty while `nextCursor` is set (messages that carried no meter values).
    """
    page = _runtime().sessions.chunks(current_caller().tenant_id, session_id, limit, cursor)
    readings = sorted(
        (reading for chunk in page.items for reading in chunk.readings),
        key=lambda reading: reading.timestamp,
    )
    return MeterValuePage(
        items=[MeterReadingView.of(r) for r in readings], next_cursor=page.next_cursor
    )


@app.get(
    "/v1/tokens",
    summary="List id tokens",
    tags=["tokens"],
    responses=_responses("A page of id tokens", _BAD_REQUEST),
)
def list_tokens(limit: Limit = 50, cursor: Cursor = None) -> TokenPage:
    """The caller's id tokens by value, a page at a time."""
    page = _runtime().tokens.list(current_caller().tenant_id, limit, cursor)
    return TokenPage(items=[TokenView.of(t) for t in page.items], next_cursor=page.next_cursor)


@app.get(
    "/v1/tokens/<id_token>",
    summary="Get an id token",
    tags=["tokens"],
    responses=_responses("The id token", _NO_TOKEN),
)
def get_token(id_token: IdTokenValue) -> TokenView:
    """Status, type, expiry, group and parent of one token."""
    return TokenView.of(_runtime().tokens.get(current_caller().tenant_id, id_token))


_TOKEN_EXAMPLES = {
    "card": Example(
        summary="An RFID card of a fleet",
        value={"idToken": "04A2B3C4D5E6F7", "type": "ISO14443", "groupId": "fleet"},
    ),
    "expiring": Example(
        summary="A blocked key code with an expiry",
        value={"idToken": "KEY-1234", "status": "Blocked", "expiresAt": "2027-01-01T00:00:00Z"},
    ),
}


@app.post(
    "/v1/tokens",
    summary="Create an id token",
    tags=["tokens"],
    responses={
        201: {
            "description": "Created; `Location` names the new token",
            "content": {"application/json": {"model": TokenView}},
        },
        **_problems(
            _BAD_REQUEST,
            (HTTPStatus.CONFLICT, "A token with this value exists (without regard to case)"),
        ),
    },
)
def create_token(
    body: Annotated[TokenCreate, Body(openapi_examples=_TOKEN_EXAMPLES)],
) -> Response[str]:
    """A new token in the caller's tenant; status Accepted unless given."""
    token = _runtime().tokens.create(current_caller().tenant_id, body.token())
    return Response(
        status_code=HTTPStatus.CREATED.value,
        content_type="application/json",
        body=TokenView.of(token).model_dump_json(by_alias=True),
        headers={"Location": f"/v1/tokens/{token.id_token}"},
    )


@app.patch(
    "/v1/tokens/<id_token>",
    summary="Change an id token",
    tags=["tokens"],
    responses=_responses("The id token as changed", _BAD_REQUEST, _NO_TOKEN),
)
def update_token(
    id_token: IdTokenValue,
    body: Annotated[
        TokenUpdate,
        Body(
            openapi_examples={
                "block": Example(summary="Block the card", value={"status": "Blocked"}),
                "no-expiry": Example(
                    summary="Move to another group and clear the expiry",
                    value={"groupId": "residents", "expiresAt": None},
                ),
            }
        ),
    ],
) -> TokenView:
    """JSON merge patch semantics: fields left out stay, an explicit null clears one."""
    tokens = _runtime().tokens
    return TokenView.of(tokens.update(current_caller().tenant_id, id_token, body.patch()))


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
