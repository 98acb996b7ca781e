"""The baselines on a three-session toy: limits respected, sessions served in the expected order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from csms.domain.load.allocation import Allocation, Reason
from csms.domain.load.config import PhaseLimits, PhaseRotation, SiteLoadConfig, StationLoad
from csms.domain.load.inputs import available_power
from csms.domain.load.needs import SessionDemand
from csms.domain.load.tree import CompiledTree
from csms_bench.baselines import NAMES, algorithm, caps

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
STEP = timedelta(minutes=5)
MAX_KW = 32 * 230 / 1000  # 7.36 kW: single phase, 32 A
MIN_KW = 6 * 230 / 1000  # 1.38 kW


def a_site(limit_kw: float = 10, **over: Any) -> SiteLoadConfig:
    stations = over.pop(
        "stations",
        tuple(
            StationLoad(station_id=f"CS-{n}", max_kw=MAX_KW, phases=1, voltage=230)
            for n in (1, 2, 3)
        ),
    )
    return SiteLoadConfig(site_id="toy", limit_kw=limit_kw, stations=stations, **over)


def a_demand(station: int, arrival_h: float, departure_h: float, kwh: float) -> SessionDemand:
    day = NOW.replace(hour=0)
    return SessionDemand(
        session_id=f"s{station}",
        connector=f"CS-{station}/1",
        arrival=day + timedelta(hours=arrival_h),
        departure=day + timedelta(hours=departure_h),
        energy_kwh=kwh,
    )


# a arrives first and leaves last with slack; b leaves first; c has the least laxity.
TOY = (a_demand(1, 8, 12, 10), a_demand(2, 8.5, 10, 5), a_demand(3, 9, 11, 30))


def run(name: str, config: SiteLoadConfig, demands: tuple[SessionDemand, ...] = TOY) -> Allocation:
    available = available_power(config, (), NOW)
    return algorithm(name, STEP).rebalance(config, demands, available, NOW, None)


def kw(allocation: Allocation) -> dict[str, float]:
    return {c.session_id or c.connector: round(c.kw, 6) for c in allocation.connectors}


def within_limits(config: SiteLoadConfig, allocation: Allocation) -> bool:
    tree = CompiledTree(config, allocation.available_kw)
    used = tree.usage([allocation.limit_of(s.key).kw for s in tree.slots])  # type: ignore[union-attr]
    return all(load <= row.limit + 1e-9 for row, load in zip(tree.rows, used, strict=True))


@pytest.mark.parametrize(
    ("name", "first", "second", "paused"),
    [("fcfs", "s1", "s2", "s3"), ("edf", "s2", "s3", "s1"), ("llf", "s3", "s2", "s1")],
)
def test_greedy_baselines_serve_in_their_order(
    name: str, first: str, second: str, paused: str
) -> None:
    # GIVEN three sessions wanting 7.36 kW each under a 10 kW site
    config = a_site()
    # WHEN the greedy baseline allocates
    allocation = run(name, config)
    # THEN the first in its order gets its max, the second the rest, the third nothing
    assert kw(allocation) == {
        first: round(MAX_KW, 6),
        second: round(10 - MAX_KW, 6),
        paused: 0.0,
    }
    assert allocation.limit_of(f"CS-{paused[1]}/1").reason is Reason.PAUSED  # type: ignore[union-attr]
    assert within_limits(config, allocation)


def test_equal_share_splits_the_limit_evenly() -> None:
    # GIVEN the toy under 10 kW
    config = a_site()
    # WHEN equal share allocates THEN each gets a third
    allocation = run("equal-share", config)
    assert kw(allocation) == {s: pytest.approx(10 / 3) for s in ("s1", "s2", "s3")}
    assert within_limits(config, allocation)


def test_equal_share_pauses_the_latest_arrival_when_shares_fall_below_the_minimum() -> None:
    # GIVEN 3.5 kW for three sessions: a third each would be under the 1.38 kW minimum
    config = a_site(limit_kw=3.5)
    # WHEN equal share allocates
    allocation = run("equal-share", config)
    # THEN the latest arrival is paused and the two others share the limit
    assert kw(allocation) == {"s1": 1.75, "s2": 1.75, "s3": 0.0}


def test_equal_share_fills_each_phase_separately() -> None:
    # GIVEN 20 A on L1 shared by two stations, a third station alone on L2
    stations = (
        StationLoad(station_id="CS-1", max_kw=MAX_KW, phases=1, voltage=230),
        StationLoad(
            station_id="CS-2", max_kw=MAX_KW, phases=1, voltage=230, rotation=PhaseRotation.SRT
        ),
        StationLoad(station_id="CS-3", max_kw=MAX_KW, phases=1, voltage=230),
    )
    config = a_site(limit_kw=100, stations=stations, limit_a=PhaseLimits(l1=20))
    # WHEN equal share allocates
    allocation = run("equal-share", config)
    # THEN the L1 pair gets 10 A each and the L2 station its max
    assert kw(allocation) == {"s1": 2.3, "s2": round(MAX_KW, 6), "s3": 2.3}
    assert within_limits(config, allocation)


def test_greedy_pauses_a_session_whose_share_is_under_the_minimum() -> None:
    # GIVEN 8.5 kW: after the first session only 1.14 kW is left, under the minimum
    config = a_site(limit_kw=8.5)
    # WHEN FCFS allocates
    allocation = run("fcfs", config)
    # THEN the second is paused rather than starved, and so is the third
    assert kw(allocation) == {"s1": round(MAX_KW, 6), "s2": 0.0, "s3": 0.0}


def test_uncontrolled_gives_every_session_its_max_whatever_the_limit() -> None:
    # GIVEN the toy under 10 kW
    config = a_site()
    # WHEN uncontrolled "allocates"
    chosen = algorithm("uncontrolled", STEP)
    allocation = run("uncontrolled", config)
    # THEN each has its max (22 kW in all) and no profile is ever sent
    assert set(kw(allocation).values()) == {round(MAX_KW, 6)}
    assert not chosen.sends_profiles
    assert not within_limits(config, allocation)


def test_engine_baseline_wraps_the_runtime_engine() -> None:
    # GIVEN the toy
    config = a_site()
    # WHEN the engine allocates through the benchmark's wrapper
    allocation = run("engine", config)
    # THEN it answers for every EVSE within every limit
    assert {c.connector for c in allocation.connectors} == {"CS-1/1", "CS-2/1", "CS-3/1"}
    assert within_limits(config, allocation)


def test_caps_follow_what_the_algorithms_know() -> None:
    # GIVEN an EV past its declared energy, one nearly done, one seen at 3 kW (energy unknown)
    config = a_site()
    tree = CompiledTree(config, 10)
    day = NOW.replace(hour=0)
    demands = {
        0: SessionDemand("a", "CS-1/1", day, energy_kwh=5, delivered_kwh=5),
        1: SessionDemand("b", "CS-2/1", day, energy_kwh=5, delivered_kwh=4.95),
        2: SessionDemand("c", "CS-3/1", day, ev_max_kw=3.0, suspended_ev=False),
    }
    suspended = {0: SessionDemand("d", "CS-1/1", day, suspended_ev=True)}
    # WHEN the caps are computed for 5-minute steps
    found = caps(tree, demands, 5 / 60)
    # THEN the declaration proved wrong is ignored (station max), nearly done gets the minimum
    # (0.6 kW would be under it), the EV seen at 3 kW gets 3 kW; a suspended (full) EV nothing
    assert found == [pytest.approx(MAX_KW), pytest.approx(MIN_KW), 3.0]
    assert caps(tree, suspended, 5 / 60)[0] == 0.0


def test_algorithm_by_name_knows_every_name_and_refuses_others() -> None:
    # GIVEN the names
    # WHEN each is asked for THEN it comes with that name; an unknown name is refused
    assert [algorithm(name, STEP).name for name in NAMES] == list(NAMES)
    with pytest.raises(ValueError, match="unknown algorithm"):
        algorithm("magic", STEP)


def test_baselines_ignore_sessions_on_unknown_evses() -> None:
    # GIVEN a session on an EVSE the site does not have
    config = a_site()
    stray = (SessionDemand("x", "CS-9/1", NOW),)
    # WHEN a baseline allocates THEN no EVSE is given anything
    assert set(kw(run("fcfs", config, stray)).values()) == {0.0}
