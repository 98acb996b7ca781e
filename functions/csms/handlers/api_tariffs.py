"""Routes of the HTTP API: tariffs, their versions, and tariff assignments.

Tariffs are versioned (csms.services.tariffs): PUT stores the next version, never edits one;
GET answers the current version with its number as `ETag`; PUT and DELETE honour `If-Match`.
Every change is noted for the audit log with the public representation before and after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import AwareDatetime, ValidationError

from csms.domain.access import Permission
from csms.handlers.api_access import current_principal, expected_version, if_match_header, operation
from csms.handlers.api_common import (
    BAD_REQUEST,
    FORBIDDEN,
    PRECONDITION_FAILED,
    Cursor,
    Limit,
    ResourceId,
    audit_change,
    json_response,
    new_router,
    problems,
    runtime,
    versioned,
)
from csms.handlers.api_models_tariffs import (
    AssignmentCreate,
    AssignmentPage,
    AssignmentView,
    ResolvedView,
    SessionPriceView,
    TariffCreate,
    TariffPage,
    TariffTerms,
    TariffVersionPage,
    TariffView,
)
from csms.handlers.api_sessions import SessionId
from csms.services.tariffs import TariffService

router = new_router()

_TAGS = ["tariffs"]
_NO_TARIFF = (HTTPStatus.NOT_FOUND, "No such tariff in the caller's tenant (or it was deleted)")
_NO_ASSIGNMENT = (HTTPStatus.NOT_FOUND, "No such tariff assignment the caller may reach")
_CONFLICT_RETRY = (HTTPStatus.CONFLICT, "Changed concurrently so often that it was not applied")

StationQuery = Annotated[
    str,
    Query(
        alias="stationId",
        min_length=1,
        max_length=48,
        pattern=r"^[A-Za-z0-9._~:*+@-]+$",
        description="The station",
    ),
]
EvseQuery = Annotated[
    int | None, Query(alias="evseId", ge=1, le=999, description="The EVSE of the station")
]
TokenQuery = Annotated[
    str | None,
    Query(alias="idToken", min_length=1, max_length=255, description="The driver's id token"),
]
VersionPath = Annotated[int, Path(ge=1, le=99_999_999)]
EndedQuery = Annotated[
    bool, Query(alias="includeEnded", description="Also list deleted (ended) assignments")
]
AtQuery = Annotated[
    AwareDatetime | None,
    Query(description="A session's start (RFC 3339) to resolve for; absent: now"),
]


def _created(description: str, model: type[Any], *described: tuple[HTTPStatus, str]) -> Any:
    responses: dict[int, OpenAPIResponse] = versioned(description, model, *described)
    responses[HTTPStatus.CREATED.value] = responses.pop(HTTPStatus.OK.value)
    return responses


def _deleted(*described: tuple[HTTPStatus, str]) -> dict[int, OpenAPIResponse]:
    return {204: {"description": "Deleted"}, **problems(BAD_REQUEST, *described)}


def _no_content() -> Response[str]:
    return Response(status_code=HTTPStatus.NO_CONTENT.value, body="")


@contextmanager
def _service() -> Iterator[TariffService]:
    """The service; a body the domain refuses as a whole is a 400 like any bad body."""
    try:
        yield runtime().tariffs
    except ValidationError as exc:
        errors: list[dict[str, Any]] = [
            {"loc": ("body", *err["loc"]), "msg": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from None


# -- tariffs ----------------------------------------------------------------------------------

_TERMS: dict[str, Any] = {
    "name": "Public AC",
    "currency": "EUR",
    "pricesIncludeTax": True,
    "taxRates": [{"name": "VAT", "percent": "19"}],
    "sessionFee": "0.50",
    "prices": {"energyPerKwh": "0.39"},
    "tou": [
        {
            "name": "peak",
            "windows": [
                {
                    "days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
                    "start": "17:00",
                    "end": "21:00",
                }
            ],
            "prices": {"energyPerKwh": "0.49"},
        }
    ],
    "idleFee": {"rate": {"amount": "0.10", "per": "minute"}, "graceMinutes": 30, "cap": "12"},
    "maxPrice": "60",
    "rounding": {"energyStepWh": 1, "timeStepS": 60},
}
_CREATE_EXAMPLES = {
    "public": Example(
        summary="Per kWh with a weekday peak, an idle fee after 30 minutes, VAT included",
        value={"id": "public-ac", **_TERMS},
    ),
    "workplace": Example(
        summary="Free charging for employees (tracked, never billed)",
        value={"id": "employees-free", "name": "Employees", "currency": "EUR"},
    ),
    "hotel": Example(
        summary="A flat session fee for hotel guests",
        value={"id": "hotel-guests", "name": "Guests", "currency": "EUR", "sessionFee": "8"},
    ),
}
_UPDATE_EXAMPLES = {
    "raise": Example(
        summary="Raise the energy price (stored as the next version)",
        value={**_TERMS, "prices": {"energyPerKwh": "0.42"}},
    )
}


def _tariff_etag(tariff_id: str) -> int | None:
    return expected_version(if_match_header(router), "tariff", tariff_id)


@operation(
    router,
    "GET",
    "/v1/tariffs",
    Permission.READ_TARIFFS,
    summary="List tariffs",
    tags=_TAGS,
    responses={200: {"description": "A page of tariffs, by id"}, **problems(BAD_REQUEST)},
)
def list_tariffs(limit: Limit = 50, cursor: Cursor = None) -> TariffPage:
    """Current versions of the tariffs not deleted, by id, a page at a time."""
    with _service() as tariffs:
        page = tariffs.list_tariffs(current_principal(), limit, cursor)
    return TariffPage(items=[TariffView.of(t) for t in page.items], next_cursor=page.next_cursor)


@operation(
    router,
    "GET",
    "/v1/tariffs/<tariff_id>",
    Permission.READ_TARIFFS,
    summary="Get a tariff",
    tags=_TAGS,
    responses=versioned("The current version", TariffView, BAD_REQUEST, _NO_TARIFF),
)
def get_tariff(tariff_id: ResourceId) -> Response[str]:
    """The current version; `ETag` carries its number."""
    with _service() as tariffs:
        current = tariffs.get_tariff(current_principal(), tariff_id)
    return json_response(TariffView.of(current), version=current.version)


@operation(
    router,
    "POST",
    "/v1/tariffs",
    Permission.MANAGE_TARIFFS,
    summary="Create a tariff",
    tags=_TAGS,
    responses=_created(
        "Created as version 1; `Location` names it",
        TariffView,
        BAD_REQUEST,
        FORBIDDEN,
        (HTTPStatus.CONFLICT, "A tariff with this id exists (or existed: ids are not reused)"),
    ),
)
def create_tariff(
    body: Annotated[TariffCreate, Body(openapi_examples=_CREATE_EXAMPLES)],
) -> Response[str]:
    """A new tariff of the caller's tenant, version 1, in force from now."""
    with _service() as tariffs:
        created = tariffs.create_tariff(current_principal(), body.tariff(body.id))
    view = TariffView.of(created)
    audit_change("tariff", body.id, "create", None, view)
    return json_response(
        view,
        version=created.version,
        status=HTTPStatus.CREATED,
        location=f"/v1/tariffs/{body.id}",
    )


@operation(
    router,
    "PUT",
    "/v1/tariffs/<tariff_id>",
    Permission.MANAGE_TARIFFS,
    summary="Change a tariff (a new version)",
    tags=_TAGS,
    responses=versioned(
        "The new current version (the same when nothing changed)",
        TariffView,
        BAD_REQUEST,
        FORBIDDEN,
        _NO_TARIFF,
        _CONFLICT_RETRY,
        PRECONDITION_FAILED,
    ),
)
def replace_tariff(
    tariff_id: ResourceId,
    body: Annotated[TariffTerms, Body(openapi_examples=_UPDATE_EXAMPLES)],
) -> Response[str]:
    """Store the body as the next version, in force from now; earlier versions stay as they were.

    Sessions that started before keep the version in force at their start.
    """
    with _service() as tariffs:
        before, after = tariffs.replace_tariff(
            current_principal(), tariff_id, body.tariff(tariff_id), _tariff_etag(tariff_id)
        )
    view = TariffView.of(after)
    if after is not before:
        audit_change("tariff", tariff_id, "update", TariffView.of(before), view)
    return json_response(view, version=after.version)


@operation(
    router,
    "DELETE",
    "/v1/tariffs/<tariff_id>",
    Permission.MANAGE_TARIFFS,
    summary="Delete a tariff",
    tags=_TAGS,
    responses=_deleted(
        FORBIDDEN,
        _NO_TARIFF,
        (HTTPStatus.CONFLICT, "Tariff assignments name the tariff (`tariff-in-use`)"),
        PRECONDITION_FAILED,
    ),
)
def delete_tariff(tariff_id: ResourceId) -> Response[str]:
    """No longer listed or assignable; its versions stay (sessions priced with them)."""
    with _service() as tariffs:
        gone = tariffs.delete_tariff(current_principal(), tariff_id, _tariff_etag(tariff_id))
    audit_change("tariff", tariff_id, "delete", TariffView.of(gone), None)
    return _no_content()


@operation(
    router,
    "GET",
    "/v1/tariffs/<tariff_id>/versions",
    Permission.READ_TARIFFS,
    summary="List the versions of a tariff",
    tags=_TAGS,
    responses={
        200: {"description": "A page of versions, oldest first"},
        **problems(BAD_REQUEST, _NO_TARIFF),
    },
)
def list_versions(
    tariff_id: ResourceId, limit: Limit = 50, cursor: Cursor = None
) -> TariffVersionPage:
    """Every version with the moment it took effect."""
    with _service() as tariffs:
        page = tariffs.list_versions(current_principal(), tariff_id, limit, cursor)
    return TariffVersionPage(
        items=[TariffView.of(v) for v in page.items], next_cursor=page.next_cursor
    )


@operation(
    router,
    "GET",
    "/v1/tariffs/<tariff_id>/versions/<version>",
    Permission.READ_TARIFFS,
    summary="Get one version of a tariff",
    tags=_TAGS,
    responses={
        200: {"description": "The version"},
        **problems(
            BAD_REQUEST,
            (HTTPStatus.NOT_FOUND, "No such tariff, or no such version of it"),
        ),
    },
)
def get_version(tariff_id: ResourceId, version: VersionPath) -> TariffView:
    """A version as it was stored (versions never change)."""
    with _service() as tariffs:
        return TariffView.of(tariffs.get_version(current_principal(), tariff_id, version))


# -- assignments ------------------------------------------------------------------------------

_ASSIGNMENT_EXAMPLES = {
    "site": Example(
        summary="The public tariff at a site, for anyone",
        value={"tariffId": "public-ac", "siteId": "depot-north"},
    ),
    "group": Example(
        summary="Free charging for a driver group, everywhere in the tenant",
        value={"tariffId": "employees-free", "groupId": "employees"},
    ),
    "evse": Example(
        summary="One EVSE of a station, for one id token",
        value={"tariffId": "hotel-guests", "stationId": "CP-1", "evseId": 2, "idToken": "04A1"},
    ),
}


@operation(
    router,
    "GET",
    "/v1/tariff-assignments",
    Permission.READ_TARIFFS,
    summary="List tariff assignments",
    tags=_TAGS,
    responses={200: {"description": "A page of assignments, by id"}, **problems(BAD_REQUEST)},
)
def list_assignments(
    limit: Limit = 50, cursor: Cursor = None, include_ended: EndedQuery = False
) -> AssignmentPage:
    """The assignments the caller may reach (a restricted user: those at their sites).

    Deleted assignments are kept, ended (`validUntil`): sessions that started under them keep
    their tariff. `includeEnded=true` lists them too.
    """
    with _service() as tariffs:
        page = tariffs.list_assignments(
            current_principal(), limit, cursor, include_ended=include_ended
        )
    return AssignmentPage(
        items=[AssignmentView.of(a) for a in page.items], next_cursor=page.next_cursor
    )


@operation(
    router,
    "POST",
    "/v1/tariff-assignments",
    Permission.ASSIGN_TARIFFS,
    summary="Assign a tariff",
    tags=_TAGS,
    responses={
        201: {
            "description": "Created; `Location` names it",
            "content": {"application/json": {"model": AssignmentView}},
        },
        **problems(
            BAD_REQUEST,
            FORBIDDEN,
            (HTTPStatus.CONFLICT, "An assignment for this place and these drivers exists"),
            (
                HTTPStatus.UNPROCESSABLE_ENTITY,
                "The tariff, site, station or driver group does not exist",
            ),
        ),
    },
)
def create_assignment(
    body: Annotated[AssignmentCreate, Body(openapi_examples=_ASSIGNMENT_EXAMPLES)],
) -> Response[str]:
    """Precedence: token > group > anyone, then EVSE > station > site > tenant.

    One assignment in force per place and drivers; after it was deleted, a new one may take
    its place (its id derives from them and the moment it took effect).
    """
    with _service() as tariffs:
        created = tariffs.create_assignment(current_principal(), body.assignment())
    view = AssignmentView.of(created)
    audit_change("tariff-assignment", created.id, "create", None, view)
    return json_response(
        view, status=HTTPStatus.CREATED, location=f"/v1/tariff-assignments/{created.id}"
    )


@operation(
    router,
    "GET",
    "/v1/tariff-assignments/resolve",
    Permission.READ_TARIFFS,
    summary="Which tariff would apply now",
    tags=_TAGS,
    responses={
        200: {"description": "The assignment that applies and its tariff's version then"},
        **problems(
            BAD_REQUEST,
            (HTTPStatus.NOT_FOUND, "No such station, or no assignment applies there"),
        ),
    },
)
def resolve_assignment(
    station_id: StationQuery,
    evse_id: EvseQuery = None,
    id_token: TokenQuery = None,
    at: AtQuery = None,
) -> ResolvedView:
    """For a session starting now (or `at`) at the station (and EVSE) with this token.

    The token's driver group counts; among the assignments in force at that moment.
    """
    with _service() as tariffs:
        found = tariffs.resolve_now(current_principal(), station_id, evse_id, id_token, at)
    return ResolvedView.of(found)


@operation(
    router,
    "GET",
    "/v1/tariff-assignments/<assignment_id>",
    Permission.READ_TARIFFS,
    summary="Get a tariff assignment",
    tags=_TAGS,
    responses={200: {"description": "The assignment"}, **problems(BAD_REQUEST, _NO_ASSIGNMENT)},
)
def get_assignment(assignment_id: ResourceId) -> AssignmentView:
    """One assignment."""
    with _service() as tariffs:
        return AssignmentView.of(tariffs.get_assignment(current_principal(), assignment_id))


@operation(
    router,
    "DELETE",
    "/v1/tariff-assignments/<assignment_id>",
    Permission.ASSIGN_TARIFFS,
    summary="Delete a tariff assignment",
    tags=_TAGS,
    responses=_deleted(FORBIDDEN, _NO_ASSIGNMENT),
)
def delete_assignment(assignment_id: ResourceId) -> Response[str]:
    """Sessions starting from now no longer get its tariff; it is kept, ended (`validUntil`)."""
    with _service() as tariffs:
        gone = tariffs.delete_assignment(current_principal(), assignment_id)
    audit_change("tariff-assignment", assignment_id, "delete", AssignmentView.of(gone), None)
    return _no_content()


# -- session price ----------------------------------------------------------------------------


@operation(
    router,
    "GET",
    "/v1/sessions/<session_id>/price",
    Permission.READ,
    summary="Price of a session (live estimate while charging)",
    tags=["sessions"],
    responses={
        200: {"description": "The price, line by line, with the tax and an explanation"},
        **problems(
            BAD_REQUEST,
            (HTTPStatus.NOT_FOUND, "No such session, or no tariff applies to it"),
            (HTTPStatus.CONFLICT, "The session's data cannot be priced"),
        ),
    },
)
def get_session_price(session_id: SessionId) -> SessionPriceView:
    """Under the tariff version in force at the session's start.

    While it charges, as if it stopped now. Billing prices the ended session itself: this is
    what a driver would see.
    """
    return SessionPriceView.of(runtime().session_prices.estimate(current_principal(), session_id))
