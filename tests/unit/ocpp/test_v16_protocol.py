"""OCPP 1.6 wire shapes to and from the domain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.domain.commands import ResetCommand, ResetKind, TriggerableMessage, TriggerMessageCommand
from csms.domain.connector import MAX_ID, ConnectorStatus, EvseRef, OccupancyDetail, StatusReport
from csms.domain.station import BootInfo, BootReason, ProtocolVersion
from csms.ocpp.common.errors import ErrorKind, PayloadError
from csms.ocpp.v16.ids import evse_of_connector
from csms.ocpp.v16.protocol import (
    PROTOCOL,
    boot_info,
    encode_command,
    status_report,
)

FAST = settings(database=None, deadline=None, max_examples=100)

STATUSES_16: dict[str, tuple[ConnectorStatus, OccupancyDetail | None]] = {
    "Available": (ConnectorStatus.AVAILABLE, None),
    "Preparing": (ConnectorStatus.OCCUPIED, OccupancyDetail.PREPARING),
    "Charging": (ConnectorStatus.OCCUPIED, OccupancyDetail.CHARGING),
    "SuspendedEVSE": (ConnectorStatus.OCCUPIED, OccupancyDetail.SUSPENDED_EVSE),
    "SuspendedEV": (ConnectorStatus.OCCUPIED, OccupancyDetail.SUSPENDED_EV),
    "Finishing": (ConnectorStatus.OCCUPIED, OccupancyDetail.FINISHING),
    "Reserved": (ConnectorStatus.RESERVED, None),
    "Unavailable": (ConnectorStatus.UNAVAILABLE, None),
    "Faulted": (ConnectorStatus.FAULTED, None),
}
ERROR_CODES_16 = [
    "ConnectorLockFailure",
    "EVCommunicationError",
    "GroundFailure",
    "HighTemperature",
    "InternalError",
    "LocalListConflict",
    "NoError",
    "OtherError",
    "OverCurrentFailure",
    "PowerMeterFailure",
    "PowerSwitchFailure",
    "ReaderFailure",
    "ResetFailure",
    "UnderVoltage",
    "OverVoltage",
    "WeakSignal",
]


def test_protocol_16_identity() -> None:
    # GIVEN / WHEN / THEN the table is the 1.6 one with its routes and decoders
    assert PROTOCOL.version is ProtocolVersion.OCPP16
    assert PROTOCOL.schema_version == "1.6"
    assert set(PROTOCOL.routes) >= {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "Authorize",
        "StartTransaction",
        "StopTransaction",
        "MeterValues",
    }
    # every command this version sends has a decoder and a reader
    assert (
        set(PROTOCOL.result_decoders) == set(PROTOCOL.result_readers) >= {"Reset", "TriggerMessage"}
    )
    assert PROTOCOL.code(ErrorKind.FORMAT_VIOLATION) == "FormationViolation"


def test_boot_info_16_reads_every_field() -> None:
    # GIVEN a full 1.6 BootNotification.req
    payload = {
        "chargePointVendor": "ACME",
        "chargePointModel": "Fast-22",
        "chargePointSerialNumber": "CP-SN",
        "chargeBoxSerialNumber": "BOX-SN",
        "firmwareVersion": "1.2.3",
        "iccid": "8931",
        "imsi": "2620",
        "meterType": "MT",
        "meterSerialNumber": "M-SN",
    }
    # WHEN mapped
    boot = boot_info(payload)
    # THEN every field lands, the charge point serial preferred, the reason unknown
    assert boot == BootInfo(
        vendor="ACME",
        model="Fast-22",
        serial_number="CP-SN",
        firmware_version="1.2.3",
        iccid="8931",
        imsi="2620",
        meter_type="MT",
        meter_serial_number="M-SN",
        reason=BootReason.UNKNOWN,
    )


def test_boot_info_16_falls_back_to_charge_box_serial() -> None:
    # GIVEN a station that only sends the deprecated chargeBoxSerialNumber
    payload = {"chargePointVendor": "V", "chargePointModel": "M", "chargeBoxSerialNumber": "BOX"}
    # WHEN / THEN it is used as the serial number
    assert boot_info(payload).serial_number == "BOX"


def test_boot_info_16_minimal() -> None:
    # GIVEN only the required fields / WHEN mapped / THEN the rest is empty
    boot = boot_info({"chargePointVendor": "V", "chargePointModel": "M"})
    assert boot == BootInfo(vendor="V", model="M")


@pytest.mark.parametrize(("status_16", "expected"), list(STATUSES_16.items()))
def test_status_report_16_maps_every_status(
    status_16: str, expected: tuple[ConnectorStatus, OccupancyDetail | None]
) -> None:
    # GIVEN a 1.6 status
    payload = {"connectorId": 1, "errorCode": "NoError", "status": status_16}
    # WHEN mapped
    report = status_report(payload)
    # THEN it is the 2.0.1 state plus, for occupied, the 1.6 detail
    assert (report.status, report.detail) == expected


def test_status_report_16_full_payload() -> None:
    # GIVEN a faulted connector with every optional field
    payload = {
        "connectorId": 2,
        "errorCode": "GroundFailure",
        "status": "Faulted",
        "info": "earth leak",
        "vendorId": "acme",
        "vendorErrorCode": "E42",
        "timestamp": "2026-11-24T08:00:00Z",
    }
    # WHEN mapped
    report = status_report(payload)
    # THEN every field lands
    assert report == StatusReport(
        evse=EvseRef(evse_id=2, connector_id=1),
        status=ConnectorStatus.FAULTED,
        error_code="GroundFailure",
        info="earth leak",
        vendor_id="acme",
        vendor_error_code="E42",
        timestamp=datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
    )


def test_status_report_16_no_error_is_no_error_code() -> None:
    # GIVEN errorCode NoError and no timestamp
    report = status_report({"connectorId": 1, "errorCode": "NoError", "status": "Available"})
    # WHEN / THEN there is no error code and no time (the receipt time applies later)
    assert report.error_code is None
    assert report.timestamp is None


def test_status_report_16_connector_zero_is_the_station() -> None:
    # GIVEN connectorId 0 ("the Charge Point main controller")
    report = status_report({"connectorId": 0, "errorCode": "NoError", "status": "Unavailable"})
    # WHEN / THEN it is EVSE 0, connector 0
    assert report.evse == EvseRef(evse_id=0, connector_id=0)
    assert report.evse.is_station


def test_status_report_16_negative_connector_is_property_violation() -> None:
    # GIVEN a negative connectorId (the 1.6 schema allows any integer)
    # WHEN mapped
    with pytest.raises(PayloadError) as caught:
        status_report({"connectorId": -1, "errorCode": "NoError", "status": "Available"})
    # THEN it is a PropertyConstraintViolation
    assert caught.value.kind is ErrorKind.PROPERTY_CONSTRAINT_VIOLATION


def test_status_report_16_bad_timestamp_is_property_violation() -> None:
    # GIVEN an unreadable timestamp
    payload = {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "x"}
    # WHEN / THEN it is a PropertyConstraintViolation
    with pytest.raises(PayloadError) as caught:
        status_report(payload)
    assert caught.value.kind is ErrorKind.PROPERTY_CONSTRAINT_VIOLATION


@FAST
@given(
    st.sampled_from(sorted(STATUSES_16)),
    st.sampled_from(ERROR_CODES_16),
    st.integers(min_value=0, max_value=MAX_ID),
)
def test_status_report_16_mapping_properties(
    status_16: str, error_code: str, connector: int
) -> None:
    # GIVEN any valid 1.6 StatusNotification
    payload = {"connectorId": connector, "errorCode": error_code, "status": status_16}
    # WHEN mapped
    report = status_report(payload)
    # THEN the status follows the table, detail exists exactly for Occupied,
    assert (report.status, report.detail) == STATUSES_16[status_16]
    assert (report.detail is not None) == (report.status is ConnectorStatus.OCCUPIED)
    # AND the error code survives unless it is NoError
    assert report.error_code == (None if error_code == "NoError" else error_code)
    # AND connector N is EVSE N (connector 1), connector 0 the station
    assert report.evse.evse_id == connector
    assert report.evse.connector_id == (1 if connector else 0)


def test_status_mapping_16_is_reversible() -> None:
    # GIVEN every 1.6 status
    # WHEN mapped to the domain
    domain = {
        s: status_report({"connectorId": 1, "errorCode": "NoError", "status": s})
        for s in STATUSES_16
    }
    # THEN no two 1.6 statuses collapse: the domain keeps enough to say which one it was
    keys = {(r.status, r.detail) for r in domain.values()}
    assert len(keys) == len(STATUSES_16)
    # AND every 2.0.1 state is reachable from 1.6
    assert {r.status for r in domain.values()} == set(ConnectorStatus)


@pytest.mark.parametrize(("connector", "evse"), [(0, (0, 0)), (1, (1, 1)), (7, (7, 1))])
def test_evse_of_connector(connector: int, evse: tuple[int, int]) -> None:
    # GIVEN a 1.6 connectorId / WHEN mapped / THEN it is the 2.0.1 EVSE and connector
    ref = evse_of_connector(connector)
    assert (ref.evse_id, ref.connector_id) == evse


@pytest.mark.parametrize(("kind", "wire"), [(ResetKind.HARD, "Hard"), (ResetKind.SOFT, "Soft")])
def test_encode_command_16_reset(kind: ResetKind, wire: str) -> None:
    # GIVEN a reset / WHEN encoded for 1.6 / THEN the kind is spelled Hard/Soft
    assert encode_command(ResetCommand(kind=kind)) == ("Reset", {"type": wire})


@pytest.mark.parametrize(
    ("command", "payload"),
    [
        (
            TriggerMessageCommand(message=TriggerableMessage.HEARTBEAT),
            {"requestedMessage": "Heartbeat"},
        ),
        (
            TriggerMessageCommand(message=TriggerableMessage.STATUS_NOTIFICATION, evse_id=2),
            {"requestedMessage": "StatusNotification", "connectorId": 2},
        ),
        (
            TriggerMessageCommand(message=TriggerableMessage.DIAGNOSTICS_STATUS_NOTIFICATION),
            {"requestedMessage": "DiagnosticsStatusNotification"},
        ),
    ],
)
def test_encode_command_16_trigger_message(
    command: TriggerMessageCommand, payload: dict[str, Any]
) -> None:
    # GIVEN a trigger / WHEN encoded for 1.6 / THEN the EVSE travels as connectorId
    assert encode_command(command) == ("TriggerMessage", payload)


@pytest.mark.parametrize("status", ["Accepted", "Rejected", "NotImplemented"])
def test_result_decoders_16_read_status(status: str) -> None:
    # GIVEN a CALLRESULT to TriggerMessage / WHEN decoded / THEN the status is read
    decoded = PROTOCOL.result_decoders["TriggerMessage"]({"status": status})
    assert decoded is not None
    assert decoded.value == status
