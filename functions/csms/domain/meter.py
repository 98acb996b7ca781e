"""Meter readings: what stations report, normalised to base units, with anomalies kept.

Both versions send readings as `{timestamp, sampledValue: [...]}`; 1.6 sends values as decimal
strings with a unit name, 2.0.1 as numbers with `unitOfMeasure {unit, multiplier}`. The domain
keeps five measurands in base units: Wh, W, A, V and percent. Everything else a station sends
(temperature, reactive power, ...) is ignored; values that cannot be right are dropped and
reported as anomalies, so one bad sample never spoils a session.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Measurand(StrEnum):
    """The measurands the CSMS keeps (same names in 1.6 and 2.0.1)."""

    ENERGY = "Energy.Active.Import.Register"
    POWER = "Power.Active.Import"
    CURRENT = "Current.Import"
    VOLTAGE = "Voltage"
    SOC = "SoC"


# Both versions: a sampled value without measurand is the energy register.
DEFAULT_MEASURAND = Measurand.ENERGY.value

# Unit name -> (measurand it may measure, factor to the base unit). 1.6 UnitOfMeasure spells
# Celsius "Celcius" too; neither matters here. 2.0.1 unit names are the same strings.
_UNITS: dict[str, tuple[Measurand, Decimal]] = {
    "Wh": (Measurand.ENERGY, Decimal(1)),
    "kWh": (Measurand.ENERGY, Decimal(1000)),
    "W": (Measurand.POWER, Decimal(1)),
    "kW": (Measurand.POWER, Decimal(1000)),
    "A": (Measurand.CURRENT, Decimal(1)),
    "V": (Measurand.VOLTAGE, Decimal(1)),
    "Percent": (Measurand.SOC, Decimal(1)),
}
# A missing unit means the measurand's own base unit (1.6 says "Wh" for every measurand, which
# no station means for power or current).
_BASE_UNIT = {
    Measurand.ENERGY: "Wh",
    Measurand.POWER: "W",
    Measurand.CURRENT: "A",
    Measurand.VOLTAGE: "V",
    Measurand.SOC: "Percent",
}
# Phases whose values add up to the total (1.6 and 2.0.1 PhaseEnumType); N and the
# line-to-line phases (L1-L2, ...) do not.
_LINE_PHASES = ("L1", "L2", "L3")
_MAX_VALUE = Decimal("1e15")  # beyond any real meter; keeps values finite and storable
_MAX_MULTIPLIER = 9


class AnomalyKind(StrEnum):
    """What can be wrong with transaction data, as an operator sees it on the session."""

    BAD_UNIT = "BadUnit"
    UNREADABLE_VALUE = "UnreadableValue"
    NEGATIVE_VALUE = "NegativeValue"
    OUT_OF_RANGE = "OutOfRange"
    DECREASING_ENERGY = "DecreasingEnergy"
    FUTURE_TIMESTAMP = "FutureTimestamp"
    PAST_TIMESTAMP = "PastTimestamp"
    STOP_BEFORE_START = "StopBeforeStart"
    METER_STOP_BELOW_START = "MeterStopBelowStart"
    START_MISSING = "StartMissing"
    UNKNOWN_TRANSACTION = "UnknownTransaction"
    EVSE_MISMATCH = "EvseMismatch"
    ABANDONED = "Abandoned"


class Anomaly(BaseModel):
    """One thing found wrong, when it was seen, and the value in question."""

    model_config = ConfigDict(frozen=True)

    kind: AnomalyKind
    at: datetime
    detail: Annotated[str, Field(max_length=200)]


class RawSample(BaseModel):
    """A sampled value as the station sent it (already schema-valid)."""

    model_config = ConfigDict(frozen=True)

    value: str
    measurand: str = DEFAULT_MEASURAND
    phase: str | None = None
    unit: str | None = None
    multiplier: int = 0
    context: str | None = None
    location: str | None = None


class RawReading(BaseModel):
    """A meter value: one timestamp, several sampled values."""

    model_config = ConfigDict(frozen=True)

    timestamp: datetime
    samples: tuple[RawSample, ...]


class Sample(BaseModel):
    """A kept sampled value in its base unit."""

    model_config = ConfigDict(frozen=True)

    measurand: Measurand
    value: Decimal
    phase: str | None = None
    context: str | None = None


class Reading(BaseModel):
    """A kept meter value: timestamp and samples in base units."""

    model_config = ConfigDict(frozen=True)

    timestamp: datetime
    samples: tuple[Sample, ...]

    def total(self, measurand: Measurand) -> Decimal | None:
        """The measurand for the whole EVSE: the value without phase, else L1+L2+L3.

        Voltage and SoC do not add up over phases: their first per-phase value is taken.
        """
        plain = [s.value for s in self.samples if s.measurand is measurand and s.phase is None]
        if plain:
            return plain[-1]
        per_phase = [
            s.value for s in self.samples if s.measurand is measurand and s.phase in _LINE_PHASES
        ]
        if not per_phase:
            return None
        if measurand in (Measurand.VOLTAGE, Measurand.SOC):
            return per_phase[0]
        return sum(per_phase, Decimal(0))

    def per_phase(self, measurand: Measurand) -> dict[str, Decimal]:
        """Values by phase (L1/L2/L3/N/...)."""
        return {s.phase: s.value for s in self.samples if s.measurand is measurand and s.phase}

    @property
    def energy_wh(self) -> Decimal | None:
        """The energy register, Wh."""
        return self.total(Measurand.ENERGY)


class TimeWindow(BaseModel):
    """Which reading timestamps are believable.

    Not ahead of the CSMS clock by more than the allowed skew, not older than the oldest offline
    queue a station keeps (a station with an unset clock says 1970).
    """

    model_config = ConfigDict(frozen=True)

    max_skew: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=60)

    def check(self, at: datetime, now: datetime) -> AnomalyKind | None:
        """The timestamp anomaly, or None when the time is believable."""
        if at > now + self.max_skew:
            return AnomalyKind.FUTURE_TIMESTAMP
        if at < now - self.max_age:
            return AnomalyKind.PAST_TIMESTAMP
        return None


def _describe(sample: RawSample) -> str:
    phase = f" {sample.phase}" if sample.phase else ""
    unit = f" {sample.unit}" if sample.unit else ""
    return f"{sample.measurand}{phase}={sample.value[:40]}{unit}"


def normalize_sample(sample: RawSample, at: datetime) -> Sample | Anomaly | None:
    """One sampled value in base units.

    An Anomaly when it cannot be right; None when the measurand is not one the CSMS keeps.
    """
    try:
        measurand = Measurand(sample.measurand)
    except ValueError:
        return None
    unit = sample.unit or _BASE_UNIT[measurand]
    known = _UNITS.get(unit)
    if known is None or known[0] is not measurand:
        return Anomaly(kind=AnomalyKind.BAD_UNIT, at=at, detail=_describe(sample))
    if abs(sample.multiplier) > _MAX_MULTIPLIER:
        return Anomaly(kind=AnomalyKind.BAD_UNIT, at=at, detail=f"multiplier {sample.multiplier}")
    try:
        value = Decimal(sample.value.strip())
    except InvalidOperation:
        return Anomaly(kind=AnomalyKind.UNREADABLE_VALUE, at=at, detail=_describe(sample))
    if not value.is_finite() or abs(value) > _MAX_VALUE:
        return Anomaly(kind=AnomalyKind.UNREADABLE_VALUE, at=at, detail=_describe(sample))
    value = value * known[1] * Decimal(10) ** sample.multiplier
    if value < 0 and measurand in (Measurand.ENERGY, Measurand.SOC, Measurand.VOLTAGE):
        return Anomaly(kind=AnomalyKind.NEGATIVE_VALUE, at=at, detail=_describe(sample))
    if measurand is Measurand.SOC and value > 100:
        return Anomaly(kind=AnomalyKind.OUT_OF_RANGE, at=at, detail=_describe(sample))
    # Stored exactly, without trailing zeros (1.5 kWh -> 1500 Wh, not 1500.0).
    return Sample(
        measurand=measurand,
        value=_plain(value),
        phase=sample.phase,
        context=sample.context,
    )


def _plain(value: Decimal) -> Decimal:
    normal = value.normalize()
    # normalize() writes 1500 as 1.5E+3; quantize back to an exponent >= 0 when integral.
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal


def normalize(
    readings: Iterable[RawReading], now: datetime, window: TimeWindow | None = None
) -> tuple[list[Reading], list[Anomaly]]:
    """Readings in base units, oldest first, and what was wrong with the rest.

    A reading with an unbelievable timestamp is dropped whole (a station with an unset clock
    says 1970); a reading left with no kept sample is dropped.
    """
    window = window or TimeWindow()
    kept: list[Reading] = []
    anomalies: list[Anomaly] = []
    for raw in readings:
        at = raw.timestamp.astimezone(UTC)
        problem = window.check(at, now)
        if problem is not None:
            anomalies.append(Anomaly(kind=problem, at=now, detail=f"reading at {at.isoformat()}"))
            continue
        samples: list[Sample] = []
        for raw_sample in raw.samples:
            result = normalize_sample(raw_sample, at)
            if isinstance(result, Anomaly):
                anomalies.append(result)
            elif result is not None:
                samples.append(result)
        if samples:
            kept.append(Reading(timestamp=at, samples=tuple(samples)))
    kept.sort(key=lambda reading: reading.timestamp)
    return kept, anomalies
