"""The OCPP-J router, end to end through `world.dispatcher.handle`, for both versions."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from tests.conftest import World
from tests.fakes import T0, a_binding, a_station

from csms.domain.command_records import CommandRecord, CommandState
from csms.domain.commands import (
    CommandStatus,
    ResetCommand,
    ResetKind,
    TriggerableMessage,
    TriggerMessageCommand,
)
from csms.domain.connector import ConnectorStatus, EvseRef, OccupancyDetail
from csms.domain.errors import CallInProgressError, StationNotFoundError
from csms.domain.events import ConnectorStatusChanged, StationBooted
from csms.domain.station import BootReason, ProtocolVersion, RegistrationStatus
from csms.ocpp.common.frames import CALL_RESULT
from csms.ocpp.common.schemas import validate

V16 = ProtocolVersion.OCPP16
V201 = ProtocolVersion.OCPP201
BOTH = pytest.mark.parametrize("protocol", [V16, V201], ids=["1.6", "2.0.1"])
NOW = "2026-11-24T08:00:00.000Z"
TTL = timedelta(minutes=10)

BOOT = {
    V16: {"chargePointVendor": "ACME", "chargePointModel": "Fast-22", "firmwareVersion": "1.0"},
    V201: {
        "reason": "PowerUp",
        "chargingStation": {"vendorName": "ACME", "model": "Fast-22", "firmwareVersion": "1.0"},
    },
}
STATUS_CHARGING = {
    V16: {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": NOW},
    V201: {"timestamp": NOW, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
}
# A CSMS -> station action: known to the version, never routed when a station sends it.
RESET = {V16: {"type": "Hard"}, V201: {"type": "Immediate"}}
SCHEMA_VERSION = {V16: "1.6", V201: "2.0.1"}


def bound(
    world: World,
    protocol: ProtocolVersion,
    station_id: str = "CP-1",
    connection_id: str = "conn-1",
) -> None:
    """A registered station, online on `connection_id` over `protocol`."""
    world.stations_repo.register(a_station(id=station_id))
    world.stations_repo.bind(
        a_binding(station_id=station_id, connection_id=connection_id, protocol=protocol)
    )


def handle(world: World, frame: Any, connection_id: str = "conn-1") -> list[Any] | None:
    raw = frame if isinstance(frame, str | bytes) else json.dumps(frame)
    reply = world.dispatcher.handle(connection_id, raw)
    return None if reply is None else json.loads(reply)


def code_of(reply: list[Any] | None) -> str:
    assert reply is not None
    assert reply[0] == 4, reply
    assert reply[4] == {}
    code: str = reply[2]
    return code


# -- charger-initiated calls that are routed ---------------------------------------------------


@BOTH
def test_dispatch_boot_notification_is_accepted(world: World, protocol: ProtocolVersion) -> None:
    # GIVEN a station bound over this version
    bound(world, protocol)
    # WHEN it sends BootNotification
    reply = handle(world, [2, "b-1", "BootNotification", BOOT[protocol]])
    # THEN it is accepted with the time and the heartbeat interval
    assert reply == [3, "b-1", {"status": "Accepted", "currentTime": NOW, "interval": 300}]
    validate(SCHEMA_VERSION[protocol], CALL_RESULT, "BootNotification", reply[2])
    # AND the boot is stored and published
    station = world.stations_repo.stations["CP-1"]
    assert station.boot is not None
    assert (station.boot.vendor, station.boot.model) == ("ACME", "Fast-22")
    assert station.registration_status is RegistrationStatus.ACCEPTED
    [event] = world.events.events
    assert isinstance(event, StationBooted)
    assert event.firmware_version == "1.0"
    expected_reason = BootReason.UNKNOWN if protocol is V16 else BootReason.POWER_UP
    assert event.reason is expected_reason


@BOTH
def test_dispatch_heartbeat_answers_current_time(world: World, protocol: ProtocolVersion) -> None:
    # GIVEN a bound station, a little later
    bound(world, protocol)
    world.clock.advance(1.5)
    # WHEN it sends Heartbeat (as bytes, as API Gateway may deliver it)
    reply = handle(world, b'[2,"h-1","Heartbeat",{}]')
    # THEN it gets the time in OCPP format, and nothing else happens
    assert reply == [3, "h-1", {"currentTime": "2026-11-24T08:00:01.500Z"}]
    validate(SCHEMA_VERSION[protocol], CALL_RESULT, "Heartbeat", reply[2])
    assert world.events.events == []


@BOTH
def test_dispatch_status_notification_stores_state(world: World, protocol: ProtocolVersion) -> None:
    # GIVEN a bound station
    bound(world, protocol)
    # WHEN it reports connector 1 occupied
    reply = handle(world, [2, "s-1", "StatusNotification", STATUS_CHARGING[protocol]])
    # THEN it gets an empty CALLRESULT
    assert reply == [3, "s-1", {}]
    validate(SCHEMA_VERSION[protocol], CALL_RESULT, "StatusNotification", reply[2])
    # AND the state is stored, version-neutral, and the change published
    state = world.statuses.get("CP-1", EvseRef(evse_id=1, connector_id=1))
    assert state is not None
    assert state.status is ConnectorStatus.OCCUPIED
    expected_detail = OccupancyDetail.CHARGING if protocol is V16 else None
    assert state.detail is expected_detail
    [event] = world.events.events
    assert isinstance(event, ConnectorStatusChanged)
    assert event.occurred_at == T0


def test_dispatch_status_notification_16_without_timestamp_uses_receipt_time(
    world: World,
) -> None:
    # GIVEN a 1.6 station
    bound(world, V16)
    world.clock.advance(10)
    # WHEN it reports status without a timestamp, on connector 0
    payload = {"connectorId": 0, "errorCode": "NoError", "status": "Available"}
    reply = handle(world, [2, "s-1", "StatusNotification", payload])
    # THEN the station-level state is stored at the time of receipt
    assert reply == [3, "s-1", {}]
    state = world.statuses.get("CP-1", EvseRef(evse_id=0, connector_id=0))
    assert state is not None
    assert state.reported_at == T0 + timedelta(seconds=10)


# -- calls that are not routed ------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("action", ["FooBar", "heartbeat"])
def test_dispatch_unknown_action_is_not_implemented(
    world: World, protocol: ProtocolVersion, action: str
) -> None:
    # GIVEN a bound station
    bound(world, protocol)
    # WHEN it sends an action its version does not define
    reply = handle(world, [2, "x-1", action, {}])
    # THEN it gets NotImplemented
    assert code_of(reply) == "NotImplemented"
    assert reply is not None
    assert reply[1] == "x-1"


@pytest.mark.parametrize(
    ("protocol", "action"), [(V16, "TransactionEvent"), (V201, "StartTransaction")]
)
def test_dispatch_other_versions_action_is_not_implemented(
    world: World, protocol: ProtocolVersion, action: str
) -> None:
    # GIVEN a station bound over one version
    bound(world, protocol)
    # WHEN it sends an action of the other version
    reply = handle(world, [2, "x-1", action, {}])
    # THEN it is unknown to its version
    assert code_of(reply) == "NotImplemented"


@BOTH
def test_dispatch_known_but_unrouted_action_is_not_supported(
    world: World, protocol: ProtocolVersion
) -> None:
    # GIVEN a bound station
    bound(world, protocol)
    # WHEN it sends Reset, which the version defines for the other direction only
    reply = handle(world, [2, "a-1", "Reset", RESET[protocol]])
    # THEN it gets NotSupported
    assert code_of(reply) == "NotSupported"


# -- schema failures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "action", "payload", "code"),
    [
        (V16, "Heartbeat", {"extra": 1}, "FormationViolation"),
        (V16, "BootNotification", {"chargePointVendor": "V"}, "OccurenceConstraintViolation"),
        (
            V16,
            "BootNotification",
            {"chargePointVendor": 1, "chargePointModel": "M"},
            "TypeConstraintViolation",
        ),
        (
            V16,
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Busy"},
            "PropertyConstraintViolation",
        ),
        (
            V16,
            "BootNotification",
            {"chargePointVendor": "V" * 21, "chargePointModel": "M"},
            "PropertyConstraintViolation",
        ),
        (V201, "Heartbeat", {"extra": 1}, "FormatViolation"),
        (V201, "BootNotification", {"reason": "PowerUp"}, "OccurrenceConstraintViolation"),
        (
            V201,
            "StatusNotification",
            {"timestamp": NOW, "connectorStatus": "Available", "evseId": "1", "connectorId": 1},
            "TypeConstraintViolation",
        ),
        (
            V201,
            "StatusNotification",
            {"timestamp": NOW, "connectorStatus": "Charging", "evseId": 1, "connectorId": 1},
            "PropertyConstraintViolation",
        ),
    ],
)
def test_dispatch_schema_failure_gets_the_version_violation_code(
    world: World, protocol: ProtocolVersion, action: str, payload: dict[str, Any], code: str
) -> None:
    # GIVEN a bound station
    bound(world, protocol)
    # WHEN it sends a payload that breaks the official schema
    reply = handle(world, [2, "v-1", action, payload])
    # THEN it gets its version's spelling of the violation, and nothing was stored
    assert code_of(reply) == code
    assert world.events.events == []
    assert world.statuses.history_items == {}


@BOTH
def test_dispatch_bad_timestamp_is_property_violation(
    world: World, protocol: ProtocolVersion
) -> None:
    # GIVEN a bound station
    bound(world, protocol)
    payload = {**STATUS_CHARGING[protocol], "timestamp": "yesterday at noon"}
    # WHEN it reports a status with an unreadable timestamp
    reply = handle(world, [2, "t-1", "StatusNotification", payload])
    # THEN it gets PropertyConstraintViolation naming the field
    assert code_of(reply) == "PropertyConstraintViolation"
    assert reply is not None
    assert reply[3] == "timestamp: not an RFC 3339 date-time"


@BOTH
def test_dispatch_overflowing_timestamp_is_property_violation(
    world: World, protocol: ProtocolVersion
) -> None:
    # GIVEN a bound station
    bound(world, protocol)
    payload = {**STATUS_CHARGING[protocol], "timestamp": "0001-01-01T00:00:00+01:00"}
    # WHEN it reports a status with a time before year 1 in UTC
    reply = handle(world, [2, "t-1", "StatusNotification", payload])
    # THEN it is a PropertyConstraintViolation like any other unreadable time
    assert code_of(reply) == "PropertyConstraintViolation"


@pytest.mark.parametrize(
    ("protocol", "payload"),
    [
        (V16, {"connectorId": -1, "errorCode": "NoError", "status": "Available"}),
        (
            V201,
            {"timestamp": NOW, "connectorStatus": "Available", "evseId": -1, "connectorId": 1},
        ),
    ],
)
def test_dispatch_negative_connector_is_property_violation(
    world: World, protocol: ProtocolVersion, payload: dict[str, Any]
) -> None:
    # GIVEN a bound station
    bound(world, protocol)
    # WHEN it reports a negative connector (allowed by the schemas)
    reply = handle(world, [2, "n-1", "StatusNotification", payload])
    # THEN it gets PropertyConstraintViolation
    assert code_of(reply) == "PropertyConstraintViolation"


# -- broken frames ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "frame", "code"),
    [
        (V16, [2, "f-1", "Heartbeat"], "ProtocolError"),
        (V201, [2, "f-1", "Heartbeat"], "RpcFrameworkError"),
        (V16, [2, "f-1", "", {}], "ProtocolError"),
        (V201, [2, "f-1", 42, {}], "RpcFrameworkError"),
        (V16, [2, "f-1", "Heartbeat", []], "FormationViolation"),
        (V201, [2, "f-1", "Heartbeat", "{}"], "FormatViolation"),
        (V16, [5, "f-1", "Heartbeat", {}], "ProtocolError"),
        (V201, [5, "f-1", "Heartbeat", {}], "MessageTypeNotSupported"),
        (V201, [True, "f-1", "Heartbeat", {}], "MessageTypeNotSupported"),
    ],
)
def test_dispatch_broken_frame_with_readable_id_is_answered(
    world: World, protocol: ProtocolVersion, frame: list[Any], code: str
) -> None:
    # GIVEN a bound station
    bound(world, protocol)
    # WHEN it sends a malformed frame whose message id can still be read
    reply = handle(world, frame)
    # THEN it gets its version's error, to that id, naming the problem
    assert code_of(reply) == code
    assert reply is not None
    assert reply[1] == "f-1"
    assert reply[3]


@BOTH
@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        '[2,"f-1","Heartbeat",{"x":NaN}]',
        "{}",
        "[]",
        [2, 17, "Heartbeat", {}],
        [2, "x" * 37, "Heartbeat", {}],
        [3, "f-1"],
        [3, "f-1", []],
        [4, "f-1", 1, "d", {}],
        [4, "f-1", "GenericError", "d"],
    ],
)
def test_dispatch_broken_frame_without_id_or_broken_reply_is_dropped(
    world: World, protocol: ProtocolVersion, frame: Any
) -> None:
    # GIVEN a bound station
    bound(world, protocol)
    # WHEN it sends a frame with no readable id, or a malformed CALLRESULT/CALLERROR
    reply = handle(world, frame)
    # THEN nothing is sent back (replies are never answered)
    assert reply is None


# -- faults inside a route ----------------------------------------------------------------------


@BOTH
def test_dispatch_internal_fault_is_internal_error_without_detail(
    world: World, protocol: ProtocolVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a bound station and a use case that blows up
    bound(world, protocol)

    def explode(*args: object) -> None:
        raise RuntimeError("secret detail: db password is hunter2")

    monkeypatch.setattr(world.stations, "register_boot", explode)
    # WHEN the station boots
    reply = handle(world, [2, "i-1", "BootNotification", BOOT[protocol]])
    # THEN it gets InternalError with a fixed description and nothing of the exception
    assert reply == [4, "i-1", "InternalError", "internal error", {}]
    raw = world.dispatcher.handle(
        "conn-1", json.dumps([2, "i-2", "BootNotification", BOOT[protocol]])
    )
    assert raw is not None
    assert "secret" not in raw
    assert "hunter2" not in raw
    assert "RuntimeError" not in raw


@BOTH
@pytest.mark.parametrize(
    "case",
    [
        (StationNotFoundError("CP-1"), "SecurityError", "station is not registered"),
        (CallInProgressError("CP-1", "u"), "GenericError", "another call is in progress"),
    ],
    ids=["not-found", "in-progress"],
)
def test_dispatch_domain_error_in_route_is_mapped(
    world: World,
    protocol: ProtocolVersion,
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[Exception, str, str],
) -> None:
    # GIVEN a bound station and a use case that refuses with a domain error
    error, code, description = case
    bound(world, protocol)

    def refuse(*args: object) -> None:
        raise error

    monkeypatch.setattr(world.stations, "heartbeat", refuse)
    # WHEN the station sends a heartbeat
    reply = handle(world, [2, "d-1", "Heartbeat", {}])
    # THEN the error maps to its code with a safe description
    assert reply == [4, "d-1", code, description, {}]


# -- unbound connections ------------------------------------------------------------------------


def test_dispatch_call_on_unbound_connection_is_security_error(world: World) -> None:
    # GIVEN no binding for conn-x
    # WHEN a CALL arrives on it
    reply = handle(world, [2, "u-1", "Heartbeat", {}], connection_id="conn-x")
    # THEN it gets SecurityError (spelled alike in both versions)
    assert reply == [4, "u-1", "SecurityError", "connection is not bound to a station", {}]


@pytest.mark.parametrize(
    "frame", [[3, "u-1", {"status": "Accepted"}], [4, "u-1", "GenericError", "", {}], "junk"]
)
def test_dispatch_reply_or_junk_on_unbound_connection_is_dropped(world: World, frame: Any) -> None:
    # GIVEN no binding for conn-x
    # WHEN a reply or junk arrives on it
    reply = handle(world, frame, connection_id="conn-x")
    # THEN nothing is answered
    assert reply is None


# -- replies to CSMS-initiated calls ------------------------------------------------------------


@BOTH
def test_dispatch_call_result_answers_the_outstanding_call(
    world: World, protocol: ProtocolVersion
) -> None:
    # GIVEN an outstanding Reset to a bound station
    bound(world, protocol)
    call = world.commands.send("tenant-a", "CP-1", ResetCommand(kind=ResetKind.HARD), TTL)
    world.clock.advance(1)
    # WHEN the station answers it
    reply = handle(world, [3, call.id, {"status": "Accepted"}])
    # THEN nothing is sent back and the call is answered with the status
    assert reply is None
    stored = world.commands.result("tenant-a", "CP-1", call.id)
    assert stored.state is CommandState.ANSWERED
    assert stored.status is CommandStatus.ACCEPTED
    assert stored.response == {"status": "Accepted"}
    assert stored.answered_at == T0 + timedelta(seconds=1)


@pytest.mark.parametrize(("protocol", "status"), [(V16, "NotImplemented"), (V201, "Rejected")])
def test_dispatch_call_result_to_trigger_message(
    world: World, protocol: ProtocolVersion, status: str
) -> None:
    # GIVEN an outstanding TriggerMessage
    bound(world, protocol)
    command = TriggerMessageCommand(message=TriggerableMessage.HEARTBEAT)
    call = world.commands.send("tenant-a", "CP-1", command, TTL)
    # WHEN the station answers
    handle(world, [3, call.id, {"status": status}])
    # THEN the status is read
    stored = world.commands.result("tenant-a", "CP-1", call.id)
    assert stored.status is CommandStatus(status)


@BOTH
def test_dispatch_call_error_fails_the_outstanding_call(
    world: World, protocol: ProtocolVersion
) -> None:
    # GIVEN an outstanding Reset
    bound(world, protocol)
    call = world.commands.send("tenant-a", "CP-1", ResetCommand(), TTL)
    # WHEN the station answers with a CALLERROR
    reply = handle(world, [4, call.id, "NotSupported", "no reset here", {}])
    # THEN nothing is sent back and the call failed with that code
    assert reply is None
    stored = world.commands.result("tenant-a", "CP-1", call.id)
    assert stored.state is CommandState.FAILED
    assert (stored.error_code, stored.error_description) == ("NotSupported", "no reset here")


@BOTH
def test_dispatch_invalid_call_result_fails_the_call(
    world: World, protocol: ProtocolVersion
) -> None:
    # GIVEN an outstanding Reset
    bound(world, protocol)
    call = world.commands.send("tenant-a", "CP-1", ResetCommand(), TTL)
    # WHEN the station answers with a payload its schema forbids
    reply = handle(world, [3, call.id, {"status": "Maybe"}])
    # THEN nothing is sent back and the call failed as InvalidResponse
    assert reply is None
    stored = world.commands.result("tenant-a", "CP-1", call.id)
    assert stored.state is CommandState.FAILED
    assert stored.error_code == "InvalidResponse"
    assert stored.error_description is not None
    assert stored.error_description.startswith("status:")


@BOTH
def test_dispatch_reply_to_unknown_id_is_ignored(world: World, protocol: ProtocolVersion) -> None:
    # GIVEN an outstanding Reset
    bound(world, protocol)
    call = world.commands.send("tenant-a", "CP-1", ResetCommand(), TTL)
    # WHEN a reply to some other id arrives
    reply = handle(world, [3, "not-ours", {"status": "Accepted"}])
    # THEN it is ignored and the call still waits
    assert reply is None
    assert world.commands.result("tenant-a", "CP-1", call.id).state is CommandState.PENDING


def test_dispatch_reply_from_another_station_cannot_answer(world: World) -> None:
    # GIVEN an outstanding call to CP-1, and CP-2 bound on conn-2
    bound(world, V201)
    bound(world, V201, station_id="CP-2", connection_id="conn-2")
    call = world.commands.send("tenant-a", "CP-1", ResetCommand(), TTL)
    # WHEN CP-2 sends a reply with CP-1's call id
    reply = handle(world, [3, call.id, {"status": "Accepted"}], connection_id="conn-2")
    # THEN CP-1's call is untouched
    assert reply is None
    assert world.commands.result("tenant-a", "CP-1", call.id).state is CommandState.PENDING


def test_dispatch_late_reply_after_deadline_is_ignored(world: World) -> None:
    # GIVEN a call past its deadline
    bound(world, V16)
    call = world.commands.send("tenant-a", "CP-1", ResetCommand(), TTL)
    world.clock.advance(31)
    # WHEN the answer finally arrives
    handle(world, [3, call.id, {"status": "Accepted"}])
    # THEN the call is reported as timed out, not answered
    assert world.commands.result("tenant-a", "CP-1", call.id).state is CommandState.TIMED_OUT


def test_dispatch_reply_to_action_without_decoder_has_no_status(world: World) -> None:
    # GIVEN an outstanding call of an action with no status decoder
    bound(world, V201)
    call = CommandRecord(
        id="cc-1",
        station_id="CP-1",
        tenant_id="tenant-a",
        action="DataTransfer",
        ocpp_action="DataTransfer",
        state=CommandState.PENDING,
        request={},
        queued_at=T0,
        expires_at=T0 + TTL,
        sent_at=T0,
        deadline=T0 + timedelta(seconds=30),
    )
    world.calls.open(call, T0)
    # WHEN the station answers
    handle(world, [3, "cc-1", {"status": "Accepted"}])
    # THEN the call is answered, the raw response kept, with no version-neutral status
    stored = world.commands.result("tenant-a", "CP-1", "cc-1")
    assert stored.state is CommandState.ANSWERED
    assert stored.status is None
    assert stored.response == {"status": "Accepted"}


def test_dispatch_fault_while_matching_a_reply_is_contained(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an outstanding call and a store that fails while recording the answer
    bound(world, V201)
    call = world.commands.send("tenant-a", "CP-1", ResetCommand(), TTL)

    def broken(*args: object) -> bool:
        raise RuntimeError("store down")

    monkeypatch.setattr(world.commands, "answer", broken)
    # WHEN the station answers
    reply = handle(world, [3, call.id, {"status": "Accepted"}])
    # THEN nothing escapes and nothing is sent back; the call still waits
    assert reply is None
    assert world.commands.result("tenant-a", "CP-1", call.id).state is CommandState.PENDING


# -- DESIGN §4: retransmissions -----------------------------------------------------------------
