"""LoadService: configuration, readings, declared needs and the allocation view, on fakes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from tests.fakes import (
    T0,
    FixedClock,
    InMemoryEventPublisher,
    InMemoryLoadRepository,
    InMemorySessionRepository,
    InMemorySiteDirectory,
    InMemoryStationRepository,
    a_station,
)

from csms.domain.access import Principal, Role
from csms.domain.connector import EvseRef
from csms.domain.errors import (
    ConcurrentModificationError,
    InvalidLoadInputError,
    InvalidReferenceError,
    ResourceNotFoundError,
    SessionNotActiveError,
    SessionNotFoundError,
    VersionMismatchError,
)
from csms.domain.events import DomainEvent, LoadChanged
from csms.domain.load.allocation import Allocation, ConnectorLimit, Reason
from csms.domain.load.config import SiteLoadConfig
from csms.domain.load.inputs import Reading, ReadingKind
from csms.domain.load.needs import NEEDS_KEPT, DeclaredNeeds, NeedsSource
from csms.domain.sessions import Session, SessionState
from csms.domain.station import ProtocolVersion, StationState
from csms.services.load import READING_MARGIN, LoadService
from csms.services.ports import SiteRef

T, SITE = "tenant-a", "site-1"
OWNER = Principal("owner-1", T, Role.OWNER)


class RacingLoads(InMemoryLoadRepository):
    """Another writer gets in before each of the next `races` config writes."""

    def __init__(self, clock: FixedClock, bus: InMemoryEventPublisher) -> None:
        super().__init__(clock, bus)
        self.races = 0

    def _race(self, tenant_id: str, site_id: str) -> None:
        if self.races > 0:
            self.races -= 1
            held = self.configs[(tenant_id, site_id)]
            self.configs[(tenant_id, site_id)] = held.model_copy(
                update={"version": held.version + 1}
            )

    def put_config(
        self,
        tenant_id: str,
        config: SiteLoadConfig,
        expected_version: int | None,
        events: Sequence[DomainEvent] = (),
    ) -> bool:
        if (tenant_id, config.site_id) in self.configs:
            self._race(tenant_id, config.site_id)
        return super().put_config(tenant_id, config, expected_version, events)

    def delete_config(
        self,
        tenant_id: str,
        site_id: str,
        expected_version: int,
        events: Sequence[DomainEvent] = (),
    ) -> bool:
        self._race(tenant_id, site_id)
        return super().delete_config(tenant_id, site_id, expected_version, events)


@dataclass
class World:
    service: LoadService
    loads: RacingLoads
    bus: InMemoryEventPublisher
    clock: FixedClock
    stations: InMemoryStationRepository
    sessions: InMemorySessionRepository
    sites: InMemorySiteDirectory

    def changed(self) -> list[tuple[str, str, str]]:
        return [
            (e.tenant_id, e.site_id, e.reason)
            for e in self.bus.events
            if isinstance(e, LoadChanged)
        ]


@pytest.fixture
def world() -> World:
    clock, bus = FixedClock(), InMemoryEventPublisher()
    loads = RacingLoads(clock, bus)
    stations, sessions, sites = (
        InMemoryStationRepository(),
        InMemorySessionRepository(),
        InMemorySiteDirectory(),
    )
    sites.add(T, SiteRef(id=SITE, name="Depot", timezone="Europe/Berlin"))
    sites.add(T, SiteRef(id="site-2", name="Office"))
    stations.register(a_station(id="CP-1"))
    stations.register(a_station(id="CP-2"))
    stations.register(a_station(id="CP-OTHER-SITE", site_id="site-2"))
    stations.register(a_station(id="CP-OTHER-TENANT", tenant_id="tenant-b"))
    service = LoadService(
        loads=loads, sites=sites, stations=stations, sessions=sessions, clock=clock
    )
    return World(service, loads, bus, clock, stations, sessions, sites)


def spec(**over: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "limit_kw": 44,
        "stations": [{"station_id": "CP-1", "max_kw": 22}, {"station_id": "CP-2", "max_kw": 22}],
    }
    values.update(over)
    return values


def configured(world: World, **over: Any) -> SiteLoadConfig:
    return world.service.put_config(OWNER, SITE, spec(**over)).after


# -- configuration ----------------------------------------------------------------------------


def test_load_put_config_creates_version_1_in_the_sites_time_zone(world: World) -> None:
    # GIVEN a site without load management
    # WHEN a configuration is put without a time zone
    change = world.service.put_config(OWNER, SITE, spec(timezone=None))
    # THEN it is new, version 1, in the site's zone, stored, and the site is to be rebalanced
    assert change.before is None
    assert (change.after.version, change.after.timezone, change.after.site_id) == (
        1,
        "Europe/Berlin",
        SITE,
    )
    assert world.service.config(OWNER, SITE) == change.after
    assert world.changed() == [(T, SITE, "config")]


def test_load_put_config_replaces_and_keeps_a_time_zone_given(world: World) -> None:
    # GIVEN version 1
    first = configured(world)
    # WHEN replaced with a zone of its own, naming the version
    change = world.service.put_config(OWNER, SITE, spec(timezone="Asia/Tokyo"), expected=1)
    # THEN version 2 replaced version 1
    assert (change.before, change.after.version, change.after.timezone) == (first, 2, "Asia/Tokyo")


@pytest.mark.parametrize(
    ("over", "says"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone 'Mars/Olympus'"),
        (
            {"groups": [{"id": "a", "parent_id": "b"}, {"id": "b", "parent_id": "a"}]},
            "a loop",
        ),
        ({"limit_kw": 1}, "cannot power one session"),
        ({"limit_kw": -5}, "limit_kw: Input should be greater than or equal to 0"),
        ({"meter": {"fallback_limit_kw": 100}}, "fallback limit may not exceed the site limit"),
    ],
)
def test_load_put_config_refuses_an_invalid_configuration_saying_why(
    world: World, over: dict[str, Any], says: str
) -> None:
    # GIVEN a configuration that is invalid as a whole
    # WHEN put
    with pytest.raises(InvalidLoadInputError) as raised:
        world.service.put_config(OWNER, SITE, spec(**over))
    # THEN it is refused with the reason, and nothing is stored or announced
    assert raised.value.kind == "load-config"
    assert says in str(raised.value)
    assert world.loads.configs == {}
    assert world.changed() == []


@pytest.mark.parametrize("station", ["CP-OTHER-SITE", "CP-OTHER-TENANT", "CP-NOWHERE"])
def test_load_put_config_refuses_a_station_not_at_the_site(world: World, station: str) -> None:
    # GIVEN a configuration naming a station of another site, of another tenant, or of none
    body = spec(
        stations=[{"station_id": "CP-1", "max_kw": 22}, {"station_id": station, "max_kw": 22}]
    )
    # WHEN put
    with pytest.raises(InvalidReferenceError) as raised:
        world.service.put_config(OWNER, SITE, body)
    # THEN the reference is refused, naming where it is
    assert "stations[1].stationId" in str(raised.value)
    assert world.loads.configs == {}


def test_load_put_config_refuses_a_decommissioned_station(world: World) -> None:
    # GIVEN CP-2 decommissioned
    world.stations.stations["CP-2"] = world.stations.stations["CP-2"].model_copy(
        update={"state": StationState.DECOMMISSIONED}
    )
    # WHEN a configuration names it
    # THEN it is refused
    with pytest.raises(InvalidReferenceError):
        world.service.put_config(OWNER, SITE, spec())


def test_load_put_config_finds_stations_on_every_page(world: World) -> None:
    # GIVEN 150 stations at the site (more than one page of the station list)
    for n in range(150):
        world.stations.register(a_station(id=f"CP-X{n:03}"))
    stations = [{"station_id": f"CP-X{n:03}", "max_kw": 11} for n in range(150)]
    # WHEN a configuration names them all
    change = world.service.put_config(OWNER, SITE, spec(limit_kw=500, stations=stations))
    # THEN it is stored
    assert len(change.after.stations) == 150


def test_load_put_config_without_stations_reads_none(world: World) -> None:
    # GIVEN a configuration naming no station
    world.stations.stations.clear()
    # WHEN put
    change = world.service.put_config(OWNER, SITE, spec(stations=[]))
    # THEN it is stored
    assert change.after.stations == ()


def test_load_put_config_of_an_absent_or_unreachable_site_is_site_not_found(
    world: World,
) -> None:
    # GIVEN a site that does not exist, and a user restricted to another site
    restricted = Principal("op-1", T, Role.OPERATOR, frozenset({"site-2"}))
    # WHEN either is configured
    # THEN the site is absent
    for principal, site in ((OWNER, "site-9"), (restricted, SITE)):
        with pytest.raises(ResourceNotFoundError) as raised:
            world.service.put_config(principal, site, spec())
        assert raised.value.kind == "site"


def test_load_put_config_with_a_stale_version_is_a_mismatch(world: World) -> None:
    # GIVEN version 1, and no configuration at site-2
    configured(world)
    # WHEN a put expects version 3, and one expects a version of site-2
    # THEN both are mismatches
    with pytest.raises(VersionMismatchError):
        world.service.put_config(OWNER, SITE, spec(), expected=3)
    with pytest.raises(VersionMismatchError):
        world.service.put_config(OWNER, "site-2", spec(stations=[]), expected=1)


def test_load_put_config_losing_a_race_with_if_match_is_a_mismatch(world: World) -> None:
    # GIVEN version 1, and another writer getting in first
    configured(world)
    world.loads.races = 1
    # WHEN replaced expecting version 1
    # THEN the lost race is a mismatch
    with pytest.raises(VersionMismatchError):
        world.service.put_config(OWNER, SITE, spec(limit_kw=30), expected=1)


def test_load_put_config_losing_a_race_without_if_match_tries_again(world: World) -> None:
    # GIVEN version 1, and another writer getting in first once
    configured(world)
    world.loads.races = 1
    # WHEN replaced without a version
    change = world.service.put_config(OWNER, SITE, spec(limit_kw=30))
    # THEN it went over the other writer's version 2
    assert change.after.version == 3
    assert change.after.limit_kw == 30


def test_load_put_config_losing_every_race_gives_up(world: World) -> None:
    # GIVEN another writer that always gets in first
    configured(world)
    world.loads.races = 99
    # WHEN replaced without a version
    # THEN it gives up
    with pytest.raises(ConcurrentModificationError):
        world.service.put_config(OWNER, SITE, spec(limit_kw=30))


def test_load_config_of_a_site_without_load_management_is_not_found(world: World) -> None:
    # GIVEN a site without configuration
    # WHEN it is read
    # THEN there is none
    with pytest.raises(ResourceNotFoundError) as raised:
        world.service.config(OWNER, SITE)
    assert raised.value.kind == "load-config"


def test_load_delete_config_removes_it_and_announces_it(world: World) -> None:
    # GIVEN version 1
    first = configured(world)
    # WHEN deleted naming version 1
    deleted = world.service.delete_config(OWNER, SITE, expected=1)
    # THEN it is gone, and the site is to be rebalanced
    assert deleted == first
    assert world.loads.configs == {}
    assert world.changed() == [(T, SITE, "config"), (T, SITE, "config")]


def test_load_delete_config_with_a_stale_version_is_a_mismatch(world: World) -> None:
    # GIVEN version 1
    configured(world)
    # WHEN deleted expecting version 2, then expecting 1 while another writer gets in
    with pytest.raises(VersionMismatchError):
        world.service.delete_config(OWNER, SITE, expected=2)
    world.loads.races = 1
    with pytest.raises(VersionMismatchError):
        world.service.delete_config(OWNER, SITE, expected=1)
    # THEN it is still there
    assert (T, SITE) in world.loads.configs


def test_load_delete_config_without_if_match_retries_then_gives_up(world: World) -> None:
    # GIVEN version 1, and another writer getting in once
    configured(world)
    world.loads.races = 1
    # WHEN deleted without a version
    deleted = world.service.delete_config(OWNER, SITE)
    # THEN the other writer's version was deleted
    assert deleted.version == 2
    # AND with a writer that always gets in first, it gives up
    configured(world)
    world.loads.races = 99
    with pytest.raises(ConcurrentModificationError):
        world.service.delete_config(OWNER, SITE)


# -- readings ---------------------------------------------------------------------------------


def meter(minutes: float = 0, kw: float = 10, **over: Any) -> Reading:
    return Reading(kind=ReadingKind.METER, at=T0 + timedelta(minutes=minutes), kw=kw, **over)


def with_meter(world: World, fallback: float = 20, kind: str = "building") -> SiteLoadConfig:
    return configured(
        world,
        limit_kw=100,
        meter={"kind": kind, "stale_after_s": 120, "fallback_limit_kw": fallback},
    )


@pytest.mark.parametrize(
    ("readings", "says"),
    [
        ([], "send 1 to 100 readings"),
        ([meter()] * 101, "send 1 to 100 readings"),
        ([meter(), meter(minutes=6)], "readings[1].at is more than 5 minutes in the future"),
        ([meter(minutes=-24 * 60 - 1)], "readings[0].at is more than 24 hours old"),
        ([meter(valid_until=T0)], "readings[0].validUntil must follow `at`"),
        ([meter(valid_until=T0 + timedelta(hours=49))], "at most 48 hours from now"),
    ],
)
def test_load_record_readings_refuses_a_bad_batch(
    world: World, readings: list[Reading], says: str
) -> None:
    # GIVEN a site with a meter
    with_meter(world)
    # WHEN a bad batch is recorded
    with pytest.raises(InvalidLoadInputError) as raised:
        world.service.record_readings(OWNER, SITE, readings)
    # THEN it is refused, saying which reading and why, and nothing is kept
    assert raised.value.kind == "readings"
    assert says in str(raised.value)
    assert world.loads.readings == {}


def test_load_record_readings_of_a_site_without_load_management_is_not_found(
    world: World,
) -> None:
    # GIVEN no configuration
    # WHEN readings come
    # THEN the site has no load management
    with pytest.raises(ResourceNotFoundError):
        world.service.record_readings(OWNER, SITE, [meter()])


def test_load_record_readings_from_a_silent_meter_rebalance_at_once(world: World) -> None:
    # GIVEN a site whose meter was silent (fallback 20 kW of 100)
    with_meter(world)
    # WHEN the meter reports 10 kW of building load
    outcome = world.service.record_readings(OWNER, SITE, [meter(kw=10)])
    # THEN they are kept until stale (+ margin), and the site is rebalanced
    assert (outcome.accepted, outcome.rebalance) == (1, True)
    [(_, until)] = world.loads.readings[(T, SITE)].values()
    assert until == T0 + timedelta(seconds=120) + READING_MARGIN
    assert world.changed()[-1] == (T, SITE, "readings")


def test_load_record_readings_that_barely_move_wait_for_the_periodic_rebalance(
    world: World,
) -> None:
    # GIVEN a fresh meter reading of 10 kW
    with_meter(world)
    world.service.record_readings(OWNER, SITE, [meter(kw=10)])
    announced = len(world.changed())
    # WHEN the next says 10.5 kW, then one says 30 kW
    small = world.service.record_readings(OWNER, SITE, [meter(minutes=0.5, kw=10.5)])
    large = world.service.record_readings(OWNER, SITE, [meter(minutes=1, kw=30)])
    # THEN only the large change rebalances; both are kept
    assert (small.rebalance, large.rebalance) == (False, True)
    assert len(world.changed()) == announced + 1
    assert len(world.loads.state(T, SITE).readings) == 3


def test_load_record_readings_that_bring_back_the_fallback_power_still_rebalance(
    world: World,
) -> None:
    # GIVEN a silent meter whose fallback (20 kW) equals what a fresh reading leaves (100 - 80)
    with_meter(world, fallback=20)
    # WHEN the meter speaks again
    outcome = world.service.record_readings(OWNER, SITE, [meter(kw=80)])
    # THEN the power is the same, but the meter is no longer silent: rebalance
    assert outcome.rebalance


def test_load_record_readings_of_a_grid_meter_count_the_chargers_allowed(world: World) -> None:
    # GIVEN a grid meter (chargers included) on a 100 kW site, the chargers allowed 30 kW,
    # and a reading of 120 kW: 90 kW of building, 10 kW left
    with_meter(world, kind="grid")
    world.loads.put_allocation(T, allocation(30), 0)
    world.service.record_readings(OWNER, SITE, [meter(kw=120)])
    # WHEN the grid reading rises to 125 kW
    outcome = world.service.record_readings(OWNER, SITE, [meter(minutes=0.5, kw=125)])
    # THEN 5 kW less is left for the chargers: rebalance (counted without the chargers, the
    # site would look overloaded either way and nothing would seem to move)
    assert outcome.rebalance


def test_load_record_readings_already_stale_are_accepted_not_kept(world: World) -> None:
    # GIVEN a meter that goes stale after 2 minutes
    with_meter(world)
    # WHEN a reading from an hour ago arrives
    outcome = world.service.record_readings(OWNER, SITE, [meter(minutes=-60)])
    # THEN it is accepted, not kept, and changes nothing
    assert (outcome.accepted, outcome.rebalance) == (1, False)
    assert world.loads.readings == {}


def test_load_record_readings_without_a_meter_keep_forecasts_until_valid(world: World) -> None:
    # GIVEN a site without a meter
    configured(world)
    # WHEN a PV forecast valid for 3 hours arrives
    forecast = Reading(kind=ReadingKind.PV, at=T0, kw=15, valid_until=T0 + timedelta(hours=3))
    outcome = world.service.record_readings(OWNER, SITE, [forecast])
    # THEN it is kept until then (+ margin), and PV never lifts the site limit: no rebalance
    [(_, until)] = world.loads.readings[(T, SITE)].values()
    assert until == T0 + timedelta(hours=3) + READING_MARGIN
    assert not outcome.rebalance


# -- declared needs ---------------------------------------------------------------------------


def a_session(**over: Any) -> Session:
    values: dict[str, Any] = {
        "id": "s-1",
        "tenant_id": T,
        "station_id": "CP-1",
        "transaction_id": "TX-1",
        "protocol": ProtocolVersion.OCPP201,
        "site_id": SITE,
        "evse": EvseRef(evse_id=2, connector_id=1),
        "updated_at": T0,
    }
    values.update(over)
    return Session(**values)


def declare(world: World, principal: Principal = OWNER, **needs: Any) -> Any:
    return world.service.declare_needs(principal, "s-1", **needs)


def test_load_declare_needs_stores_them_for_the_session_and_announces_them(
    world: World,
) -> None:
    # GIVEN an active session at a managed site
    configured(world)
    world.sessions.sessions["s-1"] = a_session()
    departure = T0 + timedelta(hours=9)
    # WHEN its needs are declared
    needs = declare(world, departure=departure, energy_kwh=40.0, priority=4)
    # THEN they are stored for the session's EVSE until a while after the departure
    assert (needs.station_id, needs.evse_id, needs.at) == ("CP-1", 2, T0)
    assert (needs.departure, needs.energy_kwh, needs.priority) == (departure, 40.0, 4)
    assert world.loads.needs[(T, SITE)]["s-1"] == (needs, departure + NEEDS_KEPT)
    assert world.changed()[-1] == (T, SITE, "needs")


def test_load_declare_needs_keep_what_the_vehicle_record_gave_where_they_are_silent(
    world: World,
) -> None:
    # GIVEN a session whose needs came from its vehicle record (usual departure, priority 8)
    configured(world)
    world.sessions.sessions["s-1"] = a_session()
    usual = T0 + timedelta(hours=8)
    world.loads.put_needs(
        T,
        SITE,
        DeclaredNeeds(
            session_id="s-1",
            station_id="CP-1",
            evse_id=2,
            at=T0,
            departure=usual,
            priority=8,
            source=NeedsSource.USUAL_DEPARTURE,
        ),
        usual + NEEDS_KEPT,
    )
    # WHEN the driver declares only the energy, then the fleet system a departure and priority
    first = declare(world, energy_kwh=30.0)
    second = declare(world, departure=T0 + timedelta(hours=5), priority=2)
    # THEN the first keeps the usual departure and the vehicle's priority, as declared needs;
    # the second replaces them (and the energy, which it does not repeat, is gone)
    assert (first.departure, first.priority, first.energy_kwh) == (usual, 8, 30.0)
    assert first.source is NeedsSource.API
    assert (second.departure, second.priority, second.energy_kwh) == (
        T0 + timedelta(hours=5),
        2,
        None,
    )


def test_load_declare_needs_without_departure_nor_evse(world: World) -> None:
    # GIVEN an active session that names no EVSE yet
    configured(world)
    world.sessions.sessions["s-1"] = a_session(evse=None)
    # WHEN only its energy is declared
    needs = declare(world, energy_kwh=12.0)
    # THEN it is on EVSE 1, kept from now on
    assert (needs.evse_id, needs.departure) == (1, None)
    assert world.loads.needs[(T, SITE)]["s-1"][1] == T0 + NEEDS_KEPT


def test_load_declare_needs_finds_the_site_through_the_station(world: World) -> None:
    # GIVEN an active session that started before its station had a site
    configured(world)
    world.sessions.sessions["s-1"] = a_session(site_id=None)
    # WHEN its needs are declared
    declare(world, energy_kwh=5.0)
    # THEN they are kept at the station's site
    assert "s-1" in world.loads.needs[(T, SITE)]


@pytest.mark.parametrize(
    "session",
    [None, a_session(tenant_id="tenant-b"), a_session(site_id="site-2")],
    ids=["absent", "another-tenant", "out-of-reach"],
)
def test_load_declare_needs_of_a_session_out_of_reach_is_not_found(
    world: World, session: Session | None
) -> None:
    # GIVEN a session absent, of another tenant, or beyond a restricted user's sites
    if session is not None:
        world.sessions.sessions["s-1"] = session
    restricted = Principal("op-1", T, Role.OPERATOR, frozenset({SITE}))
    # WHEN its needs are declared
    # THEN it does not exist for the caller
    with pytest.raises(SessionNotFoundError):
        declare(world, restricted, energy_kwh=1.0)


def test_load_declare_needs_of_an_ended_session_is_refused(world: World) -> None:
    # GIVEN an ended session
    configured(world)
    world.sessions.sessions["s-1"] = a_session(state=SessionState.ENDED)
    # WHEN needs are declared
    # THEN they no longer matter
    with pytest.raises(SessionNotActiveError):
        declare(world, energy_kwh=1.0)


@pytest.mark.parametrize("hours", [0, -1, 24 * 7 + 1])
def test_load_declare_needs_refuses_a_departure_not_in_the_next_week(
    world: World, hours: int
) -> None:
    # GIVEN an active session
    configured(world)
    world.sessions.sessions["s-1"] = a_session()
    # WHEN a departure now, in the past or beyond a week is declared
    with pytest.raises(InvalidLoadInputError) as raised:
        declare(world, departure=T0 + timedelta(hours=hours))
    # THEN it is refused
    assert raised.value.kind == "needs"
    assert world.loads.needs == {}


@pytest.mark.parametrize(
    ("session", "station_gone"),
    [(a_session(), False), (a_session(site_id=None), True)],
    ids=["unmanaged-site", "no-site"],
)
def test_load_declare_needs_at_a_site_without_load_management_is_not_found(
    world: World, session: Session, station_gone: bool
) -> None:
    # GIVEN an active session at a site without configuration, or at no site at all
    world.sessions.sessions["s-1"] = session
    if station_gone:
        del world.stations.stations["CP-1"]
    # WHEN needs are declared
    with pytest.raises(ResourceNotFoundError) as raised:
        declare(world, energy_kwh=1.0)
    # THEN there is no load management to use them
    assert raised.value.kind == "load-config"


# -- the allocation ---------------------------------------------------------------------------


def allocation(kw: float) -> Allocation:
    return Allocation(
        site_id=SITE,
        at=T0,
        config_version=1,
        available_kw=100,
        constraint="site-limit",
        connectors=(
            ConnectorLimit(
                connector="CP-1/1", station_id="CP-1", evse_id=1, kw=kw, reason=Reason.SHARE
            ),
        ),
    )


def test_load_site_load_is_the_allocation_in_force(world: World) -> None:
    # GIVEN a rebalanced site
    configured(world)
    world.loads.put_allocation(T, allocation(11), 0)
    # WHEN its load is read
    load = world.service.site_load(OWNER, SITE)
    # THEN it is the stored allocation
    assert (load.rebalanced, load.allocation) == (True, allocation(11))


def test_load_site_load_before_the_first_rebalance_shows_the_power_available(
    world: World,
) -> None:
    # GIVEN a site with a silent meter, never rebalanced
    with_meter(world, fallback=20)
    # WHEN its load is read
    load = world.service.site_load(OWNER, SITE)
    # THEN it shows the fallback limit in force, no EVSE, and says why
    assert load.rebalanced is False
    assert (load.allocation.available_kw, load.allocation.constraint) == (
        20,
        "meter-stale-fallback",
    )
    assert load.allocation.connectors == ()
    assert load.allocation.notes[-1] == "not rebalanced yet"


def test_load_site_load_of_an_unmanaged_site_is_not_found(world: World) -> None:
    # GIVEN no configuration
    # WHEN the load is read
    # THEN there is none
    with pytest.raises(ResourceNotFoundError):
        world.service.site_load(OWNER, SITE)
