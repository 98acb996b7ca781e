"""Usage analytics: energy, sessions, revenue, utilization, peak demand, idle time, CO2 avoided.

Pure aggregation over sessions already read (csms.services.analytics reads them). Each session
belongs to one key (its station, site, driver group or driver) and is counted in the period
(day, ISO week from Monday, or calendar month) its START falls in, in its site's time zone.

Per key and period:
- sessions, energy (kWh, from the session's meter registers), average duration (ended sessions
  only: a running one's duration is not known yet);
- revenue per currency from the session's CDRs: a credit CDR nets out the CDR it cancels, so a
  corrected session counts once, with its corrected amounts;
- idle time: the idle period billing measured (the CDR's parking time, `reported_idle` /
  `idle_period` in csms.services.session_price); a session without a CDR has no idle time;
- utilization (station and site keys only: a driver or group has no ports): the share of the
  period's port-time a port was occupied (session start to stop, now while it runs) and
  charging (occupied minus the idle period at its end), with the key's ports counted from its
  stations' EVSEs. Occupied time is cut at the period's bounds: a session over midnight counts
  in both days. The period ends at the end of the range or now, whichever is earlier;
- peak demand (kW): each session's energy is spread evenly over its charging time (start to
  the start of its idle period), summed per 15-minute interval of the key, and the highest
  interval average is the peak. A method from the session's totals, not its meter samples
  (reading every sample of every session would cost one query per session): a session with a
  fast start and a slow taper shows a lower peak than its meter would;
- CO2 avoided (kg): energy times a stated factor (CO2_KG_PER_KWH, docs/operations.md "Reports");
- faults and mean time to repair (station and site keys only): the alerts of FAULT_KINDS that
  opened in the period (a fault that lasted its hold-down: csms.domain.alerts), and the mean
  time from their opening to their closing over those closed so far (one still open has no
  repair time yet). An alert counts in the period its condition began in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from csms.domain.alerts import AlertKind
from csms.domain.billing.cdr import Cdr

UNASSIGNED = "unassigned"
_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_CENT = Decimal("0.01")
_MILLI = Decimal("0.001")
_SLOT = timedelta(minutes=15)
_SLOT_HOURS = Decimal("0.25")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US_PER_HOUR = 3_600_000_000

# CO2 avoided per kWh delivered, against a petrol car driving the same distance:
# a typical US passenger car emits 400 g CO2 per mile (EPA, "Greenhouse Gas Emissions from a
# Typical Passenger Vehicle"), an EV drives about 3.3 miles per kWh, and producing the kWh
# emitted 0.373 kg on the US grid average (EPA eGRID2022, 823 lb/MWh):
# 0.400 * 3.3 - 0.373 = 0.947 kg per kWh.
ICE_KG_PER_MILE = Decimal("0.400")
EV_MILES_PER_KWH = Decimal("3.3")
GRID_KG_PER_KWH = Decimal("0.373")
CO2_KG_PER_KWH = (ICE_KG_PER_MILE * EV_MILES_PER_KWH - GRID_KG_PER_KWH).quantize(_MILLI)


# Alerts that took a port or a station out of service (a stuck connector or failing starts
# are not counted: the port may still charge).
FAULT_KINDS = frozenset({AlertKind.FAULTED, AlertKind.OFFLINE, AlertKind.REBOOT_LOOP})


class UsageBy(StrEnum):
    """What a usage report's rows are keyed by."""

    STATION = "station"
    SITE = "site"
    GROUP = "group"
    DRIVER = "driver"

    @property
    def has_ports(self) -> bool:
        """Whether the key owns ports (utilization is a share of their time)."""
        return self in (UsageBy.STATION, UsageBy.SITE)


class Period(StrEnum):
    """How a report's time is cut."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def period_start(day: date, period: Period) -> date:
    """The first day of the period holding `day` (weeks start on Monday, ISO 8601)."""
    if period is Period.DAY:
        return day
    if period is Period.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_period(first: date, period: Period) -> date:
    """The first day of the period after the one starting on `first`."""
    if period is Period.DAY:
        return first + timedelta(days=1)
    if period is Period.WEEK:
        return first + timedelta(days=7)
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)


def period_label(first: date, period: Period) -> str:
    """`2026-03-05`, `2026-W10` (ISO week), `2026-03`."""
    if period is Period.DAY:
        return first.isoformat()
    if period is Period.WEEK:
        year, week, _ = first.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{first:%Y-%m}"


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local day starts, in UTC."""
    return datetime.combine(day, time(), zone).astimezone(UTC)


@dataclass(frozen=True)
class CdrFigures:
    """What a session's CDRs add up to: revenue per currency and idle hours (credits net out)."""

    # currency -> (excl. tax, incl. tax)
    revenue: Mapping[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    idle_hours: Decimal = _ZERO


def cdr_figures(cdrs: Iterable[Cdr]) -> dict[str, CdrFigures]:
    """Per session id, its CDRs summed; a credit CDR takes its CDR's figures off again."""
    revenue: dict[str, dict[str, tuple[Decimal, Decimal]]] = {}
    idle: dict[str, Decimal] = {}
    for cdr in cdrs:
        # A credit CDR's costs are negated already; its times are the cancelled CDR's.
        sign = -1 if cdr.credit else 1
        amounts = revenue.setdefault(cdr.session_id, {})
        excl, incl = amounts.get(cdr.currency, (_ZERO, _ZERO))
        amounts[cdr.currency] = (
            excl + cdr.total_cost.excl_vat,
            incl + cdr.total_cost.incl_vat,
        )
        idle[cdr.session_id] = idle.get(cdr.session_id, _ZERO) + sign * cdr.total_parking_time
    return {
        session: CdrFigures(revenue=amounts, idle_hours=idle[session])
        for session, amounts in revenue.items()
    }


@dataclass(frozen=True)
class UsageSession:
    """A session as a report sees it."""

    key: str
    zone: ZoneInfo
    start: datetime
    # The stop, or now while it runs.
    end: datetime
    ended: bool
    energy_kwh: Decimal
    figures: CdrFigures | None = None

    @property
    def charging_end(self) -> datetime:
        """Where charging ended for good: the idle period sits at the session's end."""
        idle = self.figures.idle_hours if self.figures is not None else _ZERO
        idle_time = timedelta(microseconds=int(max(idle, _ZERO) * _US_PER_HOUR))
        return max(self.start, self.end - idle_time)


@dataclass(frozen=True)
class UsageFault:
    """A fault alert as a report sees it: opened, and closed (repaired) or still open."""

    key: str
    zone: ZoneInfo
    opened_at: datetime
    closed_at: datetime | None = None


@dataclass(frozen=True)
class ReportWindow:
    """Days `first_day` to `last_day` (both included), each cut in its site's zone, up to now."""

    first_day: date
    last_day: date
    now: datetime

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The window's start and end in a zone (the end never after now)."""
        start = midnight(self.first_day, zone)
        end = midnight(self.last_day + timedelta(days=1), zone)
        return start, min(end, self.now)

    def holds(self, at: datetime, zone: ZoneInfo) -> bool:
        """Whether a session starting at `at` (in `zone`) belongs to the range."""
        return self.first_day <= at.astimezone(zone).date() <= self.last_day


@dataclass(frozen=True)
class Revenue:
    """Revenue in one currency."""

    currency: str
    excl_tax: Decimal
    incl_tax: Decimal


@dataclass(frozen=True)
class UsageRow:
    """One key's usage in one period."""

    key: str
    period: str
    # The period's bounds (local midnights), cut to the range and now for utilization.
    start: datetime
    end: datetime
    sessions: int
    energy_kwh: Decimal
    revenue: tuple[Revenue, ...]
    average_duration_min: Decimal | None
    idle_min: Decimal
    # None for keys without ports (drivers, groups) and for keys whose stations have none.
    ports: int | None
    occupied_pct: Decimal | None
    charging_pct: Decimal | None
    peak_kw: Decimal
    co2_avoided_kg: Decimal
    # None for keys without ports (drivers, groups).
    faults: int | None = None
    repaired: int | None = None
    mttr_min: Decimal | None = None


@dataclass
class _Acc:
    start: datetime
    end: datetime
    sessions: int = 0
    energy: Decimal = _ZERO
    revenue: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    durations: list[Decimal] = field(default_factory=list)
    idle_hours: Decimal = _ZERO
    occupied_s: Decimal = _ZERO
    charging_s: Decimal = _ZERO
    slots: dict[int, Decimal] = field(default_factory=dict)
    faults: int = 0
    repairs: list[Decimal] = field(default_factory=list)


def _seconds(span: timedelta) -> Decimal:
    return Decimal(span.days * 86_400 + span.seconds) + Decimal(span.microseconds).scaleb(-6)


def _periods(
    start: datetime, end: datetime, zone: ZoneInfo, period: Period
) -> Iterator[tuple[date, datetime, datetime]]:
    """The periods (first day, start, end) that [start, end) overlaps, cut in `zone`."""
    first = period_start(start.astimezone(zone).date(), period)
    while True:
        following = next_period(first, period)
        begin, stop = midnight(first, zone), midnight(following, zone)
        yield first, begin, stop
        if stop >= end:
            return
        first = following


class UsageAggregator:
    """Sums sessions into rows by key and period (module docstring)."""

    def __init__(
        self,
        window: ReportWindow,
        period: Period,
        *,
        ports: Mapping[str, int] | None = None,
        co2_factor: Decimal = CO2_KG_PER_KWH,
    ) -> None:
        self._window = window
        self._period = period
        # None: the keys own no ports (no utilization at all).
        self._ports = ports
        self._co2 = co2_factor
        self._rows: dict[tuple[str, str], _Acc] = {}

    def add(self, session: UsageSession) -> None:
        """Count a session in its start's period and spread its time over the periods."""
        zone = session.zone
        low, high = self._window.bounds(zone)
        # A session that started before the range adds only the time it overlaps it.
        if self._window.holds(session.start, zone):
            first = period_start(session.start.astimezone(zone).date(), self._period)
            acc = self._row(session.key, first, zone)
            acc.sessions += 1
            acc.energy += session.energy_kwh
            if session.ended:
                acc.durations.append(_seconds(session.end - session.start) / 60)
            if session.figures is not None:
                acc.idle_hours += session.figures.idle_hours
                for currency, (excl, incl) in session.figures.revenue.items():
                    was_excl, was_incl = acc.revenue.get(currency, (_ZERO, _ZERO))
                    acc.revenue[currency] = (was_excl + excl, was_incl + incl)
        start, end = max(session.start, low), min(session.end, high)
        if start >= end:
            return
        charging_end = min(session.charging_end, end)
        for first, begin, stop in _periods(start, end, zone, self._period):
            acc = self._row(session.key, first, zone)
            acc.occupied_s += _seconds(min(end, stop) - max(start, begin))
            if charging_end > max(start, begin):
                acc.charging_s += _seconds(min(charging_end, stop) - max(start, begin))
        self._spread(session, start, charging_end)

    def add_fault(self, fault: UsageFault) -> None:
        """Count a fault alert in the period its condition began in (within the range)."""
        if not self._window.holds(fault.opened_at, fault.zone):
            return
        first = period_start(fault.opened_at.astimezone(fault.zone).date(), self._period)
        acc = self._row(fault.key, first, fault.zone)
        acc.faults += 1
        if fault.closed_at is not None:
            acc.repairs.append(_seconds(max(fault.closed_at - fault.opened_at, timedelta())) / 60)

    def _spread(self, session: UsageSession, start: datetime, charging_end: datetime) -> None:
        """The session's energy over 15-minute slots of its charging time within the window."""
        charging = _seconds(session.charging_end - session.start)
        if charging <= 0 or session.energy_kwh <= 0 or charging_end <= start:
            return
        kwh_per_s = session.energy_kwh / charging
        slot = (start - _EPOCH) // _SLOT
        while True:
            begin = _EPOCH + slot * _SLOT
            if begin >= charging_end:
                return
            lo, hi = max(begin, start), min(begin + _SLOT, charging_end)
            first = period_start(lo.astimezone(session.zone).date(), self._period)
            acc = self._row(session.key, first, session.zone)
            acc.slots[slot] = acc.slots.get(slot, _ZERO) + kwh_per_s * _seconds(hi - lo)
            slot += 1

    def _row(self, key: str, first: date, zone: ZoneInfo) -> _Acc:
        label = period_label(first, self._period)
        acc = self._rows.get((key, label))
        if acc is None:
            low, high = self._window.bounds(zone)
            begin = max(midnight(first, zone), low)
            end = min(midnight(next_period(first, self._period), zone), high)
            acc = self._rows[key, label] = _Acc(start=begin, end=max(begin, end))
        return acc

    def rows(self) -> tuple[UsageRow, ...]:
        """The rows by key, then period."""
        return tuple(
            self._finish(key, label, self._rows[key, label]) for key, label in sorted(self._rows)
        )

    def _finish(self, key: str, label: str, acc: _Acc) -> UsageRow:
        ports = self._ports.get(key, 0) if self._ports is not None else None
        available = _seconds(acc.end - acc.start) * ports if ports else _ZERO
        return UsageRow(
            key=key,
            period=label,
            start=acc.start,
            end=acc.end,
            sessions=acc.sessions,
            energy_kwh=acc.energy,
            revenue=tuple(
                Revenue(currency=currency, excl_tax=excl, incl_tax=incl)
                for currency, (excl, incl) in sorted(acc.revenue.items())
            ),
            average_duration_min=(
                _round(sum(acc.durations, _ZERO) / len(acc.durations), _CENT)
                if acc.durations
                else None
            ),
            idle_min=_round(acc.idle_hours * 60, _CENT),
            ports=ports,
            occupied_pct=_pct(acc.occupied_s, available) if ports is not None else None,
            charging_pct=_pct(acc.charging_s, available) if ports is not None else None,
            peak_kw=_round(max(acc.slots.values(), default=_ZERO) / _SLOT_HOURS, _MILLI),
            co2_avoided_kg=_round(acc.energy * self._co2, _MILLI),
            faults=acc.faults if ports is not None else None,
            repaired=len(acc.repairs) if ports is not None else None,
            mttr_min=_mean(acc.repairs) if ports is not None else None,
        )


def _mean(minutes: list[Decimal]) -> Decimal | None:
    return _round(sum(minutes, _ZERO) / len(minutes), _CENT) if minutes else None


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    # A key without ports, or a period with no time observed yet, has no share.
    return _round(part * _HUNDRED / whole, _CENT) if whole > 0 else None


def _round(value: Decimal, step: Decimal) -> Decimal:
    return value.quantize(step, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class UsageTotals:
    """Sessions, energy, revenue per currency and CO2 avoided over a whole report."""

    sessions: int
    energy_kwh: Decimal
    revenue: tuple[Revenue, ...]
    co2_avoided_kg: Decimal
    # None when the rows' keys have no ports (drivers, groups).
    faults: int | None = None
    mttr_min: Decimal | None = None


def totals(rows: Iterable[UsageRow]) -> UsageTotals:
    """The rows summed (utilization and peaks do not add up: they are left out).

    The mean time to repair is over every repair of the report (each row's mean weighted by its
    repairs), not a mean of the rows' means.
    """
    sessions, energy, co2 = 0, _ZERO, _ZERO
    faults: int | None = None
    repaired, repair_min = 0, _ZERO
    revenue: dict[str, tuple[Decimal, Decimal]] = {}
    for row in rows:
        sessions += row.sessions
        energy += row.energy_kwh
        co2 += row.co2_avoided_kg
        if row.faults is not None:
            faults = (faults or 0) + row.faults
        if row.repaired and row.mttr_min is not None:
            repaired += row.repaired
            repair_min += row.mttr_min * row.repaired
        for item in row.revenue:
            excl, incl = revenue.get(item.currency, (_ZERO, _ZERO))
            revenue[item.currency] = (excl + item.excl_tax, incl + item.incl_tax)
    return UsageTotals(
        sessions=sessions,
        energy_kwh=energy,
        revenue=tuple(Revenue(c, excl, incl) for c, (excl, incl) in sorted(revenue.items())),
        co2_avoided_kg=co2,
        faults=faults,
        mttr_min=_round(repair_min / repaired, _CENT) if repaired else None,
    )
