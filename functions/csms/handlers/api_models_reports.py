"""Bodies of the usage reports API (csms.handlers.api_reports)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import Field

from csms.domain.analytics import Period, Revenue, UsageBy, UsageRow
from csms.handlers.api_models import ApiModel
from csms.services.analytics import UsageReport


class RevenueView(ApiModel):
    """Revenue in one currency (credit CDRs netted out)."""

    currency: str
    excl_tax: Decimal
    incl_tax: Decimal

    @classmethod
    def of(cls, revenue: Revenue) -> RevenueView:
        """From the domain's revenue."""
        return cls(currency=revenue.currency, excl_tax=revenue.excl_tax, incl_tax=revenue.incl_tax)


class UsageRowView(ApiModel):
    """One key's usage in one period."""

    key: str = Field(description="The station, site, group or driver (token); `unassigned`")
    period: str = Field(description="`2026-03-05`, `2026-W10` (ISO week) or `2026-03`")
    start: datetime = Field(description="The period's start within the range (site time zone)")
    end: datetime = Field(description="The period's end within the range, or now")
    sessions: int = Field(description="Sessions that started in the period")
    energy_kwh: Decimal
    revenue: list[RevenueView] | None = Field(
        description="Per currency, from the sessions' CDRs; null without `read-billing`"
    )
    average_duration_min: Decimal | None = Field(
        description="Mean start-to-stop of the period's ended sessions (null: none ended)"
    )
    idle_min: Decimal = Field(description="Idle time billing measured (plugged in, not charging)")
    ports: int | None = Field(description="EVSEs of the key's stations; null for groups, drivers")
    occupied_pct: Decimal | None = Field(
        description="% of the ports' time a vehicle was plugged in"
    )
    charging_pct: Decimal | None = Field(description="% of the ports' time spent charging")
    peak_kw: Decimal = Field(description="Highest 15-minute average power (session averages)")
    co2_avoided_kg: Decimal = Field(description="Energy times `co2KgPerKwh`")
    faults: int | None = Field(
        description="Fault, offline and reboot-loop alerts that began in the period; null for "
        "groups, drivers"
    )
    mttr_min: Decimal | None = Field(
        description="Mean time to repair: alert opening to closing over the period's faults "
        "that closed (null: none closed, or groups, drivers)"
    )

    @classmethod
    def of(cls, row: UsageRow, revenue_shown: bool) -> UsageRowView:
        """From the domain's row."""
        return cls(
            key=row.key,
            period=row.period,
            start=row.start,
            end=row.end,
            sessions=row.sessions,
            energy_kwh=row.energy_kwh,
            revenue=[RevenueView.of(r) for r in row.revenue] if revenue_shown else None,
            average_duration_min=row.average_duration_min,
            idle_min=row.idle_min,
            ports=row.ports,
            occupied_pct=row.occupied_pct,
            charging_pct=row.charging_pct,
            peak_kw=row.peak_kw,
            co2_avoided_kg=row.co2_avoided_kg,
            faults=row.faults,
            mttr_min=row.mttr_min,
        )


class UsageTotalsView(ApiModel):
    """The whole report summed."""

    sessions: int
    energy_kwh: Decimal
    revenue: list[RevenueView] | None
    co2_avoided_kg: Decimal
    faults: int | None = Field(description="Faults over the report (null for groups, drivers)")
    mttr_min: Decimal | None = Field(description="Mean time to repair over every closed fault")


class UsageReportView(ApiModel):
    """Usage by key and period over a range of days (each cut in its site's time zone)."""

    by: UsageBy
    period: Period
    from_: date = Field(alias="from", description="First day (included)")
    to: date = Field(description="Last day (included)")
    site_id: str | None = Field(description="The one site reported, or null for all")
    co2_kg_per_kwh: Decimal = Field(
        description="CO2 avoided per kWh against a petrol car (docs/operations.md)"
    )
    rows: list[UsageRowView] = Field(description="By key, then period")
    totals: UsageTotalsView

    @classmethod
    def of(cls, report: UsageReport) -> UsageReportView:
        """From the service's report."""
        shown = report.revenue_shown
        return cls(
            by=report.query.by,
            period=report.query.period,
            from_=report.query.first_day,
            to=report.query.last_day,
            site_id=report.query.site_id,
            co2_kg_per_kwh=report.co2_kg_per_kwh,
            rows=[UsageRowView.of(row, shown) for row in report.rows],
            totals=UsageTotalsView(
                sessions=report.totals.sessions,
                energy_kwh=report.totals.energy_kwh,
                revenue=[RevenueView.of(r) for r in report.totals.revenue] if shown else None,
                co2_avoided_kg=report.totals.co2_avoided_kg,
                faults=report.totals.faults,
                mttr_min=report.totals.mttr_min,
            ),
        )
