"""Notification routes whose wire shape 1.6 and 2.0.1 share, and the helpers both mappings use.

DataTransfer, SecurityEventNotification and the status notifications have the same request
fields in both versions (1.6 through its security extension for the latter); what differs is
spelled by each version's decoder or reply encoder.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from csms.domain.connector import MAX_ID
from csms.domain.notifications import (
    MAX_INT32,
    CertificateAnswer,
    CertificateRequest,
    DataTransferReply,
    DataTransferRequest,
    FirmwareStatusReport,
    LogStatusReport,
    SecurityEvent,
    StationReport,
)
from csms.ocpp.common.errors import ErrorKind, PayloadError
from csms.ocpp.common.mapping import optional_timestamp
from csms.ocpp.common.protocol import OcppContext, Payload, Route


def int32(payload: Payload, field: str) -> int | None:
    """Read an optional integer; OCPP integers are 32-bit, so a larger one is refused."""
    value = payload.get(field)
    if value is None:
        return None
    if not -MAX_INT32 - 1 <= value <= MAX_INT32:
        raise PayloadError(
            ErrorKind.PROPERTY_CONSTRAINT_VIOLATION, f"{field}: not a 32-bit integer"
        )
    return int(value)


def quantity(payload: Payload, field: str) -> int | None:
    """Read an optional non-negative 32-bit integer (an amount, a power, a current)."""
    value = int32(payload, field)
    if value is not None and value < 0:
        raise PayloadError(
            ErrorKind.PROPERTY_CONSTRAINT_VIOLATION, f"{field}: must not be negative"
        )
    return value


def evse_id(payload: Payload, field: str = "evseId") -> int | None:
    """Read an optional EVSE id within the domain's bound (0 is the whole station)."""
    value = payload.get(field)
    if value is None:
        return None
    if not 0 <= value <= MAX_ID:
        raise PayloadError(ErrorKind.PROPERTY_CONSTRAINT_VIOLATION, f"{field} must be 0-{MAX_ID}")
    return int(value)


def timestamp(payload: Payload, field: str) -> datetime:
    """Read a dateTime field the schema requires."""
    value = optional_timestamp(payload, field)
    if value is None:  # pragma: no cover - the schema requires the field before routing
        raise PayloadError(ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION, f"{field}: required")
    return value


def security_event(payload: Payload) -> SecurityEvent:
    """SecurityEventNotification -> SecurityEvent (same fields in 1.6 and 2.0.1)."""
    return SecurityEvent(
        type=payload["type"],
        at=timestamp(payload, "timestamp"),
        tech_info=payload.get("techInfo"),
    )


def data_transfer_request(payload: Payload) -> DataTransferRequest:
    """DataTransfer -> DataTransferRequest (1.6 data is a string, 2.0.1 data any JSON)."""
    return DataTransferRequest(
        vendor_id=payload["vendorId"],
        message_id=payload.get("messageId"),
        data=payload.get("data"),
    )


def data_transfer(encode: Callable[[DataTransferReply], Payload]) -> Route:
    """DataTransfer: the vendor's handler answers; the version spells the reply."""

    def route(ctx: OcppContext, payload: Payload) -> Payload:
        reply = ctx.notifications.data_transfer(
            ctx.binding, data_transfer_request(payload), unique_id=ctx.unique_id
        )
        return encode(reply)

    return route


def firmware_status(decode: Callable[[Payload], FirmwareStatusReport]) -> Route:
    """FirmwareStatusNotification (1.6: also SignedFirmwareStatusNotification): empty response."""

    def route(ctx: OcppContext, payload: Payload) -> Payload:
        ctx.notifications.record_firmware_status(
            ctx.binding, decode(payload), unique_id=ctx.unique_id
        )
        return {}

    return route


def log_status(decode: Callable[[Payload], LogStatusReport]) -> Route:
    """LogStatusNotification (1.6: also DiagnosticsStatusNotification): empty response."""

    def route(ctx: OcppContext, payload: Payload) -> Payload:
        ctx.notifications.record_log_status(ctx.binding, decode(payload), unique_id=ctx.unique_id)
        return {}

    return route


def security_event_notification(ctx: OcppContext, payload: Payload) -> Payload:
    """SecurityEventNotification: empty response in both versions."""
    ctx.notifications.record_security_event(
        ctx.binding, security_event(payload), unique_id=ctx.unique_id
    )
    return {}


def certificate_request(
    decode: Callable[[Payload], CertificateRequest],
    encode: Callable[[CertificateAnswer], Payload],
) -> Route:
    """SignCertificate, Get15118EVCertificate, GetCertificateStatus: the version spells it."""

    def route(ctx: OcppContext, payload: Payload) -> Payload:
        answer = ctx.notifications.request_certificate(
            ctx.binding, decode(payload), unique_id=ctx.unique_id
        )
        return encode(answer)

    return route


def report(decode: Callable[[Payload], StationReport], reply: Payload | None = None) -> Route:
    """A notification kept as a note, answered with a fixed response (empty by default)."""
    response = reply or {}

    def route(ctx: OcppContext, payload: Payload) -> Payload:
        ctx.notifications.record_report(ctx.binding, decode(payload), unique_id=ctx.unique_id)
        return dict(response)

    return route
