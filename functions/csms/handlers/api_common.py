"""What every router of the HTTP API shares: common parameters and documented responses."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import (
    OpenAPIResponse,
    OpenAPIResponseHeader,
)
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from csms.domain.access import Principal
from csms.domain.errors import StationNotFoundError
from csms.domain.station import Station
from csms.handlers._runtime import Runtime, api
from csms.handlers.api_access import Change, etag, record_change
from csms.handlers.api_models import ApiModel, Problem
from csms.handlers.problems import PROBLEM_JSON

StationId = Annotated[str, Path(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._~:*+@-]+$")]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size")]
# Cursors are URL-safe base64: with that alphabet a request line stays well below what
# gateways accept (8 KiB locally), where 2048 arbitrary characters, percent-encoded, would not.
Cursor = Annotated[
    str | None,
    Query(max_length=2048, pattern=r"^[A-Za-z0-9_.=-]+$", description="From `nextCursor`"),
]
# Ids the API hands out or accepts for sites, groups, vehicles and users.
ResourceId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


def runtime() -> Runtime:
    """The API's runtime (built once per container)."""
    return api()


def problems(*described: tuple[HTTPStatus, str]) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses for the problem details (RFC 9457) an operation can answer."""
    return {
        status.value: {"description": text, "content": {PROBLEM_JSON: {"model": Problem}}}
        for status, text in described
    }


def responses(ok: str, *described: tuple[HTTPStatus, str]) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses: 200 (its body from the return type) and the problems."""
    return {HTTPStatus.OK.value: {"description": ok}, **problems(*described)}


BAD_REQUEST = (HTTPStatus.BAD_REQUEST, "A parameter, the body or the cursor is invalid")
FORBIDDEN = (HTTPStatus.FORBIDDEN, "The caller's role or sites do not allow this")
PRECONDITION_FAILED = (
    HTTPStatus.PRECONDITION_FAILED,
    "`If-Match` names another version than the stored one",
)


def new_router() -> APIGatewayHttpRouter:
    """A router for one area of the API (included by `csms.handlers.api`)."""
    return APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


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


def json_response(
    view: ApiModel,
    *,
    version: int | None = None,
    status: HTTPStatus = HTTPStatus.OK,
    location: str | None = None,
) -> Response[str]:
    """A JSON answer, with the resource's version as its `ETag` and, if created, a `Location`."""
    headers: dict[str, str] = {}
    if version is not None:
        headers["ETag"] = etag(version)
    if location is not None:
        headers["Location"] = location
    return Response(
        status_code=status.value,
        content_type="application/json",
        body=view.model_dump_json(by_alias=True),
        headers=headers,
    )


def audit_change(
    kind: str, resource_id: str, action: str, before: ApiModel | None, after: ApiModel | None
) -> None:
    """Note a change of a resource for the audit log, in its public representation."""
    record_change(
        Change(
            kind=kind,
            resource_id=resource_id,
            before=before.model_dump(mode="json", by_alias=True) if before else None,
            after=after.model_dump(mode="json", by_alias=True) if after else None,
            action=f"{kind}.{action}",
        )
    )


_ETAG_HEADER: dict[str, OpenAPIResponseHeader] = {
    "ETag": {
        "description": "The stored version; send it back in `If-Match` to change the resource",
        "schema": {"type": "string"},
    }
}


def versioned(
    ok: str, model: type[ApiModel], *described: tuple[HTTPStatus, str]
) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses of an operation answering one resource (a model) with its `ETag`."""
    body: OpenAPIResponse = {
        "description": ok,
        "headers": _ETAG_HEADER,
        "content": {"application/json": {"model": model}},
    }
    return {HTTPStatus.OK.value: body, **problems(*described)}
