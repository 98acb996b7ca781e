"""Routes of the HTTP API: cost allocation reports; invoices as PDF (for `GET /v1/invoices/{id}`).

`GET /v1/reports/billing` sums the CDRs of the sessions that ended on the days `from` to `to`
(both included, at most 366) in `timezone` (UTC unless given), by vehicle, department, driver,
account, group, site, station or month (csms.services.billing_reports says how each is found).
JSON, or CSV with `format=csv` or `Accept: text/csv`. A user restricted to sites sees the CDRs
of their sites only.
"""

from __future__ import annotations

import base64
import csv
import io
from datetime import date
from enum import StrEnum
from http import HTTPStatus
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from csms.domain.access import Permission
from csms.domain.tenancy import validate_timezone
from csms.handlers import _runtime
from csms.handlers.api_access import current_principal, operation
from csms.handlers.api_common import FORBIDDEN, new_router, problems, runtime
from csms.handlers.api_models_billing_reports import CostReportView
from csms.services.billing_reports import (
    MAX_DAYS,
    BillingReports,
    CostReport,
    ReportBy,
    ReportRange,
    range_problem,
)

router = new_router()

CSV_TYPE = "text/csv"
PDF_TYPE = "application/pdf"


class _SessionSites:
    """SessionSites over the session service: the site a session took place at."""

    def site_of(self, tenant_id: str, session_id: str) -> str | None:
        return runtime().sessions.view(tenant_id, session_id).session.site_id


def _reports() -> BillingReports:
    return _runtime.billing_reports(_SessionSites())


def accepted(route_router: APIGatewayHttpRouter, offered: tuple[str, ...]) -> str | None:
    """The offered media type the request's `Accept` header prefers (see `preferred`)."""
    header = next(
        (
            str(value)
            for key, value in (route_router.current_event.headers or {}).items()
            if key.lower() == "accept"
        ),
        "",
    )
    return preferred(header, offered)


def preferred(header: str, offered: tuple[str, ...]) -> str | None:
    """The offered media type an `Accept` header prefers (highest q, then `offered` order).

    Only exact types count (`*/*` picks nothing: the route's default stands); q=0 refuses.
    """
    weights: dict[str, float] = {}
    for part in header.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[media.lower()] = weight
    ranked = [(-weights[m], i, m) for i, m in enumerate(offered) if weights.get(m, 0.0) > 0]
    return min(ranked)[2] if ranked else None


# -- cost allocation ----------------------------------------------------------------------------


class ReportFormat(StrEnum):
    """How a report is answered."""

    JSON = "json"
    CSV = "csv"


_REPORT_OK: dict[int, Any] = {
    200: {
        "description": "Rows by key and currency, and totals per currency (JSON or CSV)",
        "content": {
            "application/json": {"model": CostReportView},
            CSV_TYPE: {"schema": {"type": "string"}},
        },
    },
    **problems(
        (
            HTTPStatus.BAD_REQUEST,
            f"A parameter is invalid, `to` is before `from`, the range is longer than {MAX_DAYS} "
            "days, or it holds more CDRs than one report sums (ask for fewer days)",
        ),
        FORBIDDEN,
    ),
}


@operation(
    router,
    "GET",
    "/v1/reports/billing",
    Permission.READ_BILLING,
    summary="Energy and cost by vehicle, department, driver, group, site, station or month",
    tags=["billing"],
    responses=_REPORT_OK,
)
def billing_report(
    from_: Annotated[date, Query(alias="from", description="First day, included (YYYY-MM-DD)")],
    to: Annotated[date, Query(description="Last day, included (YYYY-MM-DD)")],
    by: Annotated[ReportBy, Query(description="What the rows are keyed by")],
    timezone: Annotated[
        str,
        Query(max_length=64, description="IANA timezone of the days (and months); default UTC"),
    ] = "UTC",
    format_: Annotated[
        ReportFormat | None,
        Query(alias="format", description="json (default) or csv; without it, `Accept` decides"),
    ] = None,
) -> Response[str]:
    """Sessions, energy and cost of the sessions that ended on those days, summed by `by`.

    A credit CDR (a correction) nets out the CDR it cancels, so a corrected session counts
    once with its corrected figures. Currencies are never added: one row per key and currency.
    """
    _check_range(from_, to, timezone)
    days = ReportRange(first_day=from_, last_day=to, zone=ZoneInfo(timezone))
    report = _reports().cost_report(current_principal(), by, days)
    if not report.complete:
        _invalid("from", "more CDRs in the range than one report sums; ask for fewer days")
    if format_ is ReportFormat.CSV or (
        format_ is None and accepted(router, ("application/json", CSV_TYPE)) == CSV_TYPE
    ):
        name = f"billing-{by.value}-{from_}-{to}.csv"
        return Response(
            status_code=HTTPStatus.OK.value,
            content_type=f"{CSV_TYPE}; charset=utf-8",
            body=report_csv(report),
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return Response(
        status_code=HTTPStatus.OK.value,
        content_type="application/json",
        body=CostReportView.of(report).model_dump_json(by_alias=True),
    )


def _check_range(first: date, last: date, timezone: str) -> None:
    try:
        validate_timezone(timezone)
    except ValueError as exc:
        _invalid("timezone", str(exc))
    why = range_problem(first, last)
    if why is not None:
        _invalid("to", why)


def _invalid(parameter: str, why: str) -> None:
    raise RequestValidationError([{"loc": ("query", parameter), "msg": why, "type": "value_error"}])


_CSV_COLUMNS = ("by", "key", "currency", "sessions", "energyKwh", "costExclTax", "costInclTax")


def report_csv(report: CostReport) -> str:
    """One row per key and currency, then a `total` row per currency."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_CSV_COLUMNS)
    for row in (*report.rows, *report.totals):
        writer.writerow(
            [
                report.by.value,
                _text_cell(row.key),
                row.currency,
                row.sessions,
                str(row.energy_kwh),
                str(row.cost_excl_tax),
                str(row.cost_incl_tax),
            ]
        )
    return out.getvalue()


def _text_cell(text: str) -> str:
    # Keys come from operators (departments, token uids): a cell starting with = + - @ (or a
    # tab or CR) would run as a formula in a spreadsheet (OWASP "CSV injection").
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# -- invoices as PDF ----------------------------------------------------------------------------


def invoice_pdf(invoice_id: str) -> Response[str]:
    """The invoice the caller may see as a PDF, base64-encoded for API Gateway to decode."""
    rendered = _reports().render_invoice(current_principal(), invoice_id)
    # Encoded here, not left to Powertools as bytes: its response validation would first
    # serialize a bytes body as UTF-8 text, which a PDF is not.
    response = Response(
        status_code=HTTPStatus.OK.value,
        content_type=rendered.media_type,
        body=base64.b64encode(rendered.content).decode("ascii"),
        headers={"Content-Disposition": f'attachment; filename="{rendered.filename}"'},
    )
    response.base64_encoded = True
    return response
