"""Simulated charging stations against an in-memory CSMS (no sockets)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.unit.local.fake_sockets import FakeSocket, socket_pair

# Imported here rather than by the first station: the ocpp package is slow to import.
import csms_local.sim.charge_points  # noqa: F401
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
FAST = StationTiming(
    reset_delay=0.01,
    boot_retry=0.01,
    backoff_initial=0.01,
    backoff_max=0.02,
    jitter=0.0,
    response_timeout=1.0,
    close_timeout=0.1,
)
Frame = list[Any]


# --- a tiny CSMS --------------------------------------------------------------------------------


@dataclass
class Handshake:
    uri: str
    subprotocols: list[str]
    headers: dict[str, str]


@dataclass
class FakeCsms:
    """Accepts connections, answers the station's calls and can call the station."""

    protocols: tuple[str, ...] = ("ocpp2.0.1", "ocpp1.6")
    refuse_with: int | None = None
    boot_statuses: list[str] = field(default_factory=list)  # then Accepted
    interval: int = 300
    errors: dict[str, int] = field(default_factory=dict)  # action -> CALLERRORs to answer first
    handshakes: list[Handshake] = field(default_factory=list)
    received: list[Frame] = field(default_factory=list)  # every frame from the station, in order
    sockets: list[FakeSocket] = field(default_factory=list)
    _replies: dict[str, asyncio.Future[Frame]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def connect(
        self, uri: str, *, subprotocols: Sequence[str], headers: Mapping[str, str]
    ) -> FakeSocket:
        self.handshakes.append(Handshake(uri, list(subprotocols), dict(headers)))
        if self.refuse_with is not None:
            raise HandshakeRefusedError(self.refuse_with)
        chosen = next((p for p in self.protocols if p in subprotocols), None)
        station_end, csms_end = socket_pair(chosen)
        self.sockets.append(csms_end)
        task = asyncio.create_task(self._serve(csms_end))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return station_end

    def calls(self, action: str | None = None) -> list[Frame]:
        return [f for f in self.received if f[0] == 2 and (action is None or f[2] == action)]

    def actions(self) -> list[str]:
        return [frame[2] for frame in self.calls()]

    async def call(self, action: str, payload: dict[str, Any]) -> Frame:
        unique_id = f"csms-{next(self._ids)}"
        reply: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._replies[unique_id] = reply
        await self.sockets[-1].send(json.dumps([2, unique_id, action, payload]))
        return await asyncio.wait_for(reply, 1.0)

    async def drop(self) -> None:
        await self.sockets[-1].close()

    async def _serve(self, socket: FakeSocket) -> None:
        while True:
            try:
                frame: Frame = json.loads(await socket.recv())
            except ConnectionError:
                return
            self.received.append(frame)
            if frame[0] == 2 and self.errors.get(frame[2], 0) > 0:
                self.errors[frame[2]] -= 1
                await socket.send(json.dumps([4, frame[1], "InternalError", "broken", {}]))
            elif frame[0] == 2:
                await socket.send(json.dumps([3, frame[1], self._answer(frame[2])]))
            elif frame[1] in self._replies:
                self._replies.pop(frame[1]).set_result(frame)

    def _answer(self, action: str) -> dict[str, Any]:
        now = "2025-01-01T00:00:00Z"
        if action == "BootNotification":
            status = self.boot_statuses.pop(0) if self.boot_statuses else "Accepted"
            interval = self.interval if status == "Accepted" else 0
            return {"currentTime": now, "interval": interval, "status": status}
        if action == "Heartbeat":
            return {"currentTime": now}
        return {}


async def eventually(condition: Callable[[], bool], within: float = 2.0) -> None:
    """Poll until `condition` holds; fail the test after `within` seconds."""
    async with asyncio.timeout(within):
        for _ in itertools.count():
            if condition():
                return
            await asyncio.sleep(0.002)


def a_station(**overrides: Any) -> SimulatedStation:
    values: dict[str, Any] = {"station_id": "CP-1", "password": "s3cret-pw", "connectors": 2}
    values.update(overrides)
    return SimulatedStation(**values)


@dataclass
class Running:
    """A station running in the background against a fake CSMS."""

    csms: FakeCsms
    stop: asyncio.Event
    task: asyncio.Task[StationReport]
    events: list[str]

    async def finish(self) -> StationReport:
        self.stop.set()
        return await asyncio.wait_for(self.task, 1.0)


def start(csms: FakeCsms, station: SimulatedStation, **options: Any) -> Running:
    stop = asyncio.Event()
    events: list[str] = []
    task = asyncio.create_task(
        run_station(
            URL,
            station,
            stop=stop,
            connect=csms.connect,
            timing=options.pop("timing", FAST),
            on_event=events.append,
            **options,
        )
    )
    return Running(csms, stop, task, events)


# --- boot, status, heartbeat -------------------------------------------------------------------


async def test_run_station_v16_boots_reports_connectors_and_heartbeats() -> None:
    # GIVEN a station pinned to OCPP 1.6 with two connectors
    csms = FakeCsms()
    running = start(csms, a_station(protocol="ocpp1.6"), heartbeat_interval=0.01)

    # WHEN it has run for a few heartbeats
    await eventually(lambda: running.events.count("CP-1: heartbeat") >= 2)
    report = await running.finish()

    # THEN it offered only 1.6, with Basic Auth, on its own path
    (handshake,) = csms.handshakes
    assert handshake.uri == f"{URL}/CP-1"
    assert handshake.subprotocols == ["ocpp1.6"]
    credentials = base64.b64encode(b"CP-1:s3cret-pw").decode()
    assert handshake.headers["Authorization"] == f"Basic {credentials}"
    # AND it booted, reported connector 0 (the whole station) and each connector, then heartbeat
    assert csms.actions()[:4] == ["BootNotification"] + ["StatusNotification"] * 3
    assert set(csms.actions()[4:]) == {"Heartbeat"}
    boot = csms.calls("BootNotification")[0][3]
    assert boot == {
        "chargePointVendor": "OpenCSMS",
        "chargePointModel": "SimCharger",
        "chargePointSerialNumber": "CP-1",
        "firmwareVersion": "1.0.0",
    }
    statuses = [frame[3] for frame in csms.calls("StatusNotification")]
    assert [s["connectorId"] for s in statuses] == [0, 1, 2]
    assert {(s["status"], s["errorCode"]) for s in statuses} == {("Available", "NoError")}
    assert all(s["timestamp"].endswith("Z") for s in statuses)
    # AND the report says so
    assert report.protocol == "ocpp1.6"
    assert report.boot_status == "Accepted"
    assert report.status_notifications_sent == 3
    # (a heartbeat still waiting for its answer at the stop is not counted)
    assert 2 <= report.heartbeats_sent <= len(csms.calls("Heartbeat"))
    assert (report.connects, report.refused, report.error) == (1, None, None)


async def test_run_station_v201_is_chosen_when_the_csms_selects_it() -> None:
    # GIVEN a station with no pinned protocol and a CSMS that prefers 2.0.1
    csms = FakeCsms(protocols=("ocpp2.0.1", "ocpp1.6"))
    running = start(csms, a_station(serial_number="SN-42"), heartbeat_interval=0.01)

    # WHEN it runs
    await eventually(lambda: len(csms.calls("Heartbeat")) >= 2)
    report = await running.finish()

    # THEN it offered both versions, 2.0.1 first, and spoke 2.0.1
    assert csms.handshakes[0].subprotocols == ["ocpp2.0.1", "ocpp1.6"]
    assert report.protocol == "ocpp2.0.1"
    assert csms.actions()[:3] == ["BootNotification", "StatusNotification", "StatusNotification"]
    boot = csms.calls("BootNotification")[0][3]
    assert boot == {
        "chargingStation": {
            "vendorName": "OpenCSMS",
            "model": "SimCharger",
            "serialNumber": "SN-42",
            "firmwareVersion": "1.0.0",
        },
        "reason": "PowerUp",
    }
    statuses = [frame[3] for frame in csms.calls("StatusNotification")]
    assert [(s["evseId"], s["connectorId"]) for s in statuses] == [(1, 1), (2, 1)]
    assert {s["connectorStatus"] for s in statuses} == {"Available"}


async def test_run_station_speaks_v16_when_the_csms_selects_it() -> None:
    # GIVEN a station offering both versions and a CSMS that only speaks 1.6
    csms = FakeCsms(protocols=("ocpp1.6",))
    running = start(csms, a_station(), heartbeat_interval=0.01)

    # WHEN it boots
    await eventually(lambda: bool(csms.calls("Heartbeat")))
    report = await running.finish()

    # THEN it used the 1.6 messages
    assert report.protocol == "ocpp1.6"
    assert "chargePointVendor" in csms.calls("BootNotification")[0][3]


async def test_run_station_uses_the_boot_interval_without_an_override() -> None:
    # GIVEN a CSMS that asks for a heartbeat every hour
    csms = FakeCsms(interval=3600)
    running = start(csms, a_station())

    # WHEN the station has booted
    await eventually(lambda: len(csms.calls("StatusNotification")) == 2)
    await asyncio.sleep(0.05)
    report = await running.finish()

    # THEN it sent no heartbeat yet
    assert csms.calls("Heartbeat") == []
    assert report.heartbeats_sent == 0


async def test_run_station_retries_a_pending_boot_until_accepted() -> None:
    # GIVEN a CSMS that answers Pending, then Rejected, then Accepted
    csms = FakeCsms(boot_statuses=["Pending", "Rejected"])
    running = start(csms, a_station(protocol="ocpp2.0.1"), heartbeat_interval=0.01)

    # WHEN the station runs
    await eventually(lambda: bool(csms.calls("Heartbeat")))
    report = await running.finish()

    # THEN it booted three times and reported its status only once accepted
    assert csms.actions()[:4] == ["BootNotification"] * 3 + ["StatusNotification"]
    assert report.boot_status == "Accepted"


# --- calls from the CSMS -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "reset_type", "second_boot"),
    [
        ("ocpp1.6", "Hard", {"chargePointVendor": "OpenCSMS"}),
        ("ocpp2.0.1", "Immediate", {"reason": "RemoteReset"}),
    ],
)
async def test_run_station_reset_is_accepted_and_reboots(
    protocol: str, reset_type: str, second_boot: dict[str, str]
) -> None:
    # GIVEN a booted station
    csms = FakeCsms()
    running = start(csms, a_station(protocol=protocol))
    await eventually(lambda: len(csms.calls("StatusNotification")) == csms_statuses(protocol))

    # WHEN the CSMS resets it
    reply = await csms.call("Reset", {"type": reset_type})

    # THEN it answers Accepted, closes, reconnects and boots again
    assert reply[2] == {"status": "Accepted"}
    await eventually(lambda: len(csms.calls("BootNotification")) == 2)
    await eventually(lambda: len(csms.calls("StatusNotification")) == 2 * csms_statuses(protocol))
    report = await running.finish()
    assert csms.sockets[0].closed
    assert second_boot.items() <= csms.calls("BootNotification")[1][3].items()
    assert report.connects == 2
    assert report.calls_received == ["Reset"]
    assert any("rebooting" in event for event in running.events)


def csms_statuses(protocol: str) -> int:
    """StatusNotifications a two-connector station sends at boot."""
    return 3 if protocol == "ocpp1.6" else 2


async def test_run_station_v201_rejects_a_reset_of_one_evse() -> None:
    # GIVEN a booted 2.0.1 station
    csms = FakeCsms()
    running = start(csms, a_station(protocol="ocpp2.0.1"))
    await eventually(lambda: len(csms.calls("StatusNotification")) == 2)

    # WHEN the CSMS resets only EVSE 1
    reply = await csms.call("Reset", {"type": "OnIdle", "evseId": 1})
    await asyncio.sleep(0.05)
    report = await running.finish()

    # THEN it refuses and stays connected
    assert reply[2] == {"status": "Rejected"}
    assert report.connects == 1


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_run_station_trigger_heartbeat_is_accepted_then_sent(protocol: str) -> None:
    # GIVEN a booted station whose own heartbeats are far away
    csms = FakeCsms()
    running = start(csms, a_station(protocol=protocol), heartbeat_interval=60)
    await eventually(lambda: len(csms.calls("StatusNotification")) == csms_statuses(protocol))

    # WHEN the CSMS triggers a Heartbeat
    reply = await csms.call("TriggerMessage", {"requestedMessage": "Heartbeat"})

    # THEN it answers Accepted, and the Heartbeat follows the answer
    assert reply[2] == {"status": "Accepted"}
    await eventually(lambda: "CP-1: heartbeat" in running.events)
    report = await running.finish()
    answer_at = csms.received.index(reply)
    heartbeat_at = csms.received.index(csms.calls("Heartbeat")[0])
    assert answer_at < heartbeat_at
    assert report.heartbeats_sent == 1
    assert report.calls_received == ["TriggerMessage"]


@pytest.mark.parametrize(
    ("protocol", "payload", "expected"),
    [
        ("ocpp1.6", {"requestedMessage": "StatusNotification", "connectorId": 2}, [2]),
        ("ocpp1.6", {"requestedMessage": "StatusNotification"}, [0, 1, 2]),
        ("ocpp2.0.1", {"requestedMessage": "StatusNotification", "evse": {"id": 2}}, [2]),
    ],
)
async def test_run_station_trigger_status_notification_reports_the_requested_connectors(
    protocol: str, payload: dict[str, Any], expected: list[int]
) -> None:
    # GIVEN a booted station
    csms = FakeCsms()
    running = start(csms, a_station(protocol=protocol), heartbeat_interval=60)
    await eventually(lambda: len(csms.calls("StatusNotification")) == csms_statuses(protocol))
    booted = len(csms.calls("StatusNotification"))

    # WHEN the CSMS triggers StatusNotification
    reply = await csms.call("TriggerMessage", payload)

    # THEN it sends one per requested connector (1.6) or EVSE (2.0.1)
    assert reply[2] == {"status": "Accepted"}
    await eventually(lambda: len(csms.calls("StatusNotification")) == booted + len(expected))
    await running.finish()
    key = "connectorId" if protocol == "ocpp1.6" else "evseId"
    assert [f[3][key] for f in csms.calls("StatusNotification")[booted:]] == expected


@pytest.mark.parametrize(
    ("protocol", "payload", "status"),
    [
        ("ocpp1.6", {"requestedMessage": "DiagnosticsStatusNotification"}, "NotImplemented"),
        ("ocpp1.6", {"requestedMessage": "StatusNotification", "connectorId": 9}, "Rejected"),
        ("ocpp2.0.1", {"requestedMessage": "LogStatusNotification"}, "NotImplemented"),
        ("ocpp2.0.1", {"requestedMessage": "Heartbeat", "evse": {"id": 3}}, "Rejected"),
    ],
)
async def test_run_station_trigger_of_what_it_cannot_send_is_refused(
    protocol: str, payload: dict[str, Any], status: str
) -> None:
    # GIVEN a booted station
    csms = FakeCsms()
    running = start(csms, a_station(protocol=protocol), heartbeat_interval=60)
    await eventually(lambda: len(csms.calls("StatusNotification")) == csms_statuses(protocol))
    sent = len(csms.calls())

    # WHEN the CSMS triggers a message it does not simulate, or for a connector it lacks
    reply = await csms.call("TriggerMessage", payload)
    await asyncio.sleep(0.02)
    await running.finish()

    # THEN it refuses with the version's status and sends nothing
    assert reply[2] == {"status": status}
    assert len(csms.calls()) == sent


@pytest.mark.parametrize(
    ("protocol", "payload", "boot"),
    [
        ("ocpp1.6", {"requestedMessage": "MeterValues", "connectorId": 1}, None),
        ("ocpp2.0.1", {"requestedMessage": "MeterValues"}, None),
        ("ocpp2.0.1", {"requestedMessage": "BootNotification"}, "Triggered"),
    ],
)
async def test_run_station_trigger_sends_meter_values_and_boot(
    protocol: str, payload: dict[str, Any], boot: str | None
) -> None:
    # GIVEN a booted station
    csms = FakeCsms()
    running = start(csms, a_station(protocol=protocol), heartbeat_interval=60)
    await eventually(lambda: len(csms.calls("StatusNotification")) == csms_statuses(protocol))

    # WHEN the CSMS triggers the message
    reply = await csms.call("TriggerMessage", payload)

    # THEN it is sent (valid against the version's schema, or the fake would not see it)
    assert reply[2] == {"status": "Accepted"}
    action = payload["requestedMessage"]
    await eventually(lambda: len(csms.calls(action)) >= (2 if boot else 1))
    await running.finish()
    if boot is not None:
        assert csms.calls("BootNotification")[1][3]["reason"] == boot


async def test_run_station_answers_an_unknown_action_with_not_implemented() -> None:
    # GIVEN a booted 1.6 station
    csms = FakeCsms()
    running = start(csms, a_station(protocol="ocpp1.6"), heartbeat_interval=60)
    await eventually(lambda: len(csms.calls("StatusNotification")) == 3)

    # WHEN the CSMS sends a call the simulator does not handle
    reply = await csms.call("DataTransfer", {"vendorId": "com.example"})
    report = await running.finish()

    # THEN the answer is a CALLERROR NotImplemented, and the call is in the report
    assert reply[0] == 4
    assert reply[2] == "NotImplemented"
    assert report.calls_received == ["DataTransfer"]


# --- connections -------------------------------------------------------------------------------


async def test_run_station_refused_handshake_is_reported_and_given_up() -> None:
    # GIVEN a CSMS that refuses the station's credentials
    csms = FakeCsms(refuse_with=401)
    timing = StationTiming(backoff_initial=0.02, backoff_max=0.05, jitter=0.0)
    running = start(csms, a_station(), max_refusals=3, timing=timing)

    # WHEN the station tries to connect
    loop = asyncio.get_running_loop()
    started = loop.time()
    report = await asyncio.wait_for(running.task, 1.0)

    # THEN it tried exactly max_refusals times, waiting between attempts, and gave up
    assert len(csms.handshakes) == 3
    assert loop.time() - started >= 0.02 + 0.04
    assert report.refused == 401
    assert report.error is not None
    assert "401" in report.error
    assert report.connects == 0
    assert "CP-1: connection refused (401)" in running.events


async def test_run_station_reconnects_after_a_dropped_connection_without_rebooting() -> None:
    # GIVEN a booted station
    csms = FakeCsms()
    running = start(csms, a_station(protocol="ocpp1.6"), heartbeat_interval=0.01)
    await eventually(lambda: bool(csms.calls("Heartbeat")))

    # WHEN the CSMS side drops the connection (API Gateway does so every 2 hours)
    await csms.drop()

    # THEN the station reconnects and goes on heartbeating, without a new boot
    await eventually(lambda: len(csms.sockets) == 2)
    heartbeats = len(csms.calls("Heartbeat"))
    await eventually(lambda: len(csms.calls("Heartbeat")) > heartbeats)
    report = await running.finish()
    assert report.connects == 2
    assert len(csms.calls("BootNotification")) == 1
    assert any("disconnected" in event for event in running.events)


async def test_run_station_gives_up_when_the_csms_selects_no_subprotocol() -> None:
    # GIVEN a CSMS that speaks none of the offered subprotocols
    csms = FakeCsms(protocols=())
    running = start(csms, a_station())

    # WHEN the station connects
    report = await asyncio.wait_for(running.task, 1.0)

    # THEN it reports the problem instead of guessing a version
    assert report.error is not None
    assert "subprotocol" in report.error
    assert report.connects == 0


async def test_run_station_keeps_retrying_an_unreachable_csms_with_backoff() -> None:
    # GIVEN a CSMS that cannot be reached
    attempts: list[str] = []

    async def unreachable(
        uri: str, *, subprotocols: Sequence[str], headers: Mapping[str, str]
    ) -> FakeSocket:
        attempts.append(uri)
        raise ConnectionRefusedError("connection refused")

    stop = asyncio.Event()
    timing = StationTiming(backoff_initial=0.01, backoff_max=0.02, jitter=0.0)
    task = asyncio.create_task(
        run_station(URL, a_station(), stop=stop, connect=unreachable, timing=timing)
    )

    # WHEN it has tried for a while, then is stopped
    await asyncio.sleep(0.1)
    stop.set()
    report = await asyncio.wait_for(task, 1.0)

    # THEN it retried at the backoff's pace (not in a hot loop), and never gave up on its own
    assert 2 <= len(attempts) <= 10
    assert report.error is None


async def test_run_station_never_logs_the_password(caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN full debug logging
    caplog.set_level(logging.DEBUG)
    csms = FakeCsms()
    running = start(csms, a_station(password="hunter2-secret"), heartbeat_interval=0.01)

    # WHEN the station runs
    await eventually(lambda: bool(csms.calls("Heartbeat")))
    report = await running.finish()

    # THEN neither the password nor the Basic Auth header appears anywhere
    encoded = base64.b64encode(b"CP-1:hunter2-secret").decode()
    for text in (caplog.text, "\n".join(running.events), repr(report), repr(a_station())):
        assert "hunter2-secret" not in text
        assert encoded not in text


def test_simulated_station_rejects_what_it_could_not_send() -> None:
    # GIVEN / WHEN / THEN a value that would fail the BootNotification schema is refused early
    with pytest.raises(ValueError, match="vendor"):
        a_station(vendor="V" * 21)
    with pytest.raises(ValueError, match="protocol"):
        a_station(protocol="ocpp2.1")
    with pytest.raises(ValueError, match="connector"):
        a_station(connectors=0)


# --- many stations -----------------------------------------------------------------------------


async def test_simulate_runs_all_stations_for_the_duration() -> None:
    # GIVEN two stations of different versions
    csms = FakeCsms()
    stations = [a_station(station_id="CP-1", protocol="ocpp1.6"), a_station(station_id="CP-2")]

    # WHEN they are simulated for a short while
    reports = await simulate(
        URL, stations, duration=0.3, heartbeat_interval=0.01, connect=csms.connect, timing=FAST
    )

    # THEN both booted and heartbeat, and both connections are closed
    assert [r.station_id for r in reports] == ["CP-1", "CP-2"]
    assert [r.protocol for r in reports] == ["ocpp1.6", "ocpp2.0.1"]
    assert all(r.boot_status == "Accepted" and r.heartbeats_sent > 0 for r in reports)
    assert all(socket.closed for socket in csms.sockets)


async def test_simulate_cancelled_closes_stations_and_returns_reports() -> None:
    # GIVEN a simulation without a duration (until Ctrl-C)
    csms = FakeCsms()
    task = asyncio.create_task(
        simulate(URL, [a_station()], duration=None, connect=csms.connect, timing=FAST)
    )
    await eventually(lambda: len(csms.calls("StatusNotification")) == 2)

    # WHEN it is cancelled
    task.cancel()
    reports = await asyncio.wait_for(task, 1.0)

    # THEN the station was closed cleanly and reported
    assert reports[0].boot_status == "Accepted"
    assert reports[0].error is None
    assert csms.sockets[0].closed


# --- command line ------------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="csms simulate")
    add_simulate_arguments(parser)
    return parser.parse_args(argv)


def write_seed(tmp_path: Path, stations: int = 2) -> Path:
    seed = tmp_path / "seed.json"
    document = {
        "sites": [{"id": "site-1", "name": "Depot", "limitKw": 100}],
        "stations": [
            {"id": f"CP-{i}", "siteId": "site-1", "password": f"pw-{i}", "protocol": "ocpp1.6"}
            for i in range(1, stations + 1)
        ],
        "tokens": [],
    }
    seed.write_text(json.dumps(document), encoding="utf-8")
    return seed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seed", "{missing}"], "seed file not found"),
        (["--seed", "{invalid}"], "not valid JSON"),
        (["--seed", "{seed}", "--stations", "3"], "has only 2 station(s)"),
        (["--seed", "{seed}", "--stations", "two"], "--stations must be a whole number"),
        (["--seed", "{seed}", "--stations", "0"], "--stations must be at least 1"),
        (["--seed", "{seed}", "--duration", "soon"], "--duration must be a number"),
        (["--seed", "{seed}", "--duration", "-1"], "--duration must be a positive"),
        (["--seed", "{seed}", "--heartbeat-interval", "nan"], "--heartbeat-interval must be"),
        (["--seed", "{seed}", "--connectors", "1.5"], "--connectors must be a whole number"),
        (["--seed", "{seed}", "--protocol", "ocpp2.1"], "--protocol must be one of"),
        (["--seed", "{seed}", "--url", "http://x"], "--url must start with ws://"),
        (["--station-id", "CP-9"], "--station-id needs --password"),
        (["--password", "pw"], "--password needs --station-id"),
        (["--seed", "{seed}", "--station-id", "CP-9", "--password", "pw"], "cannot be used"),
    ],
)
def test_run_simulate_wrong_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    # GIVEN a seed, a missing file, a file that is not JSON, and a wrong command line
    paths = {
        "seed": str(write_seed(tmp_path)),
        "missing": str(tmp_path / "nope.json"),
        "invalid": str(tmp_path / "invalid.json"),
    }
    (tmp_path / "invalid.json").write_text("{not json", encoding="utf-8")
    args = parse(*(arg.format(**paths) for arg in argv))

    # WHEN the command runs
    code = run_simulate(args)

    # THEN it exits 2 with one readable line on stderr, and runs nothing
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("csms simulate: error: ")
    assert message in err


def test_run_simulate_runs_the_first_stations_of_the_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a seed of three stations pinned to 1.6
    csms = FakeCsms()
    seed = write_seed(tmp_path, stations=3)
    args = parse(
        "--seed", str(seed), "--stations", "2", "--protocol", "ocpp2.0.1", "--connectors", "1",
        "--duration", "0.5", "--heartbeat-interval", "0.05",
    )  # fmt: skip

    # WHEN two of them are simulated with the protocol overridden
    code = run_simulate(args, connect=csms.connect)

    # THEN the first two ran on 2.0.1 with one connector, and a summary was printed
    out, _ = capsys.readouterr()
    assert code == 0
    assert [h.uri for h in csms.handshakes] == [f"ws://127.0.0.1:9000/ocpp/CP-{i}" for i in (1, 2)]
    assert all(h.subprotocols == ["ocpp2.0.1"] for h in csms.handshakes)
    assert len(csms.calls("StatusNotification")) == 2
    assert "CP-1: boot Accepted" in out
    summary = out.split("summary:\n")[1]
    assert summary.count("\n") == 2
    assert "CP-2: ocpp2.0.1, boot Accepted" in summary
    assert "pw-1" not in out


def test_run_simulate_refused_station_exits_1_with_a_clear_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN one explicit station whose password the CSMS refuses
    csms = FakeCsms(refuse_with=401)
    args = parse("--station-id", "CP-9", "--password", "wrong", "--max-refusals", "1")

    # WHEN it is simulated
    code = run_simulate(args, connect=csms.connect)

    # THEN the refusal is printed and the exit code says a station failed
    out, _ = capsys.readouterr()
    assert code == 1
    assert "CP-9: connection refused (401)" in out
    assert "CP-9: FAILED: connection refused (401)" in out


# --- failures ----------------------------------------------------------------------------------


async def test_run_station_call_errors_from_the_csms_are_reported_and_survived() -> None:
    # GIVEN a CSMS that answers the first boot, status and heartbeat with a CALLERROR
    csms = FakeCsms(errors={"BootNotification": 1, "StatusNotification": 1, "Heartbeat": 1})
    running = start(csms, a_station(protocol="ocpp1.6"), heartbeat_interval=0.01)

    # WHEN the station runs
    await eventually(lambda: len(csms.calls("Heartbeat")) >= 2)
    report = await running.finish()

    # THEN it retried the boot, went on past the failed status and heartbeat, and said so
    assert len(csms.calls("BootNotification")) == 2
    assert report.boot_status == "Accepted"
    assert report.error is None
    joined = "\n".join(running.events)
    assert "boot failed: BootNotification answered with InternalError: broken" in joined
    assert "status notification failed" in joined
    assert "heartbeat failed" in joined


async def test_run_station_failed_triggered_message_is_reported() -> None:
    # GIVEN a booted 2.0.1 station and a CSMS that fails MeterValues
    csms = FakeCsms(errors={"MeterValues": 1})
    running = start(csms, a_station(protocol="ocpp2.0.1"), heartbeat_interval=60)
    await eventually(lambda: len(csms.calls("StatusNotification")) == 2)

    # WHEN the CSMS triggers MeterValues for EVSE 1
    reply = await csms.call(
        "TriggerMessage", {"requestedMessage": "MeterValues", "evse": {"id": 1}}
    )

    # THEN the failure is an event, and the station stays connected
    assert reply[2] == {"status": "Accepted"}
    await eventually(lambda: any("triggered message failed" in e for e in running.events))
    report = await running.finish()
    assert (report.connects, report.error) == (1, None)


class BrokenSocket(FakeSocket):
    """A connection whose receiving side fails with a bug, and which cannot even close."""

    async def recv(self) -> str:
        raise RuntimeError("bug in the transport")

    async def close(self) -> None:
        raise RuntimeError("cannot close")


async def test_run_station_unexpected_failure_ends_the_station_with_an_error() -> None:
    # GIVEN a connection that fails in an unexpected way
    async def connect(
        uri: str, *, subprotocols: Sequence[str], headers: Mapping[str, str]
    ) -> FakeSocket:
        return BrokenSocket("ocpp1.6")

    # WHEN the station runs on it
    report = await asyncio.wait_for(
        run_station(URL, a_station(), stop=asyncio.Event(), connect=connect, timing=FAST), 1.0
    )

    # THEN it stops (no reconnect loop on a bug) and reports the error
    assert report.connects == 1
    assert report.error == "RuntimeError: bug in the transport"


async def test_run_station_failure_outside_a_session_is_reported() -> None:
    # GIVEN a connect function with a bug
    async def connect(
        uri: str, *, subprotocols: Sequence[str], headers: Mapping[str, str]
    ) -> FakeSocket:
        raise ValueError("bad uri")

    # WHEN the station runs
    report = await run_station(URL, a_station(), stop=asyncio.Event(), connect=connect)

    # THEN the station ends with the error instead of raising
    assert report.error == "ValueError: bad uri"


async def test_run_station_rejects_impossible_options() -> None:
    # GIVEN / WHEN / THEN options that cannot work are refused at once
    with pytest.raises(ValueError, match="max_refusals"):
        await run_station(URL, a_station(), stop=asyncio.Event(), max_refusals=0)
    with pytest.raises(ValueError, match="heartbeat_interval"):
        await run_station(URL, a_station(), stop=asyncio.Event(), heartbeat_interval=0)


async def test_run_station_stops_while_connecting() -> None:
    # GIVEN a CSMS that never finishes the handshake
    async def hanging(
        uri: str, *, subprotocols: Sequence[str], headers: Mapping[str, str]
    ) -> FakeSocket:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    stop = asyncio.Event()
    task = asyncio.create_task(run_station(URL, a_station(), stop=stop, connect=hanging))
    await asyncio.sleep(0.01)

    # WHEN the station is stopped
    stop.set()
    report = await asyncio.wait_for(task, 1.0)

    # THEN it returns at once, never having connected
    assert (report.connects, report.error) == (0, None)


async def test_run_station_boots_again_when_the_protocol_changes() -> None:
    # GIVEN a booted station offering both versions, on 2.0.1
    csms = FakeCsms()
    running = start(csms, a_station(), heartbeat_interval=0.01)
    await eventually(lambda: bool(csms.calls("Heartbeat")))

    # WHEN it reconnects to a CSMS that now speaks only 1.6
    csms.protocols = ("ocpp1.6",)
    await csms.drop()
    await eventually(lambda: len(csms.calls("BootNotification")) == 2)
    report = await running.finish()

    # THEN it booted again in 1.6
    assert "chargePointVendor" in csms.calls("BootNotification")[1][3]
    assert report.protocol == "ocpp1.6"


async def test_simulate_without_stations_returns_no_reports() -> None:
    # GIVEN / WHEN nothing to simulate / THEN nothing is reported
    assert await simulate(URL, [], duration=None) == []


# --- seed files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "has no list of stations"),
        ({"stations": {}}, "has no list of stations"),
        ({"stations": []}, "has no stations"),
        ({"stations": ["CP-1"]}, "stations[0] is not an object"),
        ({"stations": [{"password": "pw"}]}, "stations[0].id must be a non-empty string"),
        ({"stations": [{"id": "CP-1"}]}, "stations[0].password must be a non-empty string"),
        ({"stations": [{"id": "CP-1", "password": "p", "protocol": "2.1"}]}, ".protocol must be"),
        ({"stations": [{"id": "CP-1", "password": "p", "protocol": 16}]}, ".protocol must be"),
        ({"stations": [{"id": "a/b", "password": "p"}]}, "invalid station id"),
    ],
)
def test_run_simulate_bad_seed_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: object, message: str
) -> None:
    # GIVEN a seed file of the wrong shape
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(document), encoding="utf-8")

    # WHEN the command runs on it
    code = run_simulate(parse("--seed", str(seed)))

    # THEN it exits 2 with one line that says what is wrong
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1
    assert message in err


def test_run_simulate_unreadable_seed_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a seed that is a directory, and one that is not UTF-8
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    for seed, message in ((tmp_path, "cannot read seed file"), (tmp_path / "binary.json", "UTF-8")):
        # WHEN the command runs on it
        code = run_simulate(parse("--seed", str(seed)))

        # THEN it exits 2 with one line
        _, err = capsys.readouterr()
        assert code == 2
        assert message in err
        assert err.count("\n") == 1


def test_run_simulate_stations_option_needs_a_seed(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN / WHEN --stations with an explicit station
    code = run_simulate(parse("--station-id", "CP-1", "--password", "pw", "--stations", "2"))

    # THEN it is a usage error
    assert code == 2
    assert "--stations selects stations of a seed" in capsys.readouterr().err


def test_run_simulate_accepts_short_protocol_names_in_the_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a seed that pins its station with "2.0.1" rather than "ocpp2.0.1"
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps({"stations": [{"id": "CP-1", "password": "pw", "protocol": "2.0.1"}]}),
        encoding="utf-8",
    )
    csms = FakeCsms()

    # WHEN it is simulated
    code = run_simulate(parse("--seed", str(seed), "--duration", "0.05"), connect=csms.connect)

    # THEN the station offered exactly ocpp2.0.1
    assert code == 0
    assert csms.handshakes[0].subprotocols == ["ocpp2.0.1"]
    assert "until Ctrl-C" not in capsys.readouterr().out


def test_run_simulate_second_ctrl_c_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN a Ctrl-C that arrives again while the stations are closing
    def interrupted(main: Any) -> Any:
        main.close()
        raise KeyboardInterrupt

    monkeypatch.setattr(asyncio, "run", interrupted)

    # WHEN the command runs
    code = run_simulate(parse("--seed", str(write_seed(tmp_path))))

    # THEN it exits like an interrupted program, without a traceback
    assert code == 130
    assert capsys.readouterr().err == "csms simulate: interrupted\n"


# --- the websockets client adapter -------------------------------------------------------------


class FakeClientConnection:
    """Stands in for websockets' ClientConnection once the connection is closed."""

    subprotocol = "ocpp1.6"

    def __init__(self, closed: Exception) -> None:
        self._closed = closed
        self.closed = False

    async def recv(self) -> str:
        raise self._closed

    async def send(self, message: str) -> None:
        raise self._closed

    async def close(self) -> None:
        self.closed = True


async def test_websockets_connector_passes_auth_and_subprotocols(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from websockets.exceptions import ConnectionClosedError
    from websockets.frames import Close

    from csms_local.simulator import websockets_connector

    # GIVEN the websockets client replaced by one that records its arguments
    seen: dict[str, Any] = {}
    websocket = FakeClientConnection(ConnectionClosedError(Close(1001, "going away"), None))

    async def fake_connect(uri: str, **kwargs: Any) -> FakeClientConnection:
        seen.update(kwargs, uri=uri)
        return websocket

    monkeypatch.setattr("websockets.asyncio.client.connect", fake_connect)

    # WHEN a station connects through the adapter
    connection = await websockets_connector(FAST)(
        "ws://h/ocpp/CP-1", subprotocols=["ocpp1.6"], headers={"Authorization": "Basic x"}
    )

    # THEN the handshake carried the subprotocols and the header
    assert seen["uri"] == "ws://h/ocpp/CP-1"
    # AND the header stays out of websockets' debug log of the handshake
    caplog.set_level(logging.DEBUG)
    seen["logger"].debug("> %s: %s", "Authorization", "Basic x")
    seen["logger"].debug("> %s: %s", "Host", "h")
    assert "Basic x" not in caplog.text
    assert "Host: h" in caplog.text
    assert seen["subprotocols"] == ["ocpp1.6"]
    assert seen["additional_headers"] == {"Authorization": "Basic x"}
    assert connection.subprotocol == "ocpp1.6"
    # AND a closed connection surfaces as ConnectionError, with the close code
    with pytest.raises(ConnectionError, match="1001 going away"):
        await connection.recv()
    with pytest.raises(ConnectionError, match="1001"):
        await connection.send("[]")
    await connection.close()
    assert websocket.closed


async def test_websockets_connector_connection_closed_without_a_close_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from websockets.exceptions import ConnectionClosedError

    from csms_local.simulator import websockets_connector

    # GIVEN a connection that dropped without a close frame
    async def fake_connect(uri: str, **kwargs: Any) -> FakeClientConnection:
        return FakeClientConnection(ConnectionClosedError(None, None))

    monkeypatch.setattr("websockets.asyncio.client.connect", fake_connect)
    connection = await websockets_connector()("ws://h/x", subprotocols=[], headers={})

    # WHEN / THEN receiving says the connection is closed
    with pytest.raises(ConnectionError, match=r"^connection closed$"):
        await connection.recv()


async def test_websockets_connector_maps_handshake_failures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from websockets.datastructures import Headers
    from websockets.exceptions import InvalidHeader, InvalidStatus, InvalidURI
    from websockets.http11 import Response

    from csms_local.simulator import websockets_connector

    # GIVEN handshakes that fail in each way websockets reports
    failures: list[Exception] = [
        InvalidStatus(Response(401, "Unauthorized", Headers())),
        InvalidURI("nope://x", "scheme isn't ws or wss"),
        InvalidHeader("Sec-WebSocket-Protocol", "bad"),
    ]

    async def fake_connect(uri: str, **kwargs: Any) -> FakeClientConnection:
        raise failures.pop(0)

    monkeypatch.setattr("websockets.asyncio.client.connect", fake_connect)
    connect = websockets_connector(FAST)

    # WHEN / THEN a refusal keeps its status, a bad URI is a ValueError, the rest is transient
    with pytest.raises(HandshakeRefusedError) as refused:
        await connect("ws://h/x", subprotocols=[], headers={})
    assert refused.value.status_code == 401
    with pytest.raises(ValueError, match="scheme"):
        await connect("ws://h/x", subprotocols=[], headers={})
    with pytest.raises(ConnectionError, match="handshake failed"):
        await connect("ws://h/x", subprotocols=[], headers={})
