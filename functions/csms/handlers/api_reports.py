"""Routes of the HTTP API: usage reports (energy, sessions, revenue, utilization, peak, CO2).

`GET /v1/reports/usage` sums the sessions that started on the days `from` to `to` (both
included, at most 366; each day cut in the session's site time zone) by station, site, driver
group or driver, per day, ISO week or month. JSON, or CSV with `format=csv` or
`Accept: text/csv`. csms.domain.analytics says how each figure is found, and
csms.services.analytics what a report reads.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query

from csms.domain.access import Permission
from csms.domain.analytics import Period, UsageBy
from csms.handlers import _runtime
from csms.handlers.api_access import current_principal, operation
from csms.handlers.api_billing_reports import CSV_TYPE, ReportFormat, accepted
from csms.handlers.api_common import FORBIDDEN, new_router, problems
from csms.handlers.api_models_reports import UsageReportView
from csms.services.analytics import ReportTooLargeError, UsageQuery, UsageReport
from csms.services.billing_reports import MAX_DAYS, range_problem

router = new_router()

_USAGE_OK: dict[int, Any] = {
    200: {
        "description": "Rows by key and period, and totals (JSON or CSV)",
        "content": {
            "application/json": {"model": UsageReportView},
            CSV_TYPE: {"schema": {"type": "string"}},
        },
    },
    **problems(
        (
            HTTPStatus.BAD_REQUEST,
            f"A parameter is invalid, `to` is before `from`, the range is longer than {MAX_DAYS} "
            "days, or it holds more sessions, CDRs or stations than one report reads",
        ),
        FORBIDDEN,
    ),
}


def _invalid(parameter: str, why: str) -> None:
    raise RequestValidationError([{"loc": ("query", parameter), "msg": why, "type": "value_error"}])


@contextmanager
def _within_limits() -> Iterator[None]:
    """A report that would read too much is a 400 that says how to narrow it."""
    try:
        yield
    except ReportTooLargeError as exc:
        _invalid("from", str(exc))


@operation(
    router,
    "GET",
    "/v1/reports/usage",
    Permission.READ,
    summary="Energy, sessions, revenue, utilization, peak demand and CO2 by key and period",
    tags=["reports"],
    responses=_USAGE_OK,
)
def usage_report(
    from_: Annotated[date, Query(alias="from", description="First day, included (YYYY-MM-DD)")],
    to: Annotated[date, Query(description="Last day, included (YYYY-MM-DD)")],
    by: Annotated[UsageBy, Query(description="What the rows are keyed by")],
    period: Annotated[Period, Query(description="day, week (ISO, from Monday) or month")],
    *,
    site_id: Annotated[
        str | None,
        Query(
            alias="siteId",
            min_length=1,
            max_length=64,
            pattern=r"^[A-Za-z0-9._:-]+$",
            description="Only the sessions of one site",
        ),
    ] = None,
    format_: Annotated[
        ReportFormat | None,
        Query(alias="format", description="json (default) or csv; without it, `Accept` decides"),
    ] = None,
) -> Response[str]:
    """Usage of the sessions that started on those days, by key and period.

    Each session counts in the period its start falls in at its site (site time zone).
    Revenue is shown to callers with the `read-billing` permission only. Utilization is given
    for stations and sites (ports counted from their EVSEs).
    """
    why = range_problem(from_, to)
    if why is not None:
        _invalid("to", why)
    query = UsageQuery(first_day=from_, last_day=to, by=by, period=period, site_id=site_id)
    with _within_limits():
        report = _runtime.usage_reports().usage(current_principal(), query)
    if format_ is ReportFormat.CSV or (
        format_ is None and accepted(router, ("application/json", CSV_TYPE)) == CSV_TYPE
    ):
        name = f"usage-{by.value}-{period.value}-{from_}-{to}.csv"
        return Response(
            status_code=HTTPStatus.OK.value,
            content_type=f"{CSV_TYPE}; charset=utf-8",
            body=usage_csv(report),
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return Response(
        status_code=HTTPStatus.OK.value,
        content_type="application/json",
        body=UsageReportView.of(report).model_dump_json(by_alias=True),
    )


_CSV_COLUMNS = (
    "by",
    "key",
    "period",
    "start",
    "end",
    "sessions",
    "energyKwh",
    "currency",
    "revenueExclTax",
    "revenueInclTax",
    "averageDurationMin",
    "idleMin",
    "ports",
    "occupiedPct",
    "chargingPct",
    "peakKw",
    "co2AvoidedKg",
    "faults",
    "mttrMin",
)


def usage_csv(report: UsageReport) -> str:
    """One line per key, period and currency (one with an empty currency when none earned).

    A key's figures other than revenue repeat on each currency's line: sum them over one
    currency's lines only. Without `read-billing` the revenue columns stay empty.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_CSV_COLUMNS)
    for row in report.rows:
        amounts: list[tuple[str, Decimal | None, Decimal | None]] = [
            (r.currency, r.excl_tax, r.incl_tax) for r in row.revenue
        ] or [("", None, None)]
        for currency, excl, incl in amounts:
            writer.writerow(
                [
                    report.query.by.value,
                    _text_cell(row.key),
                    row.period,
                    row.start.isoformat(),
                    row.end.isoformat(),
                    row.sessions,
                    row.energy_kwh,
                    currency,
                    _cell(excl),
                    _cell(incl),
                    _cell(row.average_duration_min),
                    row.idle_min,
                    _cell(row.ports),
                    _cell(row.occupied_pct),
                    _cell(row.charging_pct),
                    row.peak_kw,
                    row.co2_avoided_kg,
                    _cell(row.faults),
                    _cell(row.mttr_min),
                ]
            )
    return out.getvalue()


def _cell(value: object | None) -> str:
    return "" if value is None else str(value)


def _text_cell(text: str) -> str:
    # Keys come from stations and operators (station ids, token uids, group ids): a cell
    # starting with = + - @ (or a tab or CR) would run as a formula in a spreadsheet (OWASP
    # "CSV injection").
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
