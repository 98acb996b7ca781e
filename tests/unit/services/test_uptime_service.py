"""UptimeService: scoping by tenant and sites, windows, reports and exclusions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.fakes import FixedClock, InMemorySiteDirectory, InMemoryStationRepository, SequentialIds

from csms.domain.access import Principal, Role
from csms.domain.connector import ConnectorStatus
from csms.domain.errors import InvalidReferenceError, ResourceNotFoundError, StationNotFoundError
from csms.domain.station import Station
from csms.domain.uptime import (
    ConnectivityChange,
    ExclusionCategory,
    OutageExclusion,
    StatusChange,
)
from csms.services import uptime as uptime_module
from csms.services.ports import Page, SiteRef
from csms.services.uptime import ExclusionDraft, TooManyStationsError, UptimeService

NOW = datetime(2026, 8, 15, 12, 0, tzinfo=UTC)
OWNER = Principal(subject="owner", tenant_id="t1", role=Role.OWNER)
SITE_B_ONLY = Principal(subject="tech", tenant_id="t1", role=Role.ADMIN, sites=frozenset({"b"}))


class InMemoryUptimeHistory:
    """UptimeHistory over lists (the window filter as the adapter applies it)."""

    def __init__(self) -> None:
        self.changes: dict[str, list[StatusChange]] = {}
        self.links: dict[str, list[ConnectivityChange]] = {}

    def status_changes(self, station_id: str, start: datetime, end: datetime) -> list[StatusChange]:
        return [c for c in self.changes.get(station_id, []) if c.at < end]

    def connectivity(
        self, station_id: str, start: datetime, end: datetime
    ) -> list[ConnectivityChange]:
        return [c for c in self.links.get(station_id, []) if c.at < end]


class InMemoryExclusions:
    """ExclusionRepository in a dict, listed by id two at a time per page."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], OutageExclusion] = {}

    def add(self, exclusion: OutageExclusion) -> None:
        self.items[(exclusion.tenant_id, exclusion.id)] = exclusion

    def get(self, tenant_id: str, exclusion_id: str) -> OutageExclusion | None:
        return self.items.get((tenant_id, exclusion_id))

    def delete(self, tenant_id: str, exclusion_id: str) -> bool:
        return self.items.pop((tenant_id, exclusion_id), None) is not None

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> Page[OutageExclusion]:
        ids = sorted(i for t, i in self.items if t == tenant_id and (cursor is None or i > cursor))
        page = ids[: min(limit, 2)]
        more = len(ids) > len(page)
        return Page(
            items=[self.items[(tenant_id, i)] for i in page],
            next_cursor=page[-1] if more else None,
        )


class Fixture:
    def __init__(self) -> None:
        self.history = InMemoryUptimeHistory()
        self.exclusions = InMemoryExclusions()
        self.stations = InMemoryStationRepository()
        self.sites = InMemorySiteDirectory()
        self.clock = FixedClock(NOW)
        self.service = UptimeService(
            history=self.history,
            exclusions=self.exclusions,
            stations=self.stations,
            sites=self.sites,
            clock=self.clock,
            new_id=SequentialIds("x"),
            grace=timedelta(minutes=2),
        )
        self.sites.add("t1", SiteRef(id="a", timezone="America/New_York"))
        self.sites.add("t1", SiteRef(id="b", timezone="Europe/Berlin"))
        self.add_station("CP1", "a")
        self.add_station("CP2", "b")

    def add_station(self, station_id: str, site_id: str | None, tenant: str = "t1") -> None:
        self.stations.stations[station_id] = Station(
            id=station_id, tenant_id=tenant, site_id=site_id, password_hash="x"
        )
        self.history.changes[station_id] = [
            StatusChange(
                evse_id=1,
                connector_id=1,
                at=datetime(2026, 1, 1, tzinfo=UTC),
                status=ConnectorStatus.AVAILABLE,
            )
        ]


@pytest.fixture
def fx() -> Fixture:
    return Fixture()


def a_draft(station_id: str = "CP1", **over: object) -> ExclusionDraft:
    fields: dict[str, object] = {
        "station_id": station_id,
        "evse_ids": (2, 1, 2),
        "category": ExclusionCategory.VANDALISM,
        "reason": "  cable cut  ",
        "start": datetime(2026, 7, 1, tzinfo=UTC),
        "end": datetime(2026, 7, 2, tzinfo=UTC),
        **over,
    }
    return ExclusionDraft(**fields)  # type: ignore[arg-type]


def test_station_uptime_clips_the_window_to_now_and_uses_the_site_zone(fx: Fixture) -> None:
    # GIVEN a query reaching into next month
    start, end = datetime(2026, 8, 1, 4, tzinfo=UTC), datetime(2026, 9, 1, 4, tzinfo=UTC)
    # WHEN asked
    result = fx.service.station_uptime(OWNER, "CP1", start, end)
    # THEN the window ends now, in New York time, and the port was up all along
    assert result.window.end == NOW
    assert result.window.zone.key == "America/New_York"
    assert result.total.up == NOW - start
    assert result.stations[0].total == result.total


def test_station_uptime_hides_other_tenants_and_unreached_sites(fx: Fixture) -> None:
    # GIVEN another tenant's station, and a user restricted to site b
    fx.add_station("OTHER", None, tenant="t2")
    start, end = NOW - timedelta(days=1), NOW
    # WHEN either asks for what it may not see THEN the station is absent
    with pytest.raises(StationNotFoundError):
        fx.service.station_uptime(OWNER, "OTHER", start, end)
    with pytest.raises(StationNotFoundError):
        fx.service.station_uptime(SITE_B_ONLY, "CP1", start, end)
    with pytest.raises(StationNotFoundError):
        fx.service.station_uptime(OWNER, "NOPE", start, end)


def test_station_uptime_of_a_station_without_site_is_cut_in_utc(fx: Fixture) -> None:
    # GIVEN a station at no site
    fx.add_station("LOOSE", None)
    # WHEN asked THEN months are UTC months
    result = fx.service.station_uptime(OWNER, "LOOSE", NOW - timedelta(days=1), NOW)
    assert result.window.zone.key == "UTC"


def test_site_uptime_counts_every_station_of_the_site(fx: Fixture) -> None:
    # GIVEN two stations at site b
    fx.add_station("CP3", "b")
    # WHEN the site is asked for
    result = fx.service.site_uptime(SITE_B_ONLY, "b", NOW - timedelta(days=2), NOW)
    # THEN both stations count, in Berlin time
    assert [s.station.id for s in result.stations] == ["CP2", "CP3"]
    assert result.total.up == timedelta(days=4)
    assert result.window.zone.key == "Europe/Berlin"


def test_site_uptime_unknown_or_unreached_site_is_absent(fx: Fixture) -> None:
    # GIVEN a missing site and a site beyond the caller's reach WHEN asked THEN 404s
    with pytest.raises(ResourceNotFoundError):
        fx.service.site_uptime(OWNER, "zz", NOW - timedelta(days=1), NOW)
    with pytest.raises(ResourceNotFoundError):
        fx.service.site_uptime(SITE_B_ONLY, "a", NOW - timedelta(days=1), NOW)


def test_site_uptime_refuses_more_stations_than_one_request_computes(
    fx: Fixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a limit of two stations per request and three at site b
    monkeypatch.setattr(uptime_module, "MAX_STATIONS", 2)
    monkeypatch.setattr(uptime_module, "_PAGE", 1)
    fx.add_station("CP3", "b")
    fx.add_station("CP4", "b")
    # WHEN the site is asked for THEN it is refused
    with pytest.raises(TooManyStationsError):
        fx.service.site_uptime(OWNER, "b", NOW - timedelta(days=1), NOW)


def test_quarter_report_cuts_each_site_in_its_zone(fx: Fixture) -> None:
    # GIVEN stations at two sites in different zones (and a second one at site a)
    fx.add_station("CP5", "a")
    # WHEN the current quarter is reported
    results = fx.service.quarter_report(OWNER, "2026-Q3")
    # THEN one result per zone, each from the zone's 1 July to now
    by_zone = {r.window.zone.key: r for r in results}
    assert set(by_zone) == {"America/New_York", "Europe/Berlin"}
    assert by_zone["Europe/Berlin"].window.start == datetime(2026, 6, 30, 22, tzinfo=UTC)
    assert [s.station.id for s in by_zone["America/New_York"].stations] == ["CP1", "CP5"]
    assert all(r.window.end == NOW for r in results)


def test_quarter_report_of_a_future_quarter_observes_nothing(fx: Fixture) -> None:
    # GIVEN a quarter that has not begun WHEN reported for one site
    results = fx.service.quarter_report(OWNER, "2027-Q1", site_id="b")
    # THEN the station is listed with no observed port
    assert [s.ports for r in results for s in r.stations] == [()]


def test_default_range_is_the_trailing_twelve_months(fx: Fixture) -> None:
    # GIVEN no range WHEN defaulted THEN it ends now and spans 365 days
    assert fx.service.default_range(None, None) == (NOW - timedelta(days=365), NOW)


def test_record_exclusion_keeps_who_when_and_normalised_ports(fx: Fixture) -> None:
    # GIVEN an admin's exclusion with repeated ports and padded reason
    # WHEN recorded
    exclusion = fx.service.record_exclusion(OWNER, a_draft())
    # THEN it is stored with the station's site, sorted unique ports and the trimmed reason
    assert fx.exclusions.get("t1", exclusion.id) == exclusion
    assert (exclusion.site_id, exclusion.evse_ids, exclusion.reason) == ("a", (1, 2), "cable cut")
    assert (exclusion.created_by, exclusion.created_at) == ("owner", NOW)


def test_record_exclusion_refuses_stations_beyond_reach(fx: Fixture) -> None:
    # GIVEN a user of site b naming a station of site a WHEN recording THEN 422
    with pytest.raises(InvalidReferenceError):
        fx.service.record_exclusion(SITE_B_ONLY, a_draft("CP1"))


def test_exclusion_applies_to_the_uptime_of_its_station(fx: Fixture) -> None:
    # GIVEN a day of fault at CP1 and an exclusion of its first 12 hours
    fault = StatusChange(
        evse_id=1,
        connector_id=1,
        at=datetime(2026, 7, 1, tzinfo=UTC),
        status=ConnectorStatus.FAULTED,
    )
    fx.history.changes["CP1"].append(fault)
    fx.service.record_exclusion(
        OWNER, a_draft(end=datetime(2026, 7, 1, 12, tzinfo=UTC), evse_ids=())
    )
    # WHEN July 1st is counted
    result = fx.service.station_uptime(
        OWNER, "CP1", datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 7, 2, tzinfo=UTC)
    )
    # THEN half the day is excluded, half down
    assert (result.total.excluded, result.total.down) == (timedelta(hours=12), timedelta(hours=12))


def test_exclusions_list_filters_reach_and_station_and_pages(fx: Fixture) -> None:
    # GIVEN exclusions at CP1 (site a) and CP2 (site b)
    first = fx.service.record_exclusion(OWNER, a_draft("CP1"))
    second = fx.service.record_exclusion(OWNER, a_draft("CP2"))
    third = fx.service.record_exclusion(OWNER, a_draft("CP2"))
    # WHEN listed by a site-b user, by station, and page by page
    restricted = fx.service.exclusions(SITE_B_ONLY, 10)
    by_station = fx.service.exclusions(OWNER, 10, station_id="CP1")
    page = fx.service.exclusions(OWNER, 2)
    rest = fx.service.exclusions(OWNER, 2, page.next_cursor)
    # THEN each sees what it may, and the pages join up
    assert restricted.items == [second]
    assert by_station.items == [first]
    assert [*page.items, *rest.items] == [first, second, third]


def test_exclusion_beyond_reach_or_absent_is_not_found(fx: Fixture) -> None:
    # GIVEN an exclusion at site a
    exclusion = fx.service.record_exclusion(OWNER, a_draft("CP1"))
    # WHEN a site-b user or anyone asks for it or a missing one THEN 404
    with pytest.raises(ResourceNotFoundError):
        fx.service.exclusion(SITE_B_ONLY, exclusion.id)
    with pytest.raises(ResourceNotFoundError):
        fx.service.remove_exclusion(OWNER, "missing")


def test_remove_exclusion_deletes_it_once(fx: Fixture) -> None:
    # GIVEN an exclusion
    exclusion = fx.service.record_exclusion(OWNER, a_draft("CP1"))
    # WHEN removed
    removed = fx.service.remove_exclusion(OWNER, exclusion.id)
    # THEN it is gone and reported as it was
    assert removed == exclusion
    assert fx.exclusions.get("t1", exclusion.id) is None


def test_remove_exclusion_lost_race_is_not_found(
    fx: Fixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an exclusion someone else deletes between the read and the delete
    exclusion = fx.service.record_exclusion(OWNER, a_draft("CP1"))
    monkeypatch.setattr(fx.exclusions, "delete", lambda tenant, exclusion_id: False)
    # WHEN removed THEN 404
    with pytest.raises(ResourceNotFoundError):
        fx.service.remove_exclusion(OWNER, exclusion.id)
