"""Charging sessions of simulated stations against an in-memory CSMS that keeps a ledger."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp.messages import MessageType, get_validator
from tests.unit.local.fake_sockets import FakeSocket, socket_pair

# Imported here rather than by the first station: the ocpp package is slow to import.
import csms_local.sim.charge_points  # noqa: F401
from csms_local.sim.chaos import ChaosConfig
from csms_local.sim.clock import ScaledClock
from csms_local.sim.sessions import ChargingPlan, SessionRecord
from csms_local.simulator import (
    HandshakeRefusedError,
    SimulatedStation,
    StationReport,
    StationTiming,
    add_simulate_arguments,
    run_simulate,
    run_station,
    simulate,
)

URL = "ws://csms.test/ocpp"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
FAST = StationTiming(
    reset_delay=0.01,
    boot_retry=0.01,
    backoff_initial=0.01,
    backoff_max=0.02,
    jitter=0.0,
    response_timeout=1.0,
    close_timeout=0.1,
    transaction_retry=0.01,
)
TOKENS = ("TOKEN-A", "TOKEN-B", "TOKEN-C", "TOKEN-D")
Frame = list[Any]


# --- a CSMS that keeps a ledger --------------------------------------------------------------


@dataclass
class Applied:
    """A call the ledger applied (a retransmission is answered, not applied again)."""

    station_id: str
    unique_id: str
    action: str
    payload: dict[str, Any]


@dataclass
class LedgerCsms:
    """Answers like a correct CSMS: same answer to a retransmitted call, changes applied once."""

    protocols: tuple[str, ...] = ("ocpp2.0.1", "ocpp1.6")
    tokens: dict[str, str] = field(default_factory=dict)  # token -> status (default Accepted)
    start_statuses: dict[str, str] = field(default_factory=dict)  # token -> status at start
    errors: dict[str, int] = field(default_factory=dict)  # action -> CALLERRORs to answer first
    deduplicate: bool = True
    fail_retransmissions: bool = False
    silent: set[str] = field(default_factory=set)  # actions never answered
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # action -> forced answer
    reachable: bool = True
    refused: set[str] = field(default_factory=set)  # station ids refused at the handshake
    # A frame on which the CSMS closes the connection (once) without answering.
    cut_on: Callable[[Frame], bool] | None = None
    received: list[tuple[str, Frame]] = field(default_factory=list)
    applied: list[Applied] = field(default_factory=list)
    retransmissions: int = 0
    sockets: list[FakeSocket] = field(default_factory=list)
    _replies: dict[tuple[str, str], Frame] = field(default_factory=dict)
    _csms_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def connect(
        self, uri: str, *, subprotocols: Sequence[str], headers: Mapping[str, str]
    ) -> FakeSocket:
        if not self.reachable:
            raise ConnectionRefusedError("unreachable")
        if uri.rsplit("/", 1)[1] in self.refused:
            raise HandshakeRefusedError(401)
        chosen = next((p for p in self.protocols if p in subprotocols), None)
        station_end, csms_end = socket_pair(chosen)
        self.sockets.append(csms_end)
        task = asyncio.create_task(self._serve(uri.rsplit("/", 1)[1], csms_end, str(chosen)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return station_end

    async def drop_all(self) -> None:
        for socket in self.sockets:
            await socket.close()

    # what the tests look at

    def calls(self, action: str | None = None, station_id: str | None = None) -> list[Frame]:
        return [
            frame
            for station, frame in self.received
            if frame[0] == 2
            and (action is None or frame[2] == action)
            and (station_id is None or station == station_id)
        ]

    def ledger(self, action: str, station_id: str | None = None) -> list[dict[str, Any]]:
        return [
            a.payload
            for a in self.applied
            if a.action == action and (station_id is None or a.station_id == station_id)
        ]

    def transaction_events(self, transaction_id: str) -> list[dict[str, Any]]:
        return [
            event
            for event in self.ledger("TransactionEvent")
            if event["transactionInfo"]["transactionId"] == transaction_id
        ]

    # serving

    async def _serve(self, station_id: str, socket: FakeSocket, protocol: str) -> None:
        version = protocol.removeprefix("ocpp")
        while True:
            try:
                frame: Frame = json.loads(await socket.recv())
            except ConnectionError:
                return
            self.received.append((station_id, frame))
            if self.cut_on is not None and self.cut_on(frame):
                self.cut_on = None
                await socket.close()
                return
            if frame[0] != 2:
                continue
            _, unique_id, action, payload = frame
            get_validator(MessageType.Call, action, version).validate(payload)
            key = (station_id, unique_id)
            if action in self.silent:
                continue
            if self.fail_retransmissions and key in self._replies:
                reply = [4, unique_id, "InternalError", "seen before", {}]
            elif self.deduplicate and key in self._replies:
                self.retransmissions += 1
                reply = self._replies[key]
            elif action in self.answers:
                reply = [3, unique_id, self.answers[action]]
            elif self.errors.get(action, 0) > 0:
                self.errors[action] -= 1
                reply = [4, unique_id, "InternalError", "broken", {}]
            else:
                answer = self._apply(station_id, unique_id, action, payload)
                get_validator(MessageType.CallResult, action, version).validate(answer)
                reply = [3, unique_id, answer]
            self._replies[key] = reply
            try:
                await socket.send(json.dumps(reply))
            except ConnectionError:
                return

    def _apply(
        self, station_id: str, unique_id: str, action: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        self.applied.append(Applied(station_id, unique_id, action, payload))
        now = "2025-01-01T00:00:00Z"
        if action == "BootNotification":
            return {"currentTime": now, "interval": 300, "status": "Accepted"}
        if action == "Heartbeat":
            return {"currentTime": now}
        if action == "Authorize":
            token = payload.get("idTag") or payload["idToken"]["idToken"]
            status = self.tokens.get(token, "Accepted")
            key = "idTagInfo" if "idTag" in payload else "idTokenInfo"
            return {key: {"status": status}}
        if action == "StartTransaction":
            status = self.start_statuses.get(payload["idTag"], "Accepted")
            return {"transactionId": next(self._csms_ids), "idTagInfo": {"status": status}}
        if action == "TransactionEvent" and payload["eventType"] == "Started":
            status = self.start_statuses.get(payload["idToken"]["idToken"], "Accepted")
            return {"idTokenInfo": {"status": status}}
        return {}


# --- helpers -----------------------------------------------------------------------------------


class SteppedClock:
    """Simulated time that jumps to wherever a session sleeps until (sessions take no time)."""

    def __init__(self, start: datetime = T0) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    async def sleep_until(self, when: datetime) -> None:
        self.current = max(self.current, when)
        await asyncio.sleep(0)


def a_station(**overrides: Any) -> SimulatedStation:
    values: dict[str, Any] = {"station_id": "CP-1", "password": "pw", "connectors": 1}
    values.update(overrides)
    return SimulatedStation(**values)


def a_plan(**overrides: Any) -> ChargingPlan:
    values: dict[str, Any] = {
        "sessions": 1,
        "id_tokens": TOKENS,
        "meter_interval": 60.0,
        "session_length": 600.0,
        "power_kw": 7.4,
        "pause": 60.0,
    }
    values.update(overrides)
    return ChargingPlan(**values)


async def eventually(condition: Callable[[], bool], within: float = 3.0) -> None:
    """Poll until `condition` holds; fail the test after `within` seconds."""
    async with asyncio.timeout(within):
        for _ in itertools.count():
            if condition():
                return
            await asyncio.sleep(0.002)


async def run_until_done(
    csms: LedgerCsms,
    station: SimulatedStation,
    plan: ChargingPlan,
    *,
    clock: Any = None,
    chaos: ChaosConfig | None = None,
    timing: StationTiming = FAST,
    events: list[str] | None = None,
) -> StationReport:
    """Run one station until its sessions are done, then stop it."""
    stop, done = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        run_station(
            URL,
            station,
            stop=stop,
            connect=csms.connect,
            timing=timing,
            plan=plan,
            clock=clock or SteppedClock(),
            chaos=chaos,
            done=done,
            on_event=(events.append if events is not None else None),
        )
    )
    await asyncio.wait_for(done.wait(), 10.0)
    stop.set()
    return await asyncio.wait_for(task, 2.0)


def statuses_of(csms: LedgerCsms, key: str, status_key: str) -> list[tuple[int, str]]:
    return [(f[3][key], f[3][status_key]) for f in csms.calls("StatusNotification")]


def wire(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- one session, each version -----------------------------------------------------------------


async def test_v16_session_authorizes_starts_meters_and_stops_in_order() -> None:
    # GIVEN a 1.6 station with one connector and a plan of one 10-minute session
    csms = LedgerCsms()
    station = a_station(protocol="ocpp1.6", station_id="CP-16")

    # WHEN it runs until done, on a simulated clock
    report = await run_until_done(csms, station, a_plan())

    # THEN the station went through the session's messages in order
    session_actions = [f[2] for f in csms.calls() if f[2] != "Heartbeat"]
    assert session_actions == [
        "BootNotification",
        "StatusNotification",  # connector 0
        "StatusNotification",  # connector 1 Available
        "StatusNotification",  # Preparing
        "Authorize",
        "StartTransaction",
        "StatusNotification",  # Charging
        *["MeterValues"] * 9,
        "StopTransaction",
        "StatusNotification",  # Finishing
        "StatusNotification",  # Available
    ]
    assert [s for _, s in statuses_of(csms, "connectorId", "status")][2:] == [
        "Preparing",
        "Charging",
        "Finishing",
        "Available",
    ]
    assert csms.calls("Authorize")[0][3] == {"idTag": "TOKEN-A"}
    # AND the start carries the connector's register, the stop the register at the end
    (start,) = csms.ledger("StartTransaction")
    (stop,) = csms.ledger("StopTransaction")
    assert start["connectorId"] == 1
    assert start["idTag"] == "TOKEN-A"
    assert start["timestamp"] == wire(T0)
    assert start["meterStart"] > 0  # a register, not a per-session counter
    assert stop["timestamp"] == wire(T0 + timedelta(minutes=10))
    assert stop["reason"] == "Local"
    assert stop["idTag"] == "TOKEN-A"
    assert stop["transactionId"] == 1000
    begin, end = stop["transactionData"]
    assert begin["sampledValue"][0]["context"] == "Transaction.Begin"
    assert begin["sampledValue"][0]["value"] == str(start["meterStart"])
    assert end["sampledValue"][0] == {
        "value": str(stop["meterStop"]),
        "context": "Transaction.End",
        "measurand": "Energy.Active.Import.Register",
        "unit": "Wh",
    }
    # AND every meter value belongs to the transaction, one a minute, with every measurand
    meter_values = csms.ledger("MeterValues")
    assert {m["transactionId"] for m in meter_values} == {1000}
    stamps = [m["meterValue"][0]["timestamp"] for m in meter_values]
    assert stamps == [wire(T0 + timedelta(minutes=k)) for k in range(1, 10)]
    sampled = meter_values[0]["meterValue"][0]["sampledValue"]
    assert [(s["measurand"], s.get("phase"), s["unit"]) for s in sampled][:6] == [
        ("Energy.Active.Import.Register", None, "Wh"),
        ("Power.Active.Import", None, "W"),
        ("Current.Import", "L1", "A"),
        ("Current.Import", "L2", "A"),
        ("Current.Import", "L3", "A"),
        ("Voltage", "L1-N", "V"),
    ]
    assert {s["context"] for s in sampled} == {"Sample.Periodic"}
    # AND the energy register is power x time: each reading adds the interval's energy
    register = float(start["meterStart"])
    for value in meter_values:
        samples = {
            s["measurand"]: float(s["value"]) for s in value["meterValue"][0]["sampledValue"]
        }
        register += samples["Power.Active.Import"] * 60 / 3600
        assert samples["Energy.Active.Import.Register"] == int(register)
        assert 7400 * 0.97 <= samples["Power.Active.Import"] <= 7400 * 1.03
    energy = stop["meterStop"] - start["meterStart"]
    assert 7400 / 6 * 0.97 <= energy <= 7400 / 6 * 1.03
    # AND the report has the session, to the Wh
    assert report.sessions == [
        SessionRecord(
            station_id="CP-16",
            protocol="ocpp1.6",
            transaction_id=1000,
            evse_id=None,
            connector_id=1,
            id_token="TOKEN-A",
            authorization_status="Accepted",
            meter_start_wh=start["meterStart"],
            meter_stop_wh=stop["meterStop"],
            energy_wh=energy,
            started_at=T0,
            stopped_at=T0 + timedelta(minutes=10),
            stop_reason="Local",
            meter_values=9,
        )
    ]
    assert (report.queued_messages, report.transaction_messages_failed) == (0, 0)
    assert report.done


async def test_v201_session_sends_transaction_events_with_contiguous_seq_nos() -> None:
    # GIVEN a 2.0.1 station whose second session ends with the driver unplugging
    csms = LedgerCsms()
    station = a_station(protocol="ocpp2.0.1", station_id="CP-201")

    # WHEN it runs two sessions on its connector
    report = await run_until_done(csms, station, a_plan(sessions=2, session_length=300.0))

    # THEN it authorized with an ISO14443 token and reported Occupied, then Available
    assert csms.calls("Authorize")[0][3] == {"idToken": {"idToken": "TOKEN-A", "type": "ISO14443"}}
    assert statuses_of(csms, "evseId", "connectorStatus")[1:] == [
        (1, "Occupied"),
        (1, "Available"),
        (1, "Occupied"),
        (1, "Available"),
    ]
    first, second = report.sessions
    assert (first.id_token, second.id_token) == ("TOKEN-A", "TOKEN-B")
    # AND each transaction is Started, Updated every minute, Ended, seqNo 0, 1, 2, ...
    events = csms.transaction_events(str(first.transaction_id))
    assert [e["eventType"] for e in events] == ["Started"] + ["Updated"] * 4 + ["Ended"]
    assert [e["seqNo"] for e in events] == list(range(6))
    started, updated, ended = events[0], events[1], events[-1]
    assert started["triggerReason"] == "Authorized"
    assert started["idToken"] == {"idToken": "TOKEN-A", "type": "ISO14443"}
    assert started["evse"] == {"id": 1, "connectorId": 1}
    assert started["transactionInfo"] == {
        "transactionId": first.transaction_id,
        "chargingState": "Charging",
    }
    assert started["meterValue"][0]["sampledValue"] == [
        {
            "value": first.meter_start_wh,
            "context": "Transaction.Begin",
            "measurand": "Energy.Active.Import.Register",
            "unitOfMeasure": {"unit": "Wh"},
        }
    ]
    assert "offline" not in started
    assert updated["triggerReason"] == "MeterValuePeriodic"
    units = {
        s["measurand"]: s["unitOfMeasure"]["unit"] for s in updated["meterValue"][0]["sampledValue"]
    }
    assert units["Power.Active.Import"] == "W"
    assert units["Current.Import"] == "A"
    assert ended["triggerReason"] == "StopAuthorized"
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert ended["idToken"]["idToken"] == "TOKEN-A"
    assert ended["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.End"
    assert ended["meterValue"][0]["sampledValue"][0]["value"] == first.meter_stop_wh
    # AND the second session ended with the vehicle leaving
    last = csms.transaction_events(str(second.transaction_id))[-1]
    assert (last["triggerReason"], last["transactionInfo"]["stoppedReason"]) == (
        "EVDeparted",
        "EVDisconnected",
    )
    assert "idToken" not in last
    # AND the register only grew, across both sessions
    assert first.meter_stop_wh <= second.meter_start_wh < second.meter_stop_wh
    assert (first.evse_id, first.connector_id) == (1, 1)
    assert report.sessions_planned == 2


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_session_stations_with_soc_report_it(protocol: str) -> None:
    # GIVEN a station whose vehicles report their state of charge (decided by its id)
    from csms_local.sim.sessions import reports_soc

    station_id = next(f"CP-{i}" for i in itertools.count() if reports_soc(f"CP-{i}"))
    csms = LedgerCsms()

    # WHEN it runs a session
    await run_until_done(csms, a_station(protocol=protocol, station_id=station_id), a_plan())

    # THEN its periodic samples carry SoC in percent, measured at the vehicle
    message = "MeterValues" if protocol == "ocpp1.6" else "TransactionEvent"
    periodic = [p for p in csms.ledger(message) if p.get("eventType", "Updated") == "Updated"]
    socs = [
        s for p in periodic for s in p["meterValue"][0]["sampledValue"] if s["measurand"] == "SoC"
    ]
    assert len(socs) == len(periodic)
    assert {s["location"] for s in socs} == {"EV"}
    values = [float(s["value"]) for s in socs]
    assert values == sorted(values)
    assert 0 <= values[0] <= values[-1] <= 100


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_session_with_a_refused_token_starts_no_transaction(protocol: str) -> None:
    # GIVEN a CSMS that knows the first token as Blocked
    csms = LedgerCsms(tokens={"TOKEN-A": "Blocked"})

    # WHEN a station runs two sessions
    report = await run_until_done(csms, a_station(protocol=protocol), a_plan(sessions=2))

    # THEN the first ended at the Authorize, recorded with its status; the second charged
    refused, charged = report.sessions
    assert (refused.id_token, refused.authorization_status) == ("TOKEN-A", "Blocked")
    assert (refused.transaction_id, refused.energy_wh, refused.stop_reason) == (None, 0, None)
    assert refused.meter_start_wh == refused.meter_stop_wh
    assert (charged.id_token, charged.authorization_status) == ("TOKEN-B", "Accepted")
    started = csms.ledger("StartTransaction") or csms.ledger("TransactionEvent")[:1]
    assert len(started) == 1


async def test_v16_start_refused_by_the_csms_is_stopped_at_once_deauthorized() -> None:
    # GIVEN a CSMS that authorizes the token but refuses the transaction at its start
    csms = LedgerCsms(start_statuses={"TOKEN-A": "Invalid"})
    clock = ScaledClock(1.0, start=T0)  # real time: the answer comes long before a meter value

    # WHEN a 1.6 station runs a 30-minute session
    report = await run_until_done(
        csms, a_station(protocol="ocpp1.6"), a_plan(session_length=1800.0), clock=clock
    )

    # THEN it stopped right away, with reason DeAuthorized, before any meter value
    (stop,) = csms.ledger("StopTransaction")
    assert stop["reason"] == "DeAuthorized"
    assert stop["transactionId"] == 1000
    assert csms.ledger("MeterValues") == []
    (record,) = report.sessions
    assert (record.authorization_status, record.stop_reason) == ("Invalid", "DeAuthorized")
    assert record.stopped_at - record.started_at < timedelta(seconds=5)
    assert record.energy_wh == stop["meterStop"] - record.meter_start_wh


async def test_v201_start_refused_by_the_csms_is_ended_deauthorized() -> None:
    # GIVEN a CSMS that refuses the transaction in its answer to Started
    csms = LedgerCsms(start_statuses={"TOKEN-A": "Invalid"})
    clock = ScaledClock(1.0, start=T0)

    # WHEN a 2.0.1 station runs a session
    report = await run_until_done(csms, a_station(protocol="ocpp2.0.1"), a_plan(), clock=clock)

    # THEN it ended the transaction at once: Ended, Deauthorized, seqNo 1
    (record,) = report.sessions
    events = csms.transaction_events(str(record.transaction_id))
    assert [(e["eventType"], e["seqNo"]) for e in events] == [("Started", 0), ("Ended", 1)]
    assert events[1]["triggerReason"] == "Deauthorized"
    assert events[1]["transactionInfo"]["stoppedReason"] == "DeAuthorized"
    assert (record.authorization_status, record.stop_reason) == ("Invalid", "DeAuthorized")


# --- offline: queue, replay, drop what is not worth keeping ------------------------------------


def plugging_in(frame: Frame) -> bool:
    """The StatusNotification of a vehicle plugged in (Preparing / Occupied)."""
    return (
        frame[0] == 2
        and frame[2] == "StatusNotification"
        and (frame[3].get("status") or frame[3].get("connectorStatus")) in ("Preparing", "Occupied")
    )


async def go_offline_during_a_session(
    csms: LedgerCsms, station: SimulatedStation, *, until: Callable[[list[str]], bool]
) -> tuple[asyncio.Event, asyncio.Event, asyncio.Task[StationReport], list[str]]:
    """Start a station; the CSMS goes away as a vehicle plugs in, and comes back once `until`."""
    stop, done = asyncio.Event(), asyncio.Event()
    events: list[str] = []
    clock = ScaledClock(3000.0, start=T0)  # a 60 s meter interval is 20 ms
    plan = a_plan(pause=0.0)

    def cut(frame: Frame) -> bool:
        if plugging_in(frame):
            csms.reachable = False
            return True
        return False

    csms.cut_on = cut
    task = asyncio.create_task(
        run_station(
            URL,
            station,
            stop=stop,
            connect=csms.connect,
            timing=FAST,
            plan=plan,
            clock=clock,
            done=done,
            heartbeat_interval=0.005,
            on_event=events.append,
        )
    )
    await eventually(lambda: until(events))
    assert not csms.reachable
    csms.reachable = True
    return stop, done, task, events


async def test_v16_offline_session_is_queued_and_replayed_with_the_csms_transaction_id() -> None:
    # GIVEN a 1.6 station that loses its CSMS right after boot
    csms = LedgerCsms()
    stop, done, task, events = await go_offline_during_a_session(
        csms,
        a_station(protocol="ocpp1.6"),
        until=lambda events: any("stopped" in e for e in events),
    )

    # WHEN the CSMS comes back
    await asyncio.wait_for(done.wait(), 5.0)
    stop.set()
    report = await task

    # THEN the token was authorized locally, and the Authorize was not replayed
    assert any("authorized locally" in e for e in events)
    assert csms.calls("Authorize") == []
    # AND the queue was replayed in order: the Start first, then its meter values, then the stop
    replay = [
        f[2] for f in csms.calls() if f[2] in ("StartTransaction", "MeterValues", "StopTransaction")
    ]
    assert replay == ["StartTransaction"] + ["MeterValues"] * 9 + ["StopTransaction"]
    # AND the transaction id from the Start's answer went into every queued message
    assert {m["transactionId"] for m in csms.ledger("MeterValues")} == {1000}
    assert csms.ledger("StopTransaction")[0]["transactionId"] == 1000
    # AND the statuses of the session, stale by then, were dropped rather than replayed
    statuses = [s for _, s in statuses_of(csms, "connectorId", "status")]
    assert statuses.count("Preparing") == 1  # the one the CSMS never answered
    assert "Charging" not in statuses
    # AND the timestamps are those of the moments things happened, not of the replay
    stamps = [m["meterValue"][0]["timestamp"] for m in csms.ledger("MeterValues")]
    assert stamps == sorted(stamps)
    (record,) = report.sessions
    assert record.transaction_id == 1000
    assert wire(record.started_at) == csms.ledger("StartTransaction")[0]["timestamp"]


async def test_v201_offline_events_are_flagged_offline_with_their_original_seq_nos() -> None:
    # GIVEN a 2.0.1 station that loses its CSMS right after boot
    csms = LedgerCsms()
    stop, done, task, _ = await go_offline_during_a_session(
        csms,
        a_station(protocol="ocpp2.0.1"),
        until=lambda events: any("meter" in e for e in events),
    )

    # WHEN the CSMS comes back
    await asyncio.wait_for(done.wait(), 5.0)
    stop.set()
    report = await task

    # THEN the events that happened offline say so, and every seqNo arrived once, in order
    (record,) = report.sessions
    events = csms.transaction_events(str(record.transaction_id))
    assert [e["seqNo"] for e in events] == list(range(11))
    assert events[0]["offline"] is True
    offline = [e.get("offline", False) for e in events]
    assert offline == sorted(offline, reverse=True)  # offline first, then online ones (if any)


async def test_status_and_heartbeat_are_not_sent_while_offline() -> None:
    # GIVEN a station with no session, offline
    csms = LedgerCsms()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_station(
            URL, a_station(), stop=stop, connect=csms.connect, timing=FAST, heartbeat_interval=0.01
        )
    )
    await eventually(lambda: bool(csms.calls("Heartbeat")))
    csms.reachable = False
    await csms.drop_all()
    received = len(csms.received)

    # WHEN some heartbeat intervals pass
    await asyncio.sleep(0.05)
    stop.set()
    report = await task

    # THEN nothing was queued, nothing was sent
    assert len(csms.received) == received
    assert report.queued_messages == 0


# --- CALLERRORs --------------------------------------------------------------------------------


async def test_transaction_message_answered_with_an_error_is_retried_as_a_new_call() -> None:
    # GIVEN a CSMS that fails the first MeterValues
    csms = LedgerCsms(errors={"MeterValues": 1})

    # WHEN a 1.6 station runs a session
    report = await run_until_done(csms, a_station(protocol="ocpp1.6"), a_plan())

    # THEN the MeterValues was sent again under a new unique id, and nothing was lost
    sent = csms.calls("MeterValues")
    assert len(sent) == 10
    assert sent[0][1] != sent[1][1]
    assert sent[0][3] == sent[1][3]
    assert len(csms.ledger("MeterValues")) == 9
    assert report.transaction_messages_failed == 0


async def test_v16_start_refused_with_errors_is_given_up_and_its_stop_too() -> None:
    # GIVEN a CSMS that fails every StartTransaction
    csms = LedgerCsms(errors={"StartTransaction": 3})
    events: list[str] = []

    # WHEN a 1.6 station runs a session
    report = await run_until_done(csms, a_station(protocol="ocpp1.6"), a_plan(), events=events)

    # THEN the Start was given up after three attempts; meter values went without an id, and
    # the Stop, which needs the id, could not be sent; the session is still recorded
    assert len(csms.calls("StartTransaction")) == 3
    assert all("transactionId" not in m for m in csms.ledger("MeterValues"))
    assert csms.calls("StopTransaction") == []
    assert report.transaction_messages_failed == 2
    (record,) = report.sessions
    assert record.transaction_id is None
    assert record.energy_wh > 0
    assert any("given up" in e for e in events)


async def test_v201_end_refused_with_errors_is_given_up_and_recorded() -> None:
    # GIVEN a CSMS that fails TransactionEvent Ended (and every other TransactionEvent) 3 times
    csms = LedgerCsms(errors={"TransactionEvent": 3})

    # WHEN a 2.0.1 station runs a short session with no meter values
    report = await run_until_done(
        csms, a_station(protocol="ocpp2.0.1"), a_plan(session_length=30.0)
    )

    # THEN the Started was given up, the Ended went through, and the session is recorded
    assert report.transaction_messages_failed == 1
    (record,) = report.sessions
    events = csms.transaction_events(str(record.transaction_id))
    assert [e["eventType"] for e in events] == ["Ended"]


# --- retransmissions and chaos --------------------------------------------------------------------


async def test_a_retransmission_answered_differently_is_reported() -> None:
    # GIVEN a CSMS that does not recognise retransmitted calls (it assigns a new id each time)
    csms = LedgerCsms(deduplicate=False)
    chaos = ChaosConfig(seed=1, drop_before_send=0.0, drop_after_send=0.0, retransmit=1.0)
    events: list[str] = []

    # WHEN a 1.6 station retransmits every transaction message
    report = await run_until_done(
        csms, a_station(protocol="ocpp1.6"), a_plan(), chaos=chaos, events=events
    )

    # THEN each went out twice with the same unique id, and the second Start id was used
    starts = csms.calls("StartTransaction")
    assert len(starts) == 2
    assert starts[0][1] == starts[1][1]
    assert report.reply_mismatches == 1
    assert report.sessions[0].transaction_id == 1001
    assert any("answered differently" in e for e in events)
    assert report.chaos is not None
    assert report.chaos.retransmissions == 11


async def test_a_retransmission_answered_with_an_error_keeps_the_first_answer() -> None:
    # GIVEN a CSMS that answers a retransmitted call with a CALLERROR (wrongly)
    csms = LedgerCsms(fail_retransmissions=True)
    chaos = ChaosConfig(seed=1, drop_before_send=0.0, drop_after_send=0.0, retransmit=1.0)
    events: list[str] = []

    # WHEN a 2.0.1 station retransmits every transaction event
    report = await run_until_done(
        csms, a_station(protocol="ocpp2.0.1"), a_plan(), chaos=chaos, events=events
    )

    # THEN every event was applied once, and each differing answer was reported
    (record,) = report.sessions
    assert len(csms.transaction_events(str(record.transaction_id))) == 11
    assert report.reply_mismatches == 11
    assert report.transaction_messages_failed == 0
    assert any("answered with an error" in e for e in events)


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_chaos_loses_no_transaction_message(protocol: str) -> None:
    # GIVEN two stations of one version under heavy chaos, sharing two tokens
    csms = LedgerCsms()
    stations = [a_station(station_id=f"CHAOS-{i}", protocol=protocol, connectors=2) for i in (1, 2)]
    chaos = ChaosConfig(
        seed=42, drop_before_send=0.06, drop_after_send=0.06, retransmit=0.3, swap=0.5
    )
    plan = a_plan(sessions=6, id_tokens=("TOKEN-A", "TOKEN-B"), pause=30.0)

    # WHEN they run until done, on a fast simulated clock
    reports = await asyncio.wait_for(
        simulate(
            URL,
            stations,
            duration=None,
            connect=csms.connect,
            timing=FAST,
            plan=plan,
            clock=ScaledClock(4000.0, start=T0),
            chaos=chaos,
            heartbeat_interval=0.02,
        ),
        20.0,
    )

    # THEN chaos really happened: drops, retransmissions, and (2.0.1) swapped events
    counts = [r.chaos for r in reports if r.chaos is not None]
    assert sum(c.drops for c in counts) > 0
    assert sum(c.retransmissions for c in counts) > 0
    assert csms.retransmissions > 0
    assert sum(r.connects for r in reports) > 2
    # AND yet every session was recorded, and every queue emptied
    assert all(r.error is None for r in reports)
    assert [len(r.sessions) for r in reports] == [6, 6]
    assert all(r.queued_messages == 0 and r.transaction_messages_failed == 0 for r in reports)
    records = [record for r in reports for record in r.sessions]
    if protocol == "ocpp1.6":
        assert_v16_ledger_matches(csms, records)
    else:
        assert sum(c.swaps for c in counts) > 0
        assert_v201_ledger_matches(csms, records)


def assert_v16_ledger_matches(csms: LedgerCsms, records: list[SessionRecord]) -> None:
    """Every session reached the CSMS exactly once, in order, with the right energy."""
    starts: dict[int, Applied] = {}
    for applied in csms.applied:
        if applied.action == "StartTransaction":
            starts[1000 + len(starts)] = applied
    assert len(starts) == len(records)
    for record in records:
        tx_id = record.transaction_id
        assert isinstance(tx_id, int)
        start = starts[tx_id]
        assert start.station_id == record.station_id
        assert start.payload["meterStart"] == record.meter_start_wh
        ledger = [
            a
            for a in csms.applied
            if a.station_id == record.station_id
            and a.action in ("StartTransaction", "MeterValues", "StopTransaction")
            and (a is start or a.payload.get("transactionId") == tx_id)
        ]
        actions = [a.action for a in ledger]
        assert actions == ["StartTransaction"] + ["MeterValues"] * record.meter_values + [
            "StopTransaction"
        ]
        stop = ledger[-1].payload
        assert stop["meterStop"] == record.meter_stop_wh
        assert stop["meterStop"] - start.payload["meterStart"] == record.energy_wh
        stamps = [
            a.payload.get("timestamp") or a.payload["meterValue"][0]["timestamp"] for a in ledger
        ]
        assert stamps == sorted(stamps)
    # No message was applied twice: a retransmission only got its answer again.
    unique_ids = [(a.station_id, a.unique_id) for a in csms.applied]
    assert len(unique_ids) == len(set(unique_ids))


def assert_v201_ledger_matches(csms: LedgerCsms, records: list[SessionRecord]) -> None:
    """Every transaction's events arrived once each, seqNos contiguous, energy to the Wh."""
    transaction_ids = {
        e["transactionInfo"]["transactionId"] for e in csms.ledger("TransactionEvent")
    }
    assert transaction_ids == {r.transaction_id for r in records}
    offline = 0
    for record in records:
        events = csms.transaction_events(str(record.transaction_id))
        by_seq = sorted(events, key=lambda e: e["seqNo"])
        assert [e["seqNo"] for e in by_seq] == list(range(len(events)))
        assert [e["eventType"] for e in by_seq] == ["Started"] + [
            "Updated"
        ] * record.meter_values + ["Ended"]
        begin = by_seq[0]["meterValue"][0]["sampledValue"][0]["value"]
        end = by_seq[-1]["meterValue"][0]["sampledValue"][0]["value"]
        assert (begin, end) == (record.meter_start_wh, record.meter_stop_wh)
        assert end - begin == record.energy_wh
        offline += sum(1 for e in events if e.get("offline"))
    assert offline > 0
    unique_ids = [(a.station_id, a.unique_id) for a in csms.applied]
    assert len(unique_ids) == len(set(unique_ids))


async def test_tokens_are_busy_until_the_csms_has_the_end_of_their_session() -> None:
    # GIVEN one token for a station with two connectors
    csms = LedgerCsms()
    plan = a_plan(sessions=2, id_tokens=("ONLY-ONE",))

    # WHEN both connectors want to charge
    report = await run_until_done(
        csms, a_station(protocol="ocpp1.6", connectors=2), plan, clock=ScaledClock(3000.0)
    )

    # THEN the sessions took turns: the second Start came after the first Stop was answered
    order = [a.action for a in csms.applied if a.action in ("StartTransaction", "StopTransaction")]
    assert order == ["StartTransaction", "StopTransaction"] * 2
    assert [r.connector_id for r in report.sessions] == [1, 2]


async def test_a_station_that_gives_up_frees_its_drivers_tokens() -> None:
    # GIVEN two stations sharing one token; the one whose session starts first loses the CSMS
    # as it starts, and is then refused (which one that is depends on scheduling)
    csms = LedgerCsms()

    def first_start(frame: Frame) -> bool:
        if frame[0] == 2 and frame[2] == "StartTransaction":
            sender, _ = csms.received[-1]
            csms.refused.add(sender)
            return True
        return False

    csms.cut_on = first_start
    stations = [
        a_station(station_id="CP-1", protocol="ocpp1.6"),
        a_station(station_id="CP-2", protocol="ocpp1.6"),
    ]

    # WHEN they are simulated until done
    reports = await asyncio.wait_for(
        simulate(
            URL,
            stations,
            duration=None,
            connect=csms.connect,
            timing=FAST,
            plan=a_plan(id_tokens=("ONLY-ONE",)),
            clock=ScaledClock(3000.0),
            max_refusals=1,
        ),
        5.0,
    )

    # THEN the station cut off gave up with its session unfinished, and the other one still
    # charged with the token
    [cut_off] = csms.refused
    [gave_up] = [r for r in reports if r.station_id == cut_off]
    [other] = [r for r in reports if r.station_id != cut_off]
    assert gave_up.error is not None
    assert (len(gave_up.sessions), gave_up.queued_messages) == (0, 1)
    assert [r.id_token for r in other.sessions] == ["ONLY-ONE"]
    assert csms.calls("StopTransaction", cut_off) == []


async def test_triggered_meter_values_report_the_energy_register() -> None:
    # GIVEN a booted 1.6 station after one session
    csms = LedgerCsms()
    stop, done = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        run_station(
            URL,
            a_station(protocol="ocpp1.6"),
            stop=stop,
            connect=csms.connect,
            timing=FAST,
            plan=a_plan(),
            clock=SteppedClock(),
            done=done,
        )
    )
    await asyncio.wait_for(done.wait(), 5.0)

    # WHEN the CSMS triggers MeterValues
    reply_to = await csms_call(csms, "TriggerMessage", {"requestedMessage": "MeterValues"})
    await eventually(lambda: len(csms.calls("MeterValues")) == 10)
    stop.set()
    report = await task

    # THEN the station sends its register, which is where the session left it
    assert reply_to == {"status": "Accepted"}
    triggered = csms.calls("MeterValues")[-1][3]
    value = triggered["meterValue"][0]["sampledValue"][0]
    assert (value["context"], value["value"]) == ("Trigger", str(report.sessions[0].meter_stop_wh))


async def test_an_unreadable_authorize_answer_is_no_answer() -> None:
    # GIVEN a CSMS whose answer to Authorize breaks the schema
    csms = LedgerCsms(answers={"Authorize": {"idTagInfo": {"status": "Maybe"}}})
    events: list[str] = []

    # WHEN a 1.6 station runs a session
    report = await run_until_done(csms, a_station(protocol="ocpp1.6"), a_plan(), events=events)

    # THEN the station authorized locally, as without an answer, and charged
    assert any("call failed: Authorize answered with" in e for e in events)
    assert any("authorized locally" in e for e in events)
    assert report.sessions[0].authorization_status == "Accepted"


async def test_a_station_stopped_while_waiting_for_an_answer_stops_at_once() -> None:
    # GIVEN a CSMS that never answers Authorize
    csms = LedgerCsms(silent={"Authorize"})
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_station(
            URL,
            a_station(protocol="ocpp2.0.1"),
            stop=stop,
            connect=csms.connect,
            timing=FAST,
            plan=a_plan(),
            clock=SteppedClock(),
        )
    )
    await eventually(lambda: bool(csms.calls("Authorize")))

    # WHEN the station is stopped
    stop.set()
    report = await asyncio.wait_for(task, 1.0)

    # THEN it stopped without a session and without an error
    assert (report.sessions, report.error) == ([], None)


async def test_a_bug_in_a_session_ends_the_station_s_sessions_with_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from csms_local.sim.charge_points import ChargePoint16

    # GIVEN a charge point whose Authorize has a bug
    async def broken(self: Any, id_token: str) -> str:
        raise RuntimeError("bug in authorize")

    monkeypatch.setattr(ChargePoint16, "send_authorize", broken)
    csms = LedgerCsms()

    # WHEN a station runs a session
    report = await run_until_done(csms, a_station(protocol="ocpp1.6"), a_plan())

    # THEN the station is done (nothing more will happen) and says why
    assert report.error == "RuntimeError: bug in authorize"
    assert report.sessions == []


async def csms_call(csms: LedgerCsms, action: str, payload: dict[str, Any]) -> Any:
    """Send a call from the CSMS on the last connection; return the answer's payload."""
    count = len(csms.received)
    await csms.sockets[-1].send(json.dumps([2, "csms-1", action, payload]))
    await eventually(lambda: any(f[0] == 3 and f[1] == "csms-1" for _, f in csms.received[count:]))
    return next(f[2] for _, f in csms.received[count:] if f[0] == 3 and f[1] == "csms-1")


# --- simulate and the command line ---------------------------------------------------------------


async def test_simulate_with_sessions_ends_once_every_station_is_done() -> None:
    # GIVEN two stations of different versions with sessions to run
    csms = LedgerCsms()
    stations = [
        a_station(station_id="CP-1", protocol="ocpp1.6"),
        a_station(station_id="CP-2", protocol="ocpp2.0.1"),
    ]

    # WHEN they are simulated without a duration
    reports = await asyncio.wait_for(
        simulate(
            URL,
            stations,
            duration=None,
            connect=csms.connect,
            timing=FAST,
            plan=a_plan(sessions=2),
            clock=ScaledClock(6000.0),
        ),
        10.0,
    )

    # THEN the run ended by itself, every session done, every connection closed
    assert [len(r.sessions) for r in reports] == [2, 2]
    assert all(r.done for r in reports)
    assert all(socket.closed for socket in csms.sockets)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="csms simulate")
    add_simulate_arguments(parser)
    return parser.parse_args(argv)


def write_seed(tmp_path: Path, tokens: list[dict[str, Any]] | None = None) -> Path:
    seed = tmp_path / "seed.json"
    document = {
        "sites": [{"id": "site-1", "name": "Depot", "limitKw": 100}],
        "stations": [
            {"id": "CP-1", "siteId": "site-1", "password": "pw-1", "protocol": "ocpp1.6"},
            {"id": "CP-2", "siteId": "site-1", "password": "pw-2", "protocol": "ocpp2.0.1"},
        ],
        "tokens": tokens
        if tokens is not None
        else [
            {"idToken": "CARD-1", "status": "Accepted"},
            {"idToken": "CARD-BLOCKED", "status": "Blocked"},
            {"idToken": "CARD-OLD", "expiresAt": "2020-01-01T00:00:00Z"},
            {"idToken": "CARD-2"},
            {"idToken": "X" * 21},
            {"idToken": "CARD-FUTURE", "expiresAt": "2999-01-01T00:00:00Z"},
            {"idToken": "CARD-ODD-DATE", "expiresAt": "someday"},
            "not an object",
        ],
    }
    seed.write_text(json.dumps(document), encoding="utf-8")
    return seed


def test_run_simulate_sessions_write_a_report_and_exit_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a seed with Accepted and unusable tokens, and a report file to write
    csms = LedgerCsms()
    report_file = tmp_path / "report.json"
    args = parse(
        "--seed", str(write_seed(tmp_path)), "--connectors", "1", "--sessions", "2",
        "--session-minutes", "5", "--meter-interval", "60", "--power-kw", "11",
        "--speed", "6000", "--chaos", "--chaos-seed", "3", "--report", str(report_file),
    )  # fmt: skip

    # WHEN the command runs
    code = run_simulate(args, connect=csms.connect, timing=FAST)

    # THEN it ended by itself with every session done
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert "until the sessions are done" in out
    assert "chaos on (--chaos-seed 3)" in out
    assert "CP-1: ocpp1.6, boot Accepted, 2/2 session(s)" in out
    # AND only the usable seed tokens were presented
    used = {f[3].get("idTag") or f[3]["idToken"]["idToken"] for f in csms.calls("Authorize")}
    assert used <= {"CARD-1", "CARD-2", "CARD-FUTURE", "CARD-ODD-DATE"}
    # AND the report lists the stations and the sessions, to the Wh
    document = json.loads(report_file.read_text(encoding="utf-8"))
    assert document["format"] == 1
    assert document["complete"] is True
    assert (document["speed"], document["chaos_seed"]) == (6000.0, 3)
    assert [s["station_id"] for s in document["stations"]] == ["CP-1", "CP-2"]
    assert document["stations"][0]["sessions_finished"] == 2
    assert set(document["stations"][0]["chaos"]) == {"drops", "retransmissions", "swaps"}
    sessions = document["sessions"]
    assert len(sessions) == 4
    for session in sessions:
        assert session["energy_wh"] == session["meter_stop_wh"] - session["meter_start_wh"]
        assert session["started_at"].endswith("Z")
    v16 = [s for s in sessions if s["protocol"] == "ocpp1.6"]
    assert all(isinstance(s["transaction_id"], int) and s["evse_id"] is None for s in v16)
    v201 = [s for s in sessions if s["protocol"] == "ocpp2.0.1"]
    assert all(isinstance(s["transaction_id"], str) and s["evse_id"] == 1 for s in v201)


def test_run_simulate_unfinished_sessions_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN sessions far longer than the run's duration
    csms = LedgerCsms()
    report_file = tmp_path / "report.json"
    args = parse(
        "--station-id", "CP-9", "--password", "pw", "--protocol", "ocpp2.0.1",
        "--sessions", "1", "--id-tokens", "T-1, T-2", "--duration", "0.2",
        "--report", str(report_file),
    )  # fmt: skip

    # WHEN the command runs
    code = run_simulate(args, connect=csms.connect, timing=FAST)

    # THEN it says what is missing, exits 1, and the report says it is incomplete
    out, _ = capsys.readouterr()
    assert code == 1
    assert "1 session(s) not finished" in out
    assert "CP-9: ocpp2.0.1, boot Accepted, 0/1 session(s), " in out
    document = json.loads(report_file.read_text(encoding="utf-8"))
    assert document["complete"] is False
    assert document["stations"][0]["sessions_finished"] == 0
    assert document["chaos_seed"] is None


def test_run_simulate_summary_counts_unanswered_messages(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a CSMS that goes away for good when the first transaction starts
    csms = LedgerCsms()

    def cut(frame: Frame) -> bool:
        if frame[0] == 2 and frame[2] == "StartTransaction":
            csms.reachable = False
            return True
        return False

    csms.cut_on = cut
    args = parse(
        "--station-id", "CP-9", "--password", "pw", "--protocol", "ocpp1.6",
        "--sessions", "1", "--id-tokens", "T-1", "--duration", "0.3", "--speed", "6000",
    )  # fmt: skip

    # WHEN the command runs
    code = run_simulate(args, connect=csms.connect, timing=FAST)

    # THEN the summary says how many transaction messages never got an answer
    out, _ = capsys.readouterr()
    assert code == 1
    assert re.search(
        r"CP-9: ocpp1.6, boot Accepted, 0/1 session\(s\), \d+ message\(s\) unanswered", out
    )


def test_run_simulate_report_that_cannot_be_written_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a report file that cannot be written when the run ends
    csms = LedgerCsms()
    args = parse(
        "--seed",
        str(write_seed(tmp_path)),
        "--duration",
        "0.05",
        "--report",
        str(tmp_path / "r.json"),
    )

    def refuse(*_: Any, **__: Any) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_text", refuse)

    # WHEN the command runs
    code = run_simulate(args, connect=csms.connect, timing=FAST)

    # THEN one line says so
    _, err = capsys.readouterr()
    assert code == 1
    assert err == f"csms simulate: error: cannot write {tmp_path / 'r.json'}: Permission denied\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--speed", "0"], "--speed must be a positive number, got '0'"),
        (["--speed", "fast"], "--speed must be a number, got 'fast'"),
        (["--sessions", "-1"], "--sessions must be 0 or more"),
        (["--sessions", "many"], "--sessions must be a whole number"),
        (["--meter-interval", "0"], "--meter-interval must be a positive number"),
        (["--session-minutes", "inf"], "--session-minutes must be a positive number"),
        (["--power-kw", "5000"], "--power-kw must be at most 1000"),
        (["--id-tokens", "A,,B"], "--id-tokens: each token must have 1 to 20 characters"),
        (["--id-tokens", "X" * 21], "(OCPP 1.6 idTag)"),
        (["--chaos-seed", "1"], "--chaos-seed needs --chaos"),
        (["--chaos", "--chaos-seed", "x"], "--chaos-seed must be a whole number"),
        (["--report", "{tmp}"], "is a directory"),
        (["--report", "{tmp}/no/such/r.json"], "does not exist"),
        (["--seed", "{no_tokens}", "--sessions", "1"], "has no Accepted id token"),
        (["--seed", "{bad_tokens}", "--sessions", "1"], "tokens must be a list"),
    ],
)
def test_run_simulate_wrong_session_options_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    # GIVEN seeds without usable tokens, and a wrong command line
    no_tokens = write_seed(tmp_path, tokens=[{"idToken": "B", "status": "Blocked"}])
    bad_tokens = tmp_path / "bad.json"
    bad_tokens.write_text(
        json.dumps({"stations": [{"id": "CP-1", "password": "pw"}], "tokens": {}}),
        encoding="utf-8",
    )
    paths = {"tmp": str(tmp_path), "no_tokens": str(no_tokens), "bad_tokens": str(bad_tokens)}
    args = parse(*(arg.format(**paths) for arg in argv))

    # WHEN the command runs
    code = run_simulate(args)

    # THEN it exits 2 with one readable line, and runs nothing
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith("csms simulate: error: ")
    assert message in err


def test_run_simulate_chaos_without_a_seed_prints_the_one_it_drew(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN chaos without a seed
    csms = LedgerCsms()
    args = parse("--seed", str(write_seed(tmp_path)), "--chaos", "--duration", "0.05")

    # WHEN the command runs
    code = run_simulate(args, connect=csms.connect, timing=FAST)

    # THEN the seed it drew is printed, to repeat the run
    assert code == 0
    assert "chaos on (--chaos-seed " in capsys.readouterr().out
