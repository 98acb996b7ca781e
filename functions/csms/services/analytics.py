"""Usage reports: reads a range's sessions, their CDRs and the keys' ports, and sums them.

Reading cost, per report (nothing is scanned, every read is by a tenant's key):
- the sessions by start time through the tenant's session index (`GSI1`, sort key the start),
  from a day before the range (so that sessions running into it add their time) to its end,
  widened by the 14 h a site's time zone may differ from UTC; at most `max_sessions`;
- the CDRs of those sessions by end time (the billing table's CDR index), from the earliest
  session's start to the latest one's stop; at most `max_cdrs`;
- for utilization only (station and site keys): each site's time zone once, the stations of
  each site reported (one query per site), and each station's connectors (one query per
  station); at most `max_stations`;
- for faults and repair times (station and site keys): the tenant's alerts newest first (their
  ids sort by opening time), down to the range's start; at most `max_alerts`.
A range over more sessions, CDRs or stations than that is refused (ReportTooLargeError): the
caller asks for fewer days, or one site.

A user restricted to some sites sees only the sessions of their sites. Revenue needs the
`read-billing` permission: without it the report leaves revenue out (the CDRs are still read
for the idle time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from csms.domain.access import Permission, Principal
from csms.domain.alerts import Alert
from csms.domain.analytics import (
    CO2_KG_PER_KWH,
    FAULT_KINDS,
    UNASSIGNED,
    CdrFigures,
    Period,
    ReportWindow,
    UsageAggregator,
    UsageBy,
    UsageFault,
    UsageRow,
    UsageSession,
    UsageTotals,
    cdr_figures,
    midnight,
    totals,
)
from csms.domain.billing.cdr import Cdr
from csms.domain.connector import ConnectorState
from csms.domain.sessions import Session, SessionState
from csms.domain.station import Station
from csms.services.alerts import AlertQuery
from csms.services.billing_reports import CdrReader
from csms.services.ports import Clock, Page, SessionQuery, SiteDirectory, StationQuery

_PAGE = 100
# Time zones differ from UTC by at most 14 h (Pacific/Kiritimati): a range's days start that
# much earlier, and end 12 h later (Etc/GMT+12), somewhere.
_ZONE_EARLY = timedelta(hours=14)
_ZONE_LATE = timedelta(hours=12)
# Sessions that started this long before the range are read for the time they run into it.
LOOKBACK = timedelta(days=1)
# CDRs end when their session stops; billing may round a stop up to a second after the start.
_CDR_SLACK = timedelta(minutes=1)
_UTC = ZoneInfo("UTC")
T = TypeVar("T")


class ReportTooLargeError(ValueError):
    """A report would read more sessions, CDRs or stations than one request does."""


class SessionLister(Protocol):
    """A tenant's sessions by start time (SessionRepository.list)."""

    def list(
        self, tenant_id: str, query: SessionQuery, limit: int, cursor: str | None = None
    ) -> Page[Session]:
        """Newest start first, filtered."""
        ...


class StationLister(Protocol):
    """A tenant's stations (StationRepository.list)."""

    def list(
        self, tenant_id: str, query: StationQuery, limit: int, cursor: str | None = None
    ) -> Page[Station]:
        """By id, filtered."""
        ...


class ConnectorLister(Protocol):
    """A station's connectors (ConnectorStatusRepository.list)."""

    def list(self, station_id: str) -> list[ConnectorState]:
        """Ordered by EVSE and connector."""
        ...


class AlertLister(Protocol):
    """A tenant's alerts, newest first (csms.services.alerts.AlertRepository)."""

    def list(
        self, tenant_id: str, query: AlertQuery, limit: int, cursor: str | None = None
    ) -> Page[Alert]:
        """A page of them."""
        ...


@dataclass(frozen=True)
class UsageQuery:
    """What a usage report asks for: days (both included), the key, the period, a site."""

    first_day: date
    last_day: date
    by: UsageBy
    period: Period
    site_id: str | None = None


@dataclass(frozen=True)
class UsageReport:
    """Rows by key and period, and totals."""

    query: UsageQuery
    rows: tuple[UsageRow, ...]
    totals: UsageTotals
    # Whether the caller may see money (else every row's revenue is empty).
    revenue_shown: bool
    co2_kg_per_kwh: Decimal


class UsageReports:
    """Usage reports within the caller's tenant and sites (module docstring)."""

    def __init__(
        self,
        *,
        sessions: SessionLister,
        cdrs: CdrReader,
        stations: StationLister,
        connectors: ConnectorLister,
        sites: SiteDirectory,
        clock: Clock,
        alerts: AlertLister | None = None,
        max_sessions: int = 50_000,
        max_cdrs: int = 50_000,
        max_stations: int = 200,
        max_alerts: int = 50_000,
    ) -> None:
        self._sessions = sessions
        self._cdrs = cdrs
        self._stations = stations
        self._connectors = connectors
        self._sites = sites
        self._clock = clock
        self._max_sessions = max_sessions
        self._max_cdrs = max_cdrs
        self._max_stations = max_stations
        self._alerts = alerts
        self._max_alerts = max_alerts

    def usage(self, principal: Principal, query: UsageQuery) -> UsageReport:
        """The report; ReportTooLargeError when it would read too much."""
        tenant = principal.tenant_id
        window = ReportWindow(query.first_day, query.last_day, self._clock.now())
        sessions = self._read_sessions(principal, query, window)
        figures = self._read_cdrs(tenant, sessions)
        shown = principal.may(Permission.READ_BILLING)
        zones: dict[str, ZoneInfo] = {}
        key_of = _KEYS[query.by]
        used: list[UsageSession] = []
        for session in sessions:
            found = figures.get(session.id)
            if found is not None and not shown:
                found = CdrFigures(idle_hours=found.idle_hours)
            used.append(
                UsageSession(
                    key=key_of(session),
                    zone=self._zone(tenant, session.site_id, zones),
                    start=session.started_at or window.now,
                    end=_end(session, window),
                    ended=session.state is SessionState.ENDED,
                    energy_kwh=(session.energy_wh or Decimal(0)).scaleb(-3),
                    figures=found,
                )
            )
        faults = self._read_faults(principal, query, window, zones) if query.by.has_ports else []
        keys = {u.key for u in used} | {f.key for f in faults}
        ports = self._ports(tenant, query.by, keys) if query.by.has_ports else None
        aggregator = UsageAggregator(window, query.period, ports=ports)
        for session_used in used:
            aggregator.add(session_used)
        for fault in faults:
            aggregator.add_fault(fault)
        rows = aggregator.rows()
        return UsageReport(
            query=query,
            rows=rows,
            totals=totals(rows),
            revenue_shown=shown,
            co2_kg_per_kwh=CO2_KG_PER_KWH,
        )

    def _read_sessions(
        self, principal: Principal, query: UsageQuery, window: ReportWindow
    ) -> list[Session]:
        # Not cut at now: a range in the future would give the index a bound below its start.
        wanted = SessionQuery(
            site_id=query.site_id,
            started_from=midnight(window.first_day, _UTC) - _ZONE_EARLY - LOOKBACK,
            started_to=midnight(window.last_day + timedelta(days=1), _UTC) + _ZONE_LATE,
        )
        read: list[Session] = []
        for session in _all(
            lambda cursor: self._sessions.list(principal.tenant_id, wanted, _PAGE, cursor)
        ):
            if session.started_at is None or not principal.reaches(session.site_id):
                # A session whose start is not known yet cannot be placed in a period.
                continue
            if len(read) == self._max_sessions:
                raise ReportTooLargeError(
                    f"more than {self._max_sessions} sessions in the range; ask for fewer days"
                )
            read.append(session)
        return read

    def _read_faults(
        self,
        principal: Principal,
        query: UsageQuery,
        window: ReportWindow,
        zones: dict[str, ZoneInfo],
    ) -> list[UsageFault]:
        if self._alerts is None:
            return []
        alerts = self._alerts
        earliest = midnight(window.first_day, _UTC) - _ZONE_EARLY
        wanted = AlertQuery(site_id=query.site_id)
        read: list[UsageFault] = []
        for alert in _all(lambda cursor: alerts.list(principal.tenant_id, wanted, _PAGE, cursor)):
            if alert.opened_at < earliest:
                break  # newest first: the rest opened before the range
            if alert.key.kind not in FAULT_KINDS or not principal.reaches(alert.site_id):
                continue
            if len(read) == self._max_alerts:
                raise ReportTooLargeError(
                    f"more than {self._max_alerts} alerts in the range; ask for fewer days"
                )
            key = (
                alert.key.station_id if query.by is UsageBy.STATION else alert.site_id or UNASSIGNED
            )
            read.append(
                UsageFault(
                    key=key,
                    zone=self._zone(principal.tenant_id, alert.site_id, zones),
                    opened_at=alert.opened_at,
                    closed_at=alert.closed_at,
                )
            )
        return read

    def _read_cdrs(self, tenant_id: str, sessions: list[Session]) -> dict[str, CdrFigures]:
        ended = [s for s in sessions if s.state is SessionState.ENDED and s.stopped_at]
        if not ended:
            return {}
        ids = {s.id for s in ended}
        since = min(s.started_at or s.updated_at for s in ended)
        until = max(s.stopped_at or s.updated_at for s in ended) + _CDR_SLACK
        read: list[Cdr] = []
        for cdr in _all(
            lambda cursor: self._cdrs.list_cdrs(tenant_id, _PAGE, cursor, since=since, until=until)
        ):
            if cdr.session_id not in ids:
                continue
            if len(read) == self._max_cdrs:
                raise ReportTooLargeError(
                    f"more than {self._max_cdrs} CDRs in the range; ask for fewer days"
                )
            read.append(cdr)
        return cdr_figures(read)

    def _zone(self, tenant_id: str, site_id: str | None, zones: dict[str, ZoneInfo]) -> ZoneInfo:
        if site_id is None:
            return _UTC
        if site_id not in zones:
            site = self._sites.site(tenant_id, site_id)
            zones[site_id] = ZoneInfo(site.timezone) if site is not None else _UTC
        return zones[site_id]

    def _ports(self, tenant_id: str, by: UsageBy, keys: set[str]) -> dict[str, int]:
        """Ports per key: the EVSEs (1 and up) its stations reported a status for."""
        stations: dict[str, list[str]] = {}
        if by is UsageBy.STATION:
            stations = {key: [key] for key in keys}
        else:
            for site_id in sorted(keys - {UNASSIGNED}):
                stations[site_id] = self._station_ids(tenant_id, site_id)
        if sum(len(ids) for ids in stations.values()) > self._max_stations:
            raise ReportTooLargeError(
                f"more than {self._max_stations} stations to count ports of; ask for one site"
            )
        return {
            key: sum(_evses(self._connectors.list(station_id)) for station_id in ids)
            for key, ids in stations.items()
        }

    def _station_ids(self, tenant_id: str, site_id: str) -> list[str]:
        # Every state: a station decommissioned since had its ports in the range.
        wanted = StationQuery(site_id=site_id, state=None)
        return [
            station.id
            for station in _all(
                lambda cursor: self._stations.list(tenant_id, wanted, _PAGE, cursor)
            )
        ]


def _evses(connectors: list[ConnectorState]) -> int:
    # EVSE 0 is the whole station (2.0.1; connector 0 in 1.6), not a port.
    return len({c.evse.evse_id for c in connectors if c.evse.evse_id > 0})


def _end(session: Session, window: ReportWindow) -> datetime:
    """The stop, or now while it runs; never before the start (a station clock may jump)."""
    if session.state is SessionState.ENDED:
        end = session.stopped_at or session.updated_at
    else:
        end = window.now
    start = session.started_at or end
    return max(end, start)


_KEYS: dict[UsageBy, Callable[[Session], str]] = {
    UsageBy.STATION: lambda s: s.station_id,
    UsageBy.SITE: lambda s: s.site_id or UNASSIGNED,
    UsageBy.GROUP: lambda s: s.group_id or UNASSIGNED,
    UsageBy.DRIVER: lambda s: s.id_token or UNASSIGNED,
}


def _all(read: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of a paged list, page after page."""
    cursor: str | None = None
    while True:
        page = read(cursor)
        yield from page.items
        cursor = page.next_cursor
        if cursor is None:
            return
