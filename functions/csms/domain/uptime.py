"""Uptime per charging port, as the NEVI rule counts it (23 CFR 680.116(b)).

The rule's yearly figure is

    uptime % = ((525,600 - (T_outage - T_excluded)) / 525,600) x 100

with 525,600 the minutes of a year, `T_outage` the minutes the port was not up and
`T_excluded` the minutes of outage with an excluded cause. Here the same formula is applied to
the minutes *observed* in a period (a calendar month in the site's time zone, a quarter, the
trailing twelve months): time before a port was first seen (commissioned) is not counted, so a
port that started in June is judged on the minutes since June.

A port is the EVSE (one vehicle charges at a time; 1.6 connector N is EVSE N). It is *up* when
its hardware and software can deliver power: one of its connectors is Available, Occupied or
Reserved, the station as a whole (EVSE 0) is not Faulted or Unavailable, and the station is
connected. Faulted and Unavailable count as down whoever caused them: the rule counts a port as
up only when it is "available for use, or in use"; an operator who takes a port out of service
for maintenance records that as an excluded outage (scheduled maintenance), with its reason.
Another connector of the same EVSE reporting Unavailable while one is in use (2.0.1 does so) is
not down: one connector that can deliver power is enough.

A station that drops its WebSocket (API Gateway closes every connection after 2 hours) and
reconnects within the grace period is not down for that gap; a longer gap counts from the
disconnect.

Excluded outage categories, from the definition of T_excluded in 680.116(b)(3): outages caused
by reasons outside the owner's or operator's control, provided they can show that the port would
otherwise be operational - electric utility service interruptions, a failure to charge (or to
meet the driver's expectation of power) due to the fault of the vehicle, scheduled maintenance,
vandalism, natural disasters - and the hours outside the station's identified hours of
operation. An exclusion excludes
only the downtime it overlaps: a port that is up during an exclusion is simply up.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from csms.domain.connector import ConnectorStatus

# The rule's threshold: at least 97 % average annual uptime per port.
NEVI_THRESHOLD_PERCENT = Decimal(97)
# The longest period one uptime query covers (a leap year and a day of slack).
MAX_RANGE = timedelta(days=366)
# What an operator may exclude in one record: a long natural-disaster rebuild is split.
MAX_EXCLUSION = timedelta(days=366)
MAX_REASON_LENGTH = 1000
DEFAULT_RECONNECT_GRACE = timedelta(minutes=2)

_UP_STATUSES = frozenset(
    {ConnectorStatus.AVAILABLE, ConnectorStatus.OCCUPIED, ConnectorStatus.RESERVED}
)


class ExclusionCategory(StrEnum):
    """The causes 680.116(b)(3) (T_excluded) lets an operator exclude from the outage minutes."""

    UTILITY_INTERRUPTION = "electric-utility-interruption"
    VEHICLE_FAULT = "vehicle-fault"
    SCHEDULED_MAINTENANCE = "scheduled-maintenance"
    VANDALISM = "vandalism"
    NATURAL_DISASTER = "natural-disaster"
    OUTSIDE_OPERATING_HOURS = "outside-operating-hours"


class StatusChange(BaseModel):
    """A connector's (or, with EVSE 0, the whole station's) status from a moment on."""

    model_config = ConfigDict(frozen=True)

    evse_id: int = Field(ge=0)
    connector_id: int = Field(ge=0)
    at: datetime
    status: ConnectorStatus


class ConnectivityChange(BaseModel):
    """A connect or disconnect of one of the station's WebSocket connections."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    connected: bool
    connection_id: str | None = None


class OutageExclusion(BaseModel):
    """Downtime an operator excludes, with the rule's category and their reason.

    `evse_ids` empty: every port of the station.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    station_id: str
    site_id: str | None = None
    evse_ids: tuple[int, ...] = ()
    category: ExclusionCategory
    reason: str = Field(min_length=1, max_length=MAX_REASON_LENGTH)
    start: datetime
    end: datetime
    created_at: datetime
    created_by: str

    @model_validator(mode="after")
    def _span(self) -> OutageExclusion:
        problem = exclusion_span_problem(self.start, self.end)
        if problem is not None:
            raise ValueError(problem)
        if not self.reason.strip():
            raise ValueError("the reason must say something")
        return self

    def covers(self, station_id: str, evse_id: int) -> bool:
        """Whether the exclusion applies to this port."""
        return self.station_id == station_id and (not self.evse_ids or evse_id in self.evse_ids)


def exclusion_span_problem(start: datetime, end: datetime) -> str | None:
    """Why an exclusion's time range is unusable; None when it is fine."""
    if start.tzinfo is None or end.tzinfo is None:
        return "start and end need a time zone offset"
    if end <= start:
        return "end must be after start"
    if end - start > MAX_EXCLUSION:
        return f"an exclusion covers at most {MAX_EXCLUSION.days} days; record several"
    return None


def range_problem(start: datetime, end: datetime) -> str | None:
    """Why an uptime query's range is unusable; None when it is fine."""
    if start.tzinfo is None or end.tzinfo is None:
        return "from and to need a time zone offset"
    if end <= start:
        return "to must be after from"
    if end - start > MAX_RANGE:
        return f"the range covers at most {MAX_RANGE.days} days"
    return None


@dataclass(frozen=True)
class UptimeFigures:
    """Time up, down (not excluded) and excluded; exact to the microsecond."""

    up: timedelta = timedelta()
    down: timedelta = timedelta()
    excluded: timedelta = timedelta()

    def __add__(self, other: UptimeFigures) -> UptimeFigures:
        """The figures of both periods (or ports) together."""
        return UptimeFigures(
            up=self.up + other.up,
            down=self.down + other.down,
            excluded=self.excluded + other.excluded,
        )

    @property
    def observed(self) -> timedelta:
        """The time counted: up, down and excluded together."""
        return self.up + self.down + self.excluded

    @property
    def uptime_percent(self) -> Decimal | None:
        """(T - (T_outage - T_excluded)) / T x 100, rounded down to 0.01; None: nothing observed.

        Rounded down, so that a figure just under the threshold never reads as meeting it.
        """
        observed = _micros(self.observed)
        if observed == 0:
            return None
        exact = Decimal(observed - _micros(self.down)) * 100 / Decimal(observed)
        return exact.quantize(Decimal("0.01"), rounding=ROUND_DOWN)

    @property
    def meets_nevi(self) -> bool | None:
        """Whether the uptime is at least 97 % (exactly, before rounding); None: unobserved."""
        observed = _micros(self.observed)
        if observed == 0:
            return None
        return (observed - _micros(self.down)) * 100 >= NEVI_THRESHOLD_PERCENT * observed


def _micros(value: timedelta) -> int:
    return value // timedelta(microseconds=1)


@dataclass(frozen=True)
class MonthUptime:
    """One calendar month (in the time zone of the query) of one port."""

    month: str  # YYYY-MM
    figures: UptimeFigures


@dataclass(frozen=True)
class PortUptime:
    """A port's uptime in the months of a window, and over the whole window."""

    station_id: str
    evse_id: int
    first_seen: datetime
    months: tuple[MonthUptime, ...]
    total: UptimeFigures


@dataclass(frozen=True)
class UptimeWindow:
    """The period counted, and the time zone its months are cut in."""

    start: datetime
    end: datetime
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    def month_starts(self) -> list[datetime]:
        """The starts of the local months that begin inside the window, in UTC."""
        local = self.start.astimezone(self.zone)
        year, month = local.year, local.month
        starts: list[datetime] = []
        while True:
            month += 1
            if month == 13:
                year, month = year + 1, 1
            boundary = datetime(year, month, 1, tzinfo=self.zone).astimezone(UTC)
            if boundary >= self.end:
                return starts
            starts.append(boundary)

    def month_of(self, at: datetime) -> str:
        """The local month `at` falls in, as YYYY-MM."""
        return at.astimezone(self.zone).strftime("%Y-%m")


def quarter_window(quarter: str, zone: ZoneInfo) -> UptimeWindow:
    """The window of a quarter like `2026-Q3` in a time zone."""
    year_text, _, number_text = quarter.partition("-Q")
    year, number = int(year_text), int(number_text)
    if not 1 <= number <= 4:
        raise ValueError("a quarter is Q1 to Q4")
    first = date(year, 3 * number - 2, 1)
    after = date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)
    return UptimeWindow(
        start=datetime(first.year, first.month, 1, tzinfo=zone).astimezone(UTC),
        end=datetime(after.year, after.month, 1, tzinfo=zone).astimezone(UTC),
        zone=zone,
    )


def offline_intervals(
    changes: Iterable[ConnectivityChange], end: datetime, grace: timedelta
) -> list[tuple[datetime, datetime]]:
    """When the station was offline longer than the grace period (each from its disconnect).

    A station counts as connected while any of its connections is open: the new connection of
    a reconnect may arrive before the old one's disconnect. Before its first entry, the station
    is taken as connected (its first entry tells otherwise by being a disconnect).
    """
    open_ids: set[str] = set()
    offline_since: datetime | None = None
    gaps: list[tuple[datetime, datetime]] = []
    for change in sorted(changes, key=lambda c: c.at):
        key = change.connection_id or ""
        if change.connected:
            if offline_since is not None and change.at - offline_since > grace:
                gaps.append((offline_since, change.at))
            open_ids.add(key)
            offline_since = None
            continue
        open_ids.discard(key)
        if not open_ids and offline_since is None:
            offline_since = change.at
    if offline_since is not None and end - offline_since > grace:
        gaps.append((offline_since, end))
    return gaps


class _Timeline:
    """One key's status over time, as sorted change times and statuses."""

    def __init__(self) -> None:
        self.times: list[datetime] = []
        self.statuses: list[ConnectorStatus] = []

    def add(self, at: datetime, status: ConnectorStatus) -> None:
        self.times.append(at)
        self.statuses.append(status)

    def at(self, moment: datetime) -> ConnectorStatus | None:
        index = bisect.bisect_right(self.times, moment) - 1
        return self.statuses[index] if index >= 0 else None


def _intervals_cover(intervals: Sequence[tuple[datetime, datetime]], moment: datetime) -> bool:
    return any(start <= moment < end for start, end in intervals)


def port_uptime(
    station_id: str,
    history: Iterable[StatusChange],
    connectivity: Iterable[ConnectivityChange],
    exclusions: Iterable[OutageExclusion],
    window: UptimeWindow,
    *,
    grace: timedelta = DEFAULT_RECONNECT_GRACE,
) -> list[PortUptime]:
    """Each port's uptime in the window, by EVSE id; ports never seen before its end are absent.

    `history` holds the station's status changes, including (at least) the last one of each
    connector before the window starts; `connectivity` its connects and disconnects, including
    the last one before the window.
    """
    ordered = sorted(history, key=lambda c: c.at)
    connectors: dict[tuple[int, int], _Timeline] = {}
    first_seen: dict[int, datetime] = {}
    station_level = _Timeline()
    for change in ordered:
        if change.evse_id == 0:
            station_level.add(change.at, change.status)
            continue
        connectors.setdefault((change.evse_id, change.connector_id), _Timeline()).add(
            change.at, change.status
        )
        first_seen.setdefault(change.evse_id, change.at)
    offline = offline_intervals(connectivity, window.end, grace)
    applicable = [e for e in exclusions if e.station_id == station_id]
    months = window.month_starts()
    ports: list[PortUptime] = []
    for evse_id in sorted(first_seen):
        if first_seen[evse_id] >= window.end:
            continue
        timelines = [t for (evse, _), t in connectors.items() if evse == evse_id]
        covering = [(e.start, e.end) for e in applicable if e.covers(station_id, evse_id)]
        start = max(window.start, first_seen[evse_id])
        cuts = {start, window.end, *months}
        cuts.update(t for timeline in timelines for t in timeline.times)
        cuts.update(station_level.times)
        cuts.update(t for interval in (*offline, *covering) for t in interval)
        points = sorted(t for t in cuts if start <= t <= window.end)
        by_month: dict[str, UptimeFigures] = {}
        for left, right in pairwise(points):
            down = (
                _intervals_cover(offline, left)
                or station_level.at(left) not in (None, *_UP_STATUSES)
                or not any(timeline.at(left) in _UP_STATUSES for timeline in timelines)
            )
            span = right - left
            if not down:
                piece = UptimeFigures(up=span)
            elif _intervals_cover(covering, left):
                piece = UptimeFigures(excluded=span)
            else:
                piece = UptimeFigures(down=span)
            month = window.month_of(left)
            by_month[month] = by_month.get(month, UptimeFigures()) + piece
        month_rows = tuple(MonthUptime(month=m, figures=f) for m, f in sorted(by_month.items()))
        total = sum((row.figures for row in month_rows), UptimeFigures())
        ports.append(
            PortUptime(
                station_id=station_id,
                evse_id=evse_id,
                first_seen=first_seen[evse_id],
                months=month_rows,
                total=total,
            )
        )
    return ports
