"""The allocation engine, case by case: who gets what, why, and when nothing is resent."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from tests.fakes import T0
from tests.unit.domain.load.builders import MIN_3P_KW, a_config, a_demand, a_station, at, available

from csms.domain.load.allocation import Allocation, ConnectorLimit, Reason, changes
from csms.domain.load.config import EvseLoad, Hysteresis, LoadGroup, PhaseLimits, SiteLoadConfig
from csms.domain.load.engine import Policy, allocate
from csms.domain.load.inputs import Constraint
from csms.domain.load.needs import SessionDemand


def three_stations(**over: Any) -> SiteLoadConfig:
    """Three 22 kW three-phase stations below the site."""
    return a_config(stations=(a_station("CS-1"), a_station("CS-2"), a_station("CS-3")), **over)


def limit(allocation: Allocation, connector: str) -> ConnectorLimit:
    found = allocation.limit_of(connector)
    assert found is not None, connector
    return found


def site_load(allocation: Allocation) -> float:
    return next(r.allocated for r in allocation.rows if r.label == "site")


def a_previous(*limits: ConnectorLimit, available_kw: float = 100.0) -> Allocation:
    """An allocation in force that the hold rule does not keep (no computed_at)."""
    return Allocation(
        site_id="site-1",
        at=T0 - timedelta(minutes=1),
        available_kw=available_kw,
        constraint="site-limit",
        connectors=limits,
    )


def an_old_limit(connector: str = "CS-1/1", amps: float = 14.0, **over: Any) -> ConnectorLimit:
    station_id, evse = connector.split("/")
    fields: dict[str, Any] = {
        "connector": connector,
        "station_id": station_id,
        "evse_id": int(evse),
        "session_id": f"tx-{connector}",
        "kw": amps * 0.69,
        "amps": amps,
        "reason": Reason.LIMIT,
        "since": T0 - timedelta(minutes=10),
        "tier": 2,
    }
    fields.update(over)
    return ConnectorLimit(**fields)


# -- the simple cases ----------------------------------------------------------------------------


def test_allocate_without_sessions_leaves_every_evse_idle() -> None:
    # GIVEN a site with three stations and nobody charging
    # WHEN allocated
    result = allocate(three_stations(), [], available(100.0), T0)
    # THEN every EVSE is listed idle at 0 kW, with the site's figures
    assert [(c.connector, c.kw, c.reason, c.session_id) for c in result.connectors] == [
        (f"CS-{n}/1", 0.0, Reason.IDLE, None) for n in (1, 2, 3)
    ]
    assert (result.available_kw, result.constraint, result.computed_at) == (
        100.0,
        "site-limit",
        T0,
    )
    assert changes(None, result) == ()


def test_allocate_gives_a_lone_session_its_evse_ceiling() -> None:
    # GIVEN one session on an 11 kW EVSE of a 22 kW station, with power to spare
    station = a_station(evses=(EvseLoad(evse_id=1, max_kw=11.0),))
    # WHEN allocated
    result = allocate(a_config(stations=(station,)), [a_demand(ev_max_kw=22.0)], available(100), T0)
    # THEN it gets 15.9 A (11 kW rounded down to 0.1 A), bound by the EVSE
    got = limit(result, "CS-1/1")
    assert (got.amps, got.reason, got.bound_by) == (15.9, Reason.EVSE_MAX, None)
    assert got.kw == pytest.approx(15.9 * 0.69)


def test_allocate_gives_a_lone_session_on_a_22_kw_station_the_reason_evse_max() -> None:
    # GIVEN one session alone on a 22 kW station (31.88 A, sent as 31.8 A)
    result = allocate(a_config(), [a_demand(ev_max_kw=22.0)], available(100), T0)
    got = limit(result, "CS-1/1")
    # THEN the station's maximum is what bound it: one 0.1 A rounding step is not a "share"
    assert got.amps == 31.8
    assert got.reason is Reason.EVSE_MAX


def test_allocate_gives_a_lone_session_its_ev_maximum() -> None:
    # GIVEN an EV seen to take 11 kW at most
    result = allocate(a_config(), [a_demand(ev_max_kw=11.0)], available(100), T0)
    got = limit(result, "CS-1/1")
    # THEN its limit is the EV's (to 0.1 A), with the EV named as the reason
    assert got.reason is Reason.EV_MAX
    assert got.kw == pytest.approx(11.0, abs=0.07)


def test_allocate_never_gives_an_ev_more_than_it_takes() -> None:
    # GIVEN an EV seen to take 7 kW at most (10.14 A on three phases)
    result = allocate(a_config(), [a_demand(ev_max_kw=7.0)], available(100), T0)
    # THEN its limit is not rounded up over what it can take (the power is of use elsewhere)
    assert limit(result, "CS-1/1").kw <= 7.0


def test_allocate_shares_a_tight_site_limit_urgent_first() -> None:
    # GIVEN two sessions and 30 kW: one leaves in an hour needing 20 kWh, the other in 8 hours
    demands = [
        a_demand("CS-1/1", departure=at(1), energy_kwh=20.0, ev_max_kw=22.0),
        a_demand("CS-2/1", departure=at(8), energy_kwh=20.0, ev_max_kw=22.0),
    ]
    # WHEN allocated
    result = allocate(three_stations(limit_kw=30.0), demands, available(30.0), T0)
    urgent, relaxed = limit(result, "CS-1/1"), limit(result, "CS-2/1")
    # THEN the urgent one gets its full rate and the other what is left, bound by the site
    assert urgent.amps == 31.8
    assert relaxed.kw == pytest.approx(30.0 - urgent.kw, abs=0.07)
    assert (relaxed.reason, relaxed.bound_by) == (Reason.LIMIT, "site")
    assert site_load(result) <= 30.0


def test_allocate_pauses_sessions_the_minimum_current_cannot_reach() -> None:
    # GIVEN three alike sessions and 10 kW: a third each (3.3 kW) is below 6 A on three phases
    demands = [a_demand(f"CS-{n}/1", ev_max_kw=22.0) for n in (1, 2, 3)]
    # WHEN allocated
    result = allocate(three_stations(), demands, available(10.0), T0)
    # THEN one charges on the whole 10 kW and the others are paused at 0 A, bound by the site
    charging = [c for c in result.connectors if c.kw > 0]
    paused = [c for c in result.connectors if c.kw == 0]
    assert len(charging) == 1
    assert charging[0].kw >= MIN_3P_KW
    assert site_load(result) == pytest.approx(10.0, abs=0.07)
    assert {(c.amps, c.reason, c.bound_by) for c in paused} == {
        (0.0, Reason.PAUSED, "site"),
    }


def test_allocate_counts_a_suspended_ev_as_done() -> None:
    # GIVEN a session whose EV stopped drawing, next to one still charging
    demands = [a_demand("CS-1/1", suspended_ev=True), a_demand("CS-2/1", ev_max_kw=22.0)]
    # WHEN allocated on 30 kW
    result = allocate(three_stations(), demands, available(30.0), T0)
    # THEN the suspended one gets 0 kW with need-met and no tier; the other gets its ceiling
    done = limit(result, "CS-1/1")
    assert (done.kw, done.reason, done.tier, done.session_id) == (
        0.0,
        Reason.NEED_MET,
        None,
        "tx-CS-1/1",
    )
    assert limit(result, "CS-2/1").amps == 31.8


def test_allocate_reserves_the_maximum_of_a_station_that_ignores_profiles() -> None:
    # GIVEN 30 kW, a station that ignores its profiles and a session on another station
    demands = [a_demand("CS-1/1", ev_max_kw=22.0), a_demand("CS-2/1", ignores_profiles=True)]
    # WHEN allocated
    result = allocate(three_stations(), demands, available(30.0), T0)
    # THEN the ignoring station counts at its 22 kW and the other gets the 8 kW left
    ignored = limit(result, "CS-2/1")
    assert (ignored.kw, ignored.reason, ignored.tier) == (22.0, Reason.UNMANAGED, None)
    assert limit(result, "CS-1/1").kw == pytest.approx(8.0, abs=0.07)
    assert site_load(result) <= 30.0 + 1e-9
    assert result.notes == ("station CS-2 ignores its charging profiles: its maximum is reserved",)


def test_allocate_serves_a_protected_session_ahead_of_a_more_urgent_one() -> None:
    # GIVEN 7 kW, and two sessions that cannot both charge (the 3-phase one needs 4.14 kW):
    # P has some laxity left but has had nothing of its 12 kWh, with 2 h to go;
    # U has no laxity left but has had two thirds of its need already
    config = a_config(stations=(a_station("P", phases=1, max_kw=7.4), a_station("U")))
    p = a_demand("P/1", arrival=at(-6), departure=at(2), energy_kwh=12.0, ev_max_kw=7.4)
    u = a_demand(
        "U/1",
        arrival=at(-2),
        departure=at(0.4),
        energy_kwh=30.0,
        delivered_kwh=20.0,
        ev_max_kw=22.0,
    )
    # WHEN allocated with and without the protected floor
    floor = allocate(config, [p, u], available(7.0), T0, policy=Policy())
    no_floor = allocate(config, [p, u], available(7.0), T0, policy=Policy(floor_share=0.0))
    # THEN with the floor P is protected (tier 0) and charges; without it, U (tier 1) does
    assert (limit(floor, "P/1").tier, limit(floor, "U/1").tier) == (0, 1)
    assert limit(floor, "P/1").kw > 0
    assert limit(floor, "U/1").reason is Reason.PAUSED
    assert limit(no_floor, "P/1").kw == 0
    assert limit(no_floor, "U/1").kw > 0


def test_allocate_keeps_single_phase_stations_under_each_phase_limit() -> None:
    # GIVEN 16 A on L1, 32 A on L2 and 10 A on L3, and single-phase stations wired onto
    # L1 (two of them), L2 and L3
    config = a_config(
        limit_a=PhaseLimits(l1=16.0, l2=32.0, l3=10.0),
        stations=tuple(
            a_station(name, phases=1, max_kw=7.4, rotation=rotation)
            for name, rotation in (("A", "RST"), ("B", "SRT"), ("C", "TRS"), ("D", "RTS"))
        ),
    )
    demands = [a_demand(f"{name}/1", ev_max_kw=7.4) for name in "ABCD"]
    # WHEN allocated
    result = allocate(config, demands, available(100.0), T0)
    # THEN the two on L1 share its 16 A, L2's one gets its maximum, L3's one its 10 A
    amps = {c.station_id: c.amps or 0.0 for c in result.connectors}
    assert amps["A"] + amps["D"] == pytest.approx(16.0)
    assert abs(amps["A"] - amps["D"]) <= 0.2 + 1e-9
    assert (amps["B"], amps["C"]) == (32.0, 10.0)
    assert limit(result, "A/1").bound_by == "site:L1"
    assert limit(result, "C/1").bound_by == "site:L3"
    rows = {r.label: r for r in result.rows}
    assert all(rows[f"site:L{n}"].allocated <= rows[f"site:L{n}"].limit + 1e-9 for n in (1, 2, 3))


def test_allocate_binds_only_the_stations_of_a_limited_group() -> None:
    # GIVEN a 10 kW feeder with two stations, and a third station directly below the site
    config = a_config(
        groups=(LoadGroup(id="feeder-a", limit_kw=10.0),),
        stations=(
            a_station("A", group_id="feeder-a"),
            a_station("B", group_id="feeder-a"),
            a_station("C"),
        ),
    )
    demands = [a_demand(f"{name}/1", ev_max_kw=22.0) for name in "ABC"]
    # WHEN allocated with plenty of site power
    result = allocate(config, demands, available(100.0), T0)
    # THEN the feeder's two share its 10 kW, bound by it; the third gets its ceiling
    assert [limit(result, f"{n}/1").bound_by for n in "AB"] == ["group:feeder-a"] * 2
    assert limit(result, "A/1").kw + limit(result, "B/1").kw <= 10.0
    assert limit(result, "A/1").amps == limit(result, "B/1").amps
    assert limit(result, "C/1").amps == 31.8
    assert limit(result, "C/1").bound_by is None


def test_allocate_rounds_amps_to_a_tenth_without_breaking_a_limit() -> None:
    # GIVEN two sessions sharing exactly 10 kW (7.25 A each)
    demands = [a_demand(f"CS-{n}/1", ev_max_kw=22.0) for n in (1, 2)]
    # WHEN allocated
    result = allocate(three_stations(), demands, available(10.0), T0)
    # THEN every limit is a whole number of tenths of an ampere, the site stays under 10 kW,
    # and rounding wastes less than one step (0.069 kW)
    amps = [c.amps for c in result.connectors if c.amps]
    assert amps == [7.2, 7.2]
    assert all(c.kw == pytest.approx((c.amps or 0) * 0.69) for c in result.connectors)
    assert 10.0 - 0.069 < site_load(result) <= 10.0


def test_allocate_gives_dc_limits_in_kw_without_amps() -> None:
    # GIVEN a 50 kW DC station on a 33.333 kW site
    config = a_config(stations=(a_station("DC-1", current_type="DC", max_kw=50.0),))
    result = allocate(config, [a_demand("DC-1/1", ev_max_kw=150.0)], available(33.333), T0)
    got = limit(result, "DC-1/1")
    # THEN the limit is in 10 W steps, under the site, and has no amperes
    assert got.amps is None
    assert got.kw == pytest.approx(33.33)
    assert got.bound_by == "site"


# -- which demands count -------------------------------------------------------------------------


def test_allocate_ignores_demands_for_connectors_not_in_the_tree() -> None:
    demands = [a_demand("CS-9/1"), a_demand("CS-1/2"), a_demand("CS-1/1", ev_max_kw=22.0)]
    result = allocate(a_config(), demands, available(100.0), T0)
    assert [c.connector for c in result.connectors] == ["CS-1/1"]
    assert limit(result, "CS-1/1").session_id == "tx-CS-1/1"


def test_allocate_serves_one_session_per_evse() -> None:
    # GIVEN two sessions claiming the same EVSE (a stale one not yet ended), in either order
    first = a_demand(session_id="tx-a", ev_max_kw=22.0)
    second = a_demand(session_id="tx-b", ev_max_kw=22.0)
    # WHEN allocated
    one = allocate(a_config(), [first, second], available(100.0), T0)
    other = allocate(a_config(), [second, first], available(100.0), T0)
    # THEN one of them, the same whatever the order, gets the EVSE's limit
    assert one == other
    assert [c.session_id for c in one.connectors] == ["tx-a"]


def test_allocate_still_serves_a_session_past_its_departure() -> None:
    # GIVEN a session whose declared departure was an hour ago
    demand = a_demand(departure=at(-0.5), energy_kwh=30.0, ev_max_kw=22.0)
    # WHEN allocated
    got = limit(allocate(a_config(), [demand], available(100.0), T0), "CS-1/1")
    # THEN it still charges (it is still plugged in)
    assert got.kw > 0
    assert got.tier is not None


def test_allocate_serves_a_session_with_nothing_declared() -> None:
    # GIVEN a session with no departure, energy or EV maximum known
    got = limit(allocate(a_config(), [a_demand()], available(100.0), T0), "CS-1/1")
    # THEN it charges at what the station allows
    assert got.kw > MIN_3P_KW
    assert got.tier is not None


def test_allocate_keeps_serving_a_session_past_its_declared_energy() -> None:
    # GIVEN a session that has had all it declared but whose EV still draws
    demand = a_demand(energy_kwh=10.0, delivered_kwh=12.0, ev_max_kw=22.0)
    got = limit(allocate(a_config(), [demand], available(100.0), T0), "CS-1/1")
    # THEN the declaration was low: it is served as one with an unknown need
    assert got.amps == 31.8


def test_allocate_never_sends_an_ac_limit_below_the_minimum_current() -> None:
    # GIVEN a single-phase EV (3.68 kW seen) on a three-phase station, an EV 0.2 kWh short
    # of its declared energy (it can use 2.4 kW until the next rebalance, 3.5 A on 3 phases),
    # and an EV seen to take 1 kW on a single-phase station (4.3 A)
    config = a_config(
        stations=(a_station("CS-1"), a_station("CS-2"), a_station("CS-3", phases=1, max_kw=7.4))
    )
    demands = [
        a_demand("CS-1/1", ev_max_kw=3.68),
        a_demand("CS-2/1", energy_kwh=10.0, delivered_kwh=9.8, ev_max_kw=22.0),
        a_demand("CS-3/1", ev_max_kw=1.0),
    ]
    # WHEN allocated with power to spare
    result = allocate(config, demands, available(100.0), T0)
    # THEN none is sent a current between 0 and 6 A: IEC 61851 reads that as a pause
    for connector in ("CS-1/1", "CS-2/1", "CS-3/1"):
        amps = limit(result, connector).amps
        assert amps is not None
        assert amps == 0 or amps >= config.min_current_a, (connector, amps)


# -- hysteresis ----------------------------------------------------------------------------------


def test_allocate_holds_a_limit_that_moved_less_than_the_minimum_change() -> None:
    # GIVEN a session sent 14.0 A; the site now allows 10 kW (14.49 A), 0.49 A more
    previous = a_previous(an_old_limit(amps=14.0))
    demand = a_demand(ev_max_kw=22.0)
    # WHEN allocated
    result = allocate(a_config(), [demand], available(10.0), T0, previous=previous)
    # THEN it keeps 14.0 A, since when it had it, and no profile is sent
    got = limit(result, "CS-1/1")
    assert (got.amps, got.reason, got.since) == (14.0, Reason.HELD, T0 - timedelta(minutes=10))
    assert changes(previous, result) == ()


def test_allocate_sends_a_limit_that_moved_at_least_the_minimum_change() -> None:
    # GIVEN a session sent 13.0 A; the site now allows 14.49 A
    previous = a_previous(an_old_limit(amps=13.0))
    # WHEN allocated
    result = allocate(
        a_config(), [a_demand(ev_max_kw=22.0)], available(10.0), T0, previous=previous
    )
    # THEN the new limit goes out, since now
    got = limit(result, "CS-1/1")
    assert (got.amps, got.reason, got.since) == (14.4, Reason.LIMIT, T0)
    assert changes(previous, result) == (got,)


def test_allocate_never_holds_a_limit_that_would_break_a_row() -> None:
    # GIVEN a session sent 14.8 A (10.2 kW) while the site now allows 10 kW
    previous = a_previous(an_old_limit(amps=14.8))
    # WHEN allocated
    result = allocate(
        a_config(), [a_demand(ev_max_kw=22.0)], available(10.0), T0, previous=previous
    )
    # THEN the limit comes down although it moves less than the minimum change
    assert limit(result, "CS-1/1").amps == 14.4
    assert site_load(result) <= 10.0


def test_allocate_holds_dc_limits_by_the_minimum_change_in_kw() -> None:
    # GIVEN a DC session sent 30 kW; the site now allows 30.3 kW, then 31 kW
    config = a_config(stations=(a_station("DC-1", current_type="DC", max_kw=50.0),))
    previous = a_previous(an_old_limit("DC-1/1", amps=0.0, kw=30.0), available_kw=30.0).model_copy(
        update={"connectors": (an_old_limit("DC-1/1", kw=30.0).model_copy(update={"amps": None}),)}
    )
    demand = a_demand("DC-1/1", ev_max_kw=150.0)
    # WHEN allocated
    small = allocate(config, [demand], available(30.3), T0, previous=previous)
    large = allocate(config, [demand], available(31.0), T0, previous=previous)
    # THEN 0.3 kW is held, 1 kW is sent (hysteresis: 0.5 kW)
    assert (limit(small, "DC-1/1").kw, limit(small, "DC-1/1").reason) == (30.0, Reason.HELD)
    assert limit(large, "DC-1/1").kw == pytest.approx(31.0)


def test_allocate_does_not_hold_a_limit_of_another_session() -> None:
    # GIVEN the EVSE's last limit was for a session that ended
    previous = a_previous(an_old_limit(amps=14.0, session_id="tx-old"))
    # WHEN the next session is allocated
    result = allocate(
        a_config(), [a_demand(ev_max_kw=22.0)], available(10.0), T0, previous=previous
    )
    # THEN it gets its own limit, and a profile
    assert limit(result, "CS-1/1").amps == 14.4
    assert changes(previous, result) != ()


def test_allocate_does_not_hold_a_pause_or_a_restart() -> None:
    # GIVEN a session paused at 0 A that the site can now serve at 6 A (the minimum)
    previous = a_previous(an_old_limit(amps=0.0, kw=0.0, reason=Reason.PAUSED))
    # WHEN allocated with 4.2 kW
    result = allocate(a_config(), [a_demand(ev_max_kw=22.0)], available(4.2), T0, previous=previous)
    # THEN it restarts although 6 A is "less" than the minimum change from... 0 A is a pause
    assert limit(result, "CS-1/1").amps == 6.0


def test_allocate_holds_a_lower_limit_while_an_ignoring_station_overdraws_its_group() -> None:
    # GIVEN a 10 kW feeder whose only station ignores its profiles (it draws its 22 kW), and a
    # session elsewhere sent 19 A that its EV could now take 13.5 kW of (19.6 A)
    config = a_config(
        groups=(LoadGroup(id="feeder-a", limit_kw=10.0),),
        stations=(a_station("CS-1"), a_station("CS-3", group_id="feeder-a")),
    )
    previous = a_previous(an_old_limit(amps=19.0))
    demands = [a_demand("CS-1/1", ev_max_kw=13.5), a_demand("CS-3/1", ignores_profiles=True)]
    # WHEN allocated
    result = allocate(config, demands, available(40.0), T0, previous=previous)
    # THEN the feeder's overdraw (not ours to fix) does not undo the hold of the other session
    assert (limit(result, "CS-1/1").amps, limit(result, "CS-1/1").reason) == (19.0, Reason.HELD)
    assert limit(result, "CS-3/1").kw == 22.0


def test_allocate_minimum_change_comes_from_the_site_configuration() -> None:
    # GIVEN a site whose minimum change is 0.2 A, and a session sent 14.0 A
    config = a_config(hysteresis=Hysteresis(min_change_a=0.2))
    previous = a_previous(an_old_limit(amps=14.0))
    # WHEN the site allows 14.49 A
    result = allocate(config, [a_demand(ev_max_kw=22.0)], available(10.0), T0, previous=previous)
    # THEN the 0.4 A step is sent
    assert limit(result, "CS-1/1").amps == 14.4


# -- hold: nothing material changed --------------------------------------------------------------


def test_allocate_keeps_the_previous_allocation_while_nothing_changed() -> None:
    # GIVEN an allocation computed a minute ago, for sessions staying long enough that none
    # needs protecting
    demands = [a_demand(f"CS-{n}/1", departure=at(12), ev_max_kw=22.0) for n in (1, 2)]
    first = allocate(three_stations(), demands, available(20.0), T0)
    # WHEN the periodic rebalance runs with the same sessions and power
    again = allocate(
        three_stations(), demands, available(20.0), at(1.0) - timedelta(seconds=1), previous=first
    )
    # THEN the same limits stand (as of now), computed at the first run: nothing is sent
    assert again.connectors == first.connectors
    assert (again.at, again.computed_at) == (at(1.0) - timedelta(seconds=1), T0)
    assert changes(first, again) == ()


def test_allocate_keeps_holding_sessions_protected_only_because_they_are_under_way() -> None:
    # GIVEN two sessions wanting 10 kWh within 3 hours: not protected when first allocated
    # (55 % of the need takes 8 % of the time left at full power, under the 30 % threshold)
    demands = [
        a_demand(f"CS-{n}/1", departure=at(3), energy_kwh=10.0, ev_max_kw=22.0) for n in (1, 2)
    ]
    first = allocate(three_stations(), demands, available(20.0), T0)
    assert {limit(first, c).tier for c in ("CS-1/1", "CS-2/1")} == {2}
    # WHEN the periodic rebalance runs half an hour later, with and without the hold
    later = at(0.5)
    kept = allocate(three_stations(), demands, available(20.0), later, previous=first)
    redone = allocate(
        three_stations(),
        demands,
        available(20.0),
        later,
        previous=first,
        policy=Policy(hold=timedelta(0)),
    )
    # THEN, now under way, both are protected (10 % is over the 6 % threshold of sessions
    # charging), but that changes nothing they get: the allocation stands, nothing is sent
    assert {limit(redone, c).tier for c in ("CS-1/1", "CS-2/1")} == {0}
    assert kept.computed_at == T0
    assert changes(first, kept) == ()


@pytest.mark.parametrize(
    ("what", "later"),
    [
        ("hold time over", {"now": at(1.0)}),
        ("session arrives", {"add": True}),
        ("session finishes", {"drop": True}),
        ("config version", {"version": 2}),
        ("more power", {"kw": 20.6}),
        ("less power than in use", {"kw": 19.0}),
        ("station now ignores profiles", {"ignore": True}),
    ],
)
def test_allocate_recomputes_when_something_material_changed(
    what: str, later: dict[str, Any]
) -> None:
    # GIVEN an allocation of 20 kW to two sessions, computed at T0
    demands = [a_demand(f"CS-{n}/1", ev_max_kw=22.0) for n in (1, 2)]
    first = allocate(three_stations(), demands, available(20.0), T0)
    # WHEN the next rebalance sees the change
    now = later.get("now", at(0.1))
    if later.get("add"):
        demands = [*demands, a_demand("CS-3/1", ev_max_kw=22.0)]
    if later.get("drop"):
        demands = demands[:1]
    if later.get("ignore"):
        demands = [demands[0], _replace(demands[1], ignores_profiles=True)]
    config = three_stations(version=later.get("version", 0))
    result = allocate(config, demands, available(later.get("kw", 20.0)), now, previous=first)
    # THEN the allocation is computed afresh
    assert result.computed_at == now, what


def test_allocate_recomputes_when_evs_cannot_use_what_they_hold() -> None:
    # GIVEN two sessions with most of their need met, sharing 20 kW
    demands = [
        a_demand(f"CS-{n}/1", departure=at(8), energy_kwh=10.0, delivered_kwh=8.0, ev_max_kw=22.0)
        for n in (1, 2)
    ]
    first = allocate(three_stations(), demands, available(20.0), T0)
    # WHEN both EVs are now seen to take 5 kW at most (10 kW held that nobody uses)
    slower = [_replace(d, ev_max_kw=5.0) for d in demands]
    result = allocate(three_stations(), slower, available(20.0), at(0.1), previous=first)
    # THEN it is recomputed, in the same tier, at what the EVs take
    assert result.computed_at == at(0.1)
    assert [c.tier for c in result.connectors] == [c.tier for c in first.connectors]
    assert all(c.kw <= 5.1 for c in result.connectors)


def test_allocate_keeps_holding_when_evs_lose_little() -> None:
    # GIVEN the same, but the EVs are seen to take just under what they were given
    demands = [
        a_demand(f"CS-{n}/1", departure=at(8), energy_kwh=10.0, delivered_kwh=8.0, ev_max_kw=22.0)
        for n in (1, 2)
    ]
    first = allocate(three_stations(), demands, available(20.0), T0)
    slower = [_replace(d, ev_max_kw=9.5) for d in demands]
    # WHEN rebalanced
    result = allocate(three_stations(), slower, available(20.0), at(0.1), previous=first)
    # THEN under a minimum power is stuck: the allocation stands
    assert result.computed_at == T0


def test_allocate_recomputes_when_a_session_becomes_urgent() -> None:
    # GIVEN a session with hours to spare, allocated at T0 under a tight limit
    demand = a_demand(departure=at(3), energy_kwh=20.0, ev_max_kw=22.0)
    other = a_demand("CS-2/1", departure=at(8), energy_kwh=20.0, ev_max_kw=22.0)
    first = allocate(three_stations(), [demand, other], available(10.0), T0)
    # WHEN, ten minutes later, the driver declares an earlier departure
    urgent = _replace(demand, departure=at(0.5))
    result = allocate(three_stations(), [urgent, other], available(10.0), at(1 / 6), previous=first)
    # THEN it is recomputed, and the session moves up a tier
    assert result.computed_at == at(1 / 6)
    assert limit(result, "CS-1/1").tier is not None
    assert (limit(result, "CS-1/1").tier or 0) < (limit(first, "CS-1/1").tier or 0)


def _replace(demand: SessionDemand, **over: Any) -> SessionDemand:
    return replace(demand, **over)


# -- since, tier and the policy switches ---------------------------------------------------------


def test_allocate_keeps_since_while_the_limit_stays() -> None:
    # GIVEN an allocation at T0, recomputed 20 minutes later with two sessions
    demands = [a_demand(f"CS-{n}/1", ev_max_kw=22.0) for n in (1, 2)]
    first = allocate(three_stations(), demands, available(44.0), T0)
    # WHEN recomputed with less power
    later = allocate(three_stations(), demands, available(30.0), at(1 / 3), previous=first)
    # THEN limits that did not change keep their since; changed ones start now
    assert [c.since for c in first.connectors] == [T0] * 3
    assert {c.since for c in later.connectors if c.session_id} == {at(1 / 3)}
    assert limit(later, "CS-3/1").since == T0


def test_allocate_with_dwell_keeps_a_young_limit() -> None:
    # GIVEN a relaxed session sent 29 A (20 kW) 5 minutes ago, and a newcomer with less laxity
    previous = a_previous(an_old_limit(amps=29.0, since=T0 - timedelta(minutes=5)))
    demands = [
        a_demand("CS-1/1", departure=at(9), energy_kwh=20.0, ev_max_kw=22.0),
        a_demand("CS-2/1", arrival=T0, departure=at(3), energy_kwh=20.0, ev_max_kw=22.0),
    ]
    # WHEN allocated on 30 kW with a 10-minute dwell, and without one
    dwell = allocate(
        three_stations(),
        demands,
        available(30.0),
        T0,
        previous=previous,
        policy=Policy(dwell=timedelta(minutes=10)),
    )
    no_dwell = allocate(three_stations(), demands, available(30.0), T0, previous=previous)
    # THEN with the dwell the first keeps its 29 A and the newcomer gets the rest; without it,
    # the newcomer comes first
    assert limit(dwell, "CS-1/1").amps == 29.0
    assert limit(dwell, "CS-2/1").kw == pytest.approx(30.0 - 29.0 * 0.69, abs=0.07)
    assert limit(no_dwell, "CS-2/1").amps == 31.8
    assert limit(no_dwell, "CS-1/1").amps is not None
    assert (limit(no_dwell, "CS-1/1").amps or 0) < 29.0


def test_allocate_with_dwell_lets_an_old_limit_go() -> None:
    # GIVEN the same, but the first session's limit was sent 20 minutes ago
    previous = a_previous(an_old_limit(amps=29.0, since=T0 - timedelta(minutes=20)))
    demands = [
        a_demand("CS-1/1", departure=at(9), energy_kwh=20.0, ev_max_kw=22.0),
        a_demand("CS-2/1", arrival=T0, departure=at(3), energy_kwh=20.0, ev_max_kw=22.0),
    ]
    # WHEN allocated with a 10-minute dwell
    result = allocate(
        three_stations(),
        demands,
        available(30.0),
        T0,
        previous=previous,
        policy=Policy(dwell=timedelta(minutes=10)),
    )
    # THEN the dwell is over: the newcomer comes first
    assert limit(result, "CS-2/1").amps == 31.8


def test_allocate_without_water_filling_serves_in_rank_order() -> None:
    # GIVEN two sessions of different laxity and 30 kW
    demands = [
        a_demand("CS-1/1", departure=at(6), energy_kwh=20.0, ev_max_kw=22.0),
        a_demand("CS-2/1", departure=at(4), energy_kwh=20.0, ev_max_kw=22.0),
    ]
    # WHEN allocated in rank order only
    result = allocate(
        three_stations(), demands, available(30.0), T0, policy=Policy(water_fill=False)
    )
    # THEN the less lax one gets its ceiling first
    assert limit(result, "CS-2/1").amps == 31.8
    assert limit(result, "CS-1/1").kw == pytest.approx(30.0 - 31.8 * 0.69, abs=0.07)


def test_allocate_with_a_wide_band_shares_between_sessions_of_close_laxity() -> None:
    # GIVEN two sessions half an hour of laxity apart, and power for one and a half of them
    demands = [
        a_demand("CS-1/1", departure=at(6), energy_kwh=20.0, ev_max_kw=22.0),
        a_demand("CS-2/1", departure=at(5.5), energy_kwh=20.0, ev_max_kw=22.0),
    ]
    narrow = allocate(three_stations(), demands, available(33.0), T0)
    # WHEN the water-filling band is two hours wide instead of one step
    wide = allocate(
        three_stations(), demands, available(33.0), T0, policy=Policy(band=timedelta(hours=2))
    )
    # THEN one step of band serves the less lax one fully; two hours share more evenly
    gap_narrow = limit(narrow, "CS-2/1").kw - limit(narrow, "CS-1/1").kw
    gap_wide = limit(wide, "CS-2/1").kw - limit(wide, "CS-1/1").kw
    assert limit(narrow, "CS-2/1").amps == 31.8
    assert 0 < gap_wide < gap_narrow
    assert limit(wide, "CS-1/1").kw + limit(wide, "CS-2/1").kw == pytest.approx(33.0, abs=0.1)


def test_allocate_without_a_typical_energy_plans_for_all_the_ev_can_take() -> None:
    # GIVEN nothing declared and no typical energy, on a tight site, next to a declared session
    demands = [
        a_demand("CS-1/1", ev_max_kw=22.0),
        a_demand("CS-2/1", departure=at(8), energy_kwh=10.0, ev_max_kw=22.0),
    ]
    policy = Policy(typical_energy_kwh=None)
    # WHEN allocated
    result = allocate(three_stations(), demands, available(22.0), T0, policy=policy)
    # THEN the unknown need counts as a full stay at full power: it is the least lax one
    assert limit(result, "CS-1/1").kw > limit(result, "CS-2/1").kw
    assert result.available_kw == 22.0
    assert result.constraint == Constraint.SITE_LIMIT.value


# -- EVs on fewer phases than their station ------------------------------------------------------


def test_allocate_counts_a_single_phase_ev_on_one_grid_phase() -> None:
    # GIVEN a three-phase station wired TRS, 20 A on the site's L3 and 5 A on L1 and L2,
    # and an EV seen to charge on one phase
    config = a_config(
        limit_a=PhaseLimits(l1=5.0, l2=5.0, l3=20.0), stations=(a_station(rotation="TRS"),)
    )
    demand = a_demand(ev_phases=1, ev_max_kw=22.0)
    # WHEN allocated
    got = limit(allocate(config, [demand], available(100.0), T0), "CS-1/1")
    # THEN its current counts on the grid's L3 only (the station's L1 is wired to T)
    assert (got.phases, got.amps, got.bound_by) == (1, 20.0, "site:L3")
    assert got.kw == pytest.approx(4.6)


def test_allocate_offers_an_ev_below_the_minimum_the_minimum_on_every_phase() -> None:
    # GIVEN an EV seen to take 3.68 kW on a three-phase station, phases unknown
    got = limit(allocate(a_config(), [a_demand(ev_max_kw=3.68)], available(100.0), T0), "CS-1/1")
    # THEN it is offered the minimum, 6 A, counted on all three phases (a three-phase EV that
    # tapers would draw a limit on every phase): not 5.3 A (a pause), not a guessed one phase
    assert (got.phases, got.amps, got.reason) == (3, 6.0, Reason.EV_MAX)


def test_allocate_takes_a_single_phase_ev_seen_on_one_phase_at_the_station_current() -> None:
    # GIVEN an EV seen (per-phase meter values) on one phase of a three-phase station
    demand = a_demand(ev_max_kw=3.68, ev_phases=1)
    got = limit(allocate(a_config(), [demand], available(100.0), T0), "CS-1/1")
    # THEN it is sent 16 A on that one phase
    assert (got.phases, got.amps, got.reason) == (1, 16.0, Reason.EV_MAX)


def test_allocate_gives_a_two_phase_ev_the_station_current_on_two_phases() -> None:
    # GIVEN a two-phase EV on a 22 kW (32 A) station wired TSR
    config = a_config(limit_a=PhaseLimits(l1=10.0), stations=(a_station(rotation="TSR"),))
    got = limit(
        allocate(config, [a_demand(ev_phases=2, ev_max_kw=22.0)], available(100.0), T0), "CS-1/1"
    )
    # THEN it may draw the station's 31.8 A on its two phases (grid L3 and L2): L1's 10 A does
    # not bind it
    assert (got.phases, got.amps, got.bound_by) == (2, 31.8, None)


@pytest.mark.parametrize(
    "station",
    [
        a_station(phases=1, max_kw=7.4),
        a_station(current_type="DC", max_kw=50.0),
    ],
)
def test_allocate_ignores_ev_phases_on_single_phase_and_dc_stations(station: Any) -> None:
    config = a_config(stations=(station,))
    got = limit(
        allocate(config, [a_demand(ev_phases=1, ev_max_kw=7.4)], available(100.0), T0), "CS-1/1"
    )
    assert got.phases == station.phases


def test_allocate_keeps_a_higher_limit_when_lowering_it_frees_power_nobody_takes() -> None:
    # GIVEN a session charging at 22 kW that now needs only 0.5 kWh (less than a step's worth)
    first = allocate(
        three_stations(), [a_demand(energy_kwh=20.0, ev_max_kw=22.0)], available(100.0), T0
    )
    finishing = a_demand(energy_kwh=20.0, delivered_kwh=19.5, ev_max_kw=22.0)
    # WHEN the site has power to spare
    later = T0 + timedelta(minutes=5)
    result = allocate(three_stations(), [finishing], available(100.0), later, previous=first)
    # THEN its 31.8 A stay: a lower limit would be a profile that changes nothing for anyone
    assert limit(first, "CS-1/1").amps == 31.8
    assert limit(result, "CS-1/1").amps == 31.8
    assert limit(result, "CS-1/1").reason is Reason.HELD
    assert changes(first, result) == ()


def test_allocate_lowers_a_finishing_session_when_another_needs_the_power() -> None:
    # GIVEN the same finishing session, and a newcomer under a 30 kW site limit
    first = allocate(
        three_stations(), [a_demand(energy_kwh=20.0, ev_max_kw=22.0)], available(30.0), T0
    )
    finishing = a_demand(energy_kwh=20.0, delivered_kwh=19.5, ev_max_kw=22.0)
    newcomer = a_demand("CS-2/1", energy_kwh=30.0, ev_max_kw=22.0)
    # WHEN rebalanced
    later = T0 + timedelta(minutes=5)
    result = allocate(
        three_stations(), [finishing, newcomer], available(30.0), later, previous=first
    )
    # THEN the finishing session gives up what it cannot use, and the newcomer gets it
    assert limit(result, "CS-1/1").kw < limit(first, "CS-1/1").kw
    assert limit(result, "CS-2/1").kw > 8.0
    assert site_load(result) <= 30.0 + 1e-6


# -- finishing sessions ------------------------------------------------------------------------


def _finishing_and_newcomer() -> list[SessionDemand]:
    """A session 0.05 kWh from its need, leaving in 10 minutes, and one needing 30 kWh."""
    return [
        a_demand("CS-1/1", departure=at(1 / 6), energy_kwh=10.0, delivered_kwh=9.95),
        a_demand("CS-2/1", departure=at(8), energy_kwh=30.0, ev_max_kw=22.0),
    ]


def test_allocate_serves_a_finishing_session_last_when_power_is_short() -> None:
    # GIVEN a session that needs less than half a step at the minimum current (4.14 kW for
    # 5 minutes is 0.35 kWh; it takes 0.05), and another that can use all of 8 kW
    # WHEN allocated on 8 kW
    result = allocate(three_stations(), _finishing_and_newcomer(), available(8.0), T0)
    # THEN the finishing session waits for spare power and says so; the other gets the 8 kW
    assert limit(result, "CS-1/1").kw == 0.0
    assert limit(result, "CS-1/1").reason is Reason.FINISHING
    assert limit(result, "CS-1/1").tier == 3
    assert limit(result, "CS-2/1").kw == pytest.approx(8.0, abs=0.07)


def test_allocate_without_the_finishing_rule_wastes_the_minimum_on_a_finishing_session() -> None:
    # GIVEN the same sessions and 8 kW, the rule off
    result = allocate(
        three_stations(),
        _finishing_and_newcomer(),
        available(8.0),
        T0,
        policy=Policy(finishing_steps=0),
    )
    # THEN the urgent finishing session holds the minimum (it draws 0.6 kW of it) and the other,
    # left 3.9 kW, is paused below its minimum
    assert limit(result, "CS-1/1").kw == pytest.approx(MIN_3P_KW, abs=0.01)
    assert limit(result, "CS-2/1").kw == 0.0


def test_allocate_gives_a_finishing_session_spare_power() -> None:
    # GIVEN the same sessions and 40 kW: the other takes its 22 kW, 18 kW nobody else can use
    result = allocate(three_stations(), _finishing_and_newcomer(), available(40.0), T0)
    # THEN the finishing session is offered the minimum current and finishes
    assert limit(result, "CS-1/1").kw == pytest.approx(MIN_3P_KW, abs=0.01)
    assert limit(result, "CS-1/1").reason is not Reason.FINISHING
    assert limit(result, "CS-2/1").kw == pytest.approx(22.0, abs=0.1)


def test_allocate_gives_power_a_held_limit_leaves_to_a_session_whose_limit_changes() -> None:
    # GIVEN a session holding 14 A whose EV could take 10 kW (14.4 A), and a newcomer, on 20 kW
    previous = a_previous(an_old_limit("CS-1/1", amps=14.0), available_kw=20.0)
    demands = [
        a_demand("CS-1/1", departure=at(12), ev_max_kw=10.0),
        a_demand("CS-2/1", departure=at(12), ev_max_kw=22.0),
    ]
    # WHEN rebalanced
    result = allocate(three_stations(), demands, available(20.0), T0, previous=previous)
    # THEN the first keeps its 14 A (0.5 A is no change worth sending), and the newcomer, sent
    # a profile anyway, gets what the first leaves: no power goes unused
    assert limit(result, "CS-1/1").amps == 14.0
    assert limit(result, "CS-1/1").reason is Reason.HELD
    assert limit(result, "CS-2/1").kw == pytest.approx(20.0 - 14.0 * 0.69, abs=0.07)
    assert site_load(result) == pytest.approx(20.0, abs=0.07)
