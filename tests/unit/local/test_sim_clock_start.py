"""Where an accelerated simulation starts its clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from csms_local.sim.sessions import ChargingPlan
from csms_local.simulator import SimulatedStation, clock_start

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
STATION = SimulatedStation(station_id="CP-1", password="secret-password", connectors=2)


def test_clock_start_is_now_in_real_time_or_without_sessions() -> None:
    # GIVEN a plan with sessions, and one without
    plan = ChargingPlan(sessions=4, id_tokens=("T",))
    # WHEN the clock runs at real speed, or there is nothing to charge
    # THEN it starts now
    assert clock_start(plan, [STATION], 1, NOW) == NOW
    assert clock_start(ChargingPlan(), [STATION], 60, NOW) == NOW
    assert clock_start(plan, [], 60, NOW) == NOW


def test_clock_start_lets_accelerated_time_reach_now_only_at_the_end() -> None:
    # GIVEN four 30-minute sessions with 1-minute pauses on two connectors: two per connector
    plan = ChargingPlan(sessions=4, id_tokens=("T",), session_length=1800, pause=60)
    # WHEN simulated time runs 60 times faster
    start = clock_start(plan, [STATION], 60, NOW)
    # THEN it starts back by the planned span (with half again as margin), less the real time
    # the run takes, so it never runs ahead of the CSMS's clock
    span = 2 * (1800 + 60) * 1.5
    assert start == NOW - timedelta(seconds=span * (1 - 1 / 60))
    real_run = timedelta(seconds=span / 60)
    assert start + (real_run * 60) == NOW + real_run
