"""Simulated stations honour the charging profiles they receive, as a real charger does.

A station of either version charges at what its vehicle wants, limited by the composite
schedule of its profiles; below 6 A it pauses (SuspendedEVSE) and resumes when the limit rises;
a full battery stops drawing (SuspendedEV); the meter values carry the real draw. The sessions
run on a clock the test moves by hand, so each profile arrives at a known simulated moment.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from ocpp.messages import MessageType, get_validator
from tests.unit.local.fake_sockets import FakeSocket, socket_pair
from tests.unit.local.test_sim_sessions import FAST, T0, URL, eventually, parse

# Imported here rather than by the first station: the ocpp package is slow to import.
import csms_local.sim.charge_points  # noqa: F401
from csms_local.sim.sessions import ChargingPlan
from csms_local.simulator import (
    ProfileMode,
    SimulatedStation,
    StationReport,
    run_simulate,
    run_station,
)

Frame = list[Any]
V16, V201 = "ocpp1.6", "ocpp2.0.1"
BOTH = pytest.mark.parametrize("protocol", [V16, V201])


# --- a clock the test moves ----------------------------------------------------------------------


class ManualClock:
    """Simulated time that moves only when the test advances it, waking sleepers in order."""

    def __init__(self, start: datetime = T0) -> None:
        self.current = start
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self.current

    async def sleep_until(self, when: datetime) -> None:
        if when <= self.current:
            await asyncio.sleep(0)
            return
        entry = (when, asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        try:
            await entry[1]
        finally:
            self._sleepers.remove(entry)

    async def advance(self, seconds: float) -> None:
        """Move time on, stopping at every moment a sleeper waits for (a small event loop)."""
        target = self.current + timedelta(seconds=seconds)
        while True:
            await settle()
            pending = [when for when, future in self._sleepers if not future.done()]
            if not pending or min(pending) > target:
                break
            self.current = max(self.current, min(pending))
            for when, future in self._sleepers:
                if when <= self.current and not future.done():
                    future.set_result(None)
        self.current = target
        await settle()


async def settle() -> None:
    """Let the station and the CSMS exchange what they have to say."""
    for _ in range(3):
        await asyncio.sleep(0.005)


# --- a CSMS that answers and can call ------------------------------------------------------------


@dataclass
class ProfileCsms:
    """Answers every station call validly (checked against the schemas) and sends commands."""

    received: list[Frame] = field(default_factory=list)
    sockets: list[FakeSocket] = field(default_factory=list)
    protocol: str = ""
    _replies: dict[str, asyncio.Future[Frame]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _tx_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def connect(
        self, uri: str, *, subprotocols: Sequence[str], headers: Mapping[str, str]
    ) -> FakeSocket:
        del uri, headers
        self.protocol = subprotocols[0]
        station_end, csms_end = socket_pair(self.protocol)
        self.sockets.append(csms_end)
        task = asyncio.create_task(self._serve(csms_end))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return station_end

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        unique_id = f"csms-{next(self._ids)}"
        reply: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._replies[unique_id] = reply
        await self.sockets[-1].send(json.dumps([2, unique_id, action, payload]))
        frame = await asyncio.wait_for(reply, 1.0)
        answer: dict[str, Any] = frame[2]
        self._validate(MessageType.CallResult, action, answer)
        return answer

    def _validate(self, kind: MessageType, action: str, payload: dict[str, Any]) -> None:
        # The schemas' multipleOf needs decimals, as the ocpp package parses them.
        exact = json.loads(json.dumps(payload), parse_float=Decimal)
        get_validator(kind, action, self._version).validate(exact)

    @property
    def _version(self) -> str:
        return self.protocol.removeprefix("ocpp")

    def calls(self, action: str) -> list[dict[str, Any]]:
        return [f[3] for f in self.received if f[0] == 2 and f[2] == action]

    def readings(self) -> list[tuple[str, float, float, str | None]]:
        """(timestamp, W, Wh, 2.0.1 chargingState) of every full reading sent in a transaction."""
        found: list[tuple[str, float, float, str | None]] = []
        values: list[tuple[dict[str, Any], str | None]]
        if self.protocol == V16:
            values = [(v["meterValue"][0], None) for v in self.calls("MeterValues")]
        else:
            values = [
                (e["meterValue"][0], e["transactionInfo"].get("chargingState"))
                for e in self.calls("TransactionEvent")
                if e["eventType"] == "Updated"
            ]
        for meter_value, state in values:
            sampled = {s.get("measurand"): float(s["value"]) for s in meter_value["sampledValue"]}
            if "Power.Active.Import" in sampled:
                found.append(
                    (
                        meter_value["timestamp"],
                        sampled["Power.Active.Import"],
                        sampled["Energy.Active.Import.Register"],
                        state,
                    )
                )
        return found

    def statuses(self) -> list[str]:
        return [c["status"] for c in self.calls("StatusNotification") if c.get("connectorId")]

    def transaction_id(self) -> int | str:
        if self.protocol == V16:
            return 1000
        started = self.calls("TransactionEvent")[0]
        transaction_id: str = started["transactionInfo"]["transactionId"]
        return transaction_id

    async def _serve(self, socket: FakeSocket) -> None:
        while True:
            try:
                frame: Frame = json.loads(await socket.recv())
            except ConnectionError:
                return
            self.received.append(frame)
            if frame[0] != 2:
                if frame[1] in self._replies:
                    self._replies.pop(frame[1]).set_result(frame)
                continue
            _, unique_id, action, payload = frame
            self._validate(MessageType.Call, action, payload)
            answer = self._answer(action, payload)
            self._validate(MessageType.CallResult, action, answer)
            await socket.send(json.dumps([3, unique_id, answer]))

    def _answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        now = "2025-03-01T08:00:00Z"
        if action == "BootNotification":
            return {"currentTime": now, "interval": 300, "status": "Accepted"}
        if action == "Heartbeat":
            return {"currentTime": now}
        if action == "Authorize":
            key = "idTagInfo" if "idTag" in payload else "idTokenInfo"
            return {key: {"status": "Accepted"}}
        if action == "StartTransaction":
            return {"transactionId": next(self._tx_ids), "idTagInfo": {"status": "Accepted"}}
        return {}


# --- helpers -------------------------------------------------------------------------------------


@dataclass
class Station:
    csms: ProfileCsms
    clock: ManualClock
    stop: asyncio.Event
    task: asyncio.Task[StationReport]
    events: list[str]

    async def finish(self) -> StationReport:
        self.stop.set()
        return await asyncio.wait_for(self.task, 2.0)


async def charging(
    protocol: str,
    *,
    connectors: int = 1,
    sessions: int = 1,
    mode: ProfileMode = ProfileMode.HONOUR,
    energy_kwh: float | None = None,
    before: Callable[[ProfileCsms], Any] | None = None,
) -> Station:
    """A booted station whose sessions (11 kW vehicles, an hour, readings every minute) started."""
    csms, clock, stop = ProfileCsms(), ManualClock(), asyncio.Event()
    events: list[str] = []
    station = SimulatedStation(
        station_id="CP-1", password="pw", protocol=protocol, connectors=connectors, profiles=mode
    )
    plan = ChargingPlan(
        sessions=sessions,
        id_tokens=tuple(f"TOKEN-{n}" for n in range(sessions)),
        meter_interval=60,
        session_length=3600,
        power_kw=11,
        energy_kwh=energy_kwh,
    )
    task = asyncio.create_task(
        run_station(
            URL,
            station,
            stop=stop,
            connect=csms.connect,
            timing=FAST,
            heartbeat_interval=60,
            plan=plan,
            clock=clock,
            on_event=events.append,
        )
    )
    await eventually(lambda: bool(csms.sockets) and bool(csms.calls("StatusNotification")))
    if before is not None:
        await before(csms)
    started = "StartTransaction" if protocol == V16 else "TransactionEvent"
    await eventually(lambda: len(csms.calls(started)) >= sessions)
    await settle()
    return Station(csms, clock, stop, task, events)


def tx_profile(
    protocol: str,
    transaction_id: int | str | None,
    limit: float,
    *,
    unit: str = "A",
    profile_id: int = 1,
    purpose: str = "TxProfile",
    target: int = 1,
    periods: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A SetChargingProfile request of the version: one period from 0 unless `periods`."""
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": periods or [{"startPeriod": 0, "limit": limit}],
    }
    profile: dict[str, Any] = {
        "stackLevel": 1,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative" if purpose == "TxProfile" else "Absolute",
    }
    if purpose != "TxProfile":
        schedule["startSchedule"] = "2025-03-01T08:00:00Z"
    if transaction_id is not None:
        profile["transactionId"] = transaction_id
    if protocol == V16:
        return {
            "connectorId": target,
            "csChargingProfiles": {
                "chargingProfileId": profile_id,
                **profile,
                "chargingSchedule": schedule,
            },
        }
    return {
        "evseId": target,
        "chargingProfile": {
            "id": profile_id,
            **profile,
            "chargingSchedule": [{"id": 1, **schedule}],
        },
    }


def last_power(csms: ProfileCsms) -> float:
    return csms.readings()[-1][1]


def meter_start(csms: ProfileCsms) -> float:
    """The register at the start of the (first) transaction."""
    if csms.protocol == V16:
        return float(csms.calls("StartTransaction")[0]["meterStart"])
    started = next(e for e in csms.calls("TransactionEvent") if e["eventType"] == "Started")
    return float(started["meterValue"][0]["sampledValue"][0]["value"])


# --- the draw follows the profiles -------------------------------------------------------------


@BOTH
async def test_sim_power_tx_profile_limits_the_draw_and_the_energy(protocol: str) -> None:
    # GIVEN an 11 kW vehicle charging
    station = await charging(protocol)
    csms, clock = station.csms, station.clock
    await clock.advance(60)
    free = last_power(csms)
    # WHEN the CSMS limits its transaction to 10 A (6.9 kW) and ten minutes pass
    answer = await csms.call("SetChargingProfile", tx_profile(protocol, csms.transaction_id(), 10))
    await clock.advance(600)
    report = await station.finish()
    # THEN the station accepted, and the readings since show 6.9 kW at most
    assert answer == {"status": "Accepted"}
    assert 10_600 <= free <= 11_400
    limited = csms.readings()[-10:]
    assert all(power == 6900.0 for _, power, _, _ in limited)
    # AND the energy register grew by exactly that power over those ten minutes (to the Wh)
    energy = [wh for _, _, wh, _ in csms.readings()]
    assert energy[-1] - energy[-11] == pytest.approx(6900 * 10 / 60, abs=1)
    assert report.error is None


@BOTH
async def test_sim_power_below_six_amperes_pauses_and_resumes(protocol: str) -> None:
    # GIVEN an 11 kW vehicle charging
    station = await charging(protocol)
    csms, clock = station.csms, station.clock
    await clock.advance(60)
    tx = csms.transaction_id()
    # WHEN the CSMS limits it to 0 A for two minutes, then to 16 A
    await csms.call("SetChargingProfile", tx_profile(protocol, tx, 0))
    await clock.advance(30)
    paused_at = len(csms.readings())
    await clock.advance(90)
    await csms.call("SetChargingProfile", tx_profile(protocol, tx, 16))
    await clock.advance(60)
    await station.finish()
    # THEN the station paused at once (a reading of 0 W) and reported it in its version
    readings = csms.readings()
    paused = readings[paused_at - 1 : paused_at + 2]
    assert all(power == 0.0 for _, power, _, _ in paused)
    if protocol == V16:
        assert csms.statuses()[-2:] == ["SuspendedEVSE", "Charging"]
        contexts = [
            c["meterValue"][0]["sampledValue"][0]["context"] for c in csms.calls("MeterValues")
        ]
        assert contexts.count("Other") == 2
    else:
        changes = [
            e["transactionInfo"]["chargingState"]
            for e in csms.calls("TransactionEvent")
            if e["triggerReason"] == "ChargingStateChanged"
        ]
        assert changes == ["SuspendedEVSE", "Charging"]
    # AND it resumed at 16 A on three phases when the limit rose
    assert last_power(csms) == pytest.approx(11_040.0, abs=400)
    assert last_power(csms) <= 11_040.0


async def test_sim_power_v16_tx_default_before_the_transaction_applies_to_it() -> None:
    # GIVEN a TxDefaultProfile of 8 A on the whole 1.6 station, set before anyone plugs in
    async def default(csms: ProfileCsms) -> None:
        request = tx_profile(V16, None, 8, purpose="TxDefaultProfile", target=0)
        assert (await csms.call("SetChargingProfile", request))["status"] == "Accepted"

    # WHEN a session starts and runs two minutes
    station = await charging(V16, before=default)
    await station.clock.advance(120)
    await station.finish()
    # THEN it charges at 8 A x 230 V x 3 from the first minute
    assert [power for _, power, _, _ in station.csms.readings()] == [5520.0, 5520.0]


async def test_sim_power_v201_station_maximum_is_shared_by_the_charging_evses() -> None:
    # GIVEN a 2.0.1 station with two EVSEs, both charging 11 kW vehicles
    station = await charging(V201, connectors=2, sessions=2)
    csms, clock = station.csms, station.clock
    # WHEN the CSMS caps the whole station at 11 kW
    cap = tx_profile(V201, None, 11_000, unit="W", purpose="ChargingStationMaxProfile", target=0)
    assert (await csms.call("SetChargingProfile", cap))["status"] == "Accepted"
    await clock.advance(60)
    await station.finish()
    # THEN each EVSE draws half of it
    last_two = [power for _, power, _, _ in csms.readings()[-2:]]
    assert last_two == [5500.0, 5500.0]


@BOTH
async def test_sim_power_full_battery_stops_drawing(protocol: str) -> None:
    # GIVEN an 11 kW vehicle that needs 1 kWh
    station = await charging(protocol, energy_kwh=1.0)
    csms = station.csms
    # WHEN ten minutes pass
    await station.clock.advance(600)
    await station.finish()
    # THEN it took 1 kWh (to the Wh) and then drew nothing, reported SuspendedEV
    assert csms.readings()[-1][2] - meter_start(csms) == pytest.approx(1000, abs=1)
    assert last_power(csms) == 0.0
    if protocol == V16:
        assert csms.statuses()[-1] == "SuspendedEV"
    else:
        assert csms.readings()[-1][3] == "SuspendedEV"


@pytest.mark.parametrize(
    ("mode", "status"), [(ProfileMode.IGNORE, "Accepted"), (ProfileMode.REJECT, "Rejected")]
)
async def test_sim_power_a_station_that_ignores_profiles_draws_its_most(
    mode: ProfileMode, status: str
) -> None:
    # GIVEN a 2.0.1 station that ignores (or rejects) profiles, charging an 11 kW vehicle
    station = await charging(V201, mode=mode)
    csms = station.csms
    # WHEN the CSMS limits the transaction to 6 A
    answer = await csms.call("SetChargingProfile", tx_profile(V201, csms.transaction_id(), 6))
    await station.clock.advance(120)
    await station.finish()
    # THEN it answers as configured and keeps drawing about 11 kW
    assert answer["status"] == status
    assert last_power(csms) > 10_000


@BOTH
async def test_sim_power_tx_profile_without_a_transaction_is_rejected(protocol: str) -> None:
    # GIVEN a station whose only session is running on connector 1 (of 2)
    station = await charging(protocol, connectors=2)
    csms = station.csms
    # WHEN the CSMS sends a TxProfile to connector 2, and one for another transaction
    idle = await csms.call("SetChargingProfile", tx_profile(protocol, None, 10, target=2))
    other = 999 if protocol == V16 else "other-transaction"
    wrong = await csms.call("SetChargingProfile", tx_profile(protocol, other, 10))
    await station.finish()
    # THEN both are rejected, as a real station does
    assert (idle["status"], wrong["status"]) == ("Rejected", "Rejected")


@BOTH
async def test_sim_power_composite_schedule_reports_the_profiles(protocol: str) -> None:
    # GIVEN a transaction limited to 10 A for 10 minutes, then 6 A
    station = await charging(protocol)
    csms = station.csms
    periods = [{"startPeriod": 0, "limit": 10}, {"startPeriod": 600, "limit": 6}]
    request = tx_profile(protocol, csms.transaction_id(), 0, periods=periods)
    await csms.call("SetChargingProfile", request)
    # WHEN the CSMS asks for the composite schedule of the next hour, in A and in W
    target = {"connectorId": 1} if protocol == V16 else {"evseId": 1}
    amperes = await csms.call("GetCompositeSchedule", {**target, "duration": 3600})
    watts = await csms.call(
        "GetCompositeSchedule", {**target, "duration": 300, "chargingRateUnit": "W"}
    )
    station_wide = await csms.call(
        "GetCompositeSchedule",
        {**({"connectorId": 0} if protocol == V16 else {"evseId": 0}), "duration": 60},
    )
    await station.finish()
    # THEN the schedule lists the two periods (in W only the first fits the window)
    key = "chargingSchedule" if protocol == V16 else "schedule"
    assert amperes[key]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 10.0},
        {"startPeriod": 600, "limit": 6.0},
    ]
    assert watts[key]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 6900.0}]
    # AND the station as a whole has no maximum: its own ceiling
    assert station_wide[key]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 32.0}]


@BOTH
async def test_sim_power_tx_profile_ends_with_its_transaction(protocol: str) -> None:
    # GIVEN a transaction limited to 10 A
    station = await charging(protocol)
    csms = station.csms
    await csms.call("SetChargingProfile", tx_profile(protocol, csms.transaction_id(), 10))
    # WHEN the session ends (an hour) and the CSMS clears the TxProfile afterwards
    await station.clock.advance(3700)
    cleared = await csms.call(
        "ClearChargingProfile", {"id": 1} if protocol == V16 else {"chargingProfileId": 1}
    )
    await station.finish()
    # THEN nothing was left to clear: the profile went with its transaction
    assert cleared["status"] == "Unknown"
    assert any("TxProfile" in line for line in station.events)


async def test_sim_power_clearing_a_profile_lifts_the_limit_at_once() -> None:
    # GIVEN a 1.6 transaction limited to 10 A
    station = await charging(V16)
    csms, clock = station.csms, station.clock
    await csms.call("SetChargingProfile", tx_profile(V16, 1000, 10))
    await clock.advance(60)
    # WHEN the CSMS clears it
    cleared = await csms.call("ClearChargingProfile", {"id": 1})
    await clock.advance(60)
    await station.finish()
    # THEN the vehicle draws its most again
    assert cleared["status"] == "Accepted"
    powers = [power for _, power, _, _ in csms.readings()]
    assert powers[0] == 6900.0
    assert powers[-1] > 10_000


async def test_sim_power_a_period_change_takes_effect_within_the_interval() -> None:
    # GIVEN a 2.0.1 transaction limited to 10 A for 30 s, then 8 A
    station = await charging(V201)
    csms, clock = station.csms, station.clock
    periods = [{"startPeriod": 0, "limit": 10}, {"startPeriod": 30, "limit": 8}]
    await csms.call(
        "SetChargingProfile", tx_profile(V201, csms.transaction_id(), 0, periods=periods)
    )
    # WHEN one meter interval (60 s) passes
    await clock.advance(60)
    await station.finish()
    # THEN the energy counts 30 s at each power; the reading shows the second
    ((_, power, end, _),) = csms.readings()
    assert power == 5520.0
    expected = (6900 * 30 + 5520 * 30) / 3600
    assert end - meter_start(csms) == pytest.approx(expected, abs=1)


# --- the command line ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--profiles", "obey"], "--profiles must be one of honour, ignore, reject"),
        (["--energy-kwh", "0"], "--energy-kwh must be a positive number"),
        (["--energy-kwh", "lots"], "--energy-kwh must be a number"),
    ],
)
def test_run_simulate_wrong_power_options_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    # GIVEN a wrong --profiles or --energy-kwh
    args = parse("--station-id", "CP-1", "--password", "pw", *argv)
    # WHEN the command runs
    code = run_simulate(args)
    # THEN it exits 2 with one line that says what is wrong
    _, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("csms simulate: error: ")
    assert err.count("\n") == 1
    assert message in err


@pytest.mark.parametrize(("mode", "status"), [("reject", "Rejected"), ("IGNORE", "Accepted")])
def test_run_simulate_profiles_option_sets_what_stations_answer(mode: str, status: str) -> None:
    # GIVEN a CSMS that sets a station-wide TxDefaultProfile once the station reported
    answers: list[str] = []

    class Csms(ProfileCsms):
        async def connect(
            self, uri: str, *, subprotocols: Sequence[str], headers: Mapping[str, str]
        ) -> FakeSocket:
            socket = await super().connect(uri, subprotocols=subprotocols, headers=headers)

            async def set_default() -> None:
                await eventually(lambda: bool(self.calls("StatusNotification")))
                request = tx_profile(V16, None, 8, purpose="TxDefaultProfile", target=0)
                answers.append((await self.call("SetChargingProfile", request))["status"])

            task = asyncio.create_task(set_default())
            self._tasks.add(task)
            return socket

    csms = Csms()
    args = parse(
        "--station-id", "CP-1", "--password", "pw", "--protocol", "ocpp1.6",
        "--profiles", mode, "--duration", "0.3",
    )  # fmt: skip
    # WHEN the command runs with --profiles
    code = run_simulate(args, connect=csms.connect, timing=FAST)
    # THEN the station answered the profile as the option says
    assert code == 0
    assert answers == [status]


@BOTH
async def test_sim_power_a_malformed_profile_is_rejected(protocol: str) -> None:
    # GIVEN a charging station
    station = await charging(protocol)
    csms = station.csms
    # WHEN the CSMS sends a schedule whose first period does not start at 0
    periods = [{"startPeriod": 60, "limit": 10}]
    request = tx_profile(protocol, csms.transaction_id(), 0, periods=periods)
    answer = await csms.call("SetChargingProfile", request)
    await station.clock.advance(60)
    await station.finish()
    # THEN it is rejected and the vehicle goes on at its own power
    assert answer["status"] == "Rejected"
    assert last_power(csms) > 10_000


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"phases": 2}, "1 or 3 phases"), ({"voltage": 50.0}, "between 100 and 1000 V")],
)
def test_simulated_station_refuses_impossible_wiring(
    overrides: dict[str, Any], message: str
) -> None:
    # GIVEN / WHEN a station with two phases, or 50 V / THEN it is refused
    with pytest.raises(ValueError, match=message):
        SimulatedStation(station_id="CP-1", password="pw", **overrides)


def test_charging_plan_refuses_an_energy_that_is_not_positive() -> None:
    # GIVEN / WHEN a plan whose vehicles need no energy / THEN it is refused
    with pytest.raises(ValueError, match="energy_kwh must be a positive number"):
        ChargingPlan(energy_kwh=0.0)
