"""Bodies of the uptime API (csms.handlers.api_uptime)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import AwareDatetime, Field, model_validator

from csms.domain.connector import MAX_ID
from csms.domain.uptime import (
    MAX_REASON_LENGTH,
    ExclusionCategory,
    MonthUptime,
    OutageExclusion,
    PortUptime,
    UptimeFigures,
    UptimeWindow,
    exclusion_span_problem,
)
from csms.handlers.api_models import ApiModel
from csms.services.uptime import ExclusionDraft, StationUptime, UptimeResult

_MINUTE = timedelta(minutes=1)


def minutes(value: timedelta) -> float:
    """A duration in minutes, to 0.01."""
    return round(value / _MINUTE, 2)


class FiguresView(ApiModel):
    """Minutes up, down (not excluded) and excluded, and the uptime they give."""

    minutes_up: float
    minutes_down: float = Field(description="Outage minutes not excluded")
    minutes_excluded: float = Field(description="Outage minutes with an excluded cause")
    minutes_observed: float = Field(description="Up, down and excluded together")
    uptime_percent: float | None = Field(
        description="(T - (T_outage - T_excluded)) / T x 100, rounded down to 0.01 "
        "(23 CFR 680.116(b)); null when nothing was observed"
    )
    meets_nevi: bool | None = Field(description="At least 97 %; null when nothing was observed")

    @classmethod
    def of(cls, figures: UptimeFigures) -> FiguresView:
        """From the domain's figures."""
        percent = figures.uptime_percent
        return cls(
            minutes_up=minutes(figures.up),
            minutes_down=minutes(figures.down),
            minutes_excluded=minutes(figures.excluded),
            minutes_observed=minutes(figures.observed),
            uptime_percent=float(percent) if percent is not None else None,
            meets_nevi=figures.meets_nevi,
        )


class MonthView(FiguresView):
    """One calendar month in the query's time zone."""

    month: str = Field(description="YYYY-MM")

    @classmethod
    def of_month(cls, month: str, figures: UptimeFigures) -> MonthView:
        """One month's figures."""
        return cls(month=month, **FiguresView.of(figures).model_dump())


def _months(rows: Iterable[MonthUptime]) -> list[MonthView]:
    summed: dict[str, UptimeFigures] = {}
    for row in rows:
        summed[row.month] = summed.get(row.month, UptimeFigures()) + row.figures
    return [MonthView.of_month(month, figures) for month, figures in sorted(summed.items())]


class PortUptimeView(ApiModel):
    """One port (EVSE) of a station."""

    evse_id: int
    first_seen: datetime = Field(description="Its first status report: time before is not counted")
    total: FiguresView
    months: list[MonthView]

    @classmethod
    def of(cls, port: PortUptime) -> PortUptimeView:
        """From the domain's port figures."""
        return cls(
            evse_id=port.evse_id,
            first_seen=port.first_seen,
            total=FiguresView.of(port.total),
            months=_months(port.months),
        )


class StationUptimeView(ApiModel):
    """A station: its ports, and all of them together."""

    station_id: str
    site_id: str | None
    total: FiguresView
    months: list[MonthView]
    ports: list[PortUptimeView] = Field(description="By EVSE id; ports never seen are absent")

    @classmethod
    def of(cls, station: StationUptime) -> StationUptimeView:
        """From the service's station figures."""
        return cls(
            station_id=station.station.id,
            site_id=station.station.site_id,
            total=FiguresView.of(station.total),
            months=_months(row for port in station.ports for row in port.months),
            ports=[PortUptimeView.of(port) for port in station.ports],
        )


class UptimeView(ApiModel):
    """Uptime of a station or a site over a window, by port and calendar month."""

    from_: datetime = Field(alias="from")
    to: datetime = Field(description="The end (excluded); now, when the query reached further")
    timezone: str = Field(description="The site's IANA time zone, in which months are cut")
    total: FiguresView
    months: list[MonthView]
    stations: list[StationUptimeView]

    @classmethod
    def of(cls, result: UptimeResult) -> UptimeView:
        """From the service's result."""
        return cls(
            from_=result.window.start,
            to=result.window.end,
            timezone=result.window.zone.key,
            total=FiguresView.of(result.total),
            months=_months(
                row for station in result.stations for port in station.ports for row in port.months
            ),
            stations=[StationUptimeView.of(station) for station in result.stations],
        )


class ReportRowView(FiguresView):
    """One port in the quarterly report."""

    port_id: str = Field(description="`{stationId}:{evseId}`")
    station_id: str
    evse_id: int
    site_id: str | None
    timezone: str
    from_: datetime = Field(alias="from")
    to: datetime

    @classmethod
    def of_port(
        cls, station: StationUptime, port: PortUptime, window: UptimeWindow
    ) -> ReportRowView:
        """One port's row."""
        return cls(
            port_id=f"{station.station.id}:{port.evse_id}",
            station_id=station.station.id,
            evse_id=port.evse_id,
            site_id=station.station.site_id,
            timezone=window.zone.key,
            from_=window.start,
            to=window.end,
            **FiguresView.of(port.total).model_dump(),
        )


class UptimeReportView(ApiModel):
    """The NEVI-style quarterly uptime report: one row per port."""

    quarter: str
    rows: list[ReportRowView] = Field(description="By station, then EVSE id")
    total: FiguresView = Field(description="All ports together")

    @classmethod
    def of(cls, quarter: str, results: Iterable[UptimeResult]) -> UptimeReportView:
        """From the service's results (one per time zone)."""
        rows: list[ReportRowView] = []
        total = UptimeFigures()
        for result in results:
            total += result.total
            rows.extend(
                ReportRowView.of_port(station, port, result.window)
                for station in result.stations
                for port in station.ports
            )
        rows.sort(key=lambda row: (row.station_id, row.evse_id))
        return cls(quarter=quarter, rows=rows, total=FiguresView.of(total))


class ExclusionCreate(ApiModel):
    """An outage to exclude: its cause (category and reason), station, ports and time range."""

    station_id: str = Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._~:*+@-]+$")
    evse_ids: list[int] = Field(
        default_factory=list,
        max_length=100,
        description="The ports (EVSE ids); empty or left out: every port of the station",
    )
    category: ExclusionCategory = Field(description="The cause, as 23 CFR 680.116(b) lists them")
    reason: str = Field(
        min_length=1,
        max_length=MAX_REASON_LENGTH,
        description="What happened, as evidence for the exclusion (required)",
    )
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _valid(self) -> ExclusionCreate:
        problem = exclusion_span_problem(self.start, self.end)
        if problem is not None:
            raise ValueError(problem)
        if not self.reason.strip():
            raise ValueError("reason must say what happened")
        if any(not 1 <= evse <= MAX_ID for evse in self.evse_ids):
            raise ValueError(f"evseIds are 1 to {MAX_ID} (EVSE 0 is the station)")
        return self

    def draft(self) -> ExclusionDraft:
        """What the service records."""
        return ExclusionDraft(
            station_id=self.station_id,
            evse_ids=tuple(self.evse_ids),
            category=self.category,
            reason=self.reason,
            start=self.start,
            end=self.end,
        )


class ExclusionView(ApiModel):
    """A recorded outage exclusion."""

    id: str
    station_id: str
    site_id: str | None
    evse_ids: list[int] = Field(description="Empty: every port of the station")
    category: ExclusionCategory
    reason: str
    start: datetime
    end: datetime
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, exclusion: OutageExclusion) -> ExclusionView:
        """From the domain's exclusion."""
        return cls(
            id=exclusion.id,
            station_id=exclusion.station_id,
            site_id=exclusion.site_id,
            evse_ids=list(exclusion.evse_ids),
            category=exclusion.category,
            reason=exclusion.reason,
            start=exclusion.start,
            end=exclusion.end,
            created_at=exclusion.created_at,
            created_by=exclusion.created_by,
        )


class ExclusionPage(ApiModel):
    """A page of outage exclusions, by id."""

    items: list[ExclusionView]
    next_cursor: str | None = None
