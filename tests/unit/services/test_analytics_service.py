"""UsageReports (csms.services.analytics): what a report reads, scoping, limits, ports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes import FixedClock, InMemorySiteDirectory
from tests.fakes_billing import InMemoryBillingRepository
from tests.unit.services.test_billing_reports import a_cdr

from csms.domain.access import Principal, Role
from csms.domain.alerts import Alert, AlertKey, AlertKind, Severity, alert_id_of
from csms.domain.analytics import UNASSIGNED, Period, UsageBy
from csms.domain.billing.cdr import Cdr
from csms.domain.connector import ConnectorState, ConnectorStatus, EvseRef
from csms.domain.sessions import MeterMark, Session, SessionState
from csms.domain.station import ProtocolVersion, Station
from csms.services.alerts import AlertQuery
from csms.services.analytics import (
    LOOKBACK,
    ReportTooLargeError,
    UsageQuery,
    UsageReports,
)
from csms.services.ports import Page, SessionQuery, SiteRef, StationQuery

TENANT = "t1"
OWNER = Principal(subject="owner", tenant_id=TENANT, role=Role.OWNER)
VIEWER = Principal(subject="viewer", tenant_id=TENANT, role=Role.VIEWER)
SITE_B_ONLY = Principal(subject="op", tenant_id=TENANT, role=Role.OPERATOR, sites=frozenset({"b"}))
NOW = datetime(2026, 4, 1, tzinfo=UTC)
MARCH = UsageQuery(date(2026, 3, 1), date(2026, 3, 31), UsageBy.STATION, Period.MONTH)


def a_session(session_id: str, start: datetime | None, hours: float = 1, **over: Any) -> Session:
    """An ended 10 kWh session at CS-1 (site a) unless told otherwise."""
    stop = start + timedelta(hours=hours) if start else None
    fields: dict[str, Any] = {
        "id": session_id,
        "tenant_id": TENANT,
        "station_id": "CS-1",
        "transaction_id": session_id,
        "protocol": ProtocolVersion.OCPP201,
        "site_id": "a",
        "state": SessionState.ENDED,
        "id_token": "TOK-1",
        "started_at": start,
        "stopped_at": stop,
        "meter_start": MeterMark(wh=Decimal(0), at=start) if start else None,
        "meter_last": MeterMark(wh=Decimal(10_000), at=stop) if stop else None,
        "updated_at": stop or NOW,
    }
    fields.update(over)
    return Session(**fields)


class Sessions:
    """SessionLister over a list: by start (newest first), the range as the index applies it."""

    def __init__(self, *sessions: Session, page: int = 2) -> None:
        self.sessions = list(sessions)
        self.page = page
        self.queries: list[SessionQuery] = []

    def list(
        self, tenant_id: str, query: SessionQuery, limit: int, cursor: str | None = None
    ) -> Page[Session]:
        self.queries.append(query)
        found = sorted(
            (
                s
                for s in self.sessions
                if s.tenant_id == tenant_id
                and (query.site_id is None or s.site_id == query.site_id)
                and query.started_from is not None
                and query.started_to is not None
                and query.started_from <= (s.started_at or s.updated_at) <= query.started_to
            ),
            key=lambda s: s.started_at or s.updated_at,
            reverse=True,
        )
        start = int(cursor or 0)
        more = start + self.page < len(found)
        return Page(found[start : start + self.page], str(start + self.page) if more else None)


class Stations:
    """StationLister over a list (the site filter as the index applies it)."""

    def __init__(self, *stations: Station) -> None:
        self.stations = list(stations)
        self.reads = 0

    def list(
        self, tenant_id: str, query: StationQuery, limit: int, cursor: str | None = None
    ) -> Page[Station]:
        self.reads += 1
        return Page([s for s in self.stations if query.matches(s) and s.tenant_id == tenant_id])


class Connectors:
    """ConnectorLister: `evses` EVSEs of one connector each, plus EVSE 0, per station."""

    def __init__(self, evses: dict[str, int]) -> None:
        self.evses = evses
        self.reads: list[str] = []

    def list(self, station_id: str) -> list[ConnectorState]:
        self.reads.append(station_id)
        return [
            ConnectorState(
                evse=EvseRef(evse_id=evse, connector_id=1 if evse else 0),
                status=ConnectorStatus.AVAILABLE,
                since=NOW,
                reported_at=NOW,
            )
            for evse in range(self.evses.get(station_id, 0) + 1)
        ]


def a_station(station_id: str, site_id: str) -> Station:
    return Station(id=station_id, tenant_id=TENANT, site_id=site_id, password_hash="x")


def reports(
    sessions: Sessions,
    cdrs: Sequence[Cdr] = (),
    *,
    stations: Stations | None = None,
    connectors: Connectors | None = None,
    limits: dict[str, int] | None = None,
    alerts: Alerts | None = None,
) -> UsageReports:
    billing = InMemoryBillingRepository()
    for cdr in cdrs:
        billing.add_cdr(cdr.tenant_id, cdr, ())
    sites = InMemorySiteDirectory()
    sites.add(TENANT, SiteRef(id="a", timezone="Europe/Berlin"))
    sites.add(TENANT, SiteRef(id="b", timezone="America/New_York"))
    return UsageReports(
        sessions=sessions,
        cdrs=billing,
        stations=stations or Stations(),
        connectors=connectors or Connectors({}),
        sites=sites,
        clock=FixedClock(NOW),
        alerts=alerts,
        **(limits or {}),
    )


def test_usage_reads_sessions_a_day_and_the_zones_before_the_range() -> None:
    # GIVEN sessions in March, one on the evening of 28 Feb that runs into March (Berlin)
    sessions = Sessions(
        a_session("S1", datetime(2026, 3, 10, 8, tzinfo=UTC)),
        a_session("S0", datetime(2026, 2, 28, 22, 30, tzinfo=UTC), hours=2),
    )
    # WHEN March is reported by station
    report = reports(sessions, connectors=Connectors({"CS-1": 2})).usage(OWNER, MARCH)
    # THEN the index was asked from 1 March minus the lookback and 14 h, and S0 adds only time
    asked = sessions.queries[0]
    assert asked.started_from == datetime(2026, 3, 1, tzinfo=UTC) - LOOKBACK - timedelta(hours=14)
    (row,) = report.rows
    assert (row.key, row.period, row.sessions, row.energy_kwh) == (
        "CS-1",
        "2026-03",
        1,
        Decimal(10),
    )
    assert row.ports == 2
    # 1 h 30 of S0 (from Berlin's midnight) and 1 h of S1 over 2 ports x 743 h (DST: 23 h day).
    assert row.occupied_pct == (Decimal("2.5") * 100 / (2 * 743)).quantize(Decimal("0.01"))


def test_usage_joins_cdrs_for_revenue_and_idle_and_hides_money_from_viewers() -> None:
    # GIVEN a billed session with 30 min idle, and a CDR of a session outside the report
    start = datetime(2026, 3, 10, 8, tzinfo=UTC)
    billed = a_cdr("S1", ended=start + timedelta(hours=1)).model_copy(
        update={"total_parking_time": Decimal("0.5")}
    )
    other = a_cdr("S-OTHER", ended=start + timedelta(hours=1))
    service = reports(Sessions(a_session("S1", start)), [billed, other])
    # WHEN the owner and a viewer report March
    owned = service.usage(OWNER, MARCH)
    viewed = service.usage(VIEWER, MARCH)
    # THEN the owner sees the CDR's amounts, the viewer none; both see the idle time
    assert owned.revenue_shown
    assert not viewed.revenue_shown
    assert [r.incl_tax for r in owned.rows[0].revenue] == [billed.total_cost.incl_vat]
    assert owned.totals.revenue[0].incl_tax == billed.total_cost.incl_vat
    assert viewed.rows[0].revenue == ()
    assert owned.rows[0].idle_min == viewed.rows[0].idle_min == 30


def test_usage_keeps_a_site_restricted_user_to_their_sites() -> None:
    # GIVEN sessions at sites a and b, and one not yet started (no start known)
    start = datetime(2026, 3, 10, 8, tzinfo=UTC)
    sessions = Sessions(
        a_session("S1", start),
        a_session("S2", start, site_id="b", station_id="CS-2"),
        a_session("S3", None, state=SessionState.ACTIVE, updated_at=start),
    )
    # WHEN a user of site b reports by site
    query = UsageQuery(date(2026, 3, 1), date(2026, 3, 31), UsageBy.SITE, Period.MONTH)
    report = reports(sessions).usage(SITE_B_ONLY, query)
    # THEN only site b's session is there
    assert [(r.key, r.sessions) for r in report.rows] == [("b", 1)]


def test_usage_counts_site_ports_from_the_sites_stations() -> None:
    # GIVEN site a with two stations (3 EVSEs in all), and a session without a site
    start = datetime(2026, 3, 10, 8, tzinfo=UTC)
    stations = Stations(a_station("CS-1", "a"), a_station("CS-9", "a"), a_station("CS-2", "b"))
    connectors = Connectors({"CS-1": 2, "CS-9": 1, "CS-2": 4})
    sessions = Sessions(a_session("S1", start), a_session("S2", start, site_id=None))
    query = UsageQuery(date(2026, 3, 1), date(2026, 3, 31), UsageBy.SITE, Period.MONTH)
    # WHEN reported by site
    report = reports(sessions, stations=stations, connectors=connectors).usage(OWNER, query)
    # THEN site a has 3 ports, the siteless session its own row without ports
    assert [(r.key, r.ports) for r in report.rows] == [("a", 3), (UNASSIGNED, 0)]
    assert sorted(connectors.reads) == ["CS-1", "CS-9"]


def test_usage_by_driver_and_group_has_no_ports_and_reads_none() -> None:
    # GIVEN a session of a token in no group, and a running one of a grouped token
    start = datetime(2026, 3, 10, 8, tzinfo=UTC)
    running = a_session(
        "S2", start, state=SessionState.ACTIVE, stopped_at=None, group_id="fleet", id_token=None
    )
    sessions = Sessions(a_session("S1", start), running)
    connectors = Connectors({"CS-1": 2})
    service = reports(sessions, connectors=connectors)
    # WHEN reported by group and by driver
    groups = service.usage(OWNER, replace(MARCH, by=UsageBy.GROUP))
    drivers = service.usage(OWNER, replace(MARCH, by=UsageBy.DRIVER))
    # THEN keys are the group / token (or unassigned), without ports, and nothing was counted
    assert [(r.key, r.ports) for r in groups.rows] == [("fleet", None), (UNASSIGNED, None)]
    assert [r.key for r in drivers.rows] == ["TOK-1", UNASSIGNED]
    assert connectors.reads == []


def test_usage_passes_the_site_filter_to_the_session_read() -> None:
    # GIVEN sessions at two sites
    start = datetime(2026, 3, 10, 8, tzinfo=UTC)
    sessions = Sessions(a_session("S1", start), a_session("S2", start, site_id="b"))
    # WHEN one site is asked for
    query = UsageQuery(date(2026, 3, 1), date(2026, 3, 31), UsageBy.SITE, Period.MONTH, "b")
    report = reports(sessions).usage(OWNER, query)
    # THEN only its sessions count
    assert [r.key for r in report.rows] == ["b"]


@pytest.mark.parametrize(
    ("limits", "why"),
    [
        ({"max_sessions": 2}, "more than 2 sessions"),
        ({"max_cdrs": 1}, "more than 1 CDRs"),
        ({"max_stations": 1}, "more than 1 stations"),
    ],
)
def test_usage_refuses_a_report_that_reads_too_much(limits: dict[str, int], why: str) -> None:
    # GIVEN three billed sessions at two stations
    start = datetime(2026, 3, 10, 8, tzinfo=UTC)
    sessions = Sessions(
        a_session("S1", start),
        a_session("S2", start + timedelta(hours=2)),
        a_session("S3", start, station_id="CS-2"),
    )
    cdrs = [a_cdr(s, ended=start + timedelta(hours=1)) for s in ("S1", "S3")]
    # WHEN the report is asked for with a limit below that
    with pytest.raises(ReportTooLargeError, match=why):
        reports(sessions, cdrs, limits=limits).usage(OWNER, MARCH)
    # THEN it is refused, saying what to narrow


def test_usage_of_an_empty_range_is_empty() -> None:
    # GIVEN no sessions
    # WHEN reported
    report = reports(Sessions()).usage(OWNER, MARCH)
    # THEN there are no rows and zero totals
    assert report.rows == ()
    assert (report.totals.sessions, report.totals.energy_kwh) == (0, Decimal(0))


def test_usage_of_a_future_range_asks_the_index_a_forward_range() -> None:
    # GIVEN "now" on 1 April
    sessions = Sessions()
    # WHEN next June is reported (nothing happened yet)
    june = UsageQuery(date(2026, 6, 1), date(2026, 6, 30), UsageBy.SITE, Period.DAY)
    report = reports(sessions).usage(OWNER, june)
    # THEN the index is asked a range that starts before it ends, and the report is empty
    (asked,) = sessions.queries
    assert asked.started_from is not None
    assert asked.started_to is not None
    assert asked.started_from < asked.started_to
    assert report.rows == ()


class Alerts:
    """AlertLister over a list: newest first (by opening), paged by two; counts pages read."""

    def __init__(self, *alerts: Alert) -> None:
        self.alerts = sorted(alerts, key=lambda a: a.alert_id, reverse=True)
        self.pages = 0

    def list(
        self, tenant_id: str, query: AlertQuery, limit: int, cursor: str | None = None
    ) -> Page[Alert]:
        self.pages += 1
        found = [
            a
            for a in self.alerts
            if a.key.tenant_id == tenant_id
            and (query.site_id is None or a.site_id == query.site_id)
        ]
        start = int(cursor or 0)
        more = start + 2 < len(found)
        return Page(found[start : start + 2], str(start + 2) if more else None)


def an_alert(
    station_id: str,
    opened: datetime,
    minutes: float | None,
    *,
    site_id: str = "a",
    kind: AlertKind = AlertKind.FAULTED,
) -> Alert:
    key = AlertKey(tenant_id=TENANT, station_id=station_id, kind=kind)
    alert = Alert(
        alert_id=alert_id_of(key, opened),
        key=key,
        site_id=site_id,
        severity=Severity.MAJOR,
        opened_at=opened,
    )
    return alert if minutes is None else alert.close(opened + timedelta(minutes=minutes))


def test_usage_counts_fault_alerts_and_their_repair_times_by_station() -> None:
    # GIVEN March alerts at CS-1 (a fault repaired in 20 min, an outage in 40, a stuck connector
    # that is no fault) and at CS-7 (still open), and older alerts the read must not page through
    march = datetime(2026, 3, 10, 8, tzinfo=UTC)
    alerts = Alerts(
        an_alert("CS-1", march, 20),
        an_alert("CS-1", march + timedelta(hours=2), 40, kind=AlertKind.OFFLINE),
        an_alert("CS-1", march + timedelta(hours=3), 5, kind=AlertKind.STUCK_CONNECTOR),
        an_alert("CS-7", march + timedelta(days=1), None),
        *(an_alert("CS-1", datetime(2026, 1, d, tzinfo=UTC), 10) for d in range(1, 21)),
    )
    service = reports(Sessions(a_session("S1", march)), alerts=alerts)
    # WHEN March is reported by station
    report = service.usage(OWNER, MARCH)
    # THEN CS-1 shows 2 faults with a 30-minute mean repair, CS-7 (no sessions) 1 open fault
    rows = {row.key: row for row in report.rows}
    assert (rows["CS-1"].faults, rows["CS-1"].mttr_min) == (2, Decimal("30.00"))
    assert (rows["CS-7"].faults, rows["CS-7"].mttr_min, rows["CS-7"].sessions) == (1, None, 0)
    assert (report.totals.faults, report.totals.mttr_min) == (3, Decimal("30.00"))
    # AND the read stopped at the first page that reached before the range
    assert alerts.pages <= 3


def test_usage_faults_by_site_respect_the_callers_sites_and_skip_drivers() -> None:
    # GIVEN faults at sites a and b
    march = datetime(2026, 3, 10, 8, tzinfo=UTC)
    alerts = Alerts(an_alert("CS-1", march, 10), an_alert("CS-2", march, 50, site_id="b"))
    service = reports(Sessions(), alerts=alerts)
    by_site = UsageQuery(date(2026, 3, 1), date(2026, 3, 31), UsageBy.SITE, Period.MONTH)
    by_driver = UsageQuery(date(2026, 3, 1), date(2026, 3, 31), UsageBy.DRIVER, Period.MONTH)
    # WHEN a user of site b reports by site, and the owner by driver
    restricted = service.usage(SITE_B_ONLY, by_site)
    drivers = service.usage(OWNER, by_driver)
    # THEN the user sees site b's fault only; a driver report reads no alerts
    assert [(r.key, r.faults, r.mttr_min) for r in restricted.rows] == [("b", 1, Decimal("50.00"))]
    assert drivers.rows == ()
    assert alerts.pages == 1


def test_usage_refuses_a_report_over_too_many_alerts() -> None:
    march = datetime(2026, 3, 10, 8, tzinfo=UTC)
    alerts = Alerts(*(an_alert("CS-1", march + timedelta(minutes=m), 1) for m in range(5)))
    service = reports(Sessions(), alerts=alerts, limits={"max_alerts": 3})
    with pytest.raises(ReportTooLargeError, match="more than 3 alerts"):
        service.usage(OWNER, MARCH)
