"""Golden 1.6 and 2.0.1 notifications for the same event map to equal domain objects.

Where 1.6 cannot say something, the comparison sets exactly that aside and asserts what each
version gives for it:
- FirmwareStatusNotification and DiagnosticsStatusNotification: 1.6 names no request, so a 1.6
  report has no `request_id`; 2.0.1 names the UpdateFirmware or GetLog request.
- DiagnosticsStatusNotification `UploadFailed` (1.6) is LogStatusNotification `UploadFailure`.
2.0.1-only messages map to the domain objects listed here.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tests.contract import golden

from csms.domain.notifications import (
    CertificateOperation,
    CertificateRequest,
    FirmwareStatus,
    FirmwareStatusReport,
    LogStatusReport,
    LogUploadStatus,
    NoteKind,
    PublishFirmwareStatus,
    PublishFirmwareStatusReport,
    SecurityEvent,
    StationReport,
)
from csms.domain.station import ProtocolVersion
from csms.ocpp.common import notifications as common
from csms.ocpp.v16 import notifications as n16
from csms.ocpp.v201 import notifications as n201

V16, V201 = ProtocolVersion.OCPP16, ProtocolVersion.OCPP201
T = datetime(2026, 11, 24, 8, tzinfo=UTC)


def test_data_transfer_golden_pair_maps_to_equal_requests() -> None:
    # GIVEN the same vendor message from a 1.6 and a 2.0.1 station
    # WHEN both are mapped
    old = common.data_transfer_request(golden.payload(V16, "data_transfer"))
    new = common.data_transfer_request(golden.payload(V201, "data_transfer"))
    # THEN the requests are equal
    assert old == new
    assert (new.vendor_id, new.message_id) == ("com.acme.charger", "CableTemperature")
    assert new.data == '{"connectorId":1,"celsius":41.5}'


def test_signed_firmware_status_golden_pair_is_equal_as_a_whole() -> None:
    # GIVEN SignatureVerified from 1.6 SignedFirmwareStatusNotification and 2.0.1
    # WHEN both are mapped
    old = n16.signed_firmware_status(golden.payload(V16, "firmware_status_signature_verified"))
    new = n201.firmware_status(golden.payload(V201, "firmware_status_signature_verified"))
    # THEN nothing differs
    assert (
        old == new == FirmwareStatusReport(status=FirmwareStatus.SIGNATURE_VERIFIED, request_id=42)
    )


def test_firmware_status_golden_pair_is_equal_but_the_request() -> None:
    # GIVEN Downloading from 1.6 (which names no request) and from 2.0.1 (update 42)
    old = n16.firmware_status(golden.payload(V16, "firmware_status_downloading"))
    new = n201.firmware_status(golden.payload(V201, "firmware_status_downloading"))
    # WHEN the request is set aside
    # THEN both are the same report
    assert old.request_id is None
    assert new.request_id == 42
    assert new.model_copy(update={"request_id": None}) == old
    assert old.status is FirmwareStatus.DOWNLOADING


def test_diagnostics_golden_pair_is_a_failed_log_upload() -> None:
    # GIVEN a failed upload: 1.6 DiagnosticsStatusNotification, 2.0.1 LogStatusNotification
    old = n16.diagnostics_status(golden.payload(V16, "diagnostics_status_upload_failed"))
    new = n201.log_status(golden.payload(V201, "diagnostics_status_upload_failed"))
    # WHEN the request is set aside
    # THEN both say UploadFailure
    assert old == LogStatusReport(status=LogUploadStatus.UPLOAD_FAILURE)
    assert new.model_copy(update={"request_id": None}) == old
    assert new.request_id == 7


@pytest.mark.parametrize(
    ("status16", "status"),
    [
        ("Idle", LogUploadStatus.IDLE),
        ("Uploaded", LogUploadStatus.UPLOADED),
        ("UploadFailed", LogUploadStatus.UPLOAD_FAILURE),
        ("Uploading", LogUploadStatus.UPLOADING),
    ],
)
def test_every_16_diagnostics_status_maps_to_a_log_upload_status(
    status16: str, status: LogUploadStatus
) -> None:
    # GIVEN / WHEN each 1.6 DiagnosticsStatus is mapped / THEN it is the 2.0.1 status it became
    assert n16.diagnostics_status({"status": status16}).status is status


def test_log_status_golden_pair_is_equal_as_a_whole() -> None:
    # GIVEN Uploading for GetLog 7 from the 1.6 security extension and from 2.0.1
    old = n16.log_status(golden.payload(V16, "log_status_uploading"))
    new = n201.log_status(golden.payload(V201, "log_status_uploading"))
    # WHEN both are mapped / THEN nothing differs
    assert old == new == LogStatusReport(status=LogUploadStatus.UPLOADING, request_id=7)


def test_security_event_golden_pair_is_equal_as_a_whole() -> None:
    # GIVEN the same security event from both versions
    old = common.security_event(golden.payload(V16, "security_event"))
    new = common.security_event(golden.payload(V201, "security_event"))
    # WHEN both are mapped / THEN nothing differs
    assert (
        old
        == new
        == SecurityEvent(type="SettingSystemTime", at=T, tech_info="clock moved by NTP: +3 s")
    )


def test_sign_certificate_golden_pair_is_for_the_station_certificate() -> None:
    # GIVEN a CSR from the 1.6 security extension (always the Charge Point certificate) and a
    # 2.0.1 one for the ChargingStationCertificate
    old = n16.sign_certificate(golden.payload(V16, "sign_certificate"))
    new = n201.sign_certificate(golden.payload(V201, "sign_certificate"))
    # WHEN both are mapped / THEN they are the same request
    assert (
        old
        == new
        == CertificateRequest(
            operation=CertificateOperation.SIGN, subject="ChargingStationCertificate"
        )
    )


def test_201_only_certificate_requests_name_what_they_ask_for() -> None:
    # GIVEN / WHEN the 2.0.1 EV certificate and OCSP requests are mapped
    # THEN they name Install and the certificate's serial number
    assert n201.ev_certificate(golden.payload(V201, "get_15118_ev_certificate")) == (
        CertificateRequest(operation=CertificateOperation.EV_CERTIFICATE, subject="Install")
    )
    assert n201.certificate_status(golden.payload(V201, "get_certificate_status")) == (
        CertificateRequest(operation=CertificateOperation.CERTIFICATE_STATUS, subject="5A3F0C21")
    )


def test_201_publish_firmware_status_golden_maps_to_its_report() -> None:
    # GIVEN / WHEN the 2.0.1 golden PublishFirmwareStatusNotification is mapped
    # THEN it is Published for request 9, at its URL
    assert n201.publish_firmware_status(golden.payload(V201, "publish_firmware_status")) == (
        PublishFirmwareStatusReport(
            status=PublishFirmwareStatus.PUBLISHED,
            request_id=9,
            locations=("https://lc-1.depot.example/firmware/acme-2.4.0.bin",),
        )
    )


def test_201_report_goldens_map_to_notes_of_their_kind() -> None:
    # GIVEN the 2.0.1 golden reports
    # WHEN each is mapped
    # THEN each is a StationReport of its kind with what indexes it
    assert n201.event(golden.payload(V201, "notify_event")) == StationReport(
        kind=NoteKind.EVENT,
        at=T,
        seq_no=0,
        content=golden.payload(V201, "notify_event")["eventData"],
    )
    assert n201.reservation_status(golden.payload(V201, "reservation_status_update")) == (
        StationReport(kind=NoteKind.RESERVATION_STATUS, reference=77, status="Expired")
    )
    assert n201.cleared_charging_limit(golden.payload(V201, "cleared_charging_limit")) == (
        StationReport(kind=NoteKind.CHARGING_LIMIT_CLEARED, evse_id=1, subject="EMS")
    )
    schedule = n201.ev_charging_schedule(golden.payload(V201, "notify_ev_charging_schedule"))
    assert (schedule.kind, schedule.at, schedule.evse_id) == (NoteKind.EV_CHARGING_SCHEDULE, T, 1)
