"""What each OCPP version module provides to the dispatcher: its route table and its codecs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from csms.domain.commands import Command, CommandResult, CommandStatus
from csms.domain.connection import ConnectionBinding
from csms.domain.station import ProtocolVersion
from csms.ocpp.common.errors import ErrorKind
from csms.services.commands import CommandService
from csms.services.notifications import NotificationService
from csms.services.sessions import SessionService
from csms.services.stations import StationService

Payload = dict[str, Any]


@dataclass(frozen=True)
class OcppContext:
    """What a route handler works with: the station behind the connection and the use cases."""

    binding: ConnectionBinding
    stations: StationService
    commands: CommandService
    sessions: SessionService
    notifications: NotificationService
    # The CALL's unique id: what makes a retransmission recognisable.
    unique_id: str


# A charger-initiated action: request payload in, response payload out (both already
# validated against the official schemas by the dispatcher).
Route = Callable[[OcppContext, Payload], Payload]

# CSMS-initiated action: turns a domain command, sent as the CALL with the given unique id,
# into (action, request payload); raises CommandNotSupportedError when the version cannot say it.
CommandEncoder = Callable[[Command, str], tuple[str, Payload]]

# Reads a CALLRESULT payload of a CSMS-initiated action into a version-neutral status.
ResultDecoder = Callable[[Payload], CommandStatus | None]

# Reads a CALLRESULT payload (with the request it answers) into a version-neutral result.
ResultReader = Callable[[Payload, Payload], CommandResult]

# (action, payload) -> the payload with credentials replaced by "***", for storing and logging.
Redactor = Callable[[str, Payload], Payload]


def unredacted(action: str, payload: Payload) -> Payload:
    """A Redactor for versions with nothing to hide."""
    return payload


@dataclass(frozen=True)
class VersionProtocol:
    """One OCPP version, as the dispatcher sees it."""

    version: ProtocolVersion
    schema_version: str
    error_codes: Mapping[ErrorKind, str]
    routes: Mapping[str, Route]
    encode_command: CommandEncoder
    result_decoders: Mapping[str, ResultDecoder]
    result_readers: Mapping[str, ResultReader] = field(default_factory=dict)
    redact_request: Redactor = unredacted
    redact_response: Redactor = unredacted

    def code(self, kind: ErrorKind) -> str:
        """The version's spelling of an error kind."""
        return self.error_codes[kind]
