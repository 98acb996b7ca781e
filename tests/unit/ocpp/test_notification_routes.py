"""Notification routes of both versions, end to end through `world.dispatcher.handle`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import World
from tests.contract import golden
from tests.fakes import T0, a_binding, a_station

from csms.domain.connection import ConnectionBinding
from csms.domain.notifications import (
    MAX_INT32,
    CertificateAnswer,
    ChargingNeeds,
    DataTransferReply,
    DataTransferRequest,
    DataTransferStatus,
    EnergyTransferMode,
    NoteKind,
)
from csms.domain.station import ProtocolVersion
from csms.ocpp.common.frames import CALL, CALL_ERROR, CALL_RESULT
from csms.ocpp.common.schemas import validate
from csms.ocpp.dispatch import PROTOCOLS, OcppDispatcher
from csms.ocpp.v16 import notifications as n16
from csms.ocpp.v201 import notifications as n201
from csms.services.notifications import NotificationService, VendorHandler

V16, V201 = ProtocolVersion.OCPP16, ProtocolVersion.OCPP201
BOTH = pytest.mark.parametrize("protocol", [V16, V201], ids=["1.6", "2.0.1"])
SCHEMA = {V16: "1.6", V201: "2.0.1"}
FAST = settings(
    database=None,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def bound(world: World, protocol: ProtocolVersion) -> None:
    """CP-1 (tenant-a), online on conn-1 over `protocol`."""
    world.stations_repo.register(a_station())
    world.stations_repo.bind(a_binding(protocol=protocol))


def handle(world: World, frame: list[Any], dispatcher: OcppDispatcher | None = None) -> list[Any]:
    reply = (dispatcher or world.dispatcher).handle("conn-1", json.dumps(frame))
    assert reply is not None
    decoded: list[Any] = json.loads(reply)
    return decoded


def result(world: World, protocol: ProtocolVersion, frame: list[Any]) -> dict[str, Any]:
    """Send a CALL; return its CALLRESULT payload, checked against the official schema."""
    reply = handle(world, frame)
    assert reply[:2] == [CALL_RESULT, frame[1]], reply
    payload: dict[str, Any] = reply[2]
    validate(SCHEMA[protocol], CALL_RESULT, frame[2], payload)
    return payload


def error_code(world: World, frame: list[Any]) -> str:
    reply = handle(world, frame)
    assert reply[0] == CALL_ERROR, reply
    code: str = reply[2]
    return code


def with_vendors(world: World, vendors: dict[str, VendorHandler]) -> OcppDispatcher:
    """The world's dispatcher, with vendor DataTransfer handlers registered."""
    return OcppDispatcher(
        stations=world.stations,
        commands=world.commands,
        sessions=world.sessions,
        notifications=NotificationService(
            notes=world.notes, needs=world.needs, clock=world.clock, vendors=vendors
        ),
    )


def test_route_tables_cover_every_charger_initiated_notification() -> None:
    # GIVEN / WHEN / THEN each version routes exactly the notifications this module maps
    assert set(n16.ROUTES) == {
        "DataTransfer",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "LogStatusNotification",
        "SecurityEventNotification",
        "SignCertificate",
        "SignedFirmwareStatusNotification",
    }
    assert set(n201.ROUTES) == {
        "ClearedChargingLimit",
        "DataTransfer",
        "FirmwareStatusNotification",
        "Get15118EVCertificate",
        "GetCertificateStatus",
        "LogStatusNotification",
        "NotifyChargingLimit",
        "NotifyCustomerInformation",
        "NotifyDisplayMessages",
        "NotifyEVChargingNeeds",
        "NotifyEVChargingSchedule",
        "NotifyEvent",
        "NotifyMonitoringReport",
        "NotifyReport",
        "PublishFirmwareStatusNotification",
        "ReportChargingProfiles",
        "ReservationStatusUpdate",
        "SecurityEventNotification",
        "SignCertificate",
    }
    assert set(n16.ROUTES) <= set(PROTOCOLS[V16].routes)
    assert set(n201.ROUTES) <= set(PROTOCOLS[V201].routes)


# -- DataTransfer -------------------------------------------------------------------------------


@BOTH
def test_data_transfer_unknown_vendor_is_answered_unknownvendorid(
    world: World, protocol: ProtocolVersion
) -> None:
    # GIVEN a bound station and no vendor handlers
    bound(world, protocol)
    frame = golden.frame(protocol, "data_transfer")
    # WHEN it sends a DataTransfer
    payload = result(world, protocol, frame)
    # THEN the answer is UnknownVendorId and the message is kept
    assert payload == {"status": "UnknownVendorId"}
    latest = world.notifications.latest("CP-1", NoteKind.DATA_TRANSFER)
    assert latest is not None
    assert (latest.subject, latest.name, latest.unique_id) == (
        "com.acme.charger",
        "CableTemperature",
        "golden-data",
    )


@BOTH
def test_data_transfer_known_vendor_answers_with_its_data(
    world: World, protocol: ProtocolVersion
) -> None:
    # GIVEN a vendor handler answering JSON data
    bound(world, protocol)

    def acme(binding: ConnectionBinding, request: DataTransferRequest) -> DataTransferReply:
        return DataTransferReply(status=DataTransferStatus.ACCEPTED, data={"ack": request.data})

    dispatcher = with_vendors(world, {"com.acme": acme})
    frame = [CALL, "d-1", "DataTransfer", {"vendorId": "com.acme", "data": "7"}]
    # WHEN the station sends to that vendor
    reply = handle(world, frame, dispatcher)
    # THEN the data comes back: as its JSON text to a 1.6 station (1.6 data is a string), as it
    # is to a 2.0.1 station
    assert reply[0] == CALL_RESULT
    validate(SCHEMA[protocol], CALL_RESULT, "DataTransfer", reply[2])
    expected = '{"ack":"7"}' if protocol is V16 else {"ack": "7"}
    assert reply[2] == {"status": "Accepted", "data": expected}


def test_data_transfer_16_string_data_is_sent_as_it_is(world: World) -> None:
    # GIVEN a vendor handler answering a string to a 1.6 station
    bound(world, V16)
    dispatcher = with_vendors(
        world,
        {"v": lambda b, r: DataTransferReply(status=DataTransferStatus.ACCEPTED, data="OK 1")},
    )
    # WHEN the station sends to it
    reply = handle(world, [CALL, "d-1", "DataTransfer", {"vendorId": "v"}], dispatcher)
    # THEN the string is the data, not JSON text of it
    assert reply[2] == {"status": "Accepted", "data": "OK 1"}


@BOTH
def test_data_transfer_failing_vendor_handler_is_rejected_not_an_error(
    world: World, protocol: ProtocolVersion
) -> None:
    # GIVEN a vendor handler that fails
    bound(world, protocol)

    def broken(binding: ConnectionBinding, request: DataTransferRequest) -> DataTransferReply:
        raise RuntimeError("boom")

    dispatcher = with_vendors(world, {"com.acme.charger": broken})
    frame = golden.frame(protocol, "data_transfer")
    # WHEN the station sends to it
    reply = handle(world, frame, dispatcher)
    # THEN it gets a CALLRESULT Rejected, not an InternalError
    assert reply == [CALL_RESULT, frame[1], {"status": "Rejected"}]


@FAST
@given(
    data=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(st.characters(exclude_categories=["Cs"])),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=15,
    )
)
def test_data_transfer_201_any_json_data_is_answered(world: World, data: Any) -> None:
    # GIVEN a 2.0.1 station
    world.stations_repo.register(a_station())
    world.stations_repo.bind(a_binding(protocol=V201))
    # WHEN it sends a DataTransfer with any JSON data
    frame = [CALL, "d-1", "DataTransfer", {"vendorId": "x", "data": data}]
    reply = handle(world, frame)
    # THEN it is answered, never with an error
    assert reply == [CALL_RESULT, "d-1", {"status": "UnknownVendorId"}]


@BOTH
def test_data_transfer_retransmitted_is_answered_again_and_stored_once(
    world: World, protocol: ProtocolVersion
) -> None:
    # GIVEN a DataTransfer received
    bound(world, protocol)
    frame = golden.frame(protocol, "data_transfer")
    first = handle(world, frame)
    # WHEN the station sends it again (its reply was lost) a little later
    world.clock.advance(30)
    again = handle(world, frame)
    # THEN the answer is the same, and one note is kept
    assert again == first
    assert len(world.notifications.notes("CP-1", NoteKind.DATA_TRANSFER, 10).items) == 1


# -- firmware, log, diagnostics -------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "name", "expected"),
    [
        (V16, "firmware_status_downloading", (NoteKind.FIRMWARE_STATUS, "Downloading", None)),
        (V201, "firmware_status_downloading", (NoteKind.FIRMWARE_STATUS, "Downloading", 42)),
        (
            V16,
            "firmware_status_signature_verified",
            (NoteKind.FIRMWARE_STATUS, "SignatureVerified", 42),
        ),
        (
            V201,
            "firmware_status_signature_verified",
            (NoteKind.FIRMWARE_STATUS, "SignatureVerified", 42),
        ),
        (V16, "diagnostics_status_upload_failed", (NoteKind.LOG_STATUS, "UploadFailure", None)),
        (V201, "diagnostics_status_upload_failed", (NoteKind.LOG_STATUS, "UploadFailure", 7)),
        (V16, "log_status_uploading", (NoteKind.LOG_STATUS, "Uploading", 7)),
        (V201, "log_status_uploading", (NoteKind.LOG_STATUS, "Uploading", 7)),
        (V201, "publish_firmware_status", (NoteKind.PUBLISH_FIRMWARE_STATUS, "Published", 9)),
    ],
)
def test_status_notification_is_the_stations_latest_status(
    world: World, protocol: ProtocolVersion, name: str, expected: tuple[NoteKind, str, int | None]
) -> None:
    # GIVEN a bound station
    bound(world, protocol)
    kind, status, reference = expected
    # WHEN it reports firmware, log or diagnostics progress
    payload = result(world, protocol, golden.frame(protocol, name))
    # THEN the answer is empty and the status is the latest of its kind, since now
    assert payload == {}
    latest = world.notifications.latest("CP-1", kind)
    assert latest is not None
    assert (latest.status, latest.reference, latest.at) == (status, reference, T0)


def test_publish_firmware_status_keeps_the_urls(world: World) -> None:
    # GIVEN a local controller
    bound(world, V201)
    # WHEN it reports where it published firmware
    result(world, V201, golden.frame(V201, "publish_firmware_status"))
    # THEN the URLs are in the note
    [note] = world.notifications.notes("CP-1", NoteKind.PUBLISH_FIRMWARE_STATUS, 10).items
    assert note.detail == '["https://lc-1.depot.example/firmware/acme-2.4.0.bin"]'


@BOTH
def test_status_request_id_beyond_32_bits_is_a_property_violation(
    world: World, protocol: ProtocolVersion
) -> None:
    # GIVEN a bound station
    bound(world, protocol)
    frame = [CALL, "l-1", "LogStatusNotification", {"status": "Idle", "requestId": MAX_INT32 + 1}]
    # WHEN it reports a log status with a request id OCPP integers cannot hold
    # THEN it is refused, and nothing is kept
    assert error_code(world, frame) == "PropertyConstraintViolation"
    assert world.notifications.latest("CP-1", NoteKind.LOG_STATUS) is None


# -- security events ----------------------------------------------------------------------------


@BOTH
def test_security_event_is_kept_at_its_time(world: World, protocol: ProtocolVersion) -> None:
    # GIVEN a bound station
    bound(world, protocol)
    # WHEN it reports a security event
    payload = result(world, protocol, golden.frame(protocol, "security_event"))
    # THEN the answer is empty and the event is kept
    assert payload == {}
    [note] = world.notifications.notes("CP-1", NoteKind.SECURITY_EVENT, 10).items
    assert (note.subject, note.info) == ("SettingSystemTime", "clock moved by NTP: +3 s")
    assert note.at == datetime(2026, 11, 24, 8, tzinfo=UTC)


@BOTH
@pytest.mark.parametrize("when", ["yesterday", "0001-01-01T00:00:00+01:00"])
def test_security_event_with_unreadable_time_is_a_property_violation(
    world: World, protocol: ProtocolVersion, when: str
) -> None:
    # GIVEN a bound station
    bound(world, protocol)
    frame = [CALL, "s-1", "SecurityEventNotification", {"type": "X", "timestamp": when}]
    # WHEN it reports an event at a time that is no instant
    # THEN it is refused
    assert error_code(world, frame) == "PropertyConstraintViolation"


# -- certificates -------------------------------------------------------------------------------


NO_CA_INFO = {
    "reasonCode": "NoCA",
    "additionalInfo": "No certificate authority is configured in this CSMS",
}


@pytest.mark.parametrize(
    ("protocol", "name", "expected"),
    [
        (V16, "sign_certificate", {"status": "Rejected"}),
        (V201, "sign_certificate", {"status": "Rejected", "statusInfo": NO_CA_INFO}),
        (
            V201,
            "get_15118_ev_certificate",
            {"status": "Failed", "exiResponse": "", "statusInfo": NO_CA_INFO},
        ),
        (V201, "get_certificate_status", {"status": "Failed", "statusInfo": NO_CA_INFO}),
    ],
)
def test_certificate_request_is_refused_until_a_ca_exists(
    world: World, protocol: ProtocolVersion, name: str, expected: dict[str, Any]
) -> None:
    # GIVEN a bound station and no certificate authority
    bound(world, protocol)
    frame = golden.frame(protocol, name)
    # WHEN it asks for a certificate
    payload = result(world, protocol, frame)
    # THEN it is refused clearly, and the request is kept
    assert payload == expected
    latest = world.notifications.latest("CP-1", NoteKind.CERTIFICATE_REQUEST)
    assert latest is not None
    assert latest.name == frame[2]


def test_certificate_replies_spell_an_acceptance_too() -> None:
    # GIVEN an accepted answer (once a CA exists)
    answer = CertificateAnswer(accepted=True, reason_code="OK", info="")
    # WHEN each version spells it
    # THEN every reply says Accepted
    assert n16.certificate_reply(answer) == {"status": "Accepted"}
    assert n201.sign_certificate_reply(answer)["status"] == "Accepted"
    assert n201.ev_certificate_reply(answer)["status"] == "Accepted"
    assert n201.certificate_status_reply(answer)["status"] == "Accepted"


# -- charging needs and schedules ---------------------------------------------------------------


def test_ev_charging_needs_ac_are_stored_and_accepted(world: World) -> None:
    # GIVEN a 2.0.1 station
    bound(world, V201)
    # WHEN an AC vehicle tells its needs
    payload = result(world, V201, golden.frame(V201, "notify_ev_charging_needs_ac"))
    # THEN they are accepted and stored for EVSE 1
    assert payload == {"status": "Accepted"}
    assert world.notifications.charging_needs("CP-1") == [
        ChargingNeeds(
            evse_id=1,
            requested_transfer=EnergyTransferMode.AC_THREE_PHASE,
            departure_time=datetime(2026, 11, 24, 17, 30, tzinfo=UTC),
            energy_amount_wh=42_000,
            ev_min_current_a=6,
            ev_max_current_a=32,
            ev_max_voltage_v=400,
            max_schedule_tuples=24,
            received_at=T0,
            message_id=world.notifications.charging_needs("CP-1")[0].message_id,
        )
    ]
    assert str(world.notifications.charging_needs("CP-1")[0].message_id).startswith("golden-needs:")


def test_ev_charging_needs_dc_keep_power_and_states_of_charge(world: World) -> None:
    # GIVEN a 2.0.1 station
    bound(world, V201)
    # WHEN a DC vehicle tells its needs
    result(world, V201, golden.frame(V201, "notify_ev_charging_needs_dc"))
    # THEN power, energy, capacity and states of charge are kept
    [needs] = world.notifications.charging_needs("CP-1")
    assert needs.model_dump(exclude_none=True) == {
        "evse_id": 2,
        "requested_transfer": EnergyTransferMode.DC,
        "departure_time": datetime(2026, 11, 24, 9, 15, tzinfo=UTC),
        "energy_amount_wh": 52_000,
        "ev_max_power_w": 150_000,
        "ev_max_current_a": 250,
        "ev_max_voltage_v": 800,
        "state_of_charge_pct": 22,
        "ev_energy_capacity_wh": 77_000,
        "full_soc_pct": 100,
        "bulk_soc_pct": 80,
        "received_at": T0,
        "message_id": needs.message_id,
    }
    assert str(needs.message_id).startswith("golden-needs:")


def test_ev_charging_needs_read_the_parameters_that_were_sent(world: World) -> None:
    # GIVEN a vehicle asking for DC but sending only AC parameters (and one sending none)
    bound(world, V201)
    needs = {
        "requestedEnergyTransfer": "DC",
        "acChargingParameters": {
            "energyAmount": 5,
            "evMinCurrent": 1,
            "evMaxCurrent": 2,
            "evMaxVoltage": 3,
        },
    }
    # WHEN both tell their needs
    result(
        world, V201, [CALL, "n-1", "NotifyEVChargingNeeds", {"evseId": 1, "chargingNeeds": needs}]
    )
    result(
        world,
        V201,
        [
            CALL,
            "n-2",
            "NotifyEVChargingNeeds",
            {"evseId": 2, "chargingNeeds": {"requestedEnergyTransfer": "AC_single_phase"}},
        ],
    )
    # THEN what was sent is kept, and nothing more
    first, second = world.notifications.charging_needs("CP-1")
    assert first.energy_amount_wh == 5
    assert second.model_dump(exclude_none=True) == {
        "evse_id": 2,
        "requested_transfer": EnergyTransferMode.AC_SINGLE_PHASE,
        "received_at": T0,
        "message_id": second.message_id,
    }
    assert str(second.message_id).startswith("n-2:")


@pytest.mark.parametrize(
    ("evse", "parameters"),
    [
        (0, {"energyAmount": 1, "evMinCurrent": 1, "evMaxCurrent": 1, "evMaxVoltage": 1}),
        (100_000, {"energyAmount": 1, "evMinCurrent": 1, "evMaxCurrent": 1, "evMaxVoltage": 1}),
        (1, {"energyAmount": -1, "evMinCurrent": 1, "evMaxCurrent": 1, "evMaxVoltage": 1}),
        (1, {"energyAmount": 10**30, "evMinCurrent": 1, "evMaxCurrent": 1, "evMaxVoltage": 1}),
    ],
    ids=["station", "evse-too-large", "negative-energy", "energy-beyond-32-bits"],
)
def test_ev_charging_needs_out_of_range_are_a_property_violation(
    world: World, evse: int, parameters: dict[str, int]
) -> None:
    # GIVEN a 2.0.1 station
    bound(world, V201)
    needs = {"requestedEnergyTransfer": "AC_single_phase", "acChargingParameters": parameters}
    frame = [CALL, "n-1", "NotifyEVChargingNeeds", {"evseId": evse, "chargingNeeds": needs}]
    # WHEN it tells needs no EVSE or vehicle can have
    # THEN they are refused and nothing is stored
    assert error_code(world, frame) == "PropertyConstraintViolation"
    assert world.notifications.charging_needs("CP-1") == []


def test_ev_charging_schedule_is_accepted_and_kept(world: World) -> None:
    # GIVEN a 2.0.1 station
    bound(world, V201)
    # WHEN it reports the schedule the vehicle negotiated
    payload = result(world, V201, golden.frame(V201, "notify_ev_charging_schedule"))
    # THEN it is accepted and kept at its time base, for its EVSE
    assert payload == {"status": "Accepted"}
    [note] = world.notifications.notes("CP-1", NoteKind.EV_CHARGING_SCHEDULE, 10).items
    assert (note.at, note.evse_id) == (datetime(2026, 11, 24, 8, tzinfo=UTC), 1)


# -- 2.0.1 reports kept as notes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "fields"),
    [
        ("notify_event", NoteKind.EVENT, {"seq_no": 0, "tbc": False}),
        ("notify_report", NoteKind.REPORT, {"reference": 3, "seq_no": 0, "tbc": True}),
        ("notify_monitoring_report", NoteKind.MONITORING_REPORT, {"reference": 4, "seq_no": 0}),
        ("notify_customer_information", NoteKind.CUSTOMER_INFORMATION, {"reference": 5}),
        ("notify_display_messages", NoteKind.DISPLAY_MESSAGES, {"reference": 6}),
        ("notify_charging_limit", NoteKind.CHARGING_LIMIT, {"evse_id": 1, "subject": "EMS"}),
        (
            "cleared_charging_limit",
            NoteKind.CHARGING_LIMIT_CLEARED,
            {"evse_id": 1, "subject": "EMS", "detail": None},
        ),
        (
            "report_charging_profiles",
            NoteKind.CHARGING_PROFILES,
            {"evse_id": 1, "reference": 8, "subject": "CSO"},
        ),
        (
            "reservation_status_update",
            NoteKind.RESERVATION_STATUS,
            {"reference": 77, "status": "Expired", "detail": None},
        ),
    ],
)
def test_report_is_answered_empty_and_kept_as_a_note(
    world: World, name: str, kind: NoteKind, fields: dict[str, Any]
) -> None:
    # GIVEN a 2.0.1 station
    bound(world, V201)
    frame = golden.frame(V201, name)
    # WHEN it sends the report
    payload = result(world, V201, frame)
    # THEN the answer is empty and the note holds what indexes it
    assert payload == {}
    [note] = world.notifications.notes("CP-1", kind, 10).items
    assert note.model_dump(include=set(fields)) == fields
    assert note.unique_id == frame[1]
    if "detail" not in fields:
        assert note.detail is not None


def test_charging_limit_grid_critical_is_its_status(world: World) -> None:
    # GIVEN a 2.0.1 station under a grid-critical limit
    bound(world, V201)
    limit = {"chargingLimitSource": "SO", "isGridCritical": True}
    # WHEN it reports it
    result(world, V201, [CALL, "l-1", "NotifyChargingLimit", {"chargingLimit": limit}])
    # THEN the note says so
    latest = world.notifications.latest("CP-1", NoteKind.CHARGING_LIMIT)
    assert latest is not None
    assert (latest.subject, latest.status, latest.evse_id) == ("SO", "GridCritical", None)


@pytest.mark.parametrize(
    "frame",
    [
        [
            CALL,
            "r-1",
            "NotifyReport",
            {"requestId": 2**31, "generatedAt": "2026-11-24T08:00:00Z", "seqNo": 0},
        ],
        [
            CALL,
            "r-1",
            "NotifyEvent",
            {
                "generatedAt": "not a date",
                "seqNo": 0,
                "eventData": [
                    {
                        "eventId": 1,
                        "timestamp": "2026-11-24T08:00:00Z",
                        "trigger": "Alerting",
                        "actualValue": "1",
                        "eventNotificationType": "HardWiredMonitor",
                        "component": {"name": "C"},
                        "variable": {"name": "V"},
                    }
                ],
            },
        ],
        [CALL, "r-1", "ClearedChargingLimit", {"chargingLimitSource": "EMS", "evseId": -1}],
        [
            CALL,
            "r-1",
            "ReservationStatusUpdate",
            {"reservationId": -(2**31) - 1, "reservationUpdateStatus": "Removed"},
        ],
    ],
    ids=[
        "request-id-beyond-32-bits",
        "unreadable-time",
        "negative-evse",
        "reservation-beyond-32-bits",
    ],
)
def test_report_out_of_range_is_a_property_violation(world: World, frame: list[Any]) -> None:
    # GIVEN a 2.0.1 station
    bound(world, V201)
    # WHEN it sends a report with a value OCPP cannot mean
    # THEN it is refused
    assert error_code(world, frame) == "PropertyConstraintViolation"
