"""The live view: what every station, connector and session of a site is doing now.

Per station: online or offline and since when, protocol, each connector's status (and its last
error code), and the active session on it with power, energy and state of charge. Per site:
stations total and online, connectors charging now, power now and energy today, the day being
the site's local day (its IANA time zone; UTC when it has none).

Energy today is the energy of the sessions that started today plus, for sessions that started
before local midnight, the part after it. Sessions keep their first and their newest energy
register, not every reading, so that part is estimated pro rata by time: the session's energy
times the share of the time between those two registers that lies after midnight (exact when
the power was constant). Sessions that started more than `lookback` before midnight are not
read at all.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from csms.domain.access import Principal
from csms.domain.connector import ConnectorState, EvseRef, OccupancyDetail
from csms.domain.errors import (
    InvalidCursorError,
    ResourceNotFoundError,
    SessionNotFoundError,
)
from csms.domain.sessions import ChargingState, Session, SessionState, SessionTotals, totals
from csms.domain.station import Station
from csms.services.ports import (
    Clock,
    ConnectorStatusRepository,
    Page,
    SessionQuery,
    SiteDirectory,
    SiteRef,
    StationQuery,
    StationRepository,
)
from csms.services.sessions import SessionService

_ZERO = Decimal(0)
_SITE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass(frozen=True)
class LiveSession:
    """An active session with its live totals."""

    session: Session
    totals: SessionTotals


@dataclass(frozen=True)
class LiveConnector:
    """A connector's status (None: no report yet) and the active session on it."""

    evse: EvseRef
    state: ConnectorState | None = None
    session: LiveSession | None = None

    @property
    def charging(self) -> bool:
        """Energy flows now, as far as the station told.

        A 1.6 station says it in the status (Occupied/Charging); a 2.0.1 station in the
        session's charging state; failing both, reported power above zero counts.
        """
        if self.state is not None and self.state.detail is not None:
            return self.state.detail is OccupancyDetail.CHARGING
        if self.session is None:
            return False
        charging_state = self.session.session.charging_state
        if charging_state is not None:
            return charging_state is ChargingState.CHARGING
        return (self.session.totals.power_w or _ZERO) > 0


@dataclass(frozen=True)
class LiveStation:
    """A station with its connectors; active sessions with no EVSE known are `unplaced`."""

    station: Station
    connectors: list[LiveConnector]
    unplaced: list[LiveSession] = field(default_factory=list)

    @property
    def active(self) -> list[LiveSession]:
        """Every active session of the station."""
        placed = [c.session for c in self.connectors if c.session is not None]
        return [*placed, *self.unplaced]


@dataclass(frozen=True)
class SiteSummary:
    """A site's figures now."""

    site: SiteRef
    stations_total: int
    stations_online: int
    connectors_charging: int
    power_w: Decimal
    energy_today_wh: Decimal
    day_start: datetime
    as_of: datetime
    # True when the site has more stations than one live view reads (`max_stations`).
    truncated: bool = False


@dataclass(frozen=True)
class SiteLive:
    """A site's summary and its stations."""

    summary: SiteSummary
    stations: list[LiveStation]


# -- the arithmetic (pure) ----------------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    """The site's time zone; an unknown name falls back to UTC rather than failing the view."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_midnight(now: datetime, timezone: str) -> datetime:
    """The start of `now`'s day in the time zone (tz-aware, in that zone)."""
    local = now.astimezone(zone(timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    # A day that starts in a DST gap (no 00:00) starts at the first instant that exists.
    return midnight.astimezone(ZoneInfo("UTC")).astimezone(local.tzinfo)


def energy_since(session: Session, live: SessionTotals, since: datetime) -> Decimal:
    """The part of a session's energy (Wh) delivered after `since`.

    All of it when the session started at or after `since`; for an earlier start, pro rata by
    time between the first and the newest energy register.
    """
    energy = live.energy_wh
    last = live.meter_last
    if energy is None or energy <= 0 or last is None:
        return _ZERO
    started = session.started_at or (session.meter_start.at if session.meter_start else None)
    first = session.meter_start.at if session.meter_start else session.started_at
    if started is None or first is None or started >= since:
        return energy
    if last.at <= since:
        return _ZERO
    unit = timedelta(microseconds=1)
    span = (last.at - first) // unit
    if span <= 0:
        return energy
    return energy * Decimal((last.at - since) // unit) / Decimal(span)


def connectors_with_sessions(
    states: list[ConnectorState], active: list[LiveSession]
) -> tuple[list[LiveConnector], list[LiveSession]]:
    """Each connector with the active session on it, and the sessions no connector took.

    A session goes to the connector with its EVSE and connector id, else to a free connector of
    its EVSE (2.0.1 may leave the connector out), else to a connector of its own (no status
    reported yet); a session with no EVSE at all stays unplaced.
    """
    connectors: dict[EvseRef, LiveConnector] = {s.evse: LiveConnector(s.evse, s) for s in states}
    unplaced: list[LiveSession] = []
    for live in active:
        evse = live.session.evse
        if evse is None:
            unplaced.append(live)
            continue
        target = evse if evse in connectors and connectors[evse].session is None else None
        if target is None:
            target = next(
                (
                    ref
                    for ref, c in connectors.items()
                    if ref.evse_id == evse.evse_id and c.session is None
                ),
                evse,
            )
        held = connectors.get(target)
        if held is not None and held.session is not None:
            unplaced.append(live)
            continue
        connectors[target] = LiveConnector(target, held.state if held else None, live)
    ordered = sorted(connectors.values(), key=lambda c: (c.evse.evse_id, c.evse.connector_id))
    return ordered, unplaced


def summarize(
    site: SiteRef,
    stations: list[LiveStation],
    sessions: list[tuple[Session, SessionTotals]],
    *,
    now: datetime,
    day_start: datetime,
    truncated: bool = False,
) -> SiteSummary:
    """A site's figures from its stations (with their active sessions) and its sessions."""
    active = [live for station in stations for live in station.active]
    charging = sum(c.charging for s in stations for c in s.connectors)
    # Unplaced sessions run on some connector too.
    charging += sum(
        LiveConnector(EvseRef(evse_id=0, connector_id=0), None, live).charging
        for station in stations
        for live in station.unplaced
    )
    return SiteSummary(
        site=site,
        stations_total=len(stations),
        stations_online=sum(s.station.online for s in stations),
        connectors_charging=charging,
        power_w=sum((live.totals.power_w or _ZERO for live in active), _ZERO),
        energy_today_wh=sum(
            (energy_since(session, live, day_start) for session, live in sessions), _ZERO
        ),
        day_start=day_start,
        as_of=now,
        truncated=truncated,
    )


def encode_site_cursor(site_id: str) -> str:
    """An opaque cursor after a site."""
    return base64.urlsafe_b64encode(site_id.encode()).decode().rstrip("=")


def decode_site_cursor(cursor: str | None) -> str | None:
    """The site a cursor continues after; InvalidCursorError for anything not handed out."""
    if cursor is None:
        return None
    try:
        site_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        raise InvalidCursorError from None
    if not _SITE_ID.fullmatch(site_id):
        raise InvalidCursorError
    return site_id


# -- the use cases ------------------------------------------------------------------------------


class LiveService:
    """The live view of a site, and the summaries of every site a caller reaches.

    DynamoDB calls of one site's view, with S stations at the site (at most `max_stations`
    are read) and A active sessions: 1 GetItem (the site), 1 Query + 1 BatchGetItem (its
    stations through GSI2), per station 1 Query (connector statuses) and 1 Query + 1
    BatchGetItem (its sessions since local midnight minus `lookback`, 100 a page, at most
    `max_session_pages` pages), and 1 Query per active session (its newest meter chunk): about
    3 + 3 S + A, never more than 3 + 5 + S (1 + 2 `max_session_pages`) + A. `GET /v1/live`
    costs that per site of its page (sites by id, 1 Query per page).
    """

    def __init__(
        self,
        *,
        stations: StationRepository,
        statuses: ConnectorStatusRepository,
        sessions: SessionService,
        sites: SiteDirectory,
        clock: Clock,
        lookback: timedelta = timedelta(days=7),
        max_stations: int = 100,
        max_session_pages: int = 3,
    ) -> None:
        self._stations = stations
        self._statuses = statuses
        self._sessions = sessions
        self._sites = sites
        self._clock = clock
        self._lookback = lookback
        self._max_stations = max_stations
        self._max_session_pages = max_session_pages

    def site(self, principal: Principal, site_id: str) -> SiteLive:
        """One site of the caller's, with its stations; another's is absent."""
        site = (
            self._sites.site(principal.tenant_id, site_id) if principal.reaches(site_id) else None
        )
        if site is None:
            raise ResourceNotFoundError("site", site_id)
        return self._live(principal.tenant_id, site)

    def sites(
        self, principal: Principal, limit: int, cursor: str | None = None
    ) -> Page[SiteSummary]:
        """Summaries of the sites the caller reaches, by id, a page at a time."""
        after = decode_site_cursor(cursor)
        tenant_id = principal.tenant_id
        if principal.sites is None:
            refs = self._sites.sites(tenant_id, limit + 1, after)
            last = refs[limit - 1].id if len(refs) > limit else None
            refs = refs[:limit]
        else:
            wanted = sorted(s for s in principal.sites if after is None or s > after)
            # A site in the token that no longer exists is left out.
            refs = [
                ref
                for site_id in wanted[:limit]
                if (ref := self._sites.site(tenant_id, site_id)) is not None
            ]
            last = wanted[limit - 1] if len(wanted) > limit else None
        return Page(
            items=[self._live(tenant_id, ref).summary for ref in refs],
            next_cursor=encode_site_cursor(last) if last is not None else None,
        )

    def _live(self, tenant_id: str, site: SiteRef) -> SiteLive:
        now = self._clock.now()
        day_start = local_midnight(now, site.timezone)
        window = SessionQuery(started_from=day_start - self._lookback)
        page = self._stations.list(tenant_id, StationQuery(site_id=site.id), self._max_stations)
        stations: list[LiveStation] = []
        sessions: list[tuple[Session, SessionTotals]] = []
        for station in page.items:
            active: list[LiveSession] = []
            for session in self._recent(tenant_id, station.id, window):
                if session.state is SessionState.ACTIVE:
                    live = self._view(tenant_id, session)
                    active.append(live)
                    sessions.append((live.session, live.totals))
                else:
                    sessions.append((session, totals(session, None)))
            connectors, unplaced = connectors_with_sessions(self._statuses.list(station.id), active)
            stations.append(LiveStation(station=station, connectors=connectors, unplaced=unplaced))
        summary = summarize(
            site,
            stations,
            sessions,
            now=now,
            day_start=day_start,
            truncated=page.next_cursor is not None,
        )
        return SiteLive(summary=summary, stations=stations)

    def _recent(self, tenant_id: str, station_id: str, window: SessionQuery) -> list[Session]:
        query = SessionQuery(station_id=station_id, started_from=window.started_from)
        found: list[Session] = []
        cursor: str | None = None
        for _ in range(self._max_session_pages):
            page = self._sessions.find(tenant_id, query, 100, cursor)
            found.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        return found

    def _view(self, tenant_id: str, session: Session) -> LiveSession:
        try:
            view = self._sessions.view(tenant_id, session.id)
        except SessionNotFoundError:  # pragma: no cover - listed a moment ago; never deleted
            return LiveSession(session=session, totals=totals(session, None))
        return LiveSession(session=view.session, totals=view.totals)
