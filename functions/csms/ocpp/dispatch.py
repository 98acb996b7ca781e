"""The stateless OCPP-J router: one frame in, at most one frame out.

Rules (DESIGN §4): every CALL gets exactly one CALLRESULT or CALLERROR; an unknown action gets
NotImplemented; a schema failure gets the version's violation code; an internal fault gets
InternalError with no exception text on the wire. CALLRESULT/CALLERROR frames are matched to the
CSMS's outstanding call and never answered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from csms.domain.command_records import CommandRecord
from csms.domain.commands import Command, CommandResult
from csms.domain.connection import ConnectionBinding
from csms.domain.errors import DomainError, UnknownConnectionError
from csms.domain.station import ProtocolVersion
from csms.ocpp.common.errors import ErrorKind, PayloadError, error_for_domain
from csms.ocpp.common.frames import (
    CALL,
    CALL_ERROR,
    CALL_RESULT,
    Call,
    CallError,
    CallResult,
    FrameError,
    FrameProblem,
    encode_call,
    encode_error,
    encode_result,
    parse_frame,
)
from csms.ocpp.common.protocol import OcppContext, VersionProtocol
from csms.ocpp.common.schemas import SchemaViolationError, known_actions, validate
from csms.ocpp.v16.protocol import PROTOCOL as V16
from csms.ocpp.v201.protocol import PROTOCOL as V201
from csms.services.commands import CommandService
from csms.services.notifications import NotificationService
from csms.services.ports import EncodedCall
from csms.services.sessions import SessionService
from csms.services.stations import StationService

logger = logging.getLogger(__name__)

PROTOCOLS: Mapping[ProtocolVersion, VersionProtocol] = {V16.version: V16, V201.version: V201}

_FRAME_ERROR_KINDS = {
    FrameProblem.BAD_MESSAGE_TYPE: ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED,
    FrameProblem.PAYLOAD_NOT_OBJECT: ErrorKind.FORMAT_VIOLATION,
    FrameProblem.NOT_UNICODE: ErrorKind.FORMAT_VIOLATION,
}


class OcppCallEncoder:
    """CallEncoder for the services: a domain command in the station's version.

    Also reads answers back version-neutrally, for whoever shows a command's outcome.
    """

    def encode(self, protocol: ProtocolVersion, unique_id: str, command: Command) -> EncodedCall:
        """Return the CALL frame for the command (CommandNotSupportedError if it can't be)."""
        version = PROTOCOLS[protocol]
        action, payload = version.encode_command(command, unique_id)
        return EncodedCall(
            action=action,
            payload=payload,
            frame=encode_call(unique_id, action, payload),
            redacted=version.redact_request(action, payload),
        )

    def read_result(
        self,
        protocol: ProtocolVersion,
        action: str,
        request: dict[str, Any],
        response: dict[str, Any],
    ) -> CommandResult | None:
        """The station's CALLRESULT to `action`, version-neutral; None for one we never send.

        The request may be the redacted one: no reader needs a credential.
        """
        reader = PROTOCOLS[protocol].result_readers.get(action)
        return None if reader is None else reader(request, response)

    def redact_response(
        self, protocol: ProtocolVersion, action: str, response: dict[str, Any]
    ) -> dict[str, Any]:
        """The CALLRESULT payload with credentials replaced by "***", for storing."""
        return PROTOCOLS[protocol].redact_response(action, response)


class OcppDispatcher:
    """Decodes a frame, routes it by version and action, and encodes the reply."""

    def __init__(
        self,
        *,
        stations: StationService,
        commands: CommandService,
        sessions: SessionService,
        notifications: NotificationService,
    ) -> None:
        self._stations = stations
        self._commands = commands
        self._sessions = sessions
        self._notifications = notifications

    def handle(self, connection_id: str, raw: str | bytes) -> str | None:
        """Process one frame from a station; return the reply frame, if one is owed."""
        try:
            binding = self._stations.resolve(connection_id)
        except UnknownConnectionError:
            return self._unbound(connection_id, raw)
        protocol = PROTOCOLS[binding.protocol]
        try:
            frame = parse_frame(raw)
        except FrameError as exc:
            return self._broken(binding, protocol, exc)
        if isinstance(frame, Call):
            return self._call(binding, protocol, frame)
        self._reply(binding, protocol, frame)
        return None

    def _unbound(self, connection_id: str, raw: str | bytes) -> str | None:
        logger.warning("frame on an unbound connection", extra={"connection_id": connection_id})
        try:
            frame = parse_frame(raw)
        except FrameError:
            return None
        if not isinstance(frame, Call):
            return None
        kind, description = error_for_domain(UnknownConnectionError(connection_id))
        # Both versions spell SecurityError alike, so no version is needed to answer.
        return encode_error(frame.unique_id, kind.value, description)

    def _broken(
        self, binding: ConnectionBinding, protocol: VersionProtocol, exc: FrameError
    ) -> str | None:
        log = {"station_id": binding.station_id, "problem": exc.problem.value}
        if exc.unique_id is None or exc.message_type in (CALL_RESULT, CALL_ERROR):
            # Nothing to answer to: no id, or a broken reply (replies are never answered).
            logger.warning("dropped unreadable frame", extra=log)
            return None
        kind = _FRAME_ERROR_KINDS.get(exc.problem, ErrorKind.RPC_FRAMEWORK_ERROR)
        logger.warning("rejected malformed frame", extra=log)
        return encode_error(exc.unique_id, protocol.code(kind), exc.problem.value)

    def _call(self, binding: ConnectionBinding, protocol: VersionProtocol, call: Call) -> str:
        log = {"station_id": binding.station_id, "action": call.action, "unique_id": call.unique_id}
        if call.action not in known_actions(protocol.schema_version):
            return self._error(call, protocol, ErrorKind.NOT_IMPLEMENTED, "unknown action", log)
        route = protocol.routes.get(call.action)
        if route is None:
            return self._error(call, protocol, ErrorKind.NOT_SUPPORTED, "action not supported", log)
        try:
            validate(protocol.schema_version, CALL, call.action, call.payload)
            ctx = OcppContext(
                binding=binding,
                stations=self._stations,
                commands=self._commands,
                sessions=self._sessions,
                notifications=self._notifications,
                unique_id=call.unique_id,
            )
            response = route(ctx, call.payload)
        except SchemaViolationError as exc:
            return self._error(call, protocol, exc.kind, exc.description, log)
        except PayloadError as exc:
            return self._error(call, protocol, exc.kind, exc.description, log)
        except DomainError as exc:
            kind, description = error_for_domain(exc)
            return self._error(call, protocol, kind, description, log)
        except Exception:
            logger.exception("internal error handling a call", extra=log)
            return encode_error(
                call.unique_id, protocol.code(ErrorKind.INTERNAL_ERROR), "internal error"
            )
        logger.debug("handled call", extra=log)
        return encode_result(call.unique_id, response)

    @staticmethod
    def _error(
        call: Call,
        protocol: VersionProtocol,
        kind: ErrorKind,
        description: str,
        log: dict[str, str],
    ) -> str:
        logger.info("call rejected", extra={**log, "error": kind.value})
        return encode_error(call.unique_id, protocol.code(kind), description)

    def _reply(
        self, binding: ConnectionBinding, protocol: VersionProtocol, frame: CallResult | CallError
    ) -> None:
        log = {"station_id": binding.station_id, "unique_id": frame.unique_id}
        try:
            call = self._commands.pending(binding.station_id, frame.unique_id)
            if call is None:
                logger.warning("reply matches no outstanding call", extra=log)
            elif isinstance(frame, CallError):
                self._commands.fail(call, frame.error_code, frame.error_description)
            else:
                self._answer(protocol, call, frame)
            # The slot is free (or was: a late answer to a call past its deadline): the next
            # queued command goes out on this connection.
            self._commands.deliver(binding.station_id, binding.connection_id, binding.protocol)
        except Exception:
            logger.exception("internal error handling a reply", extra=log)

    def _answer(self, protocol: VersionProtocol, call: CommandRecord, frame: CallResult) -> None:
        action = call.ocpp_action or call.action
        try:
            validate(protocol.schema_version, CALL_RESULT, action, frame.payload)
        except SchemaViolationError as exc:
            self._commands.fail(call, "InvalidResponse", exc.description)
            return
        decoder = protocol.result_decoders.get(action)
        status = decoder(frame.payload) if decoder is not None else None
        self._commands.answer(call, status, frame.payload)
