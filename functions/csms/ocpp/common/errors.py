"""Version-neutral CallError kinds, and the one place domain errors map to them.

Each version spells the codes its own way (`FormationViolation` in 1.6, `FormatViolation` in
2.0.1): see `ERROR_CODES` in `csms.ocpp.v16.protocol` and `csms.ocpp.v201.protocol`.
"""

from __future__ import annotations

from enum import StrEnum

from csms.domain.errors import (
    CallInProgressError,
    DomainError,
    InvalidStationIdError,
    StationNotFoundError,
    StationOfflineError,
    UnknownConnectionError,
)


class ErrorKind(StrEnum):
    """What went wrong, before a version spells it."""

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMAT_VIOLATION = "FormatViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURRENCE_CONSTRAINT_VIOLATION = "OccurrenceConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"


class PayloadError(Exception):
    """A payload that passed the schema but still cannot be used (e.g. an unreadable date)."""

    def __init__(self, kind: ErrorKind, description: str) -> None:
        super().__init__(description)
        self.kind = kind
        self.description = description


_DOMAIN_ERROR_KINDS: dict[type[DomainError], tuple[ErrorKind, str]] = {
    UnknownConnectionError: (ErrorKind.SECURITY_ERROR, "connection is not bound to a station"),
    InvalidStationIdError: (ErrorKind.SECURITY_ERROR, "invalid station identity"),
    StationNotFoundError: (ErrorKind.SECURITY_ERROR, "station is not registered"),
    StationOfflineError: (ErrorKind.GENERIC_ERROR, "station is offline"),
    CallInProgressError: (ErrorKind.GENERIC_ERROR, "another call is in progress"),
}


def error_for_domain(exc: DomainError) -> tuple[ErrorKind, str]:
    """Map a domain error to a CallError kind and a safe description (never the message text)."""
    for error_type in type(exc).__mro__:
        if error_type in _DOMAIN_ERROR_KINDS:
            return _DOMAIN_ERROR_KINDS[error_type]
    return ErrorKind.GENERIC_ERROR, "the request could not be processed"
