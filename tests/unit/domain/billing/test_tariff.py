"""Tariffs: validation, time-of-use lookup and the moments prices change."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from tests.unit.domain.billing.builders import BERLIN, a_period, a_tariff, window

from csms.domain.billing.tariff import TimeRate, TimeUnit, TouWindow, check_periods

_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def _peak(days: list[str], start: str, end: str, name: str = "peak") -> dict[str, Any]:
    return a_period(name, [window(days, start, end)], energyPerKwh="0.50")


@pytest.mark.parametrize(
    "periods",
    [
        # the same hours on a shared day
        [_peak(["Monday"], "08:00", "12:00"), _peak(["Monday"], "11:00", "13:00", "late")],
        # an overnight window runs into the next morning's window
        [_peak(["Monday"], "22:00", "06:00"), _peak(["Tuesday"], "05:00", "07:00", "early")],
        # Sunday night into Monday morning
        [_peak(["Sunday"], "23:00", "02:00"), _peak(["Monday"], "01:00", "03:00", "early")],
        # a whole day (start = end) against any window that day
        [_peak(["Friday"], "00:00", "00:00"), _peak(["Friday"], "12:00", "13:00", "noon")],
        # two windows of one period
        [
            a_period(
                "peak", [window(["Monday"], "08:00", "10:00"), window(["Monday"], "09:00", "11:00")]
            )
        ],
    ],
)
def test_tariff_rejects_overlapping_windows(periods: list[dict[str, Any]]) -> None:
    # GIVEN time-of-use windows that cover the same minute of the week
    # WHEN building the tariff THEN it is refused, naming where they overlap
    with pytest.raises(ValidationError, match="time-of-use windows overlap"):
        a_tariff(tou=periods)


def test_tariff_accepts_windows_that_touch() -> None:
    # GIVEN a night window ending at 06:00 and a day window starting at 06:00 every day
    every_day = [*_WEEKDAYS, "Saturday", "Sunday"]
    tariff = a_tariff(
        tou=[_peak(every_day, "22:00", "06:00", "night"), _peak(every_day, "06:00", "22:00", "day")]
    )
    # WHEN / THEN the tariff is valid and the whole week is covered by one or the other
    assert len(tariff.tou) == 2


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"currency": "EURO"}, "ISO 4217"),
        ({"currency": "XXX"}, "ISO 4217"),
        ({"prices": {"energyPerKwh": "-0.01"}}, "greater than or equal to 0"),
        ({"sessionFee": "-1"}, "greater than or equal to 0"),
        ({"prices": {"chargingTime": {"amount": "-2", "per": "hour"}}}, "greater than"),
        ({"idleFee": {"rate": {"amount": "-0.1"}}}, "greater than"),
        ({"minPrice": "10", "maxPrice": "5"}, "minPrice must not be above maxPrice"),
        (
            {"tou": [_peak(["Monday"], "08:00", "09:00"), _peak(["Tuesday"], "08:00", "09:00")]},
            "name of its own",
        ),
        ({"tou": [_peak(["Monday", "Monday"], "08:00", "09:00")]}, "each day may be named once"),
        ({"tou": [_peak(["Monday"], "24:00", "09:00")]}, "pattern"),
        ({"prices": {"energyPerKwh": "0.1234567"}}, "decimal places"),
        ({"taxRates": [{"name": "VAT", "percent": "101"}]}, "less than or equal to 100"),
        (
            {"taxRates": [{"name": "A", "percent": "60"}, {"name": "B", "percent": "41"}]},
            "add up to more than 100",
        ),
        ({"rounding": {"energyStepWh": 0}}, "greater than or equal to 1"),
        ({"colour": "red"}, "Extra inputs"),
    ],
)
def test_tariff_rejects_bad_input(over: dict[str, Any], message: str) -> None:
    # GIVEN a tariff with one bad field WHEN validating it THEN it is refused, saying why
    with pytest.raises(ValidationError, match=message):
        a_tariff(**over)


def test_tariff_min_equal_to_max_is_allowed() -> None:
    # GIVEN a fixed price per session (minimum = maximum) WHEN building THEN it is valid
    assert a_tariff(minPrice="5", maxPrice="5").max_price == Decimal(5)


@pytest.mark.parametrize(
    ("wall", "period"),
    [
        (datetime(2026, 11, 23, 17, 0, tzinfo=BERLIN), "peak"),  # Monday, the window's first minute
        (datetime(2026, 11, 23, 20, 59, tzinfo=BERLIN), "peak"),
        (datetime(2026, 11, 23, 21, 0, tzinfo=BERLIN), None),  # the end is not in the window
        (datetime(2026, 11, 29, 23, 30, tzinfo=BERLIN), "night"),  # Sunday night
        (datetime(2026, 11, 30, 1, 0, tzinfo=BERLIN), "night"),  # ... running into Monday
        (datetime(2026, 11, 30, 2, 0, tzinfo=BERLIN), None),
        (datetime(2026, 11, 28, 17, 30, tzinfo=BERLIN), None),  # Saturday: no peak
    ],
)
def test_tariff_period_at_follows_the_wall_clock(wall: datetime, period: str | None) -> None:
    # GIVEN a weekday peak 17:00-21:00 and a Sunday night 23:00-02:00
    tariff = a_tariff(
        tou=[_peak(_WEEKDAYS, "17:00", "21:00"), _peak(["Sunday"], "23:00", "02:00", "night")]
    )
    # WHEN asking which period is in force at a wall-clock moment
    found = tariff.period_at(wall)
    # THEN it is the window's period, or none (the tariff's own prices)
    assert (found.name if found else None) == period
    expected = Decimal("0.50") if period else Decimal("0.30")
    assert tariff.prices_at(wall).energy_per_kwh == expected


def test_tariff_changes_between_lists_window_edges_in_range() -> None:
    # GIVEN a weekday peak 17:00-21:00
    tariff = a_tariff(tou=[_peak(_WEEKDAYS, "17:00", "21:00")])
    # WHEN asking for changes from Friday 18:00 to Monday 18:00
    changes = tariff.changes_between(
        datetime(2026, 11, 27, 18, 0, tzinfo=BERLIN), datetime(2026, 11, 30, 18, 0, tzinfo=BERLIN)
    )
    # THEN Friday's end and Monday's start come back as naive wall-clock moments
    walls = [
        datetime(2026, 11, 27, 21, 0, tzinfo=BERLIN),
        datetime(2026, 11, 30, 17, 0, tzinfo=BERLIN),
    ]
    assert changes == [wall.replace(tzinfo=None) for wall in walls]


def test_tariff_without_tou_never_changes() -> None:
    # GIVEN a tariff without time-of-use WHEN asking for changes THEN there are none
    start = datetime(2026, 11, 27, 18, 0, tzinfo=BERLIN)
    assert a_tariff().changes_between(start, start.replace(day=30)) == []


def test_tariff_free_when_nothing_costs_anything() -> None:
    # GIVEN tariffs with and without any price above zero
    free = a_tariff(prices={}, idleFee={"rate": {"amount": "0"}})
    # WHEN / THEN only the one without prices is free; a minimum price makes a tariff not free
    assert free.free
    assert not a_tariff().free
    assert not a_tariff(prices={}, minPrice="1").free
    assert not a_tariff(prices={}, tou=[_peak(["Monday"], "08:00", "09:00")]).free


def test_window_label_and_rate_per_hour() -> None:
    # GIVEN a window and a per-minute rate WHEN describing them THEN they read as a driver expects
    assert TouWindow(days=("Tuesday", "Monday"), start="17:00", end="21:00").label() == (
        "Mon,Tue 17:00-21:00"
    )
    assert TimeRate(amount=Decimal("0.10"), per=TimeUnit.MINUTE).per_hour == Decimal("6.00")
    assert TimeRate(amount=Decimal("3")).per_hour == Decimal(3)


def test_check_periods_refuses_what_the_tariff_refuses() -> None:
    # GIVEN periods checked on their own (for a caller locating the error at its `tou` field)
    same_name = a_tariff(tou=[_peak(["Monday"], "08:00", "09:00")]).tou * 2
    # WHEN / THEN duplicate names are refused, and good periods pass
    with pytest.raises(ValueError, match="name of its own"):
        check_periods(same_name)
    check_periods(same_name[:1])
