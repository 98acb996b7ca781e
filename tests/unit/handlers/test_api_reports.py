"""The CSV and the limits of usage reports (csms.handlers.api_reports)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from csms.domain.analytics import Period, Revenue, UsageBy, UsageRow, UsageTotals
from csms.handlers.api_reports import _within_limits, usage_csv
from csms.services.analytics import ReportTooLargeError, UsageQuery, UsageReport

DAY = datetime(2026, 3, 10, tzinfo=UTC)


def a_row(key: str, revenue: tuple[Revenue, ...]) -> UsageRow:
    return UsageRow(
        key=key,
        period="2026-03-10",
        start=DAY,
        end=DAY.replace(day=11),
        sessions=1,
        energy_kwh=Decimal("10.000"),
        revenue=revenue,
        average_duration_min=None,
        idle_min=Decimal("0.00"),
        ports=None,
        occupied_pct=None,
        charging_pct=None,
        peak_kw=Decimal("10.000"),
        co2_avoided_kg=Decimal("9.470"),
    )


def test_usage_csv_writes_a_line_per_currency_and_defuses_formulas() -> None:
    # GIVEN a driver named like a formula who paid in two currencies
    revenue = (Revenue("EUR", Decimal(1), Decimal("1.19")), Revenue("USD", Decimal(2), Decimal(2)))
    report = UsageReport(
        query=UsageQuery(date(2026, 3, 1), date(2026, 3, 31), UsageBy.DRIVER, Period.DAY),
        rows=(a_row("@SUM(A1)", revenue),),
        totals=UsageTotals(1, Decimal(10), revenue, Decimal("9.470")),
        revenue_shown=True,
        co2_kg_per_kwh=Decimal("0.947"),
    )
    # WHEN written as CSV
    lines = usage_csv(report).split("\r\n")
    # THEN one line per currency, the key quoted so that no spreadsheet runs it
    assert lines[1] == (
        "driver,'@SUM(A1),2026-03-10,2026-03-10T00:00:00+00:00,2026-03-11T00:00:00+00:00,"
        "1,10.000,EUR,1,1.19,,0.00,,,,10.000,9.470,,"
    )
    assert ",USD,2,2," in lines[2]
    assert lines[3] == ""


def test_a_report_too_large_is_a_request_validation_error() -> None:
    # GIVEN / WHEN a report that would read too much
    with pytest.raises(RequestValidationError) as raised, _within_limits():
        raise ReportTooLargeError("more than 2 sessions in the range; ask for fewer days")
    # THEN it is a 400 on `from` that says how to narrow it
    (error,) = raised.value.errors()
    assert error["loc"] == ("query", "from")
    assert "ask for fewer days" in error["msg"]


def test_usage_csv_shows_faults_and_repair_times_of_stations() -> None:
    # GIVEN a station row with two faults, repaired in 45 minutes on average
    row = a_row("CS-1", ())
    row = UsageRow(
        **{**row.__dict__, "ports": 2, "faults": 2, "repaired": 2, "mttr_min": Decimal("45.00")}
    )
    report = UsageReport(
        query=UsageQuery(date(2026, 3, 1), date(2026, 3, 31), UsageBy.STATION, Period.DAY),
        rows=(row,),
        totals=UsageTotals(1, Decimal(10), (), Decimal("9.470"), faults=2, mttr_min=Decimal(45)),
        revenue_shown=True,
        co2_kg_per_kwh=Decimal("0.947"),
    )
    # WHEN written as CSV
    header, line, _ = usage_csv(report).split("\r\n")
    # THEN the last two columns are the faults and the mean time to repair
    assert header.endswith(",faults,mttrMin")
    assert line.endswith(",2,45.00")
