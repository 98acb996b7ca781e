"""Bodies of the billing reports API (csms.handlers.api_billing_reports)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import Field

from csms.handlers.api_models import ApiModel
from csms.services.billing_reports import CostReport, ReportBy, ReportRow


class ReportRowView(ApiModel):
    """One key's sessions, energy and cost in one currency."""

    key: str = Field(description="The vehicle, driver, group... or `unassigned`; `total`")
    currency: str
    sessions: int = Field(description="Sessions ended in the range (corrections counted once)")
    energy_kwh: Decimal
    cost_excl_tax: Decimal
    cost_incl_tax: Decimal

    @classmethod
    def of(cls, row: ReportRow) -> ReportRowView:
        """From the service's row."""
        return cls(
            key=row.key,
            currency=row.currency,
            sessions=row.sessions,
            energy_kwh=row.energy_kwh,
            cost_excl_tax=row.cost_excl_tax,
            cost_incl_tax=row.cost_incl_tax,
        )


class CostReportView(ApiModel):
    """Energy and cost of the sessions that ended within the days, by one key."""

    by: ReportBy
    from_: date = Field(alias="from", description="First day (included)")
    to: date = Field(description="Last day (included)")
    timezone: str = Field(description="The days' timezone (IANA)")
    rows: list[ReportRowView] = Field(description="By key, then currency")
    totals: list[ReportRowView] = Field(description="One per currency, keyed `total`")
    cdrs: int = Field(description="CDRs summed (credit CDRs included)")

    @classmethod
    def of(cls, report: CostReport) -> CostReportView:
        """From the service's report."""
        return cls(
            by=report.by,
            from_=report.range.first_day,
            to=report.range.last_day,
            timezone=report.range.zone.key,
            rows=[ReportRowView.of(row) for row in report.rows],
            totals=[ReportRowView.of(row) for row in report.totals],
            cdrs=report.cdrs,
        )
