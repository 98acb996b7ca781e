"""Domain errors map to CallError kinds with safe descriptions."""

from __future__ import annotations

import pytest

from csms.domain.errors import (
    CallInProgressError,
    CallNotFoundError,
    DomainError,
    InvalidSeedError,
    InvalidStationIdError,
    StationNotFoundError,
    StationOfflineError,
    UnknownConnectionError,
)
from csms.ocpp.common.errors import ErrorKind, PayloadError, error_for_domain
from csms.ocpp.v16.protocol import ERROR_CODES as V16_CODES
from csms.ocpp.v201.protocol import ERROR_CODES as V201_CODES


@pytest.mark.parametrize(
    ("error", "kind", "description"),
    [
        (
            UnknownConnectionError("c-secret"),
            ErrorKind.SECURITY_ERROR,
            "connection is not bound to a station",
        ),
        (InvalidStationIdError("id-secret"), ErrorKind.SECURITY_ERROR, "invalid station identity"),
        (StationNotFoundError("CP-secret"), ErrorKind.SECURITY_ERROR, "station is not registered"),
        (StationOfflineError("CP-secret"), ErrorKind.GENERIC_ERROR, "station is offline"),
        (
            CallInProgressError("CP-secret", "u"),
            ErrorKind.GENERIC_ERROR,
            "another call is in progress",
        ),
        (
            CallNotFoundError("CP-secret", "u"),
            ErrorKind.GENERIC_ERROR,
            "the request could not be processed",
        ),
        (
            InvalidSeedError("seed-secret"),
            ErrorKind.GENERIC_ERROR,
            "the request could not be processed",
        ),
    ],
)
def test_error_for_domain_maps_kind_and_safe_description(
    error: DomainError, kind: ErrorKind, description: str
) -> None:
    # GIVEN a domain error
    # WHEN mapped for the wire
    mapped = error_for_domain(error)
    # THEN it has its kind and a fixed description that never quotes the error's text
    assert mapped == (kind, description)
    assert "secret" not in mapped[1]


def test_error_for_domain_follows_subclasses() -> None:
    # GIVEN a subclass of a mapped error
    class GoneError(StationOfflineError):
        pass

    # WHEN / THEN it maps like its base
    assert error_for_domain(GoneError("CP-1")) == (ErrorKind.GENERIC_ERROR, "station is offline")


def test_payload_error_carries_kind_and_description() -> None:
    # GIVEN / WHEN a payload error / THEN kind and description are kept
    error = PayloadError(ErrorKind.PROPERTY_CONSTRAINT_VIOLATION, "bad date")
    assert (error.kind, error.description, str(error)) == (
        ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
        "bad date",
        "bad date",
    )


def test_error_codes_cover_every_kind_in_both_versions() -> None:
    # GIVEN / WHEN / THEN each version spells every kind, with its own spellings
    assert set(V16_CODES) == set(ErrorKind)
    assert set(V201_CODES) == set(ErrorKind)
    assert V16_CODES[ErrorKind.FORMAT_VIOLATION] == "FormationViolation"
    assert V16_CODES[ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION] == "OccurenceConstraintViolation"
    assert V201_CODES[ErrorKind.FORMAT_VIOLATION] == "FormatViolation"
    assert V201_CODES[ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION] == "OccurrenceConstraintViolation"


def test_error_codes_16_use_only_16_codes() -> None:
    # GIVEN the ten CallError codes OCPP-J 1.6 defines
    codes_16 = {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    }
    # WHEN / THEN the 1.6 spelling never uses a 2.0.1-only code
    assert set(V16_CODES.values()) == codes_16
    assert V16_CODES[ErrorKind.RPC_FRAMEWORK_ERROR] == "ProtocolError"
    assert V16_CODES[ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED] == "ProtocolError"
