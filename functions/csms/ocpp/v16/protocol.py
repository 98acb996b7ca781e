"""OCPP 1.6J: wire shapes to and from the domain, and the route table."""

from __future__ import annotations

from csms.domain.connector import ConnectorStatus, OccupancyDetail, StatusReport
from csms.domain.station import BootInfo, ProtocolVersion
from csms.ocpp.common import routes as common_routes
from csms.ocpp.common.errors import ErrorKind
from csms.ocpp.common.mapping import optional_timestamp
from csms.ocpp.common.protocol import Payload, VersionProtocol
from csms.ocpp.v16 import commands, notifications, transactions
from csms.ocpp.v16.ids import evse_of_connector

# The command codec lives in csms.ocpp.v16.commands; kept importable from here.
encode_command = commands.encode_command

# OCPP-J 1.6 §4.2.3 spells these two differently from 2.0.1 ("Formation", "Occurence"), and
# has no RpcFrameworkError or MessageTypeNotSupported: ProtocolError covers a broken frame.
ERROR_CODES: dict[ErrorKind, str] = {
    ErrorKind.NOT_IMPLEMENTED: "NotImplemented",
    ErrorKind.NOT_SUPPORTED: "NotSupported",
    ErrorKind.INTERNAL_ERROR: "InternalError",
    ErrorKind.PROTOCOL_ERROR: "ProtocolError",
    ErrorKind.SECURITY_ERROR: "SecurityError",
    ErrorKind.FORMAT_VIOLATION: "FormationViolation",
    ErrorKind.PROPERTY_CONSTRAINT_VIOLATION: "PropertyConstraintViolation",
    ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION: "OccurenceConstraintViolation",
    ErrorKind.TYPE_CONSTRAINT_VIOLATION: "TypeConstraintViolation",
    ErrorKind.GENERIC_ERROR: "GenericError",
    ErrorKind.RPC_FRAMEWORK_ERROR: "ProtocolError",
    ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED: "ProtocolError",
}

_STATUS: dict[str, tuple[ConnectorStatus, OccupancyDetail | None]] = {
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


def boot_info(payload: Payload) -> BootInfo:
    """BootNotification.req -> BootInfo (1.6 does not say why the station booted)."""
    return BootInfo(
        vendor=payload["chargePointVendor"],
        model=payload["chargePointModel"],
        serial_number=payload.get("chargePointSerialNumber")
        or payload.get("chargeBoxSerialNumber"),
        firmware_version=payload.get("firmwareVersion"),
        iccid=payload.get("iccid"),
        imsi=payload.get("imsi"),
        meter_type=payload.get("meterType"),
        meter_serial_number=payload.get("meterSerialNumber"),
    )


def status_report(payload: Payload) -> StatusReport:
    """StatusNotification.req -> StatusReport."""
    status, detail = _STATUS[payload["status"]]
    error_code = payload["errorCode"]
    return StatusReport(
        evse=evse_of_connector(payload["connectorId"]),
        status=status,
        detail=detail,
        error_code=None if error_code == "NoError" else error_code,
        info=payload.get("info"),
        vendor_id=payload.get("vendorId"),
        vendor_error_code=payload.get("vendorErrorCode"),
        timestamp=optional_timestamp(payload, "timestamp"),
    )


PROTOCOL = VersionProtocol(
    version=ProtocolVersion.OCPP16,
    schema_version="1.6",
    error_codes=ERROR_CODES,
    routes={
        "BootNotification": common_routes.boot_notification(boot_info),
        "Heartbeat": common_routes.heartbeat,
        "StatusNotification": common_routes.status_notification(status_report),
        **notifications.ROUTES,
        "Authorize": transactions.authorize,
        "StartTransaction": transactions.start_transaction,
        "StopTransaction": transactions.stop_transaction,
        "MeterValues": transactions.meter_values,
    },
    encode_command=commands.encode_command,
    result_decoders=commands.RESULT_DECODERS,
    result_readers=commands.RESULT_READERS,
    redact_request=commands.redact_request,
    redact_response=commands.redact_response,
)
