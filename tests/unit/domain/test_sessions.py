"""The version-neutral session: order-independent merge, totals, anomalies, cleanup."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.fakes import T0

from csms.domain.connector import EvseRef
from csms.domain.meter import (
    Anomaly,
    AnomalyKind,
    Measurand,
    RawReading,
    RawSample,
    Reading,
    Sample,
)
from csms.domain.sessions import (
    MAX_ANOMALIES,
    ChargingState,
    EventType,
    MeterChunk,
    MeterMark,
    Session,
    SessionState,
    StopReason,
    TransactionFacts,
    abandon,
    chunk_key_16,
    chunk_key_seq,
    consistency_anomalies,
    decreasing,
    energy_between,
    merge,
    new_session,
    session_id,
    totals,
)
from csms.domain.station import ProtocolVersion
from csms.domain.tokens import Authorization, AuthorizationStatus, IdTokenType

FAST = settings(database=None, deadline=None, derandomize=True, max_examples=150)
EVSE = EvseRef(evse_id=1, connector_id=1)
ACCEPTED = Authorization(status=AuthorizationStatus.ACCEPTED)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def reading(minutes: float, wh: int | str, **extra: int | str) -> Reading:
    samples = [Sample(measurand=Measurand.ENERGY, value=Decimal(wh))]
    if "power" in extra:
        samples.append(Sample(measurand=Measurand.POWER, value=Decimal(extra["power"])))
    if "soc" in extra:
        samples.append(Sample(measurand=Measurand.SOC, value=Decimal(extra["soc"])))
    return Reading(timestamp=at(minutes), samples=tuple(samples))


def a_session(**over: Any) -> Session:
    session = new_session(
        tenant_id="tenant-a",
        station_id="CP-1",
        transaction_id="tx-1",
        protocol=ProtocolVersion.OCPP201,
        now=T0,
    )
    return session.model_copy(update=over)


def facts(event_type: EventType, minutes: float, **over: Any) -> TransactionFacts:
    return TransactionFacts(event_type=event_type, timestamp=at(minutes), **over)


def merge_all(events: list[TransactionFacts]) -> Session:
    session = a_session()
    for n, event in enumerate(events):
        session = merge(session, event, at(1000 + n))
    return session


def comparable(session: Session) -> dict[str, Any]:
    return session.model_dump(exclude={"updated_at"})


# -- identity and keys -------------------------------------------------------------------------


def test_session_id_is_stable_opaque_and_per_station() -> None:
    # GIVEN one transaction id at two stations
    # WHEN the session ids are computed
    one, again, other = session_id("CP-1", "7"), session_id("CP-1", "7"), session_id("CP-2", "7")
    # THEN they are stable, distinct per station, URL-safe lower-case base32
    assert one == again
    assert one != other
    assert len(one) == 24
    assert one.isalnum()
    assert one == one.lower()
    # AND the separator keeps ("CP-1", "17") and ("CP-11", "7") apart
    assert session_id("CP-1", "17") != session_id("CP-11", "7")


def test_chunk_key_seq_sorts_numerically() -> None:
    # GIVEN seqNos 2, 10 and 100
    keys = [chunk_key_seq(n) for n in (100, 2, 10)]
    # WHEN / THEN their keys sort like the numbers
    assert sorted(keys) == [chunk_key_seq(2), chunk_key_seq(10), chunk_key_seq(100)]


def raw(minutes: float, wh: int, unit: str | None = None) -> RawReading:
    return RawReading(timestamp=at(minutes), samples=(RawSample(value=str(wh), unit=unit),))


def test_chunk_key_16_is_the_same_for_the_same_content_and_differs_otherwise() -> None:
    # GIVEN two messages with the same first timestamp but other content
    same = (raw(1, 1000),)
    other = (raw(1, 1001),)
    # WHEN keyed
    # THEN a retransmission lands on the same key, another message on another
    assert chunk_key_16(same, at(5)) == chunk_key_16((raw(1, 1000),), at(9))
    assert chunk_key_16(same, at(5)) != chunk_key_16(other, at(5))
    assert chunk_key_16(same, at(5)) != chunk_key_16((raw(1, 1000, unit="kWh"),), at(5))
    assert chunk_key_16(same, at(5)) != chunk_key_16(same, at(5), extra="stop|1000")
    assert chunk_key_16(same, at(5)).startswith(at(1).isoformat())
    # AND an empty message is keyed by the time given
    assert chunk_key_16((), at(5)).startswith(at(5).isoformat())


def test_chunk_key_16_sorts_by_time() -> None:
    # GIVEN readings a fraction of a second and a second apart
    keys = [
        chunk_key_16((raw(m, 1),), T0)
        for m in (1 / 60, 0.5 / 60, 0, 2 / 60)  # 08:00:01, 08:00:00.5, 08:00:00, 08:00:02
    ]
    # WHEN / THEN the keys sort by reading time
    assert sorted(keys) == [keys[2], keys[1], keys[0], keys[3]]


def test_meter_chunk_registers_and_latest() -> None:
    # GIVEN a chunk with a power-only reading between two registers
    power_only = Reading(
        timestamp=at(3), samples=(Sample(measurand=Measurand.POWER, value=Decimal(7000)),)
    )
    chunk = MeterChunk(
        session_id="s", key="k", readings=(reading(1, 100, power=5000), reading(2, 200), power_only)
    )
    # WHEN / THEN the first and newest registers, the newest power and the last time are read
    assert chunk.first_register == MeterMark(wh=Decimal(100), at=at(1))
    assert chunk.register == MeterMark(wh=Decimal(200), at=at(2))
    assert chunk.latest(Measurand.POWER) == Decimal(7000)
    assert chunk.latest(Measurand.SOC) is None
    assert chunk.last_at == at(3)
    empty = MeterChunk(session_id="s", key="k")
    assert (empty.register, empty.first_register, empty.last_at) == (None, None, None)


# -- merge: order independence -----------------------------------------------------------------

CHARGING_STATES = st.none() | st.sampled_from(ChargingState)


@st.composite
def transactions(draw: st.DrawFn) -> list[TransactionFacts]:
    """A 2.0.1 transaction: Started(0), k Updated, Ended(k+1), growing registers and times."""
    k = draw(st.integers(min_value=0, max_value=5))
    steps = draw(st.lists(st.integers(min_value=1, max_value=30), min_size=k + 1, max_size=k + 1))
    energy = draw(
        st.lists(st.integers(min_value=1, max_value=9000), min_size=k + 1, max_size=k + 1)
    )
    register = draw(st.integers(min_value=0, max_value=10**7))
    minutes = 0
    events = [
        facts(
            EventType.STARTED,
            0,
            seq_no=0,
            evse=EVSE,
            id_token="CARD-1",
            token_type=IdTokenType.ISO14443,
            authorization=ACCEPTED,
            charging_state=draw(CHARGING_STATES),
            remote_start_id=draw(st.none() | st.integers(1, 99)),
            readings=(reading(0, register, power=0),),
        )
    ]
    for seq in range(1, k + 2):
        minutes += steps[seq - 1]
        register += energy[seq - 1]
        ended = seq == k + 1
        events.append(
            facts(
                EventType.ENDED if ended else EventType.UPDATED,
                minutes,
                seq_no=seq,
                evse=EVSE if draw(st.booleans()) else None,
                id_token="CARD-1" if ended and draw(st.booleans()) else None,
                token_type=IdTokenType.ISO14443 if ended else None,
                charging_state=draw(CHARGING_STATES),
                stop_reason=draw(st.sampled_from(StopReason)) if ended else None,
                offline=draw(st.booleans()),
                readings=(reading(minutes, register, power=draw(st.integers(0, 22000))),),
            )
        )
    return events


@FAST
@given(st.data())
def test_merge_any_order_gives_the_in_order_session(data: st.DataObject) -> None:
    # GIVEN a 2.0.1 transaction's events
    events = data.draw(transactions())
    # AND the same events in any order of arrival
    shuffled = data.draw(st.permutations(events))
    # WHEN merged in order and in that order
    in_order = merge_all(events)
    any_order = merge_all(list(shuffled))
    # THEN the sessions are equal (but for when they were written)
    assert comparable(any_order) == comparable(in_order)
    # AND they say what the transaction said
    first, last = events[0], events[-1]
    start_wh, last_wh = first.readings[0].energy_wh, last.readings[0].energy_wh
    assert start_wh is not None
    assert last_wh is not None
    assert any_order.state is SessionState.ENDED
    assert any_order.started_at == first.timestamp
    assert any_order.stopped_at == last.timestamp
    assert any_order.meter_start == MeterMark(wh=start_wh, at=first.timestamp)
    assert any_order.meter_last == MeterMark(wh=last_wh, at=last.timestamp)
    assert any_order.energy_wh == last_wh - start_wh
    assert any_order.stop_reason is last.stop_reason
    assert (any_order.id_token, any_order.evse, any_order.seq_no) == (
        "CARD-1",
        EVSE,
        len(events) - 1,
    )
    assert any_order.stopped_by is None
    assert any_order.power_w is None
    # AND the charging state is the one of the highest seqNo that set one
    states = [e.charging_state for e in events if e.charging_state is not None]
    assert any_order.charging_state == (states[-1] if states else None)


def test_merge_charging_state_of_a_late_low_seq_no_does_not_undo_a_newer_one() -> None:
    # GIVEN a session whose seqNo 3 said SuspendedEV
    session = merge_all(
        [facts(EventType.UPDATED, 3, seq_no=3, charging_state=ChargingState.SUSPENDED_EV)]
    )
    # WHEN seqNo 2 (Charging) arrives late
    late = merge(
        session, facts(EventType.UPDATED, 2, seq_no=2, charging_state=ChargingState.CHARGING), T0
    )
    # THEN the newer state stands
    assert late.charging_state is ChargingState.SUSPENDED_EV
    assert late.charging_state_seq == 3
    assert late.seq_no == 3


def test_merge_charging_state_without_seq_no_follows_arrival() -> None:
    # GIVEN a 1.6-like session (no seqNo) that said Charging
    session = merge_all([facts(EventType.UPDATED, 1, charging_state=ChargingState.CHARGING)])
    # WHEN a later message says SuspendedEVSE
    after = merge(
        session, facts(EventType.UPDATED, 2, charging_state=ChargingState.SUSPENDED_EVSE), T0
    )
    # THEN the latest arrival wins
    assert after.charging_state is ChargingState.SUSPENDED_EVSE


def test_merge_started_without_meter_values_takes_the_earliest_reading_as_start() -> None:
    # GIVEN a 2.0.1 Started event without meterValue (SampledDataTxStartedMeasurands empty),
    # then Updated and Ended with registers, delivered in order
    events = [
        facts(EventType.STARTED, 0, seq_no=0, evse=EVSE, id_token="CARD-1"),
        facts(EventType.UPDATED, 1, seq_no=1, readings=(reading(1, 1000),)),
        facts(EventType.ENDED, 30, seq_no=2, readings=(reading(30, 5000),)),
    ]
    # WHEN merged in order, and Started last
    in_order = merge_all(events)
    started_last = merge_all([events[1], events[2], events[0]])
    # THEN both start from the earliest register and deliver 4000 Wh
    # (the module docstring: "the start is what a Started event says, else the earliest reading")
    assert started_last.meter_start == MeterMark(wh=Decimal(1000), at=at(1))
    assert started_last.energy_wh == Decimal(4000)
    assert in_order.meter_start == MeterMark(wh=Decimal(1000), at=at(1))
    assert in_order.energy_wh == Decimal(4000)


def test_merge_stop_by_another_token_keeps_the_starting_token_whatever_the_order() -> None:
    # GIVEN a transaction started by CARD-1 and stopped by MASTER (2.0.1 Ended carries the
    # token that stopped it)
    started = facts(EventType.STARTED, 0, seq_no=0, id_token="CARD-1", readings=(reading(0, 100),))
    ended = facts(
        EventType.ENDED,
        10,
        seq_no=1,
        id_token="MASTER",
        stop_reason=StopReason.MASTER_PASS,
        readings=(reading(10, 900),),
    )
    # WHEN merged in order and with the Ended first (an offline queue delivered out of order)
    in_order = merge_all([started, ended])
    ended_first = merge_all([ended, started])
    # THEN in order, CARD-1 owns the session and MASTER stopped it
    assert (in_order.id_token, in_order.stopped_by) == ("CARD-1", "MASTER")
    # AND the arrival order changes nothing
    assert (ended_first.id_token, ended_first.stopped_by) == ("CARD-1", "MASTER")


def test_merge_stop_by_the_same_token_in_other_case_is_not_a_stopper() -> None:
    # GIVEN a session started by card-1
    session = merge_all([facts(EventType.STARTED, 0, id_token="card-1")])
    # WHEN it is ended by CARD-1 (the same CiString)
    ended = merge(session, facts(EventType.ENDED, 5, id_token="CARD-1"), T0)
    # THEN nobody else stopped it
    assert ended.stopped_by is None


def test_merge_missing_facts_are_filled_by_any_event() -> None:
    # GIVEN an Updated event that is the first heard of the transaction, without token or EVSE
    session = merge_all([facts(EventType.UPDATED, 1, seq_no=1, readings=(reading(1, 10),))])
    assert (session.id_token, session.evse, session.remote_start_id) == (None, None, None)
    # WHEN a later event brings token, EVSE, remote start and reservation ids
    filled = merge(
        session,
        facts(
            EventType.UPDATED,
            2,
            seq_no=2,
            evse=EVSE,
            id_token="CARD-1",
            token_type=IdTokenType.ISO14443,
            authorization=ACCEPTED,
            remote_start_id=7,
            reservation_id=3,
        ),
        T0,
    )
    # THEN they are filled in
    assert filled.evse == EVSE
    assert (filled.id_token, filled.token_type) == ("CARD-1", IdTokenType.ISO14443)
    assert filled.authorization == ACCEPTED
    assert (filled.remote_start_id, filled.reservation_id) == (7, 3)
    # AND later, different values do not overwrite them
    again = merge(
        filled,
        facts(
            EventType.UPDATED,
            3,
            seq_no=3,
            evse=EvseRef(evse_id=2, connector_id=1),
            remote_start_id=8,
        ),
        T0,
    )
    assert (again.evse, again.remote_start_id) == (EVSE, 7)


def test_merge_earliest_reading_is_the_start_until_a_started_event_arrives() -> None:
    # GIVEN two Updated events without a Started, the later one first
    session = merge_all(
        [
            facts(EventType.UPDATED, 5, seq_no=2, readings=(reading(5, 500),)),
            facts(EventType.UPDATED, 2, seq_no=1, readings=(reading(2, 200),)),
        ]
    )
    # THEN the earliest reading is the start so far
    assert session.started_at == at(2)
    assert session.meter_start == MeterMark(wh=Decimal(200), at=at(2))
    assert session.meter_last == MeterMark(wh=Decimal(500), at=at(5))
    assert not session.start_known
    # WHEN the Started event arrives
    started = merge(session, facts(EventType.STARTED, 0, seq_no=0, readings=(reading(0, 0),)), T0)
    # THEN it sets the start
    assert started.start_known
    assert started.started_at == at(0)
    assert started.meter_start == MeterMark(wh=Decimal(0), at=at(0))
    assert started.energy_wh == Decimal(500)


def test_merge_1_6_start_uses_meter_start_over_readings() -> None:
    # GIVEN a start that says meterStart 12000 Wh and carries an earlier reading
    start = facts(
        EventType.STARTED,
        0,
        meter_start=MeterMark(wh=Decimal(12000), at=at(0)),
        readings=(reading(-1, 11000),),
    )
    # WHEN merged into an empty session
    session = merge_all([start])
    # THEN the meter start is meterStart, at the start's time
    assert session.meter_start == MeterMark(wh=Decimal(12000), at=at(0))
    assert session.started_at == at(0)
    assert session.start_known


def test_merge_power_and_soc_follow_the_newest_reading() -> None:
    # GIVEN a session with power and SoC at minute 5
    session = merge_all(
        [facts(EventType.UPDATED, 5, seq_no=2, readings=(reading(5, 500, power=7000, soc=40),))]
    )
    # WHEN an older reading with other power arrives late
    late = merge(
        session,
        facts(EventType.UPDATED, 3, seq_no=1, readings=(reading(3, 300, power=3000, soc=30),)),
        T0,
    )
    # THEN the newest power and SoC stand
    assert (late.power_w, late.soc) == (Decimal(7000), Decimal(40))
    # WHEN a newer reading without SoC arrives
    newer = merge(
        late, facts(EventType.UPDATED, 7, seq_no=3, readings=(reading(7, 700, power=6000),)), T0
    )
    # THEN power follows it and the last SoC is kept
    assert (newer.power_w, newer.soc) == (Decimal(6000), Decimal(40))


def test_merge_offline_flag_sticks() -> None:
    # GIVEN an event sent from the offline queue
    session = merge_all([facts(EventType.UPDATED, 1, seq_no=1, offline=True)])
    # WHEN a later online event arrives
    after = merge(session, facts(EventType.UPDATED, 2, seq_no=2), T0)
    # THEN the session stays marked as having had offline data
    assert after.offline


# -- Ended -------------------------------------------------------------------------------------


def test_merge_ended_is_final() -> None:
    # GIVEN an ended session
    session = merge_all(
        [
            facts(EventType.STARTED, 0, id_token="CARD-1", readings=(reading(0, 100),)),
            facts(
                EventType.ENDED,
                10,
                stop_reason=StopReason.EV_DISCONNECTED,
                meter_stop=MeterMark(wh=Decimal(900), at=at(10)),
            ),
        ]
    )
    # WHEN a second Ended arrives (a 1.6 resend, or another stop)
    again = merge(
        session,
        facts(
            EventType.ENDED,
            20,
            id_token="OTHER",
            stop_reason=StopReason.REMOTE,
            meter_stop=MeterMark(wh=Decimal(900), at=at(10)),
        ),
        at(30),
    )
    # THEN nothing of the end changes
    assert comparable(again) == comparable(session)
    assert again.state is SessionState.ENDED
    assert again.stop_reason is StopReason.EV_DISCONNECTED
    assert again.stopped_at == at(10)
    assert again.meter_stop_wh == Decimal(900)
    assert again.energy_wh == Decimal(800)


def test_merge_ended_without_reason_is_local() -> None:
    # GIVEN a 1.6 StopTransaction without reason (the spec's default is Local)
    # WHEN merged
    session = merge_all([facts(EventType.ENDED, 1)])
    # THEN the reason is Local
    assert session.stop_reason is StopReason.LOCAL


def test_merge_ended_clears_power() -> None:
    # GIVEN a charging session at 7 kW
    session = merge_all(
        [facts(EventType.UPDATED, 1, seq_no=1, readings=(reading(1, 100, power=7000),))]
    )
    assert session.power_w == Decimal(7000)
    # WHEN it ends without meter values
    ended = merge(session, facts(EventType.ENDED, 2, seq_no=2), T0)
    # THEN no power is shown for it
    assert ended.power_w is None


def test_abandon_closes_the_session_as_the_cleanup_job() -> None:
    # GIVEN an active session last heard of at minute 10
    session = merge_all(
        [facts(EventType.STARTED, 0, id_token="CARD-1", readings=(reading(0, 100, power=5000),))]
    )
    # WHEN the cleanup job abandons it
    closed = abandon(session, at(3000), at(10))
    # THEN it is ended at the last sign of life, by the cleanup, with an anomaly
    assert closed.state is SessionState.ENDED
    assert closed.stopped_at == at(10)
    assert closed.stop_reason is StopReason.ABANDONED
    assert closed.closed_by_cleanup
    assert closed.power_w is None
    assert closed.updated_at == at(3000)
    [anomaly] = closed.anomalies
    assert anomaly.kind is AnomalyKind.ABANDONED
    assert anomaly.at == at(3000)
    assert closed.anomaly_count == 1


def test_merge_real_stop_replaces_the_cleanup_end() -> None:
    # GIVEN a session closed by the cleanup job
    session = merge_all(
        [facts(EventType.STARTED, 0, id_token="CARD-1", readings=(reading(0, 100),))]
    )
    closed = abandon(session, at(3000), at(0))
    # WHEN the station's real stop arrives
    stopped = merge(
        closed,
        facts(
            EventType.ENDED,
            90,
            stop_reason=StopReason.EV_DISCONNECTED,
            meter_stop=MeterMark(wh=Decimal(5100), at=at(90)),
        ),
        at(3001),
    )
    # THEN the real end replaces the cleanup's
    assert stopped.state is SessionState.ENDED
    assert not stopped.closed_by_cleanup
    assert stopped.stop_reason is StopReason.EV_DISCONNECTED
    assert stopped.stopped_at == at(90)
    assert stopped.meter_stop_wh == Decimal(5100)
    assert stopped.energy_wh == Decimal(5000)
    # AND the anomaly stays for operators to see
    assert [a.kind for a in stopped.anomalies] == [AnomalyKind.ABANDONED]


# -- totals, energy, anomalies -----------------------------------------------------------------


def test_energy_never_negative() -> None:
    # GIVEN a register that went down (meter replaced)
    start = MeterMark(wh=Decimal(5000), at=at(0))
    last = MeterMark(wh=Decimal(100), at=at(10))
    # WHEN / THEN the energy is zero, not a credit
    assert energy_between(start, last) == Decimal(0)
    assert energy_between(None, last) is None
    assert energy_between(start, None) is None
    session = a_session(meter_start=start, meter_last=last)
    assert session.energy_wh == Decimal(0)


def test_session_duration_never_negative() -> None:
    # GIVEN a session stopped before its start (a station clock jump)
    session = a_session(started_at=at(10), stopped_at=at(5))
    # WHEN / THEN its duration is zero
    assert session.duration == timedelta(0)
    # AND an active session's duration runs to its newest register
    running = a_session(started_at=at(0), meter_last=MeterMark(wh=Decimal(1), at=at(7)))
    assert running.duration == timedelta(minutes=7)
    assert a_session().duration is None


def test_session_last_activity_is_the_newest_known_instant() -> None:
    # GIVEN a session written at T0 with a register at minute 30
    session = a_session(started_at=at(-5), meter_last=MeterMark(wh=Decimal(1), at=at(30)))
    # WHEN / THEN its last activity is minute 30
    assert session.last_activity == at(30)
    assert a_session().last_activity == T0


def test_totals_merge_the_newest_chunk_into_an_active_session() -> None:
    # GIVEN an active session whose item knows the start, and a newer chunk
    session = a_session(
        started_at=at(0),
        meter_start=MeterMark(wh=Decimal(1000), at=at(0)),
        meter_last=MeterMark(wh=Decimal(1000), at=at(0)),
        soc=Decimal(20),
    )
    chunk = MeterChunk(session_id=session.id, key="k", readings=(reading(15, 4500, power=11000),))
    # WHEN totals are computed
    live = totals(session, chunk)
    # THEN they run to the chunk's register, with its power and the last SoC
    assert live.energy_wh == Decimal(3500)
    assert live.meter_last == MeterMark(wh=Decimal(4500), at=at(15))
    assert live.power_w == Decimal(11000)
    assert live.soc == Decimal(20)
    assert live.duration == timedelta(minutes=15)


def test_totals_take_a_soc_of_zero_from_the_newest_chunk() -> None:
    # GIVEN an active session at SoC 20 % and a newer chunk reporting SoC 0 %
    session = a_session(
        started_at=at(0),
        meter_start=MeterMark(wh=Decimal(0), at=at(0)),
        meter_last=MeterMark(wh=Decimal(0), at=at(0)),
        soc=Decimal(20),
    )
    chunk = MeterChunk(session_id=session.id, key="k", readings=(reading(5, 10, soc=0),))
    # WHEN totals are computed
    # THEN the newest SoC (0 %) is shown, not the older 20 %
    assert totals(session, chunk).soc == Decimal(0)


def test_totals_ignore_chunks_of_an_ended_session_and_older_chunks() -> None:
    # GIVEN an ended session and a chunk with a later register
    ended = a_session(
        state=SessionState.ENDED,
        started_at=at(0),
        stopped_at=at(10),
        meter_start=MeterMark(wh=Decimal(0), at=at(0)),
        meter_last=MeterMark(wh=Decimal(800), at=at(10)),
    )
    late = MeterChunk(session_id=ended.id, key="k", readings=(reading(20, 9999),))
    # WHEN / THEN the ended session's figures are final
    live = totals(ended, late)
    assert (live.energy_wh, live.duration) == (Decimal(800), timedelta(minutes=10))
    # AND an older chunk does not move an active session's register back
    active = ended.model_copy(update={"state": SessionState.ACTIVE, "stopped_at": None})
    old = MeterChunk(session_id=ended.id, key="k", readings=(reading(5, 400),))
    assert totals(active, old).meter_last == MeterMark(wh=Decimal(800), at=at(10))
    assert totals(active, None).energy_wh == Decimal(800)


def test_decreasing_register_is_an_anomaly() -> None:
    # GIVEN a previous register of 5000 Wh at minute 10
    previous = MeterMark(wh=Decimal(5000), at=at(10))
    lower = MeterChunk(session_id="s", key="k", readings=(reading(11, 4000), reading(12, 4100)))
    # WHEN a later chunk starts lower
    found = decreasing(previous, lower)
    # THEN it is a DecreasingEnergy anomaly at the chunk's first register
    assert found is not None
    assert found.kind is AnomalyKind.DECREASING_ENERGY
    assert found.at == at(11)
    assert "4000" in found.detail
    assert "5000" in found.detail


@pytest.mark.parametrize(
    "chunk_readings",
    [
        (reading(11, 5000),),  # equal: not decreasing
        (reading(11, 6000),),  # growing
        (reading(9, 4000),),  # older reading delivered late: not comparable
        (),  # no register
    ],
    ids=["equal", "growing", "older", "empty"],
)
def test_decreasing_register_not_flagged_otherwise(chunk_readings: tuple[Reading, ...]) -> None:
    # GIVEN a previous register and a chunk that does not go below it later on
    previous = MeterMark(wh=Decimal(5000), at=at(10))
    chunk = MeterChunk(session_id="s", key="k", readings=chunk_readings)
    # WHEN / THEN nothing is flagged
    assert decreasing(previous, chunk) is None
    assert decreasing(None, chunk) is None


def test_consistency_stop_before_start() -> None:
    # GIVEN a session started at minute 10 and a stop at minute 5
    before = merge_all(
        [facts(EventType.STARTED, 10, meter_start=MeterMark(wh=Decimal(0), at=at(10)))]
    )
    after = merge(before, facts(EventType.ENDED, 5), T0)
    # WHEN checked
    found = consistency_anomalies(before, after)
    # THEN StopBeforeStart is found, once: not again on a later merge
    assert [a.kind for a in found] == [AnomalyKind.STOP_BEFORE_START]
    assert found[0].at == at(5)
    assert consistency_anomalies(after, after) == []


def test_consistency_meter_stop_below_start() -> None:
    # GIVEN a session started at 5000 Wh and stopped at meterStop 4000 Wh
    before = merge_all(
        [facts(EventType.STARTED, 0, meter_start=MeterMark(wh=Decimal(5000), at=at(0)))]
    )
    after = merge(
        before, facts(EventType.ENDED, 10, meter_stop=MeterMark(wh=Decimal(4000), at=at(10))), T0
    )
    # WHEN checked
    found = consistency_anomalies(before, after)
    # THEN MeterStopBelowStart is found, and the energy is 0, not negative
    assert [a.kind for a in found] == [AnomalyKind.METER_STOP_BELOW_START]
    assert after.energy_wh == Decimal(0)
    # AND a consistent stop finds nothing, also for a session first heard of by its stop
    fine = merge(
        before, facts(EventType.ENDED, 10, meter_stop=MeterMark(wh=Decimal(6000), at=at(10))), T0
    )
    assert consistency_anomalies(before, fine) == []
    assert consistency_anomalies(None, merge_all([facts(EventType.ENDED, 1)])) == []


def test_noting_keeps_the_first_anomalies_and_counts_all() -> None:
    # GIVEN a session and more anomalies than it keeps
    found = [
        Anomaly(kind=AnomalyKind.BAD_UNIT, at=at(n), detail=f"n={n}")
        for n in range(MAX_ANOMALIES + 5)
    ]
    # WHEN they are noted in two batches
    session = a_session().noting(*found[:3]).noting(*found[3:])
    # THEN the first MAX_ANOMALIES are kept in full and every one is counted
    assert session.anomalies == tuple(found[:MAX_ANOMALIES])
    assert session.anomaly_count == MAX_ANOMALIES + 5
    # AND noting nothing changes nothing
    assert a_session().noting() == a_session()
