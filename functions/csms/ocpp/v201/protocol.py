"""OCPP 2.0.1: wire shapes to and from the domain, and the route table."""

from __future__ import annotations

from csms.domain.connector import MAX_ID, ConnectorStatus, EvseRef, StatusReport
from csms.domain.station import BootInfo, BootReason, ProtocolVersion
from csms.ocpp.common import routes as common_routes
from csms.ocpp.common.errors import ErrorKind, PayloadError
from csms.ocpp.common.mapping import optional_timestamp
from csms.ocpp.common.protocol import Payload, VersionProtocol
from csms.ocpp.v201 import commands, notifications, transactions

ERROR_CODES: dict[ErrorKind, str] = {kind: kind.value for kind in ErrorKind}

# The command codec lives in csms.ocpp.v201.commands; kept importable from here.
encode_command = commands.encode_command


def boot_info(payload: Payload) -> BootInfo:
    """BootNotificationRequest -> BootInfo."""
    station = payload["chargingStation"]
    modem = station.get("modem") or {}
    return BootInfo(
        vendor=station["vendorName"],
        model=station["model"],
        serial_number=station.get("serialNumber"),
        firmware_version=station.get("firmwareVersion"),
        iccid=modem.get("iccid"),
        imsi=modem.get("imsi"),
        reason=BootReason(payload["reason"]),
    )


def status_report(payload: Payload) -> StatusReport:
    """StatusNotificationRequest -> StatusReport."""
    evse_id, connector_id = payload["evseId"], payload["connectorId"]
    if not (0 <= evse_id <= MAX_ID and 0 <= connector_id <= MAX_ID):
        raise PayloadError(
            ErrorKind.PROPERTY_CONSTRAINT_VIOLATION, f"evseId and connectorId must be 0-{MAX_ID}"
        )
    return StatusReport(
        evse=EvseRef(evse_id=evse_id, connector_id=connector_id),
        status=ConnectorStatus(payload["connectorStatus"]),
        timestamp=optional_timestamp(payload, "timestamp"),
    )


PROTOCOL = VersionProtocol(
    version=ProtocolVersion.OCPP201,
    schema_version="2.0.1",
    error_codes=ERROR_CODES,
    routes={
        "BootNotification": common_routes.boot_notification(boot_info),
        "Heartbeat": common_routes.heartbeat,
        "StatusNotification": common_routes.status_notification(status_report),
        **notifications.ROUTES,
        "Authorize": transactions.authorize,
        "TransactionEvent": transactions.transaction_event,
        "MeterValues": transactions.meter_values,
    },
    encode_command=commands.encode_command,
    result_decoders=commands.RESULT_DECODERS,
    result_readers=commands.RESULT_READERS,
    redact_request=commands.redact_request,
    redact_response=commands.redact_response,
)
