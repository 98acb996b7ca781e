"""OCPP 2.0.1 wire shapes to and from the domain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.domain.commands import ResetCommand, ResetKind, TriggerableMessage, TriggerMessageCommand
from csms.domain.connector import MAX_ID, ConnectorStatus, EvseRef, StatusReport
from csms.domain.station import BootInfo, BootReason, ProtocolVersion
from csms.ocpp.common.errors import ErrorKind, PayloadError
from csms.ocpp.v16 import protocol as v16
from csms.ocpp.v201.protocol import PROTOCOL, boot_info, encode_command, status_report

FAST = settings(database=None, deadline=None, max_examples=100)


def test_protocol_201_identity() -> None:
    # GIVEN / WHEN / THEN the table is the 2.0.1 one, spelling kinds as named
    assert PROTOCOL.version is ProtocolVersion.OCPP201
    assert PROTOCOL.schema_version == "2.0.1"
    assert set(PROTOCOL.routes) >= {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "Authorize",
        "TransactionEvent",
        "MeterValues",
    }
    # every command this version sends has a decoder and a reader
    assert (
        set(PROTOCOL.result_decoders) == set(PROTOCOL.result_readers) >= {"Reset", "TriggerMessage"}
    )
    assert all(PROTOCOL.code(kind) == kind.value for kind in ErrorKind)


def test_boot_info_201_reads_station_and_modem() -> None:
    # GIVEN a full 2.0.1 BootNotificationRequest
    payload = {
        "reason": "RemoteReset",
        "chargingStation": {
            "vendorName": "ACME",
            "model": "Fast-22",
            "serialNumber": "SN",
            "firmwareVersion": "2.0",
            "modem": {"iccid": "8931", "imsi": "2620"},
        },
    }
    # WHEN mapped
    boot = boot_info(payload)
    # THEN every field lands, with the reason
    assert boot == BootInfo(
        vendor="ACME",
        model="Fast-22",
        serial_number="SN",
        firmware_version="2.0",
        iccid="8931",
        imsi="2620",
        reason=BootReason.REMOTE_RESET,
    )


def test_boot_info_201_without_modem() -> None:
    # GIVEN only the required fields
    payload = {"reason": "PowerUp", "chargingStation": {"vendorName": "V", "model": "M"}}
    # WHEN / THEN the optional fields are empty
    assert boot_info(payload) == BootInfo(vendor="V", model="M", reason=BootReason.POWER_UP)


@pytest.mark.parametrize(
    "reason",
    [
        "ApplicationReset",
        "FirmwareUpdate",
        "LocalReset",
        "PowerUp",
        "RemoteReset",
        "ScheduledReset",
        "Triggered",
        "Unknown",
        "Watchdog",
    ],
)
def test_boot_info_201_every_schema_reason_is_known(reason: str) -> None:
    # GIVEN each BootReasonEnumType value / WHEN mapped / THEN the domain has it
    payload = {"reason": reason, "chargingStation": {"vendorName": "V", "model": "M"}}
    assert boot_info(payload).reason.value == reason


def test_status_report_201() -> None:
    # GIVEN a 2.0.1 StatusNotificationRequest
    payload = {
        "timestamp": "2026-11-24T08:00:00.000Z",
        "connectorStatus": "Occupied",
        "evseId": 2,
        "connectorId": 1,
    }
    # WHEN mapped
    report = status_report(payload)
    # THEN it is the same domain report, with no 1.6 detail or error code
    assert report == StatusReport(
        evse=EvseRef(evse_id=2, connector_id=1),
        status=ConnectorStatus.OCCUPIED,
        timestamp=datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(("evse_id", "connector_id"), [(-1, 1), (1, -1), (-2, -2)])
def test_status_report_201_negative_ids_are_property_violation(
    evse_id: int, connector_id: int
) -> None:
    # GIVEN a negative evseId or connectorId (the schema allows any integer)
    payload = {
        "timestamp": "2026-11-24T08:00:00Z",
        "connectorStatus": "Available",
        "evseId": evse_id,
        "connectorId": connector_id,
    }
    # WHEN / THEN it is a PropertyConstraintViolation
    with pytest.raises(PayloadError) as caught:
        status_report(payload)
    assert caught.value.kind is ErrorKind.PROPERTY_CONSTRAINT_VIOLATION


def test_status_report_201_bad_timestamp_is_property_violation() -> None:
    # GIVEN a timestamp that is no date-time
    payload = {"timestamp": "soon", "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
    # WHEN / THEN it is a PropertyConstraintViolation
    with pytest.raises(PayloadError):
        status_report(payload)


@FAST
@given(
    st.sampled_from([s.value for s in ConnectorStatus]),
    st.integers(min_value=0, max_value=MAX_ID),
    st.integers(min_value=0, max_value=MAX_ID),
)
def test_status_report_201_mapping_properties(status: str, evse_id: int, connector_id: int) -> None:
    # GIVEN any valid 2.0.1 status
    payload = {
        "timestamp": "2026-11-24T08:00:00Z",
        "connectorStatus": status,
        "evseId": evse_id,
        "connectorId": connector_id,
    }
    # WHEN mapped
    report = status_report(payload)
    # THEN the state and ids are kept as they are, with no 1.6-only detail
    assert report.status.value == status
    assert (report.evse.evse_id, report.evse.connector_id) == (evse_id, connector_id)
    assert report.detail is None
    assert report.error_code is None


@pytest.mark.parametrize(
    ("status_16", "status_201"),
    [("Available", "Available"), ("Reserved", "Reserved"), ("Unavailable", "Unavailable")],
)
def test_status_report_golden_frames_of_both_versions_agree(
    status_16: str, status_201: str
) -> None:
    # GIVEN the same event as a 1.6 and a 2.0.1 frame
    frame_16 = {
        "connectorId": 3,
        "errorCode": "NoError",
        "status": status_16,
        "timestamp": "2026-11-24T08:00:00Z",
    }
    frame_201 = {
        "timestamp": "2026-11-24T08:00:00.000Z",
        "connectorStatus": status_201,
        "evseId": 3,
        "connectorId": 1,
    }
    # WHEN / THEN both map to the same domain report
    assert v16.status_report(frame_16) == status_report(frame_201)


def test_status_report_golden_frames_station_level_agree() -> None:
    # GIVEN 1.6 connectorId 0 and 2.0.1 evseId 0 / connectorId 0
    at = "2026-11-24T08:00:00Z"
    frame_16 = {"connectorId": 0, "errorCode": "NoError", "status": "Unavailable", "timestamp": at}
    frame_201 = {"timestamp": at, "connectorStatus": "Unavailable", "evseId": 0, "connectorId": 0}
    # WHEN / THEN both address the whole station
    assert v16.status_report(frame_16) == status_report(frame_201)


@pytest.mark.parametrize(
    ("kind", "wire"), [(ResetKind.HARD, "Immediate"), (ResetKind.SOFT, "OnIdle")]
)
def test_encode_command_201_reset(kind: ResetKind, wire: str) -> None:
    # GIVEN a reset / WHEN encoded for 2.0.1 / THEN Hard/Soft become Immediate/OnIdle
    assert encode_command(ResetCommand(kind=kind)) == ("Reset", {"type": wire})


@pytest.mark.parametrize(
    ("command", "payload"),
    [
        (
            TriggerMessageCommand(message=TriggerableMessage.BOOT_NOTIFICATION),
            {"requestedMessage": "BootNotification"},
        ),
        (
            TriggerMessageCommand(message=TriggerableMessage.METER_VALUES, evse_id=2),
            {"requestedMessage": "MeterValues", "evse": {"id": 2}},
        ),
        (
            TriggerMessageCommand(message=TriggerableMessage.DIAGNOSTICS_STATUS_NOTIFICATION),
            {"requestedMessage": "LogStatusNotification"},
        ),
        (
            TriggerMessageCommand(message=TriggerableMessage.FIRMWARE_STATUS_NOTIFICATION),
            {"requestedMessage": "FirmwareStatusNotification"},
        ),
    ],
)
def test_encode_command_201_trigger_message(
    command: TriggerMessageCommand, payload: dict[str, Any]
) -> None:
    # GIVEN a trigger / WHEN encoded for 2.0.1
    # THEN the EVSE travels as evse.id and DiagnosticsStatusNotification is LogStatusNotification
    assert encode_command(command) == ("TriggerMessage", payload)


@pytest.mark.parametrize("status", ["Accepted", "Rejected", "Scheduled"])
def test_result_decoders_201_read_reset_status(status: str) -> None:
    # GIVEN a CALLRESULT to Reset / WHEN decoded / THEN the status is read
    decoded = PROTOCOL.result_decoders["Reset"]({"status": status})
    assert decoded is not None
    assert decoded.value == status
