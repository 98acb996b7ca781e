"""Golden 1.6 and 2.0.1 frames for the same event map to equal domain objects (DESIGN §3).

Where a version cannot say something the other says, the comparison normalizes exactly that
field and asserts what each version gives for it, so nothing is silently ignored:
- BootNotification: 1.6 has no boot reason, so a 1.6 boot always maps to `BootReason.UNKNOWN`.
  The `boot_notification_modem` pair has a 2.0.1 frame that says `Unknown` and must be equal as
  a whole; the `boot_notification` pair (2.0.1 says `PowerUp`) is equal with the reason aside.
- StatusNotification: 1.6 carries an `errorCode` (kept as `error_code` unless `NoError`) and
  folds the charging state into its status (kept as `detail`); 2.0.1 reports neither here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.contract import golden

from csms.domain.commands import (
    Command,
    CommandStatus,
    ResetCommand,
    ResetKind,
    TriggerableMessage,
    TriggerMessageCommand,
)
from csms.domain.connector import ConnectorStatus, EvseRef, OccupancyDetail
from csms.domain.station import BootReason, ProtocolVersion
from csms.ocpp.common import schemas
from csms.ocpp.common.frames import CALL, CALL_RESULT, Call, CallResult, parse_frame
from csms.ocpp.dispatch import OcppCallEncoder
from csms.ocpp.v16 import protocol as p16
from csms.ocpp.v201 import protocol as p201

V16, V201 = ProtocolVersion.OCPP16, ProtocolVersion.OCPP201
BOTH = [V16, V201]
T = "2026-11-24T08:00:00.000Z"

# CSMS -> station: golden name -> the domain command both golden frames encode.
COMMANDS: dict[str, Command] = {
    "reset_hard": ResetCommand(kind=ResetKind.HARD),
    "reset_soft": ResetCommand(kind=ResetKind.SOFT),
    "trigger_status_notification": TriggerMessageCommand(
        message=TriggerableMessage.STATUS_NOTIFICATION, evse_id=1
    ),
    "trigger_boot_notification": TriggerMessageCommand(
        message=TriggerableMessage.BOOT_NOTIFICATION
    ),
    "trigger_diagnostics_status": TriggerMessageCommand(
        message=TriggerableMessage.DIAGNOSTICS_STATUS_NOTIFICATION
    ),
}

# Station answers to commands: golden name -> (the action answered, the status both decode to).
RESULTS: dict[str, tuple[str, CommandStatus]] = {
    "reset_result_accepted": ("Reset", CommandStatus.ACCEPTED),
    "trigger_result_rejected": ("TriggerMessage", CommandStatus.REJECTED),
}


def _all_golden() -> list[Any]:
    return [
        pytest.param(version, name, id=f"{golden.FOLDERS[version]}-{name}")
        for version in BOTH
        for name in golden.names(version)
    ]


@pytest.mark.parametrize(("version", "name"), _all_golden())
def test_golden_frame_conforms_to_official_schema(version: ProtocolVersion, name: str) -> None:
    # GIVEN a golden frame as stored
    raw = json.dumps(golden.frame(version, name))
    # WHEN it is parsed as OCPP-J
    parsed = parse_frame(raw)
    # THEN it is a CALL or CALLRESULT whose payload passes the version's official schema
    schema_version = golden.SCHEMA_VERSIONS[version]
    if isinstance(parsed, Call):
        schemas.validate(schema_version, CALL, parsed.action, parsed.payload)
    else:
        assert isinstance(parsed, CallResult)
        action, _ = RESULTS[name]
        schemas.validate(schema_version, CALL_RESULT, action, parsed.payload)


def test_golden_frames_every_file_has_its_counterpart() -> None:
    # GIVEN the golden folders of both versions
    old, new = set(golden.names(V16)), set(golden.names(V201))
    # WHEN their names are compared
    # THEN every event and command is described in both versions, but for a CALL that only one
    # version defines (most 2.0.1 notifications), and each one is checked here
    for version, own, other in ((V16, old, new), (V201, new, old)):
        twin = golden.SCHEMA_VERSIONS[V201 if version is V16 else V16]
        for name in own - other:
            message = golden.frame(version, name)
            assert message[0] == CALL, name
            assert message[2] not in schemas.known_actions(twin), name
    described = {*golden.station_calls(V16), *golden.station_calls(V201), *COMMANDS, *RESULTS}
    assert described == old | new


@pytest.mark.parametrize("name", ["boot_notification", "boot_notification_modem"])
def test_boot_notification_golden_pair_maps_to_equal_boot_info(name: str) -> None:
    # GIVEN the same boot told by a 1.6 and a 2.0.1 station
    old = p16.boot_info(golden.payload(V16, name))
    new = p201.boot_info(golden.payload(V201, name))
    # WHEN the reason is set aside (1.6 cannot say it: the domain then holds Unknown)
    # THEN both versions give the same BootInfo
    assert old.reason is BootReason.UNKNOWN
    assert new.model_copy(update={"reason": BootReason.UNKNOWN}) == old
    assert new.reason is BootReason(golden.payload(V201, name)["reason"])


def test_boot_notification_golden_pair_with_unknown_reason_is_equal_as_a_whole() -> None:
    # GIVEN a 2.0.1 boot that says reason Unknown, with a modem, and its 1.6 twin
    old = p16.boot_info(golden.payload(V16, "boot_notification_modem"))
    new = p201.boot_info(golden.payload(V201, "boot_notification_modem"))
    # WHEN both are mapped
    # THEN nothing at all differs (1.6 iccid/imsi are 2.0.1 chargingStation.modem.*)
    assert old == new
    assert new.iccid == "8931440400000000000"
    assert new.imsi == "204040000000000"
    assert new.serial_number == "BOX-7"


@pytest.mark.parametrize(
    ("name", "evse", "status"),
    [
        ("status_available", EvseRef(evse_id=1, connector_id=1), ConnectorStatus.AVAILABLE),
        ("status_unavailable", EvseRef(evse_id=1, connector_id=1), ConnectorStatus.UNAVAILABLE),
        ("status_reserved", EvseRef(evse_id=1, connector_id=1), ConnectorStatus.RESERVED),
        ("status_station", EvseRef(evse_id=0, connector_id=0), ConnectorStatus.AVAILABLE),
        (
            "status_station_unavailable",
            EvseRef(evse_id=0, connector_id=0),
            ConnectorStatus.UNAVAILABLE,
        ),
    ],
)
def test_status_notification_golden_pair_maps_to_equal_report(
    name: str, evse: EvseRef, status: ConnectorStatus
) -> None:
    # GIVEN the same status told by a 1.6 and a 2.0.1 station
    # WHEN both are mapped
    old = p16.status_report(golden.payload(V16, name))
    new = p201.status_report(golden.payload(V201, name))
    # THEN the reports are equal, 1.6 connectorId N being EVSE N connector 1 (0: the station)
    assert old == new
    assert new.evse == evse
    assert new.status is status
    assert new.timestamp is not None
    assert new.timestamp.isoformat() == "2026-11-24T08:00:00+00:00"


def test_status_notification_faulted_pair_keeps_the_16_error_code() -> None:
    # GIVEN a connector fault told by 1.6 (with its errorCode) and by 2.0.1 (which has none)
    old = p16.status_report(golden.payload(V16, "status_faulted"))
    new = p201.status_report(golden.payload(V201, "status_faulted"))
    # WHEN both are mapped
    # THEN status, EVSE and time agree, and only 1.6 carries the error code
    assert old.error_code == "GroundFailure"
    assert new.error_code is None
    assert old.model_copy(update={"error_code": None}) == new
    assert new.status is ConnectorStatus.FAULTED
    assert new.evse == EvseRef(evse_id=2, connector_id=1)


def test_status_notification_occupied_pair_keeps_the_16_detail() -> None:
    # GIVEN a charging connector: 1.6 says Charging, 2.0.1 says Occupied
    old = p16.status_report(golden.payload(V16, "status_occupied"))
    new = p201.status_report(golden.payload(V201, "status_occupied"))
    # WHEN both are mapped
    # THEN both are Occupied, and only 1.6 tells what the occupancy is
    assert old.detail is OccupancyDetail.CHARGING
    assert new.detail is None
    assert old.model_copy(update={"detail": None}) == new
    assert new.status is ConnectorStatus.OCCUPIED


@pytest.mark.parametrize(
    ("status16", "status201", "detail"),
    [
        ("Available", "Available", None),
        ("Preparing", "Occupied", OccupancyDetail.PREPARING),
        ("Charging", "Occupied", OccupancyDetail.CHARGING),
        ("SuspendedEVSE", "Occupied", OccupancyDetail.SUSPENDED_EVSE),
        ("SuspendedEV", "Occupied", OccupancyDetail.SUSPENDED_EV),
        ("Finishing", "Occupied", OccupancyDetail.FINISHING),
        ("Reserved", "Reserved", None),
        ("Unavailable", "Unavailable", None),
        ("Faulted", "Faulted", None),
    ],
)
def test_status_notification_every_16_status_maps_to_its_201_state(
    status16: str, status201: str, detail: OccupancyDetail | None
) -> None:
    # GIVEN each of the nine 1.6 statuses and the 2.0.1 state it corresponds to
    old = p16.status_report(
        {"connectorId": 3, "errorCode": "NoError", "status": status16, "timestamp": T}
    )
    new = p201.status_report(
        {"timestamp": T, "connectorStatus": status201, "evseId": 3, "connectorId": 1}
    )
    # WHEN both are mapped
    # THEN they agree on the state, and the 1.6 sub-state survives as the detail
    assert old.detail is detail
    assert old.model_copy(update={"detail": None}) == new


@pytest.mark.parametrize("name", sorted(COMMANDS))
@pytest.mark.parametrize("version", BOTH, ids=["v16", "v201"])
def test_command_encodes_to_golden_frame(version: ProtocolVersion, name: str) -> None:
    # GIVEN a version-neutral command and its golden CALL in this version
    command = COMMANDS[name]
    expected = golden.frame(version, name)
    # WHEN the version's protocol module and the services' encoder encode it
    encode = p16.encode_command if version is V16 else p201.encode_command
    action, payload = encode(command)
    encoded = OcppCallEncoder().encode(version, golden.COMMAND_ID, command)
    # THEN both give exactly the golden frame (Hard/Soft are Immediate/OnIdle in 2.0.1)
    assert [CALL, golden.COMMAND_ID, action, payload] == expected
    assert json.loads(encoded.frame) == expected
    assert (encoded.action, encoded.payload) == (action, payload)


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_command_result_golden_pair_decodes_to_equal_status(name: str) -> None:
    # GIVEN the same answer to a command in both versions
    action, status = RESULTS[name]
    # WHEN each version's decoder reads it
    old = p16.PROTOCOL.result_decoders[action](golden.payload(V16, name))
    new = p201.PROTOCOL.result_decoders[action](golden.payload(V201, name))
    # THEN both give the same version-neutral status
    assert old is new is status
