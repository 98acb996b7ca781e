"""The power a site may give its chargers: time-of-day limits, meter, PV and battery readings."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fakes import T0
from tests.unit.domain.load.builders import FAST, a_config

from csms.domain.load.config import MeterKind, MeterPolicy, SiteLoadConfig, TimeOfDayLimit
from csms.domain.load.inputs import (
    MAX_FUTURE,
    MAX_READING_KW,
    Constraint,
    Reading,
    ReadingKind,
    available_power,
    latest,
    site_limit_kw,
)

# T0 is a Tuesday, 08:00 UTC.
TUESDAY = datetime(2026, 11, 24, tzinfo=UTC)


def window(start: int, end: int, limit_kw: float, **over: Any) -> TimeOfDayLimit:
    return TimeOfDayLimit.model_validate(
        {"start": time(start), "end": time(end), "limit_kw": limit_kw, **over}
    )


def metered(
    kind: MeterKind = MeterKind.BUILDING, fallback_kw: float = 20.0, **over: Any
) -> SiteLoadConfig:
    """A 100 kW site with a site meter."""
    meter = MeterPolicy(kind=kind, fallback_limit_kw=fallback_kw, stale_after_s=300)
    return a_config(meter=meter, **over)


def a_reading(kw: float, kind: ReadingKind = ReadingKind.METER, **over: Any) -> Reading:
    fields: dict[str, Any] = {"kind": kind, "kw": kw, "at": T0 - timedelta(seconds=30)}
    fields.update(over)
    return Reading.model_validate(fields)


# -- site_limit_kw -------------------------------------------------------------------------------


def test_site_limit_kw_is_the_grid_limit_without_windows() -> None:
    assert site_limit_kw(a_config(limit_kw=80.0), T0) == (80.0, Constraint.SITE_LIMIT)


@pytest.mark.parametrize(
    ("hour", "expected"),
    [
        (8.99, (100.0, Constraint.SITE_LIMIT)),
        (9, (40.0, Constraint.TIME_OF_DAY)),
        (16.99, (40.0, Constraint.TIME_OF_DAY)),
        (17, (100.0, Constraint.SITE_LIMIT)),
    ],
)
def test_site_limit_kw_applies_a_day_window_from_start_to_before_end(
    hour: float, expected: tuple[float, Constraint]
) -> None:
    # GIVEN a 40 kW window from 09:00 to 17:00 every day
    config = a_config(time_of_day=(window(9, 17, 40.0),))
    # WHEN the limit is read on Tuesday at some hour
    # THEN the window applies from its start, up to but not including its end
    assert site_limit_kw(config, TUESDAY + timedelta(hours=hour)) == expected


@pytest.mark.parametrize(
    ("moment", "expected_kw"),
    [
        # Monday 23:00: Monday's window (evening part).
        (TUESDAY - timedelta(hours=1), 30.0),
        # Tuesday 05:00: still Monday's window (morning part).
        (TUESDAY + timedelta(hours=5), 30.0),
        # Tuesday 06:00: over.
        (TUESDAY + timedelta(hours=6), 100.0),
        # Tuesday 23:00: Tuesday has no window.
        (TUESDAY + timedelta(hours=23), 100.0),
        # Sunday 05:00: the morning part of Saturday's window.
        (TUESDAY - timedelta(days=1, hours=19), 30.0),
        # Monday 05:00: Sunday has no window.
        (TUESDAY - timedelta(hours=19), 100.0),
    ],
)
def test_site_limit_kw_gives_the_morning_of_an_overnight_window_to_the_day_before(
    moment: datetime, expected_kw: float
) -> None:
    # GIVEN a 30 kW window from 22:00 to 06:00 on Monday and Saturday nights
    config = a_config(time_of_day=(window(22, 6, 30.0, days=("mon", "sat")),))
    # WHEN the limit is read at some moment
    limit, _ = site_limit_kw(config, moment)
    # THEN the evening belongs to the window's day and the morning to the day before
    assert limit == expected_kw


def test_site_limit_kw_honours_the_days_of_a_window() -> None:
    # GIVEN a 10 kW window during weekend days only
    config = a_config(time_of_day=(window(8, 18, 10.0, days=("sat", "sun")),))
    # WHEN read on Tuesday and on Saturday at 10:00
    tuesday = site_limit_kw(config, TUESDAY + timedelta(hours=10))
    saturday = site_limit_kw(config, TUESDAY + timedelta(days=4, hours=10))
    # THEN it applies on Saturday only
    assert tuesday == (100.0, Constraint.SITE_LIMIT)
    assert saturday == (10.0, Constraint.TIME_OF_DAY)


def test_site_limit_kw_takes_the_lowest_window_in_force() -> None:
    # GIVEN overlapping windows of 50 and 30 kW, and a 120 kW window above the grid limit
    config = a_config(
        time_of_day=(window(7, 10, 50.0), window(8, 9, 30.0), window(0, 23, 120.0)),
    )
    # THEN the lowest in force wins, and no window lifts the grid limit
    assert site_limit_kw(config, TUESDAY + timedelta(hours=8.5))[0] == 30.0
    assert site_limit_kw(config, TUESDAY + timedelta(hours=9.5))[0] == 50.0
    assert site_limit_kw(config, TUESDAY + timedelta(hours=12)) == (100.0, Constraint.SITE_LIMIT)


@pytest.mark.parametrize(
    ("utc", "expected_kw"),
    [
        # 22:30 UTC on Monday is 23:30 on Monday in Berlin (CET, +01:00).
        (TUESDAY - timedelta(minutes=90), 25.0),
        # 23:30 UTC on Monday is 00:30 on Tuesday in Berlin: past Monday's window.
        (TUESDAY - timedelta(minutes=30), 100.0),
        # 22:30 UTC on Tuesday is 23:30 on Tuesday in Berlin: no window on Tuesday.
        (TUESDAY + timedelta(hours=22, minutes=30), 100.0),
    ],
)
def test_site_limit_kw_reads_windows_in_the_site_timezone(
    utc: datetime, expected_kw: float
) -> None:
    # GIVEN a site in Berlin with a Monday window from 23:00 to midnight local time
    config = a_config(
        timezone="Europe/Berlin",
        time_of_day=(TimeOfDayLimit(days=("mon",), start=time(23), end=time(0), limit_kw=25.0),),
    )
    # WHEN read at a UTC moment around midnight UTC
    limit, _ = site_limit_kw(config, utc)
    # THEN the local day and time decide
    assert limit == expected_kw


# -- latest --------------------------------------------------------------------------------------


def test_latest_picks_the_newest_fresh_reading_of_a_kind() -> None:
    # GIVEN two meter readings and a newer PV reading
    old, new = a_reading(10.0, at=T0 - timedelta(seconds=60)), a_reading(12.0)
    pv = a_reading(5.0, ReadingKind.PV, at=T0)
    # WHEN the latest meter reading is asked for
    found = latest((new, pv, old), ReadingKind.METER, T0, timedelta(seconds=300))
    # THEN it is the newest meter reading, whatever the order
    assert found == new


def test_latest_honours_a_forecast_valid_until() -> None:
    # GIVEN a forecast made long ago, valid for one hour more, and one that expired
    valid = a_reading(3.0, ReadingKind.PV, at=T0 - timedelta(hours=5), valid_until=T0)
    expired = a_reading(
        9.0, ReadingKind.PV, at=T0 - timedelta(hours=4), valid_until=T0 - timedelta(seconds=1)
    )
    # WHEN asked for the PV in force at T0
    found = latest((valid, expired), ReadingKind.PV, T0, timedelta(seconds=300))
    # THEN the valid forecast is used, although the expired one is newer
    assert found == valid


def test_latest_ignores_readings_too_far_in_the_future() -> None:
    # GIVEN one reading just within MAX_FUTURE and one beyond it
    near = a_reading(5.0, at=T0 + MAX_FUTURE)
    far = a_reading(7.0, at=T0 + MAX_FUTURE + timedelta(seconds=1), valid_until=T0 + MAX_FUTURE * 3)
    # WHEN the latest is asked for
    # THEN the far one does not count (a clock that runs ahead is not trusted)
    assert latest((near, far), ReadingKind.METER, T0, timedelta(seconds=300)) == near
    assert latest((far,), ReadingKind.METER, T0, timedelta(seconds=300)) is None


# -- available_power -----------------------------------------------------------------------------


def test_available_power_without_a_meter_is_the_configured_limit() -> None:
    # GIVEN a site without a meter and a meter reading it cannot use
    config = a_config(limit_kw=80.0)
    # WHEN the available power is computed
    result = available_power(config, (a_reading(70.0),), T0)
    # THEN it is the site limit; the reading is ignored
    assert result.kw == 80.0
    assert result.constraint is Constraint.SITE_LIMIT
    assert result.building_kw is None
    assert result.notes == ()


def test_available_power_without_a_meter_never_lets_pv_or_battery_lift_the_limit() -> None:
    # GIVEN a site without a meter, with PV and battery readings
    readings = (a_reading(30.0, ReadingKind.PV), a_reading(20.0, ReadingKind.BATTERY))
    # WHEN the available power is computed
    result = available_power(a_config(limit_kw=80.0), readings, T0)
    # THEN they are reported but the chargers still get no more than the limit
    assert result.kw == 80.0
    assert (result.pv_kw, result.battery_kw) == (30.0, 20.0)


def test_available_power_takes_the_building_load_off_the_limit() -> None:
    # GIVEN a building meter reading 35 kW
    result = available_power(metered(), (a_reading(35.0),), T0)
    # THEN the chargers get the rest, and the meter is named as the constraint
    assert result.kw == pytest.approx(65.0)
    assert result.constraint is Constraint.METER
    assert result.building_kw == 35.0


def test_available_power_subtracts_the_chargers_from_a_grid_meter() -> None:
    # GIVEN a grid meter reading 50 kW while our chargers draw 30 kW of it
    result = available_power(metered(MeterKind.GRID), (a_reading(50.0),), T0, chargers_kw=30.0)
    # THEN the building is 20 kW and the chargers may have 80 kW
    assert result.building_kw == pytest.approx(20.0)
    assert result.kw == pytest.approx(80.0)


def test_available_power_counts_a_negative_building_load_as_zero() -> None:
    # GIVEN a grid meter reading less than our chargers draw (meters lag: the building is not
    # exporting)
    result = available_power(metered(MeterKind.GRID), (a_reading(10.0),), T0, chargers_kw=25.0)
    # THEN the building counts as 0 kW, with a note
    assert result.building_kw == 0.0
    assert result.kw == 100.0
    assert result.constraint is Constraint.SITE_LIMIT
    assert result.notes == ("negative building load (-15.0 kW) counted as 0",)


def test_available_power_falls_back_when_the_meter_is_stale() -> None:
    # GIVEN a 20 kW fallback and a meter reading older than stale_after_s (300 s)
    stale = a_reading(5.0, at=T0 - timedelta(seconds=301))
    # WHEN the available power is computed
    result = available_power(metered(fallback_kw=20.0, safety_margin_pct=10.0), (stale,), T0)
    # THEN the fallback limit applies, with the margin off, and a note says why
    assert result.kw == pytest.approx(18.0)
    assert result.constraint is Constraint.METER_STALE
    assert result.notes == ("no fresh meter reading: the fallback limit applies",)


def test_available_power_fallback_never_exceeds_a_lower_time_of_day_limit() -> None:
    # GIVEN no meter readings at all and a 10 kW window now, below the 20 kW fallback
    config = metered(fallback_kw=20.0, time_of_day=(window(7, 9, 10.0),))
    # THEN the lower of the two applies
    assert available_power(config, (), T0).kw == 10.0


def test_available_power_keeps_a_meter_reading_until_it_is_stale() -> None:
    # GIVEN a reading exactly stale_after_s old
    reading = a_reading(30.0, at=T0 - timedelta(seconds=300))
    # THEN it still counts
    assert available_power(metered(), (reading,), T0).kw == pytest.approx(70.0)


def test_available_power_ignores_a_meter_reading_from_the_far_future() -> None:
    # GIVEN the only meter reading is dated beyond MAX_FUTURE
    future = a_reading(1.0, at=T0 + MAX_FUTURE + timedelta(seconds=1))
    # THEN the meter counts as silent
    assert available_power(metered(), (future,), T0).constraint is Constraint.METER_STALE


def test_available_power_uses_the_newest_meter_reading() -> None:
    readings = (a_reading(40.0, at=T0 - timedelta(seconds=10)), a_reading(10.0))
    assert available_power(metered(), readings, T0).building_kw == 40.0


def test_available_power_lets_pv_and_battery_cover_the_building() -> None:
    # GIVEN a 60 kW building, 25 kW of PV and a battery offering 15 kW
    readings = (
        a_reading(60.0),
        a_reading(25.0, ReadingKind.PV),
        a_reading(15.0, ReadingKind.BATTERY),
    )
    # WHEN the available power is computed
    result = available_power(metered(), readings, T0)
    # THEN the chargers get 100 - 60 + 25 + 15 = 80 kW
    assert result.kw == pytest.approx(80.0)
    assert result.constraint is Constraint.METER
    assert (result.pv_kw, result.battery_kw) == (25.0, 15.0)


def test_available_power_never_lets_pv_lift_the_chargers_over_the_limit() -> None:
    # GIVEN 10 kW of building load and 50 kW of PV
    readings = (a_reading(10.0), a_reading(50.0, ReadingKind.PV))
    # WHEN the available power is computed
    result = available_power(metered(), readings, T0)
    # THEN the chargers get the site limit, no more; the building does not constrain them
    assert result.kw == 100.0
    assert result.constraint is Constraint.SITE_LIMIT


def test_available_power_ignores_negative_pv_and_battery() -> None:
    # GIVEN PV and battery readings with the wrong sign
    readings = (
        a_reading(30.0),
        a_reading(-20.0, ReadingKind.PV),
        a_reading(-5.0, ReadingKind.BATTERY),
    )
    # THEN they add nothing and take nothing
    result = available_power(metered(), readings, T0)
    assert result.kw == pytest.approx(70.0)
    assert (result.pv_kw, result.battery_kw) == (0.0, 0.0)


def test_available_power_applies_the_safety_margin_last() -> None:
    # GIVEN a 10 % margin and a 40 kW building
    result = available_power(metered(safety_margin_pct=10.0), (a_reading(40.0),), T0)
    # THEN the margin comes off what is left
    assert result.kw == pytest.approx(54.0)


def test_available_power_is_never_negative() -> None:
    # GIVEN a building drawing more than the site limit
    result = available_power(metered(), (a_reading(150.0),), T0)
    # THEN the chargers get nothing, not a negative power
    assert result.kw == 0.0
    assert result.constraint is Constraint.METER


def test_available_power_applies_a_time_of_day_limit() -> None:
    result = available_power(a_config(time_of_day=(window(7, 9, 30.0),)), (), T0)
    assert (result.kw, result.constraint) == (30.0, Constraint.TIME_OF_DAY)


# -- property ------------------------------------------------------------------------------------

kinds = st.sampled_from(list(ReadingKind))
readings_st = st.lists(
    st.builds(
        Reading,
        kind=kinds,
        at=st.integers(-3600, 900).map(lambda s: T0 + timedelta(seconds=s)),
        kw=st.floats(-MAX_READING_KW, MAX_READING_KW, allow_nan=False),
        valid_until=st.none() | st.integers(-3600, 3600).map(lambda s: T0 + timedelta(seconds=s)),
    ),
    max_size=8,
)


@FAST
@given(
    limit_kw=st.floats(0, 1000, allow_nan=False),
    margin=st.floats(0, 50, allow_nan=False),
    meter=st.none() | st.sampled_from(list(MeterKind)),
    fallback_share=st.floats(0, 1),
    readings=readings_st,
    chargers_kw=st.floats(0, 1000, allow_nan=False),
    window_kw=st.none() | st.floats(0, 2000, allow_nan=False),
)
def test_available_power_stays_between_zero_and_the_limit_after_the_margin(  # noqa: PLR0917
    limit_kw: float,
    margin: float,
    meter: MeterKind | None,
    fallback_share: float,
    readings: list[Reading],
    chargers_kw: float,
    window_kw: float | None,
) -> None:
    # GIVEN any site, meter, time-of-day limit and readings
    config = a_config(
        limit_kw=limit_kw,
        safety_margin_pct=margin,
        stations=(),
        meter=None
        if meter is None
        else MeterPolicy(kind=meter, fallback_limit_kw=limit_kw * fallback_share),
        time_of_day=() if window_kw is None else (window(7, 9, window_kw),),
    )
    # WHEN the available power is computed
    result = available_power(config, tuple(readings), T0, chargers_kw=chargers_kw)
    # THEN it is never negative and never above the limit in force, after the margin
    in_force, _ = site_limit_kw(config, T0)
    assert 0.0 <= result.kw <= in_force * (1 - margin / 100) + 1e-9
    assert in_force <= limit_kw
