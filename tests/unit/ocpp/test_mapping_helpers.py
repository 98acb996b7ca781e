"""Helpers both version mappings share."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from csms.domain.commands import CommandStatus
from csms.ocpp.common.errors import ErrorKind, PayloadError
from csms.ocpp.common.mapping import command_status, optional_timestamp


def test_optional_timestamp_absent_is_none() -> None:
    # GIVEN a payload without the field (or with null)
    # WHEN / THEN there is no time
    assert optional_timestamp({}, "timestamp") is None
    assert optional_timestamp({"timestamp": None}, "timestamp") is None


def test_optional_timestamp_reads_utc() -> None:
    # GIVEN a payload with an offset time
    # WHEN read / THEN it is the UTC instant
    value = optional_timestamp({"timestamp": "2026-11-24T09:00:00+01:00"}, "timestamp")
    assert value == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["yesterday", "2026-02-30T00:00:00Z", ""])
def test_optional_timestamp_unreadable_is_property_violation(raw: str) -> None:
    # GIVEN an unreadable date-time (schemas do not enforce `format`)
    # WHEN read
    with pytest.raises(PayloadError) as caught:
        optional_timestamp({"timestamp": raw}, "timestamp")
    # THEN it is a PropertyConstraintViolation naming the field
    assert caught.value.kind is ErrorKind.PROPERTY_CONSTRAINT_VIOLATION
    assert caught.value.description == "timestamp: not an RFC 3339 date-time"


@pytest.mark.parametrize("raw", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_optional_timestamp_out_of_range_instant_is_property_violation(raw: str) -> None:
    # GIVEN a date-time whose UTC instant is outside what a datetime can hold
    # WHEN read
    with pytest.raises(PayloadError) as caught:
        optional_timestamp({"timestamp": raw}, "timestamp")
    # THEN it is a PropertyConstraintViolation like any other unreadable time
    assert caught.value.kind is ErrorKind.PROPERTY_CONSTRAINT_VIOLATION


@pytest.mark.parametrize("status", list(CommandStatus))
def test_command_status_reads_every_status(status: CommandStatus) -> None:
    # GIVEN a CALLRESULT with a status / WHEN read / THEN it is the version-neutral status
    assert command_status({"status": status.value}) is status
