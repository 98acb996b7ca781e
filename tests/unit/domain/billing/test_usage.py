"""What a session used: validation and derived quantities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from tests.unit.domain.billing.builders import BERLIN, T0, a_usage, at, sample

from csms.domain.billing.usage import SessionUsage
from csms.domain.billing.usage import at as at_site


def _usage(**over: Any) -> SessionUsage:
    fields: dict[str, Any] = {
        "start": T0,
        "stop": at(2),
        "samples": [sample(T0, 0), sample(at(1), 5000)],
    }
    fields.update(over)
    return SessionUsage.model_validate(fields)


def test_usage_reports_energy_and_times() -> None:
    # GIVEN a 2 h session with 5 kWh and 30 min idle
    usage = _usage(idle={"start": at(1.5), "end": at(2)})
    # WHEN reading its quantities THEN they follow from the samples and the idle period
    assert usage.energy_wh == Decimal(5000)
    assert usage.plugged == timedelta(hours=2)
    assert usage.idle_time == timedelta(minutes=30)
    assert usage.charging == timedelta(hours=1, minutes=30)


def test_usage_without_idle_charges_all_the_time() -> None:
    # GIVEN a session with no idle period WHEN reading its times THEN charging is plugged time
    usage = a_usage(hours=3)
    assert usage.idle_time == timedelta(0)
    assert usage.charging == usage.plugged == timedelta(hours=3)


def test_usage_keeps_times_in_utc_so_dst_does_not_bend_durations() -> None:
    # GIVEN a session given in Berlin wall time across the autumn DST change: 00:00 to 04:00
    # on the wall, 5 h in fact (03:00 comes twice)
    start = datetime(2026, 10, 25, 0, 0, tzinfo=BERLIN)
    usage = _usage(
        start=start,
        stop=datetime(2026, 10, 25, 4, 0, tzinfo=BERLIN),
        samples=[sample(start, 0)],
        timezone="Europe/Berlin",
    )
    # WHEN reading it THEN the times are UTC and the duration is the real one
    assert usage.start.tzinfo is UTC
    assert usage.plugged == timedelta(hours=5)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"stop": T0}, "stop must be after start"),
        ({"stop": at(-1)}, "stop must be after start"),
        ({"stop": at(24 * 32)}, "longer than 31 days"),
        ({"samples": []}, "at least 1"),
        ({"samples": [sample(at(1), 0), sample(at(0.5), 10)]}, "time order"),
        ({"samples": [sample(T0, 10), sample(at(1), 5)]}, "never go down"),
        ({"samples": [sample(at(-1), 0)]}, "outside start-stop"),
        ({"samples": [sample(at(3), 0)]}, "outside start-stop"),
        ({"samples": [sample(T0, -1)]}, "greater than or equal to 0"),
        ({"idle": {"start": at(1), "end": at(3)}}, "idle period must lie within"),
        ({"idle": {"start": at(-1), "end": at(1)}}, "idle period must lie within"),
        ({"idle": {"start": at(1.5), "end": at(1)}}, "idle period must lie within"),
        ({"timezone": "Mars/Olympus"}, "not an IANA timezone"),
        ({"timezone": "../etc"}, "not an IANA timezone"),
        ({"start": T0.replace(tzinfo=None)}, "timezone"),
    ],
)
def test_usage_rejects_inconsistent_input(over: dict[str, Any], message: str) -> None:
    # GIVEN usage that contradicts itself WHEN validating it THEN it is refused, saying why
    with pytest.raises(ValidationError, match=message):
        _usage(**over)


def test_at_shows_a_moment_on_the_site_wall_clock() -> None:
    # GIVEN a UTC moment WHEN shown in Berlin THEN it is an hour later in winter
    assert at_site(T0, BERLIN).hour == T0.hour + 1
