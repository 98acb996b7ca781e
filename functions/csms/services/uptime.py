"""Uptime per port for the API: reads a station's history for a window and applies the rule.

Reading cost, per station: the status changes and the connection log of the window, plus the
last entries before it (each a query on the station's own partitions), and the tenant's outage
exclusions once per request. Nothing is scanned; nothing is written on the OCPP message path.

Months are cut in the site's time zone (UTC for a station without a site). A window that
reaches into the future ends now: the future is not observed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from csms.domain.access import Principal
from csms.domain.errors import InvalidReferenceError, ResourceNotFoundError, StationNotFoundError
from csms.domain.station import Station
from csms.domain.uptime import (
    ConnectivityChange,
    ExclusionCategory,
    OutageExclusion,
    PortUptime,
    StatusChange,
    UptimeFigures,
    UptimeWindow,
    port_uptime,
    quarter_window,
)
from csms.services.ports import Clock, Page, SiteDirectory, StationQuery

# One request computes at most this many stations (each costs a few queries): a larger
# report is asked per site.
MAX_STATIONS = 200
_PAGE = 100
EXCLUSION_KIND = "uptime-exclusion"
# The trailing twelve months the rule reports on.
TRAILING = timedelta(days=365)


class UptimeHistory(Protocol):
    """A station's status changes and connects/disconnects, read for a window."""

    def status_changes(self, station_id: str, start: datetime, end: datetime) -> list[StatusChange]:
        """Changes in [start, end), and the last one of each connector before `start`."""
        ...

    def connectivity(
        self, station_id: str, start: datetime, end: datetime
    ) -> list[ConnectivityChange]:
        """Connects and disconnects in [start, end), and the last one before `start`."""
        ...


class ExclusionRepository(Protocol):
    """Outage exclusions of a tenant."""

    def add(self, exclusion: OutageExclusion) -> None:
        """Store a new exclusion (its id is new)."""
        ...

    def get(self, tenant_id: str, exclusion_id: str) -> OutageExclusion | None:
        """The tenant's exclusion, or None."""
        ...

    def delete(self, tenant_id: str, exclusion_id: str) -> bool:
        """Remove it; False when there was none."""
        ...

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> Page[OutageExclusion]:
        """The tenant's exclusions by id."""
        ...


class UptimeStations(Protocol):
    """The stations uptime is computed for (the station repository's reads)."""

    def get(self, station_id: str) -> Station | None:
        """The station, whatever its tenant, or None."""
        ...

    def list(
        self, tenant_id: str, query: StationQuery, limit: int, cursor: str | None = None
    ) -> Page[Station]:
        """A page of the tenant's stations."""
        ...


class TooManyStationsError(ValueError):
    """A report would compute more stations than one request does."""


@dataclass(frozen=True)
class ExclusionDraft:
    """What an operator records: the station, its ports (empty: all), category, reason, span."""

    station_id: str
    evse_ids: tuple[int, ...]
    category: ExclusionCategory
    reason: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class StationUptime:
    """A station's ports' uptime, and the station's as the sum of its ports."""

    station: Station
    ports: tuple[PortUptime, ...]

    @property
    def total(self) -> UptimeFigures:
        """All ports together."""
        return sum((port.total for port in self.ports), UptimeFigures())


@dataclass(frozen=True)
class UptimeResult:
    """Uptime of one or more stations over one window."""

    window: UptimeWindow
    stations: tuple[StationUptime, ...]

    @property
    def total(self) -> UptimeFigures:
        """All stations' ports together."""
        return sum((station.total for station in self.stations), UptimeFigures())


class UptimeService:
    """Uptime per port, station and site; the outage exclusions operators record."""

    def __init__(
        self,
        *,
        history: UptimeHistory,
        exclusions: ExclusionRepository,
        stations: UptimeStations,
        sites: SiteDirectory,
        clock: Clock,
        new_id: Callable[[], str],
        grace: timedelta,
    ) -> None:
        self._history = history
        self._exclusions = exclusions
        self._stations = stations
        self._sites = sites
        self._clock = clock
        self._new_id = new_id
        self._grace = grace

    # -- uptime ------------------------------------------------------------------------------

    def default_range(
        self, start: datetime | None, end: datetime | None
    ) -> tuple[datetime, datetime]:
        """The range asked for; `end` defaults to now, `start` to the trailing 12 months."""
        end = end or self._clock.now()
        return start or end - TRAILING, end

    def station_uptime(
        self, principal: Principal, station_id: str, start: datetime, end: datetime
    ) -> UptimeResult:
        """One station's ports, months cut in its site's time zone."""
        station = self._station(principal, station_id)
        window = self._window(start, end, self._zone(principal.tenant_id, station.site_id))
        return UptimeResult(
            window=window,
            stations=(self._compute(station, window, self._all_exclusions(principal.tenant_id)),),
        )

    def site_uptime(
        self, principal: Principal, site_id: str, start: datetime, end: datetime
    ) -> UptimeResult:
        """Every station of a site (decommissioned ones too: they had ports in the window)."""
        zone = self._site_zone(principal, site_id)
        window = self._window(start, end, zone)
        stations = self._stations_of(principal, site_id)
        exclusions = self._all_exclusions(principal.tenant_id)
        return UptimeResult(
            window=window,
            stations=tuple(self._compute(s, window, exclusions) for s in stations),
        )

    def quarter_report(
        self, principal: Principal, quarter: str, site_id: str | None = None
    ) -> list[UptimeResult]:
        """The quarter per station, each cut in its site's time zone (one result per zone).

        All the caller's stations, or one site's.
        """
        if site_id is not None:
            self._site_zone(principal, site_id)
        stations = self._stations_of(principal, site_id)
        exclusions = self._all_exclusions(principal.tenant_id)
        zones: dict[str, ZoneInfo] = {}
        by_zone: dict[str, list[StationUptime]] = {}
        windows: dict[str, UptimeWindow] = {}
        for station in stations:
            zone = zones.get(station.site_id or "")
            if zone is None:
                zone = self._zone(principal.tenant_id, station.site_id)
                zones[station.site_id or ""] = zone
            window = windows.get(zone.key)
            if window is None:
                window = self._clip(quarter_window(quarter, zone))
                windows[zone.key] = window
            by_zone.setdefault(zone.key, []).append(self._compute(station, window, exclusions))
        return [
            UptimeResult(window=windows[key], stations=tuple(found))
            for key, found in sorted(by_zone.items())
        ]

    def _compute(
        self, station: Station, window: UptimeWindow, exclusions: list[OutageExclusion]
    ) -> StationUptime:
        if window.end <= window.start:
            return StationUptime(station=station, ports=())
        history = self._history.status_changes(station.id, window.start, window.end)
        connectivity = self._history.connectivity(station.id, window.start, window.end)
        ports = port_uptime(
            station.id, history, connectivity, exclusions, window, grace=self._grace
        )
        return StationUptime(station=station, ports=tuple(ports))

    def _window(self, start: datetime, end: datetime, zone: ZoneInfo) -> UptimeWindow:
        return self._clip(UptimeWindow(start=start, end=end, zone=zone))

    def _clip(self, window: UptimeWindow) -> UptimeWindow:
        now = self._clock.now()
        if window.end <= now:
            return window
        return UptimeWindow(start=window.start, end=max(now, window.start), zone=window.zone)

    def _station(self, principal: Principal, station_id: str) -> Station:
        station = self._stations.get(station_id)
        if (
            station is None
            or station.tenant_id != principal.tenant_id
            or not principal.reaches(station.site_id)
        ):
            raise StationNotFoundError(station_id)
        return station

    def _site_zone(self, principal: Principal, site_id: str) -> ZoneInfo:
        site = (
            self._sites.site(principal.tenant_id, site_id) if principal.reaches(site_id) else None
        )
        if site is None:
            raise ResourceNotFoundError("site", site_id)
        return ZoneInfo(site.timezone)

    def _zone(self, tenant_id: str, site_id: str | None) -> ZoneInfo:
        site = self._sites.site(tenant_id, site_id) if site_id else None
        return ZoneInfo(site.timezone if site else "UTC")

    def _stations_of(self, principal: Principal, site_id: str | None) -> list[Station]:
        query = StationQuery(site_id=site_id, state=None, sites=principal.sites)
        found: list[Station] = []
        cursor: str | None = None
        while True:
            page = self._stations.list(principal.tenant_id, query, _PAGE, cursor)
            found.extend(page.items)
            if len(found) > MAX_STATIONS:
                raise TooManyStationsError(
                    f"more than {MAX_STATIONS} stations; ask for one site at a time"
                )
            cursor = page.next_cursor
            if cursor is None:
                return found

    def _all_exclusions(self, tenant_id: str) -> list[OutageExclusion]:
        return list(self._each_exclusion(tenant_id))

    def _each_exclusion(self, tenant_id: str) -> Iterator[OutageExclusion]:
        cursor: str | None = None
        while True:
            page = self._exclusions.list(tenant_id, _PAGE, cursor)
            yield from page.items
            cursor = page.next_cursor
            if cursor is None:
                return

    # -- exclusions --------------------------------------------------------------------------

    def record_exclusion(self, principal: Principal, draft: ExclusionDraft) -> OutageExclusion:
        """Record an excluded outage at one of the caller's stations."""
        station = self._stations.get(draft.station_id)
        if (
            station is None
            or station.tenant_id != principal.tenant_id
            or not principal.reaches(station.site_id)
        ):
            raise InvalidReferenceError("stationId", "station", draft.station_id)
        exclusion = OutageExclusion(
            id=self._new_id(),
            tenant_id=principal.tenant_id,
            station_id=station.id,
            site_id=station.site_id,
            evse_ids=tuple(sorted(set(draft.evse_ids))),
            category=draft.category,
            reason=draft.reason.strip(),
            start=draft.start,
            end=draft.end,
            created_at=self._clock.now(),
            created_by=principal.subject,
        )
        self._exclusions.add(exclusion)
        return exclusion

    def exclusion(self, principal: Principal, exclusion_id: str) -> OutageExclusion:
        """One exclusion the caller may see."""
        found = self._exclusions.get(principal.tenant_id, exclusion_id)
        if found is None or not principal.reaches(found.site_id):
            raise ResourceNotFoundError(EXCLUSION_KIND, exclusion_id)
        return found

    def exclusions(
        self,
        principal: Principal,
        limit: int,
        cursor: str | None = None,
        station_id: str | None = None,
    ) -> Page[OutageExclusion]:
        """A page of the exclusions the caller may see (of one station, if named).

        The page may hold fewer than `limit` (those beyond the caller's reach are left out).
        """
        page = self._exclusions.list(principal.tenant_id, limit, cursor)
        items = [
            e
            for e in page.items
            if principal.reaches(e.site_id) and (station_id is None or e.station_id == station_id)
        ]
        return Page(items=items, next_cursor=page.next_cursor)

    def remove_exclusion(self, principal: Principal, exclusion_id: str) -> OutageExclusion:
        """Remove one exclusion the caller may see; its downtime counts again."""
        found = self.exclusion(principal, exclusion_id)
        if not self._exclusions.delete(principal.tenant_id, exclusion_id):
            raise ResourceNotFoundError(EXCLUSION_KIND, exclusion_id)
        return found
