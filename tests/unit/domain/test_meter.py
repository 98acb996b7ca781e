"""Meter readings: units, multipliers, per-phase totals and anomalies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.fakes import T0

from csms.domain.meter import (
    Anomaly,
    AnomalyKind,
    Measurand,
    RawReading,
    RawSample,
    Reading,
    Sample,
    TimeWindow,
    normalize,
    normalize_sample,
)

FAST = settings(database=None, deadline=None, derandomize=True, max_examples=200)


def a_sample(value: str = "1000", **over: object) -> RawSample:
    return RawSample.model_validate({"value": value, **over})


def kept(sample: RawSample) -> Sample:
    result = normalize_sample(sample, T0)
    assert isinstance(result, Sample), result
    return result


def anomaly_of(sample: RawSample) -> AnomalyKind:
    result = normalize_sample(sample, T0)
    assert isinstance(result, Anomaly), result
    assert result.at == T0
    return result.kind


# -- units and multipliers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measurand", "value", "unit", "multiplier", "expected"),
    [
        ("Energy.Active.Import.Register", "1234", "Wh", 0, "1234"),
        ("Energy.Active.Import.Register", "1.5", "kWh", 0, "1500"),
        ("Energy.Active.Import.Register", "0.0005", "kWh", 0, "0.5"),
        ("Energy.Active.Import.Register", "12345.678", "kWh", 0, "12345678"),
        ("Energy.Active.Import.Register", "2", "Wh", 3, "2000"),
        ("Energy.Active.Import.Register", "2.5", "kWh", 3, "2500000"),
        ("Energy.Active.Import.Register", "1234", "Wh", -3, "1.234"),
        ("Energy.Active.Import.Register", "1500.0", "Wh", 0, "1500"),
        ("Power.Active.Import", "7.4", "kW", 0, "7400"),
        ("Power.Active.Import", "7400", "W", 0, "7400"),
        ("Power.Active.Import", "74", "W", 2, "7400"),
        ("Power.Active.Import", "11", "kW", -1, "1100"),
        ("Current.Import", "16.0", "A", 0, "16"),
        ("Current.Import", "160", "A", -1, "16"),
        ("Voltage", "230.5", "V", 0, "230.5"),
        ("SoC", "80", "Percent", 0, "80"),
    ],
)
def test_normalize_sample_converts_units_and_multipliers_exactly(
    measurand: str, value: str, unit: str, multiplier: int, expected: str
) -> None:
    # GIVEN a sampled value in some unit, with a 2.0.1 power-of-ten multiplier
    raw = a_sample(value, measurand=measurand, unit=unit, multiplier=multiplier)
    # WHEN normalised
    sample = kept(raw)
    # THEN it is the exact Decimal in the base unit, written without trailing zeros
    assert sample.measurand is Measurand(measurand)
    assert sample.value == Decimal(expected)
    assert str(sample.value) == expected


@pytest.mark.parametrize(
    ("measurand", "value", "expected"),
    [
        ("Energy.Active.Import.Register", "1000", "1000"),
        ("Power.Active.Import", "3680", "3680"),
        ("Current.Import", "16", "16"),
        ("Voltage", "230", "230"),
        ("SoC", "55", "55"),
    ],
)
def test_normalize_sample_without_unit_takes_the_measurand_base_unit(
    measurand: str, value: str, expected: str
) -> None:
    # GIVEN a sampled value without unit (1.6 nominally says Wh; no station means that for W/A)
    raw = a_sample(value, measurand=measurand)
    # WHEN normalised
    sample = kept(raw)
    # THEN the measurand's own base unit applies
    assert sample.value == Decimal(expected)


def test_normalize_sample_without_measurand_is_the_energy_register() -> None:
    # GIVEN a 1.6 sampled value with only a value (both versions default the measurand)
    raw = RawSample(value="42")
    # WHEN normalised
    sample = kept(raw)
    # THEN it is the energy register in Wh
    assert sample == Sample(measurand=Measurand.ENERGY, value=Decimal(42))


def test_normalize_sample_keeps_phase_and_context() -> None:
    # GIVEN a per-phase current with a context
    raw = a_sample("8", measurand="Current.Import", unit="A", phase="L2", context="Sample.Periodic")
    # WHEN normalised
    sample = kept(raw)
    # THEN phase and context are kept
    assert (sample.phase, sample.context) == ("L2", "Sample.Periodic")


def test_normalize_sample_allows_negative_power_and_current() -> None:
    # GIVEN power and current flowing back (an export): physically possible
    power = a_sample("-2.5", measurand="Power.Active.Import", unit="kW")
    current = a_sample("-4", measurand="Current.Import", unit="A")
    # WHEN normalised / THEN both are kept, signed
    assert kept(power).value == Decimal(-2500)
    assert kept(current).value == Decimal(-4)


@FAST
@given(
    st.decimals(
        min_value=Decimal(0),
        max_value=Decimal("999999999"),
        allow_nan=False,
        allow_infinity=False,
        places=6,
    )
)
def test_normalize_sample_kwh_is_exactly_a_thousand_wh(value: Decimal) -> None:
    # GIVEN any non-negative kWh register with up to 6 decimal places
    raw = a_sample(str(value), unit="kWh")
    # WHEN normalised
    sample = kept(raw)
    # THEN it is exactly 1000 times the value, in Wh (no float on the way)
    assert sample.value == Decimal(str(value)) * 1000


@FAST
@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=-9, max_value=9))
def test_normalize_sample_multiplier_is_an_exact_power_of_ten(value: int, multiplier: int) -> None:
    # GIVEN a 2.0.1 integer Wh value with any allowed multiplier
    raw = a_sample(str(value), unit="Wh", multiplier=multiplier)
    # WHEN normalised
    sample = kept(raw)
    # THEN it is value * 10^multiplier exactly
    assert sample.value == Decimal(value).scaleb(multiplier)


# -- anomalies of one sample -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measurand", "unit"),
    [
        ("Energy.Active.Import.Register", "A"),
        ("Energy.Active.Import.Register", "kW"),
        ("Energy.Active.Import.Register", "Celsius"),
        ("Power.Active.Import", "Wh"),
        ("Power.Active.Import", "kWh"),
        ("Current.Import", "V"),
        ("Voltage", "A"),
        ("SoC", "Wh"),
        ("Energy.Active.Import.Register", "wh"),
    ],
)
def test_normalize_sample_with_unit_of_another_measurand_is_bad_unit(
    measurand: str, unit: str
) -> None:
    # GIVEN a sampled value whose unit cannot measure its measurand
    raw = a_sample("10", measurand=measurand, unit=unit)
    # WHEN normalised
    result = normalize_sample(raw, T0)
    # THEN it is dropped as BadUnit, the detail telling what came
    assert isinstance(result, Anomaly)
    assert result.kind is AnomalyKind.BAD_UNIT
    assert measurand in result.detail
    assert unit in result.detail


@pytest.mark.parametrize("multiplier", [10, -10, 100])
def test_normalize_sample_with_absurd_multiplier_is_bad_unit(multiplier: int) -> None:
    # GIVEN a multiplier beyond any real meter (and beyond exact storage)
    raw = a_sample("1", unit="Wh", multiplier=multiplier)
    # WHEN / THEN it is dropped as BadUnit
    assert anomaly_of(raw) is AnomalyKind.BAD_UNIT


@pytest.mark.parametrize(
    "value",
    ["", "abc", "12,5", "1.2.3", "NaN", "nan", "sNaN", "Infinity", "-Infinity", "1e16", "-2e15"],
)
def test_normalize_sample_unreadable_or_huge_value_is_unreadable(value: str) -> None:
    # GIVEN a value that is not a finite, storable number
    raw = a_sample(value, unit="Wh")
    # WHEN / THEN it is dropped as UnreadableValue
    assert anomaly_of(raw) is AnomalyKind.UNREADABLE_VALUE


def test_normalize_sample_trims_whitespace_around_the_value() -> None:
    # GIVEN a 1.6 value string with blanks around it
    # WHEN / THEN it is read as the number
    assert kept(a_sample(" 1.5 ", unit="kWh")).value == Decimal(1500)


def test_normalize_sample_largest_value_is_kept() -> None:
    # GIVEN the largest believable value
    # WHEN / THEN it is kept
    assert kept(a_sample("1e15", unit="Wh")).value == Decimal(10**15)


@pytest.mark.parametrize(
    ("measurand", "unit"),
    [("Energy.Active.Import.Register", "kWh"), ("SoC", "Percent"), ("Voltage", "V")],
)
def test_normalize_sample_negative_register_soc_or_voltage_is_negative(
    measurand: str, unit: str
) -> None:
    # GIVEN a negative value of a quantity that cannot be negative
    raw = a_sample("-0.001", measurand=measurand, unit=unit)
    # WHEN / THEN it is dropped as NegativeValue
    assert anomaly_of(raw) is AnomalyKind.NEGATIVE_VALUE


def test_normalize_sample_soc_above_100_is_out_of_range() -> None:
    # GIVEN a state of charge of 101 %
    raw = a_sample("101", measurand="SoC", unit="Percent")
    # WHEN / THEN it is dropped as OutOfRange, while 100 and 0 are kept
    assert anomaly_of(raw) is AnomalyKind.OUT_OF_RANGE
    assert kept(a_sample("100", measurand="SoC")).value == Decimal(100)
    assert kept(a_sample("0", measurand="SoC")).value == Decimal(0)


def test_normalize_sample_soc_above_100_by_multiplier_is_out_of_range() -> None:
    # GIVEN 2.0.1 SoC 20 with multiplier 1: 200 %
    raw = a_sample("20", measurand="SoC", unit="Percent", multiplier=1)
    # WHEN / THEN it is dropped as OutOfRange
    assert anomaly_of(raw) is AnomalyKind.OUT_OF_RANGE


@pytest.mark.parametrize(
    "measurand",
    ["Temperature", "Power.Reactive.Import", "Energy.Active.Export.Register", "Frequency"],
)
def test_normalize_sample_unknown_measurand_is_ignored(measurand: str) -> None:
    # GIVEN a measurand the CSMS does not keep, even with a unit strange to it
    raw = a_sample("25", measurand=measurand, unit="Celsius")
    # WHEN / THEN it is ignored, without anomaly
    assert normalize_sample(raw, T0) is None


# -- readings ----------------------------------------------------------------------------------


def test_reading_total_sums_line_phases_of_current() -> None:
    # GIVEN per-phase currents, with a neutral current that is not part of the total
    reading = Reading(
        timestamp=T0,
        samples=(
            Sample(measurand=Measurand.CURRENT, value=Decimal(16), phase="L1"),
            Sample(measurand=Measurand.CURRENT, value=Decimal("15.5"), phase="L2"),
            Sample(measurand=Measurand.CURRENT, value=Decimal(16), phase="L3"),
            Sample(measurand=Measurand.CURRENT, value=Decimal(1), phase="N"),
        ),
    )
    # WHEN the total is read
    # THEN it is L1 + L2 + L3, and each phase stays available
    assert reading.total(Measurand.CURRENT) == Decimal("47.5")
    assert reading.per_phase(Measurand.CURRENT) == {
        "L1": Decimal(16),
        "L2": Decimal("15.5"),
        "L3": Decimal(16),
        "N": Decimal(1),
    }


def test_reading_total_does_not_sum_voltage() -> None:
    # GIVEN per-phase voltages
    reading = Reading(
        timestamp=T0,
        samples=(
            Sample(measurand=Measurand.VOLTAGE, value=Decimal(231), phase="L1"),
            Sample(measurand=Measurand.VOLTAGE, value=Decimal(229), phase="L2"),
            Sample(measurand=Measurand.VOLTAGE, value=Decimal(230), phase="L3"),
        ),
    )
    # WHEN / THEN the total is the first phase's voltage, not 690 V
    assert reading.total(Measurand.VOLTAGE) == Decimal(231)


def test_reading_total_prefers_the_value_without_phase() -> None:
    # GIVEN a power total and its per-phase parts
    reading = Reading(
        timestamp=T0,
        samples=(
            Sample(measurand=Measurand.POWER, value=Decimal(3600), phase="L1"),
            Sample(measurand=Measurand.POWER, value=Decimal(11000)),
            Sample(measurand=Measurand.POWER, value=Decimal(3700), phase="L2"),
        ),
    )
    # WHEN / THEN the value without phase is the total
    assert reading.total(Measurand.POWER) == Decimal(11000)
    # AND a measurand absent from the reading has no total
    assert reading.total(Measurand.SOC) is None
    assert reading.energy_wh is None


def test_normalize_sums_per_phase_power_from_raw_samples() -> None:
    # GIVEN a 2.0.1 reading with power per phase in kW
    raw = RawReading(
        timestamp=T0,
        samples=tuple(
            a_sample("3.7", measurand="Power.Active.Import", unit="kW", phase=p)
            for p in ("L1", "L2", "L3")
        ),
    )
    # WHEN normalised
    [reading], anomalies = normalize([raw], T0)
    # THEN the total power is 11100 W
    assert anomalies == []
    assert reading.total(Measurand.POWER) == Decimal(11100)


def test_normalize_drops_bad_samples_and_keeps_good_ones() -> None:
    # GIVEN one reading with a good register, an energy value in amperes and an unknown measurand
    raw = RawReading(
        timestamp=T0,
        samples=(
            a_sample("1.5", unit="kWh"),
            a_sample("16", unit="A"),
            a_sample("21", measurand="Temperature", unit="Celsius"),
        ),
    )
    # WHEN normalised
    readings, anomalies = normalize([raw], T0)
    # THEN the register is kept, the energy in A is an anomaly, the temperature silently ignored
    assert readings == [
        Reading(timestamp=T0, samples=(Sample(measurand=Measurand.ENERGY, value=Decimal(1500)),))
    ]
    assert [a.kind for a in anomalies] == [AnomalyKind.BAD_UNIT]


def test_normalize_drops_a_reading_left_without_samples() -> None:
    # GIVEN a reading with only an unreadable value and one with only an unknown measurand
    bad = RawReading(timestamp=T0, samples=(a_sample("n/a"),))
    ignored = RawReading(timestamp=T0, samples=(a_sample("5", measurand="Temperature"),))
    # WHEN normalised
    readings, anomalies = normalize([bad, ignored], T0)
    # THEN no reading is kept; only the unreadable value is an anomaly
    assert readings == []
    assert [a.kind for a in anomalies] == [AnomalyKind.UNREADABLE_VALUE]


def test_normalize_sorts_readings_oldest_first_in_utc() -> None:
    # GIVEN readings out of order, one with a non-UTC offset
    cet = datetime.fromisoformat("2026-11-24T09:02:00+01:00")
    raws = [
        RawReading(timestamp=T0 + timedelta(minutes=3), samples=(a_sample("300"),)),
        RawReading(timestamp=cet, samples=(a_sample("200"),)),  # 08:02Z
        RawReading(timestamp=T0 + timedelta(minutes=1), samples=(a_sample("100"),)),
    ]
    # WHEN normalised
    readings, _ = normalize(raws, T0 + timedelta(minutes=4))
    # THEN they come oldest first, with UTC timestamps
    assert [r.energy_wh for r in readings] == [Decimal(100), Decimal(200), Decimal(300)]
    assert [r.timestamp for r in readings] == [
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=2),
        T0 + timedelta(minutes=3),
    ]
    assert all(r.timestamp.utcoffset() == timedelta(0) for r in readings)


@pytest.mark.parametrize(
    ("at", "kind"),
    [
        (T0 + timedelta(minutes=5, seconds=1), AnomalyKind.FUTURE_TIMESTAMP),
        (T0 + timedelta(days=365), AnomalyKind.FUTURE_TIMESTAMP),
        (T0 - timedelta(days=60, seconds=1), AnomalyKind.PAST_TIMESTAMP),
        (datetime(1970, 1, 1, tzinfo=UTC), AnomalyKind.PAST_TIMESTAMP),
    ],
)
def test_normalize_drops_readings_outside_the_time_window(at: datetime, kind: AnomalyKind) -> None:
    # GIVEN a believable reading and one with an unbelievable timestamp
    good = RawReading(timestamp=T0, samples=(a_sample("100"),))
    bad = RawReading(timestamp=at, samples=(a_sample("200"), a_sample("x")))
    # WHEN normalised
    readings, anomalies = normalize([good, bad], T0)
    # THEN the bad reading is dropped whole (no anomaly for its samples), one anomaly says why
    assert [r.energy_wh for r in readings] == [Decimal(100)]
    [anomaly] = anomalies
    assert anomaly.kind is kind
    assert anomaly.at == T0
    assert at.isoformat() in anomaly.detail


@pytest.mark.parametrize(
    "at",
    [T0 + timedelta(minutes=5), T0 - timedelta(days=60), T0 - timedelta(days=59)],
)
def test_time_window_edges_are_believable(at: datetime) -> None:
    # GIVEN a timestamp exactly at the allowed skew or age
    # WHEN / THEN it is believable
    assert TimeWindow().check(at, T0) is None


def test_time_window_is_configurable() -> None:
    # GIVEN a window of one minute skew and one day of age
    window = TimeWindow(max_skew=timedelta(minutes=1), max_age=timedelta(days=1))
    # WHEN / THEN the bounds follow it
    assert window.check(T0 + timedelta(minutes=2), T0) is AnomalyKind.FUTURE_TIMESTAMP
    assert window.check(T0 - timedelta(days=2), T0) is AnomalyKind.PAST_TIMESTAMP
    assert window.check(T0 - timedelta(hours=23), T0) is None
