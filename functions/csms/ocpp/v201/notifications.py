"""OCPP 2.0.1 notifications mapped to the version-neutral domain.

DataTransfer, firmware, log and publish-firmware status, security events, certificates, the
charging needs and schedule of a vehicle, and the reports kept as notes.
"""

from __future__ import annotations

from csms.domain.notifications import (
    CertificateAnswer,
    CertificateOperation,
    CertificateRequest,
    ChargingNeeds,
    DataTransferReply,
    EnergyTransferMode,
    FirmwareStatus,
    FirmwareStatusReport,
    LogStatusReport,
    LogUploadStatus,
    NoteKind,
    PublishFirmwareStatus,
    PublishFirmwareStatusReport,
    StationReport,
)
from csms.ocpp.common import notifications as common
from csms.ocpp.common.errors import ErrorKind, PayloadError
from csms.ocpp.common.mapping import optional_timestamp
from csms.ocpp.common.protocol import OcppContext, Payload, Route

# -- status notifications -------------------------------------------------------------------


def firmware_status(payload: Payload) -> FirmwareStatusReport:
    """FirmwareStatusNotificationRequest -> FirmwareStatusReport."""
    return FirmwareStatusReport(
        status=FirmwareStatus(payload["status"]), request_id=common.int32(payload, "requestId")
    )


def log_status(payload: Payload) -> LogStatusReport:
    """LogStatusNotificationRequest -> LogStatusReport."""
    return LogStatusReport(
        status=LogUploadStatus(payload["status"]), request_id=common.int32(payload, "requestId")
    )


def publish_firmware_status(payload: Payload) -> PublishFirmwareStatusReport:
    """PublishFirmwareStatusNotificationRequest -> PublishFirmwareStatusReport."""
    return PublishFirmwareStatusReport(
        status=PublishFirmwareStatus(payload["status"]),
        request_id=common.int32(payload, "requestId"),
        locations=tuple(payload.get("location") or ()),
    )


def publish_firmware_status_notification(ctx: OcppContext, payload: Payload) -> Payload:
    """PublishFirmwareStatusNotification: empty response."""
    ctx.notifications.record_publish_firmware_status(
        ctx.binding, publish_firmware_status(payload), unique_id=ctx.unique_id
    )
    return {}


# -- DataTransfer ---------------------------------------------------------------------------


def data_transfer_reply(reply: DataTransferReply) -> Payload:
    """DataTransferResponse: 2.0.1 data may be any JSON value."""
    response: Payload = {"status": reply.status.value}
    if reply.data is not None:
        response["data"] = reply.data
    return response


# -- certificates ---------------------------------------------------------------------------


def sign_certificate(payload: Payload) -> CertificateRequest:
    """SignCertificateRequest -> CertificateRequest; no certificateType means both uses."""
    return CertificateRequest(
        operation=CertificateOperation.SIGN, subject=payload.get("certificateType")
    )


def ev_certificate(payload: Payload) -> CertificateRequest:
    """Get15118EVCertificateRequest -> CertificateRequest (Install or Update)."""
    return CertificateRequest(
        operation=CertificateOperation.EV_CERTIFICATE, subject=payload["action"]
    )


def certificate_status(payload: Payload) -> CertificateRequest:
    """GetCertificateStatusRequest -> CertificateRequest, for the certificate's serial number."""
    return CertificateRequest(
        operation=CertificateOperation.CERTIFICATE_STATUS,
        subject=payload["ocspRequestData"]["serialNumber"],
    )


def _status_info(answer: CertificateAnswer) -> Payload:
    return {"reasonCode": answer.reason_code, "additionalInfo": answer.info}


def sign_certificate_reply(answer: CertificateAnswer) -> Payload:
    """SignCertificateResponse: Accepted or Rejected, with the reason."""
    status = "Accepted" if answer.accepted else "Rejected"
    return {"status": status, "statusInfo": _status_info(answer)}


def ev_certificate_reply(answer: CertificateAnswer) -> Payload:
    """Get15118EVCertificateResponse: Failed with an empty exiResponse (nothing was signed)."""
    status = "Accepted" if answer.accepted else "Failed"
    return {"status": status, "exiResponse": "", "statusInfo": _status_info(answer)}


def certificate_status_reply(answer: CertificateAnswer) -> Payload:
    """GetCertificateStatusResponse: Failed, with the reason (no OCSP result)."""
    status = "Accepted" if answer.accepted else "Failed"
    return {"status": status, "statusInfo": _status_info(answer)}


# -- smart charging input -------------------------------------------------------------------


def charging_needs(payload: Payload) -> ChargingNeeds:
    """NotifyEVChargingNeedsRequest -> ChargingNeeds.

    The vehicle gives AC or DC parameters; the ones of its requested transfer mode are read, the
    other kind when only that was sent. evseId names an EVSE, never the station (0).
    """
    evse = common.evse_id(payload)
    if not evse:
        raise PayloadError(ErrorKind.PROPERTY_CONSTRAINT_VIOLATION, "evseId must name an EVSE")
    needs = payload["chargingNeeds"]
    mode = EnergyTransferMode(needs["requestedEnergyTransfer"])
    ac = needs.get("acChargingParameters")
    dc = needs.get("dcChargingParameters")
    params: Payload = (dc if mode is EnergyTransferMode.DC else ac) or ac or dc or {}
    return ChargingNeeds(
        evse_id=evse,
        requested_transfer=mode,
        departure_time=optional_timestamp(needs, "departureTime"),
        energy_amount_wh=common.quantity(params, "energyAmount"),
        ev_max_power_w=common.quantity(params, "evMaxPower"),
        ev_max_current_a=common.quantity(params, "evMaxCurrent"),
        ev_min_current_a=common.quantity(params, "evMinCurrent"),
        ev_max_voltage_v=common.quantity(params, "evMaxVoltage"),
        state_of_charge_pct=params.get("stateOfCharge"),
        ev_energy_capacity_wh=common.quantity(params, "evEnergyCapacity"),
        full_soc_pct=params.get("fullSoC"),
        bulk_soc_pct=params.get("bulkSoC"),
        max_schedule_tuples=common.quantity(payload, "maxScheduleTuples"),
    )


def notify_ev_charging_needs(ctx: OcppContext, payload: Payload) -> Payload:
    """NotifyEVChargingNeeds: stored for smart charging and Accepted."""
    answer = ctx.notifications.record_charging_needs(
        ctx.binding, charging_needs(payload), unique_id=ctx.unique_id
    )
    return {"status": answer.value}


# -- reports kept as notes ------------------------------------------------------------------


def _part(kind: NoteKind, payload: Payload, content_field: str) -> StationReport:
    # One part of a multi-part report: generatedAt, requestId, seqNo and tbc say which.
    return StationReport(
        kind=kind,
        at=optional_timestamp(payload, "generatedAt"),
        reference=common.int32(payload, "requestId"),
        seq_no=common.int32(payload, "seqNo"),
        tbc=bool(payload.get("tbc", False)),
        content=payload.get(content_field),
    )


def event(payload: Payload) -> StationReport:
    """NotifyEventRequest -> a note of its events (monitoring alerts, triggers)."""
    return _part(NoteKind.EVENT, payload, "eventData")


def report(payload: Payload) -> StationReport:
    """NotifyReportRequest -> a note of one part of a device-model report."""
    return _part(NoteKind.REPORT, payload, "reportData")


def monitoring_report(payload: Payload) -> StationReport:
    """NotifyMonitoringReportRequest -> a note of one part of a monitoring report."""
    return _part(NoteKind.MONITORING_REPORT, payload, "monitor")


def customer_information(payload: Payload) -> StationReport:
    """NotifyCustomerInformationRequest -> a note of one part of the customer's data."""
    return _part(NoteKind.CUSTOMER_INFORMATION, payload, "data")


def display_messages(payload: Payload) -> StationReport:
    """NotifyDisplayMessagesRequest -> a note of the messages the station displays."""
    return _part(NoteKind.DISPLAY_MESSAGES, payload, "messageInfo")


def charging_limit(payload: Payload) -> StationReport:
    """NotifyChargingLimitRequest -> a note of an external limit (source, schedule)."""
    limit = payload["chargingLimit"]
    return StationReport(
        kind=NoteKind.CHARGING_LIMIT,
        evse_id=common.evse_id(payload),
        subject=limit["chargingLimitSource"],
        status="GridCritical" if limit.get("isGridCritical") else None,
        content=payload.get("chargingSchedule"),
    )


def cleared_charging_limit(payload: Payload) -> StationReport:
    """ClearedChargingLimitRequest -> a note that an external limit ended."""
    return StationReport(
        kind=NoteKind.CHARGING_LIMIT_CLEARED,
        evse_id=common.evse_id(payload),
        subject=payload["chargingLimitSource"],
    )


def charging_profiles(payload: Payload) -> StationReport:
    """ReportChargingProfilesRequest -> a note of the profiles installed on an EVSE."""
    return StationReport(
        kind=NoteKind.CHARGING_PROFILES,
        evse_id=common.evse_id(payload),
        reference=common.int32(payload, "requestId"),
        tbc=bool(payload.get("tbc", False)),
        subject=payload["chargingLimitSource"],
        content=payload["chargingProfile"],
    )


def ev_charging_schedule(payload: Payload) -> StationReport:
    """NotifyEVChargingScheduleRequest -> a note of the schedule the vehicle negotiated."""
    return StationReport(
        kind=NoteKind.EV_CHARGING_SCHEDULE,
        at=optional_timestamp(payload, "timeBase"),
        evse_id=common.evse_id(payload),
        content=payload["chargingSchedule"],
    )


def reservation_status(payload: Payload) -> StationReport:
    """ReservationStatusUpdateRequest -> a note that a reservation expired or was removed."""
    return StationReport(
        kind=NoteKind.RESERVATION_STATUS,
        reference=common.int32(payload, "reservationId"),
        status=payload["reservationUpdateStatus"],
    )


ROUTES: dict[str, Route] = {
    "ClearedChargingLimit": common.report(cleared_charging_limit),
    "DataTransfer": common.data_transfer(data_transfer_reply),
    "FirmwareStatusNotification": common.firmware_status(firmware_status),
    "Get15118EVCertificate": common.certificate_request(ev_certificate, ev_certificate_reply),
    "GetCertificateStatus": common.certificate_request(
        certificate_status, certificate_status_reply
    ),
    "LogStatusNotification": common.log_status(log_status),
    "NotifyChargingLimit": common.report(charging_limit),
    "NotifyCustomerInformation": common.report(customer_information),
    "NotifyDisplayMessages": common.report(display_messages),
    "NotifyEVChargingNeeds": notify_ev_charging_needs,
    # K17: Accepted, since no limit of the CSMS's is known that the schedule could exceed.
    "NotifyEVChargingSchedule": common.report(ev_charging_schedule, {"status": "Accepted"}),
    "NotifyEvent": common.report(event),
    "NotifyMonitoringReport": common.report(monitoring_report),
    "NotifyReport": common.report(report),
    "PublishFirmwareStatusNotification": publish_firmware_status_notification,
    "ReportChargingProfiles": common.report(charging_profiles),
    "ReservationStatusUpdate": common.report(reservation_status),
    "SecurityEventNotification": common.security_event_notification,
    "SignCertificate": common.certificate_request(sign_certificate, sign_certificate_reply),
}
