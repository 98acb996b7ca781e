"""Small helpers both version mappings share."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from csms.domain.commands import CommandStatus
from csms.domain.meter import RawReading, RawSample
from csms.ocpp.common.errors import ErrorKind, PayloadError
from csms.ocpp.common.frames import parse_timestamp
from csms.ocpp.common.protocol import Payload


def optional_timestamp(payload: Payload, field: str) -> datetime | None:
    """Read an optional dateTime field; an unreadable one is a PropertyConstraintViolation.

    The official schemas say `format: date-time`, which Draft 4 validators do not enforce.
    """
    value = payload.get(field)
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except (ValueError, OverflowError):  # Overflow: an instant outside datetime's range in UTC
        raise PayloadError(
            ErrorKind.PROPERTY_CONSTRAINT_VIOLATION, f"{field}: not an RFC 3339 date-time"
        ) from None


def required_timestamp(payload: Payload, field: str) -> datetime:
    """Read a required dateTime field (present: the schema says so)."""
    value = optional_timestamp(payload, field)
    if value is None:  # pragma: no cover - the schema requires the field
        raise PayloadError(ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION, f"{field}: missing")
    return value


def readings(
    values: list[Payload], sample: Callable[[Payload], RawSample | None]
) -> list[RawReading]:
    """meterValue[] of either version -> RawReadings, each sampled value read by `sample`."""
    found = []
    for value in values:
        samples = tuple(s for raw in value["sampledValue"] if (s := sample(raw)) is not None)
        found.append(RawReading(timestamp=required_timestamp(value, "timestamp"), samples=samples))
    return found


def command_status(payload: Payload) -> CommandStatus:
    """The `status` of a CALLRESULT to Reset or TriggerMessage (same values in both versions)."""
    return CommandStatus(payload["status"])
