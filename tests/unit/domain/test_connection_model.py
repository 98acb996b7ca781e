"""Refusal reasons and connection log entries."""

from __future__ import annotations

import pytest
from tests.fakes import T0, a_binding

from csms.domain.connection import ConnectionLogEntry, ConnectionOutcome, RefusalReason


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        (RefusalReason.INVALID_STATION_ID, 400),
        (RefusalReason.NO_SUBPROTOCOL, 400),
        (RefusalReason.UNKNOWN_STATION, 401),
        (RefusalReason.MISSING_CREDENTIALS, 401),
        (RefusalReason.BAD_CREDENTIALS, 401),
    ],
)
def test_refusal_reason_http_status_tells_identity_from_request_problems(
    reason: RefusalReason, status: int
) -> None:
    # GIVEN a refusal reason
    # WHEN / THEN it maps to 401 for identity problems and 400 for request problems
    assert reason.http_status == status


def test_refusal_reason_unknown_station_and_bad_credentials_look_alike() -> None:
    # GIVEN the two reasons an attacker probing station ids would want to tell apart
    # WHEN / THEN the edge answers both with the same status
    assert RefusalReason.UNKNOWN_STATION.http_status == RefusalReason.BAD_CREDENTIALS.http_status


def test_connection_log_entry_defaults_are_empty() -> None:
    # GIVEN a minimal log entry
    entry = ConnectionLogEntry(station_id="CP-1", at=T0, outcome=ConnectionOutcome.CONNECTED)
    # WHEN / THEN the optional parts are empty
    assert entry.reason is None
    assert entry.protocol is None
    assert entry.offered_protocols == ()


def test_connection_binding_is_immutable() -> None:
    # GIVEN a binding
    binding = a_binding()
    # WHEN someone tries to change it
    # THEN it refuses (bindings are cached: they must never change)
    with pytest.raises(ValueError, match="frozen"):
        binding.station_id = "CP-2"  # type: ignore[misc]
