"""Content negotiation and the CSV of billing reports (csms.handlers.api_billing_reports)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from csms.handlers.api_billing_reports import preferred, report_csv
from csms.services.billing_reports import CostReport, ReportBy, ReportRange, ReportRow

OFFERED = ("application/json", "text/csv", "application/pdf")


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("", None),
        ("*/*", None),
        ("text/csv", "text/csv"),
        ("application/pdf, application/json;q=0.5", "application/pdf"),
        ("application/pdf;q=0, application/json", "application/json"),
        ("text/csv;q=0.5, application/pdf;q=0.5", "text/csv"),
        ("Application/PDF; Q=0.9; charset=x", "application/pdf"),
        ("application/pdf;q=high", None),
    ],
)
def test_preferred_picks_the_highest_weighted_offered_type(header: str, chosen: str | None) -> None:
    # GIVEN an Accept header
    # WHEN the offered types are matched against it
    # THEN the highest q wins, ties go to the offered order, q=0 or a bad q refuses
    assert preferred(header, OFFERED) == chosen


def test_report_csv_defuses_keys_a_spreadsheet_would_run() -> None:
    # GIVEN a department named like a formula
    row = ReportRow(
        key="=HYPERLINK(1)",
        currency="EUR",
        sessions=1,
        energy_kwh=Decimal("1.5"),
        cost_excl_tax=Decimal("1.00"),
        cost_incl_tax=Decimal("1.19"),
    )
    report = CostReport(
        by=ReportBy.DEPARTMENT,
        range=ReportRange(date(2026, 1, 1), date(2026, 1, 31), ZoneInfo("UTC")),
        rows=(row,),
        totals=(),
        cdrs=1,
    )

    # WHEN written as CSV
    text = report_csv(report)

    # THEN the key is text, not a formula
    assert text.split("\r\n")[1] == "department,'=HYPERLINK(1),EUR,1,1.5,1.00,1.19"
