"""The replay's accounting (energy, shares, messages, violations) and the offline optimum."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from csms.domain.load.allocation import Allocation, ConnectorLimit, Reason
from csms.domain.load.config import SiteLoadConfig
from csms.domain.load.inputs import Available
from csms.domain.load.needs import SessionDemand
from csms_bench.baselines import Algorithm, algorithm
from csms_bench.optimum import optimum
from csms_bench.replay import Grid, Information, Outcome, declared, metrics, replay
from csms_bench.scenario import Scenario, parse_scenario

T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def a_session(
    n: int, arrival_h: float, departure_h: float, kwh: float, **over: Any
) -> dict[str, Any]:
    session = {
        "id": f"s{n}",
        "stationId": f"CS-{n}",
        "arrival": at(arrival_h),
        "departure": at(departure_h),
        "energyKwh": kwh,
        "evMaxKw": 11,
    }
    session.update(over)
    return session


def a_scenario(sessions: list[dict[str, Any]], limit_kw: float = 50, **site: Any) -> Scenario:
    document = {
        "name": "toy",
        "site": {
            "siteId": "toy",
            "limitKw": limit_kw,
            "stations": [{"stationId": f"CS-{n}", "maxKw": 11} for n in range(1, 4)],
            **site,
        },
        "sessions": sessions,
    }
    return parse_scenario(json.dumps(document))


class Fixed:
    """A fake algorithm: the same kW for every session, changing at chosen rebalances."""

    def __init__(self, *limits: float) -> None:
        self.limits = limits
        self.calls: list[list[SessionDemand]] = []

    def __call__(
        self,
        config: SiteLoadConfig,
        demands: Sequence[SessionDemand],
        available: Available,
        now: datetime,
        previous: Allocation | None,
    ) -> Allocation:
        kw = self.limits[min(len(self.calls), len(self.limits) - 1)]
        self.calls.append(list(demands))
        return Allocation(
            site_id=config.site_id,
            at=now,
            available_kw=available.kw,
            constraint=available.constraint.value,
            connectors=tuple(
                ConnectorLimit(
                    connector=d.connector,
                    station_id=d.connector.split("/")[0],
                    evse_id=1,
                    session_id=d.session_id,
                    kw=kw,
                    reason=Reason.LIMIT,
                )
                for d in demands
            ),
        )


def test_replay_delivers_what_the_ev_takes_and_no_more() -> None:
    # GIVEN one session of 10 kWh over 4 h on an 11 kW station, an EV of 7 kW, no real limit
    scenario = a_scenario([a_session(1, 0, 4, 10, evMaxKw=7)])
    # WHEN FCFS replays it
    outcome = replay(scenario, algorithm("fcfs", timedelta(minutes=5)))
    found = metrics(outcome, optimum_kwh=10)
    # THEN exactly the need is delivered, at the EV's 7 kW, and the session is fully served
    assert outcome.delivered_kwh == [pytest.approx(10)]
    assert found["peak_site_kw"] == 7
    assert found["sessions_fully_served"] == 1
    assert found["energy_pct_of_optimum"] == 100
    assert found["limit_violations"] == 0


def test_replay_counts_unmet_energy_at_departure() -> None:
    # GIVEN a session needing 10 kWh that stays 1 h with a 7 kW EV
    scenario = a_scenario([a_session(1, 0, 1, 10, evMaxKw=7)])
    # WHEN FCFS replays it
    found = metrics(replay(scenario, algorithm("fcfs", timedelta(minutes=5))), optimum_kwh=7)
    # THEN 7 kWh were delivered: 70 %, not fully served, and the worst-off share is 0.7
    assert found["delivered_kwh"] == pytest.approx(7)
    assert found["energy_pct_of_requested"] == 70
    assert found["sessions_fully_served"] == 0
    assert found["worst_off_5pct_share"] == 0.7


def test_replay_counts_a_message_per_changed_limit() -> None:
    # GIVEN two sessions, and an algorithm that changes everyone's limit once, at its 4th call
    scenario = a_scenario([a_session(1, 0, 1, 5), a_session(2, 0.5, 2, 5)])
    fake = Fixed(5, 5, 5, 6)
    # WHEN it is replayed in 15-minute steps
    outcome = replay(scenario, Algorithm("fixed", fake), step=timedelta(minutes=15))
    # THEN: s1 at its arrival (1), s2 at its arrival (1), both at the change (2)
    assert outcome.profile_messages == 4
    assert len(outcome.rebalance_s) == 8


def test_replay_tells_the_algorithm_what_a_csms_would_know() -> None:
    # GIVEN a 7 kW EV needing 1 kWh under an algorithm offering 11 kW
    scenario = a_scenario([a_session(1, 0, 1, 1, evMaxKw=7)])
    fake = Fixed(11)
    # WHEN it is replayed in 5-minute steps
    replay(scenario, Algorithm("fixed", fake), step=timedelta(minutes=5))
    first, second, third = (calls[0] for calls in fake.calls[:3])
    # THEN: no EV max or draw at first; then the 7 kW it was seen to draw; full after 1 kWh
    assert (first.ev_max_kw, first.measured_kw, first.suspended_ev) == (None, None, False)
    assert (second.ev_max_kw, second.measured_kw) == (7, 7)
    assert second.delivered_kwh == pytest.approx(7 / 12)
    assert third.suspended_ev
    assert third.ev_max_kw == 7  # finishing at 5 kW is not mistaken for a lower EV max


def test_replay_counts_every_row_the_draws_exceed() -> None:
    # GIVEN two 11 kW EVs together for 1 h under a 15 kW site limit
    scenario = a_scenario([a_session(1, 0, 1, 20), a_session(2, 0, 1, 20)], limit_kw=15)
    # WHEN uncontrolled replays it in 15-minute steps
    outcome = replay(
        scenario, algorithm("uncontrolled", timedelta(minutes=5)), step=timedelta(minutes=15)
    )
    # THEN the site row is over its limit at each of the 4 steps, and no profile is counted
    assert outcome.violations == 4
    assert outcome.peak_site_kw == 22
    assert outcome.profile_messages is None


def test_replay_building_load_lowers_the_site_limit() -> None:
    # GIVEN a building drawing 15 kW of a 20 kW connection, for the first hour only
    scenario = a_scenario(
        [a_session(1, 0, 2, 40)],
        limit_kw=20,
        meter={"kind": "building", "staleAfterS": 3600, "fallbackLimitKw": 2},
    )
    scenario = scenario.model_copy(update={"building_load_kw": parse_building([(0, 15), (1, 10)])})
    # WHEN FCFS replays it in 1-hour steps
    outcome = replay(scenario, algorithm("fcfs", timedelta(hours=1)), step=timedelta(hours=1))
    # THEN 5 kWh in the first hour, 10 kWh in the second
    assert outcome.delivered_kwh == [pytest.approx(15)]
    assert outcome.violations == 0


def parse_building(points: list[tuple[float, float]]) -> Any:
    from csms_bench.scenario import LoadPoint

    return tuple(LoadPoint(at=T0 + timedelta(hours=h), kw=kw) for h, kw in points)


def test_grid_present_rounds_arrival_up_and_departure_down() -> None:
    # GIVEN a session from 08:02 to 08:58 and one that never fills a step
    scenario = a_scenario([a_session(1, 2 / 60, 58 / 60, 1), a_session(2, 1 / 60, 4 / 60, 1)])
    grid = Grid.of(scenario, timedelta(minutes=5))
    # THEN the grid starts at 08:00 and the session is present from 08:05 until 08:55
    assert grid.start == T0
    assert grid.present(scenario.sessions[0]) == range(1, 11)
    assert len(grid.present(scenario.sessions[1])) == 0


def test_declared_values_follow_the_information_mode() -> None:
    # GIVEN a session with its own declared values
    scenario = a_scenario([a_session(1, 0, 4, 10, declaredDeparture=at(5), declaredEnergyKwh=12)])
    sessions = list(scenario.sessions)
    # WHEN each mode declares
    exact = declared(sessions, Information.EXACT, 0)[0]
    withheld = declared(sessions, Information.WITHHELD, 0)[0]
    own = declared(sessions, Information.DECLARED, 0)[0]
    noisy = declared(sessions, Information.NOISY, 7)[0]
    # THEN the truth, nothing, the scenario's, and a noisy value that repeats with the seed
    assert (exact.departure, exact.energy_kwh) == (sessions[0].departure, 10)
    assert (withheld.departure, withheld.energy_kwh) == (None, None)
    assert own.energy_kwh == 12
    assert noisy == declared(sessions, Information.NOISY, 7)[0]
    assert noisy != declared(sessions, Information.NOISY, 8)[0]
    assert noisy.departure is not None
    assert noisy.departure > sessions[0].arrival


def test_metrics_worst_off_is_the_mean_of_the_lowest_five_percent() -> None:
    # GIVEN 40 sessions of 10 kWh: two got 1 and 3 kWh, the rest all of it
    delivered = [1.0, 3.0] + [10.0] * 38
    outcome = Outcome("x", requested_kwh=[10.0] * 40, delivered_kwh=delivered)
    # WHEN the metrics are taken
    found = metrics(outcome, optimum_kwh=None)
    # THEN the worst-off 5 % (2 sessions) met 0.2 of need on average
    assert found["worst_off_5pct_share"] == 0.2
    assert found["sessions_fully_served"] == 38
    assert found["energy_pct_of_optimum"] is None
    assert found["rebalance_ms_p95"] == 0


def test_metrics_session_that_needed_nothing_counts_as_served() -> None:
    # GIVEN a session with no need
    outcome = Outcome("x", requested_kwh=[0.0], delivered_kwh=[0.0])
    # THEN it is fully served and the energy share is 100 %
    found = metrics(outcome, optimum_kwh=0)
    assert (found["sessions_fully_served"], found["energy_pct_of_requested"]) == (1, 100.0)


def test_optimum_matches_the_hand_computed_toy() -> None:
    # GIVEN an 8 kW site for 4 h: s1 (15 kWh) present the first 2 h, s2 (20 kWh) all 4 h
    scenario = a_scenario([a_session(1, 0, 2, 15), a_session(2, 0, 4, 20)], limit_kw=8)
    # WHEN the optimum is solved in 1-hour steps
    best = optimum(scenario, step=timedelta(hours=1))
    # THEN it delivers 32 kWh (8 kW x 4 h): s2 gets the 16 kWh of the last 2 h, and the first
    # 16 kWh are shared with s1 (at least 12 of them to s1, since s2 needs only 20)
    assert sum(best.delivered_kwh) == pytest.approx(32)
    assert best.delivered_kwh[0] >= 12 - 1e-6
    assert best.delivered_kwh[1] >= 16 - 1e-6
    assert best.peak_site_kw == pytest.approx(8)
    assert best.violations == 0
    assert best.profile_messages is None


def test_optimum_never_beats_physics_and_beats_every_baseline() -> None:
    # GIVEN three sessions competing for 12 kW
    scenario = a_scenario(
        [a_session(1, 0, 2, 15), a_session(2, 0.5, 3, 20), a_session(3, 1, 1.5, 8)], limit_kw=12
    )
    step = timedelta(minutes=5)
    # WHEN the optimum and each limit-keeping baseline run
    best = sum(optimum(scenario, step=step).delivered_kwh)
    others = {
        name: sum(replay(scenario, algorithm(name, step), step=step).delivered_kwh)
        for name in ("equal-share", "fcfs", "edf", "llf")
    }
    # THEN none delivers more than the optimum
    assert all(kwh <= best + 1e-6 for kwh in others.values()), (best, others)


def test_replay_single_phase_ev_draws_the_per_phase_limit_on_one_phase() -> None:
    # GIVEN a single-phase 3.7 kW car on an 11 kW three-phase station (230 V), no real limit
    scenario = a_scenario([a_session(1, 0, 2, 20, evMaxKw=3.7, evPhases=1)])
    fake = Fixed(11)
    # WHEN an algorithm offers it the whole station (11 kW: about 16 A on each phase)
    outcome = replay(scenario, Algorithm("fixed", fake), step=timedelta(minutes=30))
    # THEN it takes the station's current on its one phase: a third of 11 kW, not 11
    assert outcome.delivered_kwh[0] == pytest.approx(2 * 11 / 3, rel=1e-6)
    # AND once it drew, the algorithm is told it charges on one phase
    assert fake.calls[0][0].ev_phases is None
    assert fake.calls[1][0].ev_phases == 1


def test_replay_counts_a_single_phase_car_on_its_own_phase_rows() -> None:
    # GIVEN a 20 A per-phase site limit and two single-phase cars on three-phase stations
    sessions = [
        a_session(1, 0, 1, 10, evMaxKw=7.4, evPhases=1),
        a_session(2, 0, 1, 10, evMaxKw=7.4, evPhases=1),
    ]
    scenario = a_scenario(sessions, limitA={"l1": 20, "l2": 20, "l3": 20})
    # WHEN uncontrolled lets both draw 16 A, both on grid phase L1 (straight wiring)
    outcome = replay(
        scenario, algorithm("uncontrolled", timedelta(minutes=5)), step=timedelta(minutes=15)
    )
    # THEN L1 carries 32 A > 20 A at each of the 4 steps (spread over three phases it would not)
    assert outcome.violations == 4
