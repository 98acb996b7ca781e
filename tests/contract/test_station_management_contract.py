"""Contract of the station-management parts of StationRepository (create, save, list, set_trace,
bind ending a password's grace) and of SiteDirectory: the in-memory fakes and the DynamoDB
adapters on moto behave alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from tests.fakes import (
    T0,
    InMemorySiteDirectory,
    InMemoryStationRepository,
    a_binding,
    a_station,
)

from csms.adapters.dynamo import DynamoSeedRepository, DynamoStationRepository
from csms.adapters.dynamo_site_directory import DynamoSiteDirectory
from csms.adapters.outbox import OutboxEncoder
from csms.domain.errors import InvalidCursorError, StationNotFoundError
from csms.domain.seed import Site
from csms.domain.station import ProtocolVersion, StationState
from csms.services.ports import SiteDirectory, SiteRef, StationQuery, StationRepository


@pytest.fixture(params=["memory", "dynamo"])
def stations(request: pytest.FixtureRequest) -> Iterator[StationRepository]:
    if request.param == "dynamo":
        request.getfixturevalue("dynamo_table")
        yield DynamoStationRepository(OutboxEncoder(lambda: "id"))
    else:
        yield InMemoryStationRepository()


def test_create_stores_a_new_station_and_refuses_an_existing_id(
    stations: StationRepository,
) -> None:
    # GIVEN a station with everything operators manage
    station = a_station(
        name="Bay 1",
        pinned_protocol=ProtocolVersion.OCPP16,
        trace_until=T0 + timedelta(hours=24),
        registered_at=T0,
        version=1,
    )
    # WHEN it is created, then created again by another tenant
    assert stations.create(station)
    assert not stations.create(a_station(tenant_id="tenant-b"))
    # THEN the first reads back as created
    assert stations.get("CP-1") == station


def test_save_is_conditional_on_the_version_and_keeps_connection_data(
    stations: StationRepository,
) -> None:
    # GIVEN a created station that is online
    stations.create(a_station(version=1))
    stations.bind(a_binding())
    current = stations.get("CP-1")
    assert current is not None
    changed = current.model_copy(
        update={
            "name": "New",
            "site_id": "site-2",
            "previous_password_hash": "plain$old",
            "previous_password_until": T0,
            "state": StationState.DECOMMISSIONED,
            "decommissioned_at": T0,
        }
    )
    # WHEN saved over a stale version, then over the version read
    assert not stations.save(changed, 0)
    assert stations.save(changed, 1)
    # THEN the managed fields changed, the version moved on, the connection stayed
    stored = stations.get("CP-1")
    assert stored == changed.model_copy(update={"version": 2})
    assert stored is not None
    assert stored.online


def test_save_of_a_seeded_station_starts_at_version_0(stations: StationRepository) -> None:
    stations.register(a_station())
    assert stations.save(a_station(name="X"), 0)
    stored = stations.get("CP-1")
    assert stored is not None
    assert (stored.name, stored.version) == ("X", 1)


def test_list_filters_sorts_and_pages(stations: StationRepository) -> None:
    # GIVEN stations at two sites, one online, one decommissioned, one of another tenant
    for station_id, site in (("CP-1", "site-1"), ("CP-2", "site-2"), ("CP-3", "site-1")):
        stations.create(a_station(id=station_id, site_id=site))
    stations.create(a_station(id="CP-4", site_id="site-1", state=StationState.DECOMMISSIONED))
    stations.create(a_station(id="CP-0", tenant_id="tenant-b"))
    stations.bind(a_binding(station_id="CP-3"))

    def ids(query: StationQuery, limit: int = 10) -> list[str]:
        found: list[str] = []
        cursor = None
        for _ in range(10):
            page = stations.list("tenant-a", query, limit, cursor)
            found += [s.id for s in page.items]
            cursor = page.next_cursor
            if cursor is None:
                return found
        raise AssertionError("paging did not end")

    # WHEN listing with filters, THEN only the matches, in order, across pages
    assert ids(StationQuery()) == ["CP-1", "CP-2", "CP-3"]
    assert ids(StationQuery(), limit=1) == ["CP-1", "CP-2", "CP-3"]
    assert ids(StationQuery(descending=True), limit=2) == ["CP-3", "CP-2", "CP-1"]
    assert ids(StationQuery(site_id="site-1", state=None), limit=1) == ["CP-1", "CP-3", "CP-4"]
    assert ids(StationQuery(online=True)) == ["CP-3"]
    assert ids(StationQuery(protocol=ProtocolVersion.OCPP201)) == ["CP-3"]
    assert ids(StationQuery(sites=frozenset({"site-2"}))) == ["CP-2"]
    assert ids(StationQuery(site_id="site-1", sites=frozenset({"site-2"}))) == []


def test_list_refuses_a_cursor_of_another_site(stations: StationRepository) -> None:
    for station_id in ("CP-1", "CP-2"):
        stations.create(a_station(id=station_id))
    cursor = stations.list("tenant-a", StationQuery(site_id="site-1"), 1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidCursorError):
        stations.list("tenant-a", StationQuery(site_id="site-2"), 1, cursor)


def test_set_trace_reaches_the_live_binding_and_unknown_stations_are_not_found(
    stations: StationRepository,
) -> None:
    stations.create(a_station())
    stations.bind(a_binding())
    until = T0 + timedelta(hours=1)
    stations.set_trace("CP-1", until)
    station, binding = stations.get("CP-1"), stations.lookup("conn-1")
    assert station is not None
    assert binding is not None
    assert (station.trace_until, binding.trace_until) == (until, until)
    with pytest.raises(StationNotFoundError):
        stations.set_trace("CP-404", until)


def test_bind_with_the_new_password_ends_the_grace_period(stations: StationRepository) -> None:
    stations.create(
        a_station(previous_password_hash="plain$old", previous_password_until=T0, version=1)
    )
    stations.bind(a_binding(trace_until=T0), clear_previous_password=True)
    station, binding = stations.get("CP-1"), stations.lookup("conn-1")
    assert station is not None
    assert binding is not None
    assert (station.previous_password_hash, station.previous_password_until) == (None, None)
    assert binding.trace_until == T0


# -- SiteDirectory ------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "dynamo"])
def sites(request: pytest.FixtureRequest) -> Iterator[SiteDirectory]:
    refs = [("tenant-a", "site-2"), ("tenant-a", "site-1"), ("tenant-b", "site-0")]
    if request.param == "dynamo":
        request.getfixturevalue("dynamo_table")
        seeds = DynamoSeedRepository()
        for tenant, site_id in refs:
            seeds.put_site(tenant, Site(id=site_id, name=site_id.upper(), limit_kw=Decimal(10)))
        yield DynamoSiteDirectory()
    else:
        directory = InMemorySiteDirectory()
        for tenant, site_id in refs:
            directory.add(tenant, SiteRef(id=site_id, name=site_id.upper()))
        yield directory


def test_site_directory_reads_sites_by_key_and_lists_them_by_id(sites: SiteDirectory) -> None:
    # WHEN a site is read, and the tenant's sites are listed one at a time
    assert sites.site("tenant-a", "site-1") == SiteRef(id="site-1", name="SITE-1")
    assert sites.site("tenant-b", "site-1") is None
    first = sites.sites("tenant-a", 1)
    rest = sites.sites("tenant-a", 5, after=first[0].id)
    # THEN by id, within the tenant, with UTC when no time zone is known
    assert [s.id for s in first + rest] == ["site-1", "site-2"]
    assert rest[0].timezone == "UTC"
    assert sites.sites("tenant-none", 5) == []
