"""The WebSocket route handlers on moto: connect, messages, commands, disconnect, events."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from tests.integration.conftest import Ctx, connect_event, message_event, seed_station

from csms.domain.command_records import CommandState
from csms.domain.commands import (
    CommandStatus,
    ResetCommand,
    ResetKind,
    TriggerableMessage,
    TriggerMessageCommand,
)
from csms.handlers import _runtime, ws_connect, ws_disconnect, ws_message
from csms_local import emulation

BOOT = {
    "ocpp1.6": {"chargePointVendor": "Acme", "chargePointModel": "AC22", "firmwareVersion": "1.2"},
    "ocpp2.0.1": {
        "chargingStation": {"vendorName": "Acme", "model": "AC22", "firmwareVersion": "1.2"},
        "reason": "PowerUp",
    },
}
STATUS = {
    "ocpp1.6": {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": "Available",
        "timestamp": "2026-11-24T08:00:00Z",
    },
    "ocpp2.0.1": {
        "timestamp": "2026-11-24T08:00:00Z",
        "connectorStatus": "Available",
        "evseId": 1,
        "connectorId": 1,
    },
}


TTL = timedelta(minutes=10)


def _send(connection_id: str, frame: list[Any]) -> list[Any] | None:
    result = ws_message.lambda_handler(message_event(connection_id, json.dumps(frame)), Ctx())
    assert result["statusCode"] == 200
    return json.loads(result["body"]) if "body" in result else None


@pytest.mark.parametrize("via_query", [True, False], ids=["query-form", "path-form"])
def test_connect_station_id_from_query_or_path_accepts(
    runtime: _runtime.Runtime, via_query: bool
) -> None:
    # GIVEN a registered station
    seed_station(runtime)
    # WHEN it connects with the id in ?station= (AWS) or in /ocpp/{id} (local)
    result = ws_connect.lambda_handler(connect_event("CP-1", via_query=via_query), Ctx())
    # THEN the upgrade is accepted with the preferred subprotocol, returned by the handler
    assert result == {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "ocpp2.0.1"}}
    station = runtime.station_repository.get("CP-1")
    assert station is not None
    assert station.online
    assert station.connection_id == "conn-1"


@pytest.mark.parametrize(
    ("event_over", "status", "reason"),
    [
        ({"station": "NOPE-1"}, 401, "UnknownStation"),
        ({"password": "wrong-password"}, 401, "BadCredentials"),
        ({"protocols": "ocpp2.1, wamp"}, 400, "NoAcceptableSubprotocol"),
    ],
)
def test_connect_refused_is_logged_with_reason(
    runtime: _runtime.Runtime, event_over: dict[str, str], status: int, reason: str
) -> None:
    # GIVEN a registered station
    seed_station(runtime)
    station_id = event_over.pop("station", "CP-1")
    # WHEN an attempt comes with an unknown id, a wrong password or no acceptable protocol
    event = connect_event(
        station_id,
        password=event_over.get("password", "integration-pass-1"),
        protocols=event_over.get("protocols", "ocpp2.0.1, ocpp1.6"),
    )
    result = ws_connect.lambda_handler(event, Ctx())
    # THEN the upgrade is refused and the attempt is in that station id's connection log
    assert result == {"statusCode": status}
    entries = runtime.connection_log.list(station_id, 10).items
    assert [(e.outcome.value, e.reason.value if e.reason else None) for e in entries] == [
        ("Refused", reason)
    ]
    assert entries[0].source_ip == "203.0.113.7"


def test_connect_without_credentials_is_refused(runtime: _runtime.Runtime) -> None:
    # GIVEN a registered station
    seed_station(runtime)
    event = connect_event("CP-1")
    del event["headers"]["Authorization"]
    # WHEN it connects without Basic auth
    result = ws_connect.lambda_handler(event, Ctx())
    # THEN 401 and the log says credentials were missing
    assert result == {"statusCode": 401}
    assert runtime.connection_log.list("CP-1", 1).items[0].reason is not None


def test_connect_pinned_station_gets_its_protocol(runtime: _runtime.Runtime) -> None:
    # GIVEN a station pinned to 1.6
    seed_station(runtime, protocol="ocpp1.6")
    # WHEN it offers both versions
    result = ws_connect.lambda_handler(connect_event("CP-1"), Ctx())
    # THEN it gets 1.6 although the server prefers 2.0.1
    assert result["headers"] == {"Sec-WebSocket-Protocol": "ocpp1.6"}


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
def test_message_boot_heartbeat_status_are_answered_and_stored(
    aws: emulation.EmulatedResources, protocol: str
) -> None:
    # GIVEN a connected station
    runtime = _runtime.gateway()
    seed_station(runtime, protocol=protocol)
    ws_connect.lambda_handler(connect_event("CP-1"), Ctx())
    # WHEN it boots, heartbeats and reports a status
    boot = _send("conn-1", [2, "b1", "BootNotification", BOOT[protocol]])
    beat = _send("conn-1", [2, "h1", "Heartbeat", {}])
    status = _send("conn-1", [2, "s1", "StatusNotification", STATUS[protocol]])
    # THEN each CALL gets its CALLRESULT
    assert boot is not None
    assert boot[:2] == [3, "b1"]
    assert boot[2]["status"] == "Accepted"
    assert boot[2]["interval"] == 300
    assert beat is not None
    assert beat[:2] == [3, "h1"]
    assert "currentTime" in beat[2]
    assert status == [3, "s1", {}]
    # AND the boot data and connector status are stored
    station = runtime.station_repository.get("CP-1")
    assert station is not None
    assert station.boot is not None
    assert (station.boot.vendor, station.boot.model, station.boot.firmware_version) == (
        "Acme",
        "AC22",
        "1.2",
    )
    [connector] = runtime.statuses.list("CP-1")
    assert (connector.evse.evse_id, connector.evse.connector_id, connector.status.value) == (
        1,
        1,
        "Available",
    )
    # AND the domain events reached the bus in the {metadata, data} envelope
    # (through the table stream and the outbox relay, as in AWS)
    pump = emulation.OutboxPump(aws.table_name)
    pump.pump()
    events = emulation.drain_events(aws.events_queue_url)
    types = [e["detail-type"] for e in events]
    assert types == ["StationConnected", "StationBooted", "ConnectorStatusChanged"]
    # AND a second pump publishes nothing again
    pump.pump()
    assert emulation.drain_events(aws.events_queue_url) == []
    assert all(e["source"] == "csms.stations" for e in events)
    assert events[1]["detail"]["metadata"]["station_id"] == "CP-1"
    assert events[1]["detail"]["data"]["vendor"] == "Acme"


def test_message_heartbeat_writes_nothing(
    runtime: _runtime.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a connected station
    seed_station(runtime)
    ws_connect.lambda_handler(connect_event("CP-1"), Ctx())
    from pynamodb.connection.base import Connection

    calls: list[str] = []
    original = Connection.dispatch

    def counting(self: Connection, operation_name: str, operation_kwargs: Any) -> Any:
        calls.append(operation_name)
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "dispatch", counting)
    # WHEN it sends heartbeats
    for n in range(3):
        assert _send("conn-1", [2, f"h{n}", "Heartbeat", {}]) is not None
    # THEN nothing was written (and the warm binding cache made even reads unnecessary)
    assert [c for c in calls if c not in ("GetItem", "Query")] == []
    assert calls == []


def test_disconnect_marks_offline_unless_superseded(runtime: _runtime.Runtime) -> None:
    # GIVEN a station that reconnected (API Gateway's 2-hour cut) before the old $disconnect
    seed_station(runtime)
    ws_connect.lambda_handler(connect_event("CP-1", "old"), Ctx())
    ws_connect.lambda_handler(connect_event("CP-1", "new"), Ctx())
    # WHEN the old connection's $disconnect arrives late
    ws_disconnect.lambda_handler({"requestContext": {"connectionId": "old"}}, Ctx())
    # THEN the station stays online on the new connection
    station = runtime.station_repository.get("CP-1")
    assert station is not None
    assert (station.online, station.connection_id) == (True, "new")
    # WHEN the current connection closes
    ws_disconnect.lambda_handler({"requestContext": {"connectionId": "new"}}, Ctx())
    # THEN the station is offline, and both disconnects are in the log
    station = runtime.station_repository.get("CP-1")
    assert station is not None
    assert (station.online, station.connection_id) == (False, None)
    outcomes = [e.outcome.value for e in runtime.connection_log.list("CP-1", 10).items]
    assert outcomes.count("Disconnected") == 2
    assert outcomes.count("Connected") == 2


@pytest.fixture
def sender_frames(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Route the production sender to moto's apigatewaymanagementapi and capture frames."""
    monkeypatch.setenv(
        "CSMS_WS_MANAGEMENT_ENDPOINT", "https://abc123.execute-api.us-east-1.amazonaws.com/prod"
    )
    _runtime.reset()
    frames: list[str] = []
    from csms.adapters.apigw import ApiGwConnectionSender

    original = ApiGwConnectionSender.send

    def capture(self: ApiGwConnectionSender, connection_id: str, frame: str) -> None:
        original(self, connection_id, frame)  # moto accepts it: the real client is exercised
        frames.append(frame)

    monkeypatch.setattr(ApiGwConnectionSender, "send", capture)
    return frames


@pytest.mark.parametrize(
    ("protocol", "command", "wire"),
    [
        ("ocpp1.6", ResetCommand(kind=ResetKind.HARD), ("Reset", {"type": "Hard"})),
        ("ocpp2.0.1", ResetCommand(kind=ResetKind.HARD), ("Reset", {"type": "Immediate"})),
        ("ocpp2.0.1", ResetCommand(kind=ResetKind.SOFT), ("Reset", {"type": "OnIdle"})),
        (
            "ocpp1.6",
            TriggerMessageCommand(message=TriggerableMessage.HEARTBEAT),
            ("TriggerMessage", {"requestedMessage": "Heartbeat"}),
        ),
        (
            "ocpp2.0.1",
            TriggerMessageCommand(message=TriggerableMessage.STATUS_NOTIFICATION, evse_id=1),
            ("TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": 1}}),
        ),
    ],
)
def test_command_sent_in_station_version_and_answer_matched(
    aws: emulation.EmulatedResources,
    sender_frames: list[str],
    protocol: str,
    command: ResetCommand | TriggerMessageCommand,
    wire: tuple[str, dict[str, Any]],
) -> None:
    # GIVEN a connected station of this version
    runtime = _runtime.gateway()
    seed_station(runtime, protocol=protocol)
    ws_connect.lambda_handler(connect_event("CP-1"), Ctx())
    # WHEN the CSMS sends a command
    call = runtime.commands.send("default", "CP-1", command, TTL)
    # THEN the CALL went out through the management API in the station's version
    [frame] = sender_frames
    assert json.loads(frame) == [2, call.id, *wire]
    # AND a second command waits in the queue while the first is outstanding
    queued = runtime.commands.send("default", "CP-1", command, TTL)
    assert queued.state is CommandState.QUEUED
    assert len(sender_frames) == 1
    # WHEN the station answers
    assert _send("conn-1", [3, call.id, {"status": "Accepted"}]) is None
    # THEN the answer is matched by unique id
    done = runtime.commands.result("default", "CP-1", call.id)
    assert (done.state, done.status) == (CommandState.ANSWERED, CommandStatus.ACCEPTED)
    # AND the queued command went out on the same connection
    assert json.loads(sender_frames[1]) == [2, queued.id, *wire]
    assert runtime.commands.result("default", "CP-1", queued.id).state is CommandState.PENDING


def test_command_without_answer_times_out_and_frees_the_slot(
    aws: emulation.EmulatedResources, sender_frames: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a connected station and a call timeout of 1 s (only here: on a loaded machine the
    # first send alone can take that long)
    monkeypatch.setenv("CSMS_CALL_TIMEOUT_S", "1")
    _runtime.reset()
    runtime = _runtime.gateway()
    seed_station(runtime)
    ws_connect.lambda_handler(connect_event("CP-1"), Ctx())
    call = runtime.commands.send("default", "CP-1", ResetCommand(), TTL)
    # WHEN no answer comes before the deadline
    time.sleep(1.1)
    # THEN the call is reported as timed out, a late answer changes nothing, and the
    # station can take a new call
    assert runtime.commands.result("default", "CP-1", call.id).state is CommandState.TIMED_OUT
    _send("conn-1", [3, call.id, {"status": "Accepted"}])
    assert runtime.commands.result("default", "CP-1", call.id).state is CommandState.TIMED_OUT
    runtime.commands.send("default", "CP-1", ResetCommand(), TTL)
    assert len(sender_frames) == 2


def test_command_callerror_is_recorded(
    aws: emulation.EmulatedResources, sender_frames: list[str]
) -> None:
    # GIVEN a command in flight
    runtime = _runtime.gateway()
    seed_station(runtime, protocol="ocpp1.6")
    ws_connect.lambda_handler(connect_event("CP-1"), Ctx())
    call = runtime.commands.send("default", "CP-1", ResetCommand(), TTL)
    # WHEN the station answers with a CALLERROR
    _send("conn-1", [4, call.id, "NotSupported", "no resets here", {}])
    # THEN the call failed with the station's code
    done = runtime.commands.result("default", "CP-1", call.id)
    assert (done.state, done.error_code) == (CommandState.FAILED, "NotSupported")
    assert sender_frames
