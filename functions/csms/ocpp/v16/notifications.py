"""OCPP 1.6J notifications mapped to the version-neutral domain.

DataTransfer, FirmwareStatusNotification and DiagnosticsStatusNotification (core), and the
messages of the 1.6 security extension: LogStatusNotification, SecurityEventNotification,
SignCertificate, SignedFirmwareStatusNotification.
"""

from __future__ import annotations

from csms.domain.notifications import (
    CertificateAnswer,
    CertificateOperation,
    CertificateRequest,
    CertificateUse,
    DataTransferReply,
    FirmwareStatus,
    FirmwareStatusReport,
    LogStatusReport,
    LogUploadStatus,
    json_text,
)
from csms.ocpp.common import notifications as common
from csms.ocpp.common.protocol import Payload, Route

# 1.6 DiagnosticsStatus -> the 2.0.1 log upload status it became.
_DIAGNOSTICS_STATUS = {
    "Idle": LogUploadStatus.IDLE,
    "Uploaded": LogUploadStatus.UPLOADED,
    "UploadFailed": LogUploadStatus.UPLOAD_FAILURE,
    "Uploading": LogUploadStatus.UPLOADING,
}


def firmware_status(payload: Payload) -> FirmwareStatusReport:
    """FirmwareStatusNotification.req -> FirmwareStatusReport (1.6 names no update request)."""
    return FirmwareStatusReport(status=FirmwareStatus(payload["status"]))


def signed_firmware_status(payload: Payload) -> FirmwareStatusReport:
    """SignedFirmwareStatusNotification.req (security extension) -> FirmwareStatusReport."""
    return FirmwareStatusReport(
        status=FirmwareStatus(payload["status"]), request_id=common.int32(payload, "requestId")
    )


def diagnostics_status(payload: Payload) -> LogStatusReport:
    """DiagnosticsStatusNotification.req -> LogStatusReport (1.6 names no request)."""
    return LogStatusReport(status=_DIAGNOSTICS_STATUS[payload["status"]])


def log_status(payload: Payload) -> LogStatusReport:
    """LogStatusNotification.req (security extension) -> LogStatusReport."""
    return LogStatusReport(
        status=LogUploadStatus(payload["status"]), request_id=common.int32(payload, "requestId")
    )


def sign_certificate(payload: Payload) -> CertificateRequest:
    """SignCertificate.req -> CertificateRequest.

    The 1.6 security extension signs only the Charge Point certificate (its 2.0.1 name:
    ChargingStationCertificate); the CSR itself is not kept.
    """
    del payload
    return CertificateRequest(
        operation=CertificateOperation.SIGN, subject=CertificateUse.CHARGING_STATION.value
    )


def certificate_reply(answer: CertificateAnswer) -> Payload:
    """SignCertificate.conf: 1.6 has only a status, no reason."""
    return {"status": "Accepted" if answer.accepted else "Rejected"}


def data_transfer_reply(reply: DataTransferReply) -> Payload:
    """DataTransfer.conf: 1.6 data is a string, so other JSON is sent as its text."""
    response: Payload = {"status": reply.status.value}
    data = reply.data if isinstance(reply.data, str) else json_text(reply.data)
    if data is not None:
        response["data"] = data
    return response


ROUTES: dict[str, Route] = {
    "DataTransfer": common.data_transfer(data_transfer_reply),
    "DiagnosticsStatusNotification": common.log_status(diagnostics_status),
    "FirmwareStatusNotification": common.firmware_status(firmware_status),
    "LogStatusNotification": common.log_status(log_status),
    "SecurityEventNotification": common.security_event_notification,
    "SignCertificate": common.certificate_request(sign_certificate, certificate_reply),
    "SignedFirmwareStatusNotification": common.firmware_status(signed_firmware_status),
}
