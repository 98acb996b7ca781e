"""Every reply the CSMS sends validates against the official schemas of the station's version.

CALLRESULT payloads must pass the official Response schema; CALLERROR codes must be among the
version's legal codes (1.6 spells `FormationViolation`/`OccurenceConstraintViolation`); CALLs the
CSMS encodes must pass the official Request schema.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.conftest import World
from tests.contract import golden
from tests.fakes import a_binding, a_station

from csms.domain.commands import (
    Command,
    ResetCommand,
    ResetKind,
    TriggerableMessage,
    TriggerMessageCommand,
)
from csms.domain.station import ProtocolVersion
from csms.ocpp.common import schemas
from csms.ocpp.common.errors import ErrorKind
from csms.ocpp.common.frames import CALL, CALL_ERROR, CALL_RESULT, MAX_UNIQUE_ID
from csms.ocpp.dispatch import PROTOCOLS, OcppCallEncoder

V16, V201 = ProtocolVersion.OCPP16, ProtocolVersion.OCPP201
BOTH = [V16, V201]
VERSION_IDS = ["v16", "v201"]
CONNECTION = "conn-1"


def _bind(world: World, version: ProtocolVersion) -> None:
    world.stations_repo.register(a_station())
    world.stations_repo.bind(a_binding(connection_id=CONNECTION, protocol=version))


def _send(world: World, frame: object) -> list[Any]:
    raw = frame if isinstance(frame, str) else json.dumps(frame)
    reply = world.dispatcher.handle(CONNECTION, raw)
    assert reply is not None
    decoded: list[Any] = json.loads(reply)
    return decoded


def assert_legal_reply(
    version: ProtocolVersion, action: str, unique_id: str, reply: list[Any]
) -> None:
    """A CALLRESULT passing the Response schema, or a CALLERROR with a legal code."""
    assert reply[1] == unique_id
    if reply[0] == CALL_RESULT:
        assert len(reply) == 3
        schemas.validate(golden.SCHEMA_VERSIONS[version], CALL_RESULT, action, reply[2])
        return
    assert reply[0] == CALL_ERROR
    assert len(reply) == 5
    _, _, code, description, details = reply
    assert code in golden.LEGAL_ERROR_CODES[version]
    assert isinstance(description, str)
    assert len(description) <= 255
    assert isinstance(details, dict)


def _golden_station_calls() -> list[Any]:
    return [
        pytest.param(version, name, id=f"{golden.FOLDERS[version]}-{name}")
        for version in BOTH
        for name in golden.station_calls(version)
    ]


@pytest.mark.parametrize(("version", "name"), _golden_station_calls())
def test_reply_to_golden_call_is_a_schema_valid_callresult(
    world: World, version: ProtocolVersion, name: str
) -> None:
    # GIVEN a station bound over this version
    _bind(world, version)
    frame = golden.frame(version, name)
    # WHEN it sends a golden CALL
    reply = _send(world, frame)
    # THEN it gets a CALLRESULT with its unique id, valid against the official Response schema
    assert reply[0] == CALL_RESULT, reply
    assert_legal_reply(version, frame[2], frame[1], reply)


def _known_actions() -> list[Any]:
    return [
        pytest.param(version, action, id=f"{golden.FOLDERS[version]}-{action}")
        for version in BOTH
        for action in sorted(schemas.known_actions(golden.SCHEMA_VERSIONS[version]))
    ]


@pytest.mark.parametrize(("version", "action"), _known_actions())
def test_reply_to_every_known_action_is_legal(
    world: World, version: ProtocolVersion, action: str
) -> None:
    # GIVEN a station bound over this version
    _bind(world, version)
    # WHEN it sends any action of its version, with an empty payload
    reply = _send(world, [CALL, "any-action", action, {}])
    # THEN the answer is a schema-valid CALLRESULT or a CALLERROR with a legal code
    assert_legal_reply(version, action, "any-action", reply)


BOOT16 = golden.payload(V16, "boot_notification")
BOOT201 = golden.payload(V201, "boot_notification")
STATUS16 = golden.payload(V16, "status_available")
STATUS201 = golden.payload(V201, "status_available")


def _without(payload: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != key}


@pytest.mark.parametrize(
    ("version", "frame", "kind"),
    [
        (
            V16,
            [2, "u", "BootNotification", _without(BOOT16, "chargePointModel")],
            ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
        ),
        (
            V201,
            [2, "u", "BootNotification", _without(BOOT201, "reason")],
            ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
        ),
        (
            V16,
            [2, "u", "StatusNotification", {**STATUS16, "connectorId": "1"}],
            ErrorKind.TYPE_CONSTRAINT_VIOLATION,
        ),
        (
            V201,
            [2, "u", "StatusNotification", {**STATUS201, "evseId": "1"}],
            ErrorKind.TYPE_CONSTRAINT_VIOLATION,
        ),
        (
            V16,
            [2, "u", "StatusNotification", {**STATUS16, "status": "Occupied"}],
            ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
        ),
        (
            V201,
            [2, "u", "StatusNotification", {**STATUS201, "connectorStatus": "Charging"}],
            ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
        ),
        (
            V16,
            [2, "u", "StatusNotification", {**STATUS16, "timestamp": "yesterday"}],
            ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
        ),
        (
            V201,
            [2, "u", "StatusNotification", {**STATUS201, "timestamp": "yesterday"}],
            ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
        ),
        (V16, [2, "u", "Heartbeat", {"extra": 1}], ErrorKind.FORMAT_VIOLATION),
        (V201, [2, "u", "Heartbeat", {"extra": 1}], ErrorKind.FORMAT_VIOLATION),
        (V16, [2, "u", "Heartbeat", []], ErrorKind.FORMAT_VIOLATION),
        (V201, [2, "u", "Heartbeat", []], ErrorKind.FORMAT_VIOLATION),
        (V16, [2, "u", "NoSuchAction", {}], ErrorKind.NOT_IMPLEMENTED),
        (V201, [2, "u", "NoSuchAction", {}], ErrorKind.NOT_IMPLEMENTED),
        (V16, [2, "u", "Heartbeat"], ErrorKind.RPC_FRAMEWORK_ERROR),
        (V201, [2, "u", "Heartbeat"], ErrorKind.RPC_FRAMEWORK_ERROR),
        (V16, [7, "u", "Heartbeat", {}], ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED),
        (V201, [7, "u", "Heartbeat", {}], ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED),
        # 2.0.1-only actions are unknown to 1.6, and vice versa.
        (V16, [2, "u", "TransactionEvent", {}], ErrorKind.NOT_IMPLEMENTED),
        (V201, [2, "u", "StartTransaction", {}], ErrorKind.NOT_IMPLEMENTED),
    ],
)
def test_reply_to_broken_call_is_the_versions_spelling_of_the_error(
    world: World, version: ProtocolVersion, frame: list[Any], kind: ErrorKind
) -> None:
    # GIVEN a station bound over this version
    _bind(world, version)
    # WHEN it sends a CALL that breaks the schema or the framing
    reply = _send(world, frame)
    # THEN the CALLERROR code is the version's spelling of what went wrong, and legal
    assert reply[0] == CALL_ERROR
    assert reply[2] == PROTOCOLS[version].code(kind)
    assert_legal_reply(version, "Heartbeat", "u", reply)


@pytest.mark.parametrize("kind", list(ErrorKind))
@pytest.mark.parametrize("version", BOTH, ids=VERSION_IDS)
def test_error_kind_every_kind_has_a_legal_spelling(
    version: ProtocolVersion, kind: ErrorKind
) -> None:
    # GIVEN a version-neutral error kind
    # WHEN the version spells it
    code = PROTOCOLS[version].code(kind)
    # THEN the code is one the version defines
    assert code in golden.LEGAL_ERROR_CODES[version]


@pytest.mark.parametrize("version", BOTH, ids=VERSION_IDS)
def test_reply_to_internal_fault_is_internalerror_without_exception_text(
    world: World, version: ProtocolVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a bound station and a use case that fails unexpectedly
    _bind(world, version)

    def broken(*args: object) -> object:
        raise RuntimeError("secret-db-password in /srv/app.py line 42")

    monkeypatch.setattr(world.stations, "register_boot", broken)
    frame = golden.frame(version, "boot_notification")
    # WHEN the station boots
    reply = _send(world, frame)
    # THEN it gets InternalError with no exception text, type or trace on the wire
    assert reply == [CALL_ERROR, frame[1], "InternalError", "internal error", {}]


@pytest.mark.parametrize("version", BOTH, ids=VERSION_IDS)
def test_reply_to_call_on_unbound_connection_is_a_legal_securityerror(
    world: World, version: ProtocolVersion
) -> None:
    # GIVEN no station bound to the connection
    # WHEN a CALL arrives on it
    reply = _send(world, golden.frame(version, "heartbeat"))
    # THEN the answer is a SecurityError, legal in both versions
    assert reply[2] == "SecurityError"
    assert_legal_reply(version, "Heartbeat", "golden-heartbeat", reply)


def _commands() -> list[Command]:
    commands: list[Command] = [ResetCommand(kind=kind) for kind in ResetKind]
    commands += [
        TriggerMessageCommand(message=message, evse_id=evse_id)
        for message in TriggerableMessage
        for evse_id in (None, 0, 1, 2)
    ]
    return commands


@pytest.mark.parametrize("command", _commands(), ids=repr)
@pytest.mark.parametrize("version", BOTH, ids=VERSION_IDS)
def test_encoded_command_conforms_to_official_request_schema(
    version: ProtocolVersion, command: Command
) -> None:
    # GIVEN a version-neutral command
    # WHEN the services' encoder turns it into a CALL for this version
    encoded = OcppCallEncoder().encode(version, "c" * MAX_UNIQUE_ID, command)
    # THEN the frame is a CALL with that id whose payload passes the official Request schema
    frame = json.loads(encoded.frame)
    assert frame == [CALL, "c" * MAX_UNIQUE_ID, encoded.action, encoded.payload]
    schemas.validate(golden.SCHEMA_VERSIONS[version], CALL, encoded.action, encoded.payload)
