"""Readings that change the power a site may give its chargers, and the power that follows.

available = site limit (lowest of the grid limit and the time-of-day limits in force)
            - building load (fresh meter reading; a grid meter minus our own chargers' load)
            + PV production + battery discharge the battery offers
then the safety margin comes off, and the result never exceeds the configured limit: a site with
no readings, or readings that cannot be trusted, stays under its configured limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from csms.domain.load.config import WEEK, MeterKind, SiteLoadConfig

# Readings beyond these are refused at the API: no building draws 1 GW through a site meter.
MAX_READING_KW = 100_000.0
# Forecasts and readings from further ahead than this are not trusted.
MAX_FUTURE = timedelta(minutes=5)


class ReadingKind(StrEnum):
    """What a reading measures."""

    METER = "meter"
    PV = "pv"
    BATTERY = "battery"


class Reading(BaseModel):
    """One reading: the site meter's kW, PV production kW, or the battery's offered discharge."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )

    kind: ReadingKind
    at: AwareDatetime
    kw: Annotated[float, Field(ge=-MAX_READING_KW, le=MAX_READING_KW, allow_inf_nan=False)]
    # A forecast is valid until this time; a measurement until the meter's staleness limit.
    valid_until: AwareDatetime | None = None


class Constraint(StrEnum):
    """Why the site has the power it has (shown with the allocation)."""

    SITE_LIMIT = "site-limit"
    TIME_OF_DAY = "time-of-day-limit"
    METER = "building-load"
    METER_STALE = "meter-stale-fallback"


@dataclass(frozen=True, slots=True)
class Available:
    """The power the chargers of a site may draw now, and what decided it."""

    kw: float
    constraint: Constraint
    building_kw: float | None = None
    pv_kw: float = 0.0
    battery_kw: float = 0.0
    notes: tuple[str, ...] = ()


def site_limit_kw(config: SiteLoadConfig, now: datetime) -> tuple[float, Constraint]:
    """The configured limit in force now: the grid limit or a lower time-of-day limit."""
    local = now.astimezone(ZoneInfo(config.timezone))
    day, clock = WEEK[local.weekday()], local.time().replace(tzinfo=None)
    yesterday = WEEK[(local.weekday() - 1) % 7]
    limit, constraint = config.limit_kw, Constraint.SITE_LIMIT
    for window in config.time_of_day:
        if window.start < window.end:
            inside = day in window.days and window.start <= clock < window.end
        else:  # overnight: the evening belongs to today's window, the morning to yesterday's
            inside = (day in window.days and clock >= window.start) or (
                yesterday in window.days and clock < window.end
            )
        if inside and window.limit_kw < limit:
            limit, constraint = window.limit_kw, Constraint.TIME_OF_DAY
    return limit, constraint


def _fresh(reading: Reading, now: datetime, stale_after: timedelta) -> bool:
    until = reading.valid_until or reading.at + stale_after
    return reading.at <= now + MAX_FUTURE and now <= until


def latest(
    readings: tuple[Reading, ...], kind: ReadingKind, now: datetime, stale_after: timedelta
) -> Reading | None:
    """The newest fresh reading of a kind (forecasts: the one in force now)."""
    fresh = [r for r in readings if r.kind is kind and _fresh(r, now, stale_after)]
    return max(fresh, key=lambda r: r.at, default=None)


def available_power(
    config: SiteLoadConfig,
    readings: tuple[Reading, ...],
    now: datetime,
    chargers_kw: float = 0.0,
) -> Available:
    """The power the site's chargers may draw now (`chargers_kw`: what they draw now)."""
    limit, constraint = site_limit_kw(config, now)
    margin = 1 - config.safety_margin_pct / 100
    notes: list[str] = []
    stale_after = timedelta(seconds=config.meter.stale_after_s if config.meter else 300)
    pv = latest(readings, ReadingKind.PV, now, stale_after)
    battery = latest(readings, ReadingKind.BATTERY, now, stale_after)
    # Negative PV or battery readings (a sign convention mix-up) add nothing.
    pv_kw = max(pv.kw, 0.0) if pv else 0.0
    battery_kw = max(battery.kw, 0.0) if battery else 0.0
    building_kw: float | None = None
    if config.meter is not None:
        meter = latest(readings, ReadingKind.METER, now, stale_after)
        if meter is None:
            notes.append("no fresh meter reading: the fallback limit applies")
            fallback = min(config.meter.fallback_limit_kw, limit)
            return Available(
                kw=fallback * margin, constraint=Constraint.METER_STALE, notes=tuple(notes)
            )
        measured = meter.kw - chargers_kw if config.meter.kind is MeterKind.GRID else meter.kw
        if measured < 0:
            # A building cannot export through a consumption meter: trust zero, not the sign.
            notes.append(f"negative building load ({measured:.1f} kW) counted as 0")
            measured = 0.0
        building_kw = measured
        if limit - measured + pv_kw + battery_kw < limit:
            constraint = Constraint.METER
    headroom = limit - (building_kw or 0.0) + pv_kw + battery_kw
    # PV and the battery may cover the building, never lift the chargers over the limit.
    kw = max(0.0, min(headroom, limit)) * margin
    return Available(
        kw=kw,
        constraint=constraint,
        building_kw=building_kw,
        pv_kw=pv_kw,
        battery_kw=battery_kw,
        notes=tuple(notes),
    )
