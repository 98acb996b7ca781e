"""Domain errors carry their subject and a message safe to show."""

from __future__ import annotations

from csms.domain.errors import (
    CallInProgressError,
    CallNotFoundError,
    DomainError,
    InvalidCursorError,
    InvalidSeedError,
    InvalidStationIdError,
    StationNotFoundError,
    StationOfflineError,
    UnknownConnectionError,
)


def test_domain_errors_carry_their_subject() -> None:
    # GIVEN one of each error
    # WHEN built
    not_found = StationNotFoundError("CP-1")
    offline = StationOfflineError("CP-1")
    busy = CallInProgressError("CP-1", "u-1")
    no_call = CallNotFoundError("CP-1", "u-2")
    unknown = UnknownConnectionError("conn-9")
    # THEN each keeps the ids it is about and names them in its message
    assert (not_found.station_id, str(not_found)) == ("CP-1", "station 'CP-1' not found")
    assert (offline.station_id, str(offline)) == ("CP-1", "station 'CP-1' is offline")
    assert (busy.station_id, busy.outstanding_id) == ("CP-1", "u-1")
    assert str(busy) == "station 'CP-1' has a call in progress"
    assert (no_call.station_id, no_call.unique_id) == ("CP-1", "u-2")
    assert str(no_call) == "no call 'u-2' for station 'CP-1'"
    assert unknown.connection_id == "conn-9"
    assert "conn-9" not in str(unknown)


def test_domain_errors_share_one_base() -> None:
    # GIVEN every error the domain raises on purpose
    errors: list[DomainError] = [
        InvalidStationIdError("bad id"),
        StationNotFoundError("x"),
        UnknownConnectionError("c"),
        StationOfflineError("x"),
        CallInProgressError("x", None),
        CallNotFoundError("x", "u"),
        InvalidSeedError("bad seed"),
        InvalidCursorError(),
    ]
    # WHEN / THEN they are all DomainErrors, so edges can catch them in one place
    assert all(isinstance(e, DomainError) for e in errors)
    assert str(InvalidCursorError()) == "invalid cursor"
    assert "bad id" not in str(InvalidStationIdError("bad id"))
