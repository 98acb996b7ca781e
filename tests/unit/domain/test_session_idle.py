"""reported_idle: the idle period a session's charging states report, whatever their order."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.fakes import T0

from csms.domain.sessions import ChargingState, MeterChunk, ReportedIdle, reported_idle

CHARGING = ChargingState.CHARGING
SUSPENDED_EV = ChargingState.SUSPENDED_EV
SUSPENDED_EVSE = ChargingState.SUSPENDED_EVSE
EV_CONNECTED = ChargingState.EV_CONNECTED
IDLE = ChargingState.IDLE


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def event(seq_no: int | None, minutes: int, state: ChargingState | None) -> MeterChunk:
    """A chunk of one transaction message, `minutes` after T0, with the state it reported."""
    return MeterChunk(
        session_id="S1",
        key=f"{seq_no if seq_no is not None else minutes:010d}",
        seq_no=seq_no,
        charging_state=state,
        state_at=at(minutes) if state is not None else None,
    )


def test_reported_idle_starts_when_charging_leaves_charging_for_good() -> None:
    # GIVEN Charging, SuspendedEV (the EV is full), then SuspendedEVSE and a plain update
    chunks = [
        event(0, 0, EV_CONNECTED),
        event(1, 1, CHARGING),
        event(2, 50, SUSPENDED_EV),
        event(3, 60, SUSPENDED_EVSE),
        event(4, 70, None),
    ]
    # WHEN read
    idle = reported_idle(chunks)
    # THEN idle from the first state after the last Charging, the EV still connected
    assert idle == ReportedIdle(charged=True, charging_ended_at=at(50))


def test_reported_idle_a_pause_by_the_station_is_not_idle() -> None:
    # GIVEN a session load management held at zero (SuspendedEVSE) until it ended, and one
    # whose EV filled up while the station had paused it
    held = [event(1, 0, CHARGING), event(2, 20, SUSPENDED_EVSE)]
    full_later = [*held, event(3, 45, SUSPENDED_EV)]
    # WHEN read
    # THEN the station's pause owes nothing; the EV's own stop starts the idle period
    assert reported_idle(held) == ReportedIdle(charged=True)
    assert reported_idle(full_later).charging_ended_at == at(45)


def test_reported_idle_back_to_charging_clears_it() -> None:
    # GIVEN a suspension that ended with charging again, and one that did not
    resumed = [event(1, 0, CHARGING), event(2, 20, SUSPENDED_EVSE), event(3, 30, CHARGING)]
    again = [*resumed, event(4, 90, SUSPENDED_EV)]
    # WHEN read
    # THEN charging now has no idle period; the second suspension starts it
    assert reported_idle(resumed) == ReportedIdle(charged=True)
    assert reported_idle(again).charging_ended_at == at(90)


def test_reported_idle_ends_when_the_ev_left_and_forgets_that_when_it_came_back() -> None:
    # GIVEN an EV that finished, left (Idle), then one that came back (EVConnected)
    left = [event(1, 0, CHARGING), event(2, 40, SUSPENDED_EV), event(3, 55, IDLE)]
    back = [*left, event(4, 58, EV_CONNECTED)]
    # WHEN read
    # THEN idle 40-55 while it stayed away; open-ended once it was connected again
    assert reported_idle(left) == ReportedIdle(
        charged=True, charging_ended_at=at(40), ev_left_at=at(55)
    )
    assert reported_idle(back) == ReportedIdle(charged=True, charging_ended_at=at(40))


def test_reported_idle_of_an_ev_that_never_charged_is_none() -> None:
    # GIVEN states reported, none of them Charging
    chunks = [event(0, 0, EV_CONNECTED), event(1, 30, SUSPENDED_EV), event(2, 40, IDLE)]
    # WHEN read
    idle = reported_idle(chunks)
    # THEN no idle after charging from the states: the register has to tell
    assert idle == ReportedIdle()


def test_reported_idle_without_any_state_is_not_reported() -> None:
    # GIVEN chunks without a charging state (a 1.6 station, or meter values only)
    chunks = [event(None, 0, None), event(None, 5, None)]
    # WHEN read
    # THEN nothing reported: the register has to tell
    assert reported_idle(chunks) == ReportedIdle()
    assert reported_idle([]) == ReportedIdle()


def test_reported_idle_a_late_low_seq_no_does_not_undo_a_newer_one() -> None:
    # GIVEN Charging again at seq 5 arriving after the suspension of seq 3, and a late
    # Charging of seq 1 arriving last
    arrival = [event(3, 30, SUSPENDED_EV), event(5, 40, CHARGING), event(1, 0, CHARGING)]
    # WHEN read
    # THEN charging (seq 5 is the newest): no idle period
    assert reported_idle(arrival).charging_ended_at is None
    # AND a late Charging below a suspension does not clear it
    assert reported_idle([event(4, 60, SUSPENDED_EV), event(2, 10, CHARGING)]) == ReportedIdle(
        charged=True, charging_ended_at=at(60)
    )


def test_reported_idle_without_seq_no_follows_the_report_time() -> None:
    # GIVEN 1.6-style reports (no seqNo) stored out of time order
    chunks = [event(None, 45, SUSPENDED_EV), event(None, 5, CHARGING), event(None, 50, IDLE)]
    # WHEN read
    # THEN in time order: charged, idle from 45, the EV gone at 50
    assert reported_idle(chunks) == ReportedIdle(
        charged=True, charging_ended_at=at(45), ev_left_at=at(50)
    )


STATES = st.sampled_from([*ChargingState, None])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_reported_idle_any_arrival_order_gives_the_in_order_idle(data: st.DataObject) -> None:
    # GIVEN a 2.0.1 transaction's events with any charging states, minutes apart
    states = data.draw(st.lists(STATES, min_size=1, max_size=12))
    events = [event(seq, seq * 5, state) for seq, state in enumerate(states)]
    # AND the same events in any order of arrival
    shuffled = data.draw(st.permutations(events))
    # WHEN read
    in_order, any_order = reported_idle(events), reported_idle(shuffled)
    # THEN the same idle period, starting at the first state after the last Charging that is
    # not the station's own pause (SuspendedEVSE)
    assert any_order == in_order
    reported = [(seq, s) for seq, s in enumerate(states) if s is not None]
    last_charging = max((seq for seq, s in reported if s is CHARGING), default=None)
    after = [
        seq
        for seq, s in reported
        if last_charging is not None and seq > last_charging and s is not SUSPENDED_EVSE
    ]
    expected = at(after[0] * 5) if after else None
    assert in_order.charging_ended_at == expected
    assert in_order.charged == (last_charging is not None)
