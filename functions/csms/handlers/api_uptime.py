"""Routes of the HTTP API: uptime per port (23 CFR 680.116), outage exclusions, the NEVI report.

`GET /v1/uptime` answers one station's or one site's ports over `from` to `to` (default: the
trailing 12 months), by calendar month in the site's time zone. Operators record outages with
an excluded cause under `/v1/uptime/exclusions` (a reason is required). `GET /v1/uptime/report`
is the quarterly report, one row per port, as JSON or CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from csms.domain.access import Permission
from csms.domain.uptime import MAX_RANGE, range_problem
from csms.handlers import _runtime
from csms.handlers.api_access import current_principal, operation
from csms.handlers.api_billing_reports import CSV_TYPE, ReportFormat, accepted
from csms.handlers.api_common import (
    BAD_REQUEST,
    FORBIDDEN,
    Cursor,
    Limit,
    audit_change,
    json_response,
    new_router,
    problems,
    responses,
)
from csms.handlers.api_models_uptime import (
    ExclusionCreate,
    ExclusionPage,
    ExclusionView,
    ReportRowView,
    UptimeReportView,
    UptimeView,
)
from csms.services.uptime import MAX_STATIONS, TooManyStationsError, UptimeService

router = new_router()

_STATION_QUERY = Query(
    alias="stationId",
    min_length=1,
    max_length=48,
    pattern=r"^[A-Za-z0-9._~:*+@-]+$",
    description="One station's ports (or give `siteId`)",
)
_SITE_QUERY = Query(
    alias="siteId",
    min_length=1,
    max_length=64,
    pattern=r"^[A-Za-z0-9._:-]+$",
    description="Every station of one site",
)
ExclusionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
_NO_EXCLUSION = (HTTPStatus.NOT_FOUND, "No such exclusion within the caller's reach")


def _service() -> UptimeService:
    return _runtime.uptime()


def _invalid(parameter: str, why: str) -> None:
    raise RequestValidationError([{"loc": ("query", parameter), "msg": why, "type": "value_error"}])


@contextmanager
def _bounded() -> Iterator[None]:
    """A query that would compute too many stations is a 400 that says to narrow it."""
    try:
        yield
    except TooManyStationsError as exc:
        _invalid("siteId", str(exc))


@operation(
    router,
    "GET",
    "/v1/uptime",
    Permission.READ,
    summary="Uptime per port, station or site, by calendar month",
    tags=["uptime"],
    responses=responses(
        "Minutes up, down and excluded, and uptime %, per port, station and month",
        (
            HTTPStatus.BAD_REQUEST,
            "A parameter is invalid: neither or both of `stationId` and `siteId`, `to` not after "
            f"`from`, a range over {MAX_RANGE.days} days, or a site with more than "
            f"{MAX_STATIONS} stations",
        ),
        (HTTPStatus.NOT_FOUND, "No such station or site within the caller's reach"),
    ),
)
def get_uptime(
    station_id: Annotated[str | None, _STATION_QUERY] = None,
    site_id: Annotated[str | None, _SITE_QUERY] = None,
    from_: Annotated[
        datetime | None,
        Query(alias="from", description="Start, with offset; default: `to` less 365 days"),
    ] = None,
    to: Annotated[
        datetime | None, Query(description="End (excluded), with offset; default: now")
    ] = None,
) -> UptimeView:
    """Up when a port can deliver power (23 CFR 680.116(b)); see docs/operations.md."""
    if (station_id is None) == (site_id is None):
        _invalid("stationId", "give exactly one of stationId and siteId")
    start, end = _service().default_range(from_, to)
    why = range_problem(start, end)
    if why is not None:
        _invalid("to", why)
    service, principal = _service(), current_principal()
    if station_id is not None:
        return UptimeView.of(service.station_uptime(principal, station_id, start, end))
    with _bounded():
        return UptimeView.of(service.site_uptime(principal, str(site_id), start, end))


_REPORT_OK: dict[int, Any] = {
    200: {
        "description": "One row per port (JSON or CSV)",
        "content": {
            "application/json": {"model": UptimeReportView},
            CSV_TYPE: {"schema": {"type": "string"}},
        },
    },
    **problems(
        (
            HTTPStatus.BAD_REQUEST,
            f"A parameter is invalid, or the report holds more than {MAX_STATIONS} stations "
            "(ask per site)",
        ),
        FORBIDDEN,
        (HTTPStatus.NOT_FOUND, "No such site within the caller's reach"),
    ),
}


@operation(
    router,
    "GET",
    "/v1/uptime/report",
    Permission.READ,
    summary="NEVI-style quarterly uptime report, one row per port",
    tags=["uptime"],
    responses=_REPORT_OK,
)
def uptime_report(
    quarter: Annotated[
        str,
        Query(pattern=r"^(19|20|21)\d{2}-Q[1-4]$", description="Like 2026-Q3 (calendar quarters)"),
    ],
    site_id: Annotated[str | None, _SITE_QUERY] = None,
    format_: Annotated[
        ReportFormat | None,
        Query(alias="format", description="json (default) or csv; without it, `Accept` decides"),
    ] = None,
) -> Response[str]:
    """Each port's minutes up, down and excluded in the quarter, its uptime and whether >= 97 %.

    The quarter is cut in each site's time zone; a quarter not over yet ends now.
    """
    with _bounded():
        results = _service().quarter_report(current_principal(), quarter, site_id)
    report = UptimeReportView.of(quarter, results)
    if format_ is ReportFormat.CSV or (
        format_ is None and accepted(router, ("application/json", CSV_TYPE)) == CSV_TYPE
    ):
        return Response(
            status_code=HTTPStatus.OK.value,
            content_type=f"{CSV_TYPE}; charset=utf-8",
            body=report_csv(report.rows),
            headers={"Content-Disposition": f'attachment; filename="uptime-{quarter}.csv"'},
        )
    return json_response(report)


_CSV_COLUMNS = (
    "portId",
    "stationId",
    "evseId",
    "siteId",
    "timezone",
    "from",
    "to",
    "minutesUp",
    "minutesDown",
    "minutesExcluded",
    "minutesObserved",
    "uptimePercent",
    "meetsNevi",
)


def report_csv(rows: list[ReportRowView]) -> str:
    """One line per port, columns as in the JSON rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                _cell(row.port_id),
                _cell(row.station_id),
                row.evse_id,
                _cell(row.site_id or ""),
                row.timezone,
                row.from_.isoformat(),
                row.to.isoformat(),
                row.minutes_up,
                row.minutes_down,
                row.minutes_excluded,
                row.minutes_observed,
                "" if row.uptime_percent is None else row.uptime_percent,
                "" if row.meets_nevi is None else str(row.meets_nevi).lower(),
            ]
        )
    return out.getvalue()


def _cell(text: str) -> str:
    # Station ids may start with + - or @: a spreadsheet would run such a cell as a formula
    # (OWASP "CSV injection").
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# -- exclusions ---------------------------------------------------------------------------------


@operation(
    router,
    "GET",
    "/v1/uptime/exclusions",
    Permission.READ,
    summary="List outage exclusions",
    tags=["uptime"],
    responses=responses("A page of exclusions, by id", BAD_REQUEST),
)
def list_exclusions(
    station_id: Annotated[str | None, _STATION_QUERY] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ExclusionPage:
    """The exclusions at the caller's stations (one station's, with `stationId`)."""
    page = _service().exclusions(current_principal(), limit, cursor, station_id)
    return ExclusionPage(
        items=[ExclusionView.of(e) for e in page.items], next_cursor=page.next_cursor
    )


@operation(
    router,
    "GET",
    "/v1/uptime/exclusions/<exclusion_id>",
    Permission.READ,
    summary="Get an outage exclusion",
    tags=["uptime"],
    responses=responses("The exclusion", _NO_EXCLUSION),
)
def get_exclusion(exclusion_id: ExclusionId) -> ExclusionView:
    """One exclusion."""
    return ExclusionView.of(_service().exclusion(current_principal(), exclusion_id))


_EXCLUSION_EXAMPLES = {
    "utility": Example(
        summary="A utility outage at every port of a station",
        value={
            "stationId": "CP-0042",
            "category": "electric-utility-interruption",
            "reason": "Utility feeder fault, outage ticket 88123 from the utility",
            "start": "2026-07-14T13:05:00Z",
            "end": "2026-07-14T16:40:00Z",
        },
    ),
    "maintenance": Example(
        summary="Scheduled maintenance of one port",
        value={
            "stationId": "CP-0042",
            "evseIds": [2],
            "category": "scheduled-maintenance",
            "reason": "Cable replacement announced to drivers a week ahead",
            "start": "2026-08-03T06:00:00Z",
            "end": "2026-08-03T09:00:00Z",
        },
    ),
}


@operation(
    router,
    "POST",
    "/v1/uptime/exclusions",
    Permission.MANAGE_STATIONS,
    summary="Record an outage exclusion",
    tags=["uptime"],
    responses={
        201: {
            "description": "Recorded; `Location` names it",
            "content": {"application/json": {"model": ExclusionView}},
        },
        **problems(
            (
                HTTPStatus.BAD_REQUEST,
                "The body is invalid: no reason, an unknown category, `end` not after `start`, "
                "or over 366 days",
            ),
            FORBIDDEN,
            (HTTPStatus.UNPROCESSABLE_ENTITY, "No such station within the caller's reach"),
        ),
    },
)
def create_exclusion(
    body: Annotated[ExclusionCreate, Body(openapi_examples=_EXCLUSION_EXAMPLES)],
) -> Response[str]:
    """Downtime of the station's ports (all, or `evseIds`) in the range no longer counts.

    Only downtime is excluded: a port that was up meanwhile stays up.
    """
    exclusion = _service().record_exclusion(current_principal(), body.draft())
    view = ExclusionView.of(exclusion)
    audit_change("uptime-exclusion", exclusion.id, "create", None, view)
    return json_response(
        view, status=HTTPStatus.CREATED, location=f"/v1/uptime/exclusions/{exclusion.id}"
    )


@operation(
    router,
    "DELETE",
    "/v1/uptime/exclusions/<exclusion_id>",
    Permission.MANAGE_STATIONS,
    summary="Delete an outage exclusion",
    tags=["uptime"],
    responses={204: {"description": "Deleted"}, **problems(BAD_REQUEST, FORBIDDEN, _NO_EXCLUSION)},
)
def delete_exclusion(exclusion_id: ExclusionId) -> Response[str]:
    """The downtime it excluded counts again."""
    removed = _service().remove_exclusion(current_principal(), exclusion_id)
    audit_change("uptime-exclusion", exclusion_id, "delete", ExclusionView.of(removed), None)
    return Response(status_code=HTTPStatus.NO_CONTENT.value, body="")
