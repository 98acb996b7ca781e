"""The parts of the station simulator: simulated clock, chaos, charging plan, meter, queue."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from csms_local.sim.chaos import Chaos, ChaosConfig, ChaosConnection, Drop
from csms_local.sim.clock import ScaledClock, wire_time
from csms_local.sim.sessions import (
    ChargingPlan,
    EnergyMeter,
    MeterSample,
    SessionRecord,
    TokenPool,
    Transaction,
    TransactionQueue,
    TxKind,
    TxMessage,
    initial_register,
)

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


# --- simulated clock ---------------------------------------------------------------------------


class FakeMonotonic:
    def __init__(self) -> None:
        self.value = 100.0

    def __call__(self) -> float:
        return self.value


def test_scaled_clock_runs_speed_times_faster_than_real_time() -> None:
    # GIVEN a clock at 60x that started at T0
    real = FakeMonotonic()
    clock = ScaledClock(60.0, start=T0, monotonic=real)

    # WHEN two real seconds pass
    real.value += 2.0

    # THEN two simulated minutes have passed
    assert clock.now() == T0 + timedelta(minutes=2)
    assert clock.speed == 60.0


def test_scaled_clock_starts_at_the_real_time_now() -> None:
    # GIVEN / WHEN a clock without a start
    before = datetime.now(UTC)
    clock = ScaledClock(1000.0)

    # THEN it starts at the real time, in UTC
    assert before <= clock.now() < before + timedelta(seconds=60)
    assert clock.now().tzinfo is UTC


async def test_scaled_clock_sleeps_the_real_time_that_makes_the_simulated_time_pass() -> None:
    # GIVEN a clock at 1000x
    clock = ScaledClock(1000.0, start=T0)
    loop = asyncio.get_running_loop()
    started = loop.time()

    # WHEN it sleeps until 20 simulated seconds later, then until a moment already past
    await clock.sleep_until(T0 + timedelta(seconds=20))
    await clock.sleep_until(T0)

    # THEN it slept about 20 ms, and the simulated time has reached the target
    assert 0.015 <= loop.time() - started < 1.0
    assert clock.now() >= T0 + timedelta(seconds=19.9)


@pytest.mark.parametrize("speed", [0.0, -1.0, float("inf"), float("nan")])
def test_scaled_clock_refuses_a_speed_that_is_not_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(speed)


def test_scaled_clock_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone"):
        ScaledClock(1.0, start=datetime(2025, 1, 1))  # noqa: DTZ001


def test_wire_time_is_utc_with_milliseconds_and_z() -> None:
    # GIVEN a moment in another time zone
    moment = datetime(2025, 3, 1, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))

    # WHEN / THEN it goes on the wire in UTC
    assert wire_time(moment) == "2025-03-01T08:00:00.123Z"


# --- chaos -------------------------------------------------------------------------------------


def test_chaos_decisions_repeat_with_the_same_seed_and_differ_between_stations() -> None:
    # GIVEN two chaos generators with the same seed and station, and one for another station
    config = ChaosConfig(seed=7, drop_before_send=0.3, drop_after_send=0.3)
    first, again, other = Chaos(config, "CP-1"), Chaos(config, "CP-1"), Chaos(config, "CP-2")

    # WHEN each draws a series of decisions
    def series(chaos: Chaos) -> list[Any]:
        return [(chaos.drop(), chaos.retransmit(), chaos.swap()) for _ in range(50)]

    # THEN the same seed replays the same run, another station gets another one
    decisions = series(first)
    assert decisions == series(again)
    assert decisions != series(other)
    drops = {drop for drop, _, _ in decisions}
    assert drops == {None, Drop.BEFORE_SEND, Drop.AFTER_SEND}


def test_chaos_with_zero_probabilities_does_nothing() -> None:
    chaos = Chaos(ChaosConfig(drop_before_send=0, drop_after_send=0, retransmit=0, swap=0), "X")
    assert not any((chaos.drop(), chaos.retransmit(), chaos.swap()) != (None, False, False)
                   for _ in range(100))  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"retransmit": 1.5}, "retransmit must be between 0 and 1"),
        ({"swap": -0.1}, "swap must be between 0 and 1"),
        ({"drop_before_send": 0.6, "drop_after_send": 0.6}, "must not exceed 1"),
    ],
)
def test_chaos_config_refuses_impossible_probabilities(
    overrides: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ChaosConfig(**overrides)  # type: ignore[arg-type]


class RecordingSocket:
    subprotocol = "ocpp1.6"

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed = False

    async def recv(self) -> str:
        return '[3,"x",{}]'

    async def send(self, message: str) -> None:
        self.sent.append(message)

    async def close(self) -> None:
        self.closed = True


async def test_chaos_connection_drops_before_a_call_leaves() -> None:
    # GIVEN a connection whose chaos always drops before sending
    inner = RecordingSocket()
    chaos = Chaos(ChaosConfig(drop_before_send=1.0, drop_after_send=0.0), "CP-1")
    connection = ChaosConnection(inner, chaos)

    # WHEN a call is sent
    with pytest.raises(ConnectionError, match="chaos"):
        await connection.send('[2,"1","Heartbeat",{}]')

    # THEN it never left, and the connection is closed
    assert inner.sent == []
    assert inner.closed
    assert chaos.counts.drops == 1


async def test_chaos_connection_drops_right_after_a_call_left() -> None:
    # GIVEN a connection whose chaos always drops after sending
    inner = RecordingSocket()
    chaos = Chaos(ChaosConfig(drop_before_send=0.0, drop_after_send=1.0), "CP-1")
    connection = ChaosConnection(inner, chaos)

    # WHEN a call is sent
    await connection.send('[2,"1","Heartbeat",{}]')

    # THEN it left, and then the connection closed (its answer is lost)
    assert inner.sent == ['[2,"1","Heartbeat",{}]']
    assert inner.closed


async def test_chaos_connection_never_drops_around_answers_or_garbage() -> None:
    # GIVEN a connection whose chaos would always drop around a call
    inner = RecordingSocket()
    config = ChaosConfig(drop_before_send=1.0, drop_after_send=0.0)
    connection = ChaosConnection(inner, Chaos(config, "CP-1"))

    # WHEN answers (and something that is not JSON) are sent, and a message received
    await connection.send('[3,"1",{}]')
    await connection.send("not json")
    received = await connection.recv()
    await connection.close()

    # THEN they all passed through; only the explicit close closed it
    assert inner.sent == ['[3,"1",{}]', "not json"]
    assert received == '[3,"x",{}]'
    assert connection.subprotocol == "ocpp1.6"
    assert inner.closed


# --- charging plan, meter, tokens, queue --------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sessions": -1}, "sessions must be 0 or more"),
        ({"sessions": 1}, "at least one id token"),
        ({"id_tokens": ("",)}, "1 to 20 characters"),
        ({"meter_interval": 0.0}, "meter_interval must be a positive number"),
        ({"session_length": float("nan")}, "session_length must be a positive number"),
        ({"power_kw": -7.4}, "power_kw must be a positive number"),
        ({"pause": -1.0}, "pause must be 0 or more"),
    ],
)
def test_charging_plan_refuses_what_no_station_could_follow(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ChargingPlan(**overrides)


def test_charging_plan_spreads_sessions_round_robin_over_connectors() -> None:
    # GIVEN / WHEN five sessions on two connectors / THEN they alternate, starting on 1
    plan = ChargingPlan(sessions=5, id_tokens=("A",))
    assert plan.sessions_of(2) == {1: [1, 3, 5], 2: [2, 4]}
    assert plan.sessions_of(8) == {n: [n] for n in range(1, 6)}
    assert ChargingPlan().sessions_of(2) == {}


def test_energy_meter_counts_whole_wh_and_never_goes_back() -> None:
    # GIVEN a register at 1000 Wh
    meter = EnergyMeter(1000)

    # WHEN 7.4 kW flows for 30 s, then nothing, then a negative power is offered
    meter.run(7400.0, 30.0)
    first = meter.register_wh
    meter.run(0.0, 600.0)
    meter.run(-5000.0, 60.0)
    meter.run(7400.0, -1.0)

    # THEN the register shows whole Wh of power x time, and never decreases
    assert first == 1000 + int(7400 * 30 / 3600)
    assert meter.register_wh == first
    # AND the fraction is kept: two half-intervals make the same energy as one interval
    meter.run(7400.0, 15.0)
    meter.run(7400.0, 15.0)
    assert meter.register_wh == 1000 + int(7400 * 60 / 3600)


def test_energy_meter_refuses_a_negative_start() -> None:
    with pytest.raises(ValueError, match="0 Wh or more"):
        EnergyMeter(-1)


def test_initial_register_is_stable_and_differs_between_connectors() -> None:
    assert initial_register("CP-1", 1) == initial_register("CP-1", 1)
    assert initial_register("CP-1", 1) != initial_register("CP-1", 2)


async def test_token_pool_hands_out_free_tokens_in_turn_and_waits_when_all_are_busy() -> None:
    # GIVEN a pool of two tokens (given with a duplicate)
    pool = TokenPool(["A", "B", "A"])

    # WHEN both are taken and a third driver arrives
    assert await pool.acquire("driver-1") == "A"
    assert await pool.acquire("driver-2") == "B"
    waiting = asyncio.create_task(pool.acquire("driver-3"))
    await asyncio.sleep(0.01)

    # THEN the third waits until one is released, and gets that one
    assert not waiting.done()
    pool.release("B", "driver-2")
    assert await asyncio.wait_for(waiting, 1.0) == "B"
    # AND a late release by the driver who held it before frees nothing
    pool.release("B", "driver-2")
    again = asyncio.create_task(pool.acquire("driver-4"))
    await asyncio.sleep(0.01)
    assert not again.done()
    pool.release("A", "driver-1")
    assert await asyncio.wait_for(again, 1.0) == "A"


async def test_token_pool_without_tokens_refuses() -> None:
    with pytest.raises(ValueError, match="no id tokens"):
        await TokenPool([]).acquire("driver")


def a_message(kind: TxKind = TxKind.UPDATE) -> TxMessage:
    sample = MeterSample(T0, 1000, 7400.0, 230.0, 10.7)
    transaction = Transaction(
        station_id="CP-1",
        protocol="ocpp1.6",
        connector=1,
        id_token="A",
        session_number=1,
        authorize_status="Accepted",
        begin=sample,
    )
    return TxMessage(kind, transaction, sample, transaction.next_seq_no(), offline=False)


async def test_transaction_queue_keeps_order_and_waits_for_a_message() -> None:
    # GIVEN an empty queue with a reader waiting
    queue = TransactionQueue()
    waiting = asyncio.create_task(queue.wait_not_empty())
    await asyncio.sleep(0)
    assert not waiting.done()

    # WHEN three messages are queued and the second is answered first
    first, second, third = a_message(TxKind.START), a_message(), a_message(TxKind.END)
    for message in (first, second, third):
        queue.put(message)
    await asyncio.wait_for(waiting, 1.0)
    queue.remove(second)

    # THEN the others keep their order
    assert queue.first(5) == [first, third]
    assert len(queue) == 2
    assert first.unique_id != second.unique_id


def test_transaction_seq_nos_count_from_zero() -> None:
    transaction = a_message().transaction
    assert [transaction.next_seq_no() for _ in range(3)] == [1, 2, 3]


def test_session_record_json_has_wire_timestamps() -> None:
    record = SessionRecord(
        station_id="CP-1",
        protocol="ocpp2.0.1",
        transaction_id="tx-1",
        evse_id=1,
        connector_id=1,
        id_token="A",
        authorization_status="Accepted",
        meter_start_wh=10,
        meter_stop_wh=30,
        energy_wh=20,
        started_at=T0,
        stopped_at=T0 + timedelta(minutes=1),
        stop_reason="Local",
        meter_values=0,
    )
    document = record.to_json()
    assert document["started_at"] == "2025-03-01T08:00:00.000Z"
    assert document["stopped_at"] == "2025-03-01T08:01:00.000Z"
    assert document["energy_wh"] == 20
    assert set(document) == set(SessionRecord.__dataclass_fields__)
