"""Helpers both versions' command codecs share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum

from csms.domain.commands import Command, CommandResult, CommandStatus
from csms.domain.errors import CommandNotSupportedError
from csms.domain.station import ProtocolVersion
from csms.ocpp.common.frames import format_timestamp, parse_timestamp
from csms.ocpp.common.mapping import command_status
from csms.ocpp.common.protocol import Payload, ResultDecoder, ResultReader


def not_supported(
    command: Command, protocol: ProtocolVersion, why: str
) -> CommandNotSupportedError:
    """The error for a command this version cannot carry (a 422 saying why)."""
    return CommandNotSupportedError(command.action, protocol.value, why)


def present(**fields: object) -> Payload:
    """The fields that have a value, as JSON: optional OCPP fields are left out, never null."""
    return {name: _json(value) for name, value in fields.items() if value is not None}


def _json(value: object) -> object:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, Enum):
        return value.value
    return value


def reported_timestamp(value: str | None) -> datetime | None:
    """A dateTime in a station's answer; an unreadable one is left out, not fatal.

    Draft 4 validators do not enforce the schemas' `format: date-time`.
    """
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except (ValueError, OverflowError):
        return None


def status_result(request: Payload, response: Payload) -> CommandResult:
    """A CALLRESULT that is a status and, in 2.0.1, an optional statusInfo."""
    info = response.get("statusInfo") or {}
    return CommandResult(
        status=command_status(response),
        reason=info.get("reasonCode"),
        additional_info=info.get("additionalInfo"),
    )


def status_decoders(readers: Mapping[str, ResultReader]) -> dict[str, ResultDecoder]:
    """The status-only decoders the dispatcher records, from the full readers.

    None of the statuses depends on the request, so the readers get an empty one.
    """
    return {action: _status_of(reader) for action, reader in readers.items()}


def _status_of(reader: ResultReader) -> Callable[[Payload], CommandStatus | None]:
    def decode(response: Payload) -> CommandStatus | None:
        return reader({}, response).status

    return decode
