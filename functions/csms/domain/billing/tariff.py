"""Tariffs: what a session costs, as an operator defines it (docs/pricing.md).

A tariff is immutable and versioned: once a session used a version, that version is never
changed; an update makes a new version, and a session keeps the version in force when it
started. Prices are in the tariff's currency, including tax or excluding it as the tariff says
(`prices_include_tax`: B2C in Europe shows prices with VAT, fleets and the US without).

Components (each maps onto an OCPI 2.2.1 price component, see docs/pricing.md):
- energy, per kWh;
- charging time (energy flows, or could: the session minus its idle period) and plugged-in
  time (the whole session), per minute or per hour;
- a session fee (flat);
- an idle fee after charging ended, from a grace period on, with a cap;
- a minimum and a maximum price per session;
- time-of-use periods: other prices in windows by weekday and time of day in the site's
  timezone (a session crossing a boundary is priced in parts); outside every window the
  tariff's own prices apply. Windows never overlap.
- tax rates (one or more, each on the net amount, not compounded).

Quantities are billed in steps (`Rounding`): energy in blocks of `energy_step_wh`, each time in
blocks of `time_step_s`, rounded up over the whole session. Money is rounded half up to the
currency's minor unit per price line (csms.domain.billing.money).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from csms.domain.billing.money import CurrencyCode
from csms.domain.tenancy import ResourceId, Weekday

# A unit price: never negative, at most six decimal places (0.394500 EUR/kWh).
Price = Annotated[Decimal, Field(ge=0, le=100_000, decimal_places=6)]
# An amount of money a tariff states (fee, cap, minimum, maximum).
Amount = Annotated[Decimal, Field(ge=0, le=100_000, decimal_places=6)]
Clock = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["17:00"])]
Name = Annotated[str, Field(min_length=1, max_length=80)]

_WEEK = list(Weekday)
_DAY_MINUTES = 24 * 60
_WEEK_MINUTES = 7 * _DAY_MINUTES


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class TimeUnit(StrEnum):
    """What a time price is per."""

    MINUTE = "minute"
    HOUR = "hour"


class TimeRate(_Model):
    """A price per minute or per hour."""

    amount: Price
    per: TimeUnit = TimeUnit.HOUR

    @property
    def per_hour(self) -> Decimal:
        """The same price per hour."""
        return self.amount * 60 if self.per is TimeUnit.MINUTE else self.amount


class PriceComponents(_Model):
    """Unit prices of a tariff, or of one of its time-of-use periods."""

    energy_per_kwh: Price = Decimal(0)
    charging_time: TimeRate | None = None
    plugged_time: TimeRate | None = None

    @property
    def free(self) -> bool:
        """Whether none of these prices is above zero."""
        return (
            self.energy_per_kwh == 0
            and (self.charging_time is None or self.charging_time.amount == 0)
            and (self.plugged_time is None or self.plugged_time.amount == 0)
        )


class TouWindow(_Model):
    """Weekdays and a time of day at the site.

    A window that ends at or before its start runs overnight and belongs to the day it starts
    (Friday 22:00-06:00 ends Saturday 06:00); start equal to end means the whole day.
    """

    days: Annotated[tuple[Weekday, ...], Field(min_length=1, max_length=7)]
    start: Clock
    end: Clock

    @field_validator("days")
    @classmethod
    def _days_once(cls, days: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        if len(set(days)) != len(days):
            raise ValueError("each day may be named once")
        return tuple(sorted(days, key=_WEEK.index))

    def spans(self) -> list[tuple[int, int]]:
        """Minutes of the week (Monday 00:00 = 0) the window covers, as [from, to) spans."""
        start, end = _minutes(self.start), _minutes(self.end)
        length = (end - start) % _DAY_MINUTES or _DAY_MINUTES
        result = []
        for day in self.days:
            begin = _WEEK.index(day) * _DAY_MINUTES + start
            finish = begin + length
            if finish <= _WEEK_MINUTES:
                result.append((begin, finish))
            else:  # Sunday night into Monday
                result += [(begin, _WEEK_MINUTES), (0, finish - _WEEK_MINUTES)]
        return result

    def contains(self, local: datetime) -> bool:
        """Whether the window covers this wall-clock moment at the site."""
        minute = local.weekday() * _DAY_MINUTES + local.hour * 60 + local.minute
        return any(begin <= minute < finish for begin, finish in self.spans())

    def label(self) -> str:
        """`Mon-Fri 17:00-21:00`, for explanations."""
        names = [d.value[:3] for d in self.days]
        return f"{','.join(names)} {self.start}-{self.end}"


class TouPeriod(_Model):
    """Prices in force during some windows (peak, off-peak, night)."""

    name: Name
    windows: Annotated[tuple[TouWindow, ...], Field(min_length=1, max_length=14)]
    prices: PriceComponents


class IdleFee(_Model):
    """A fee per minute or hour for staying plugged in after charging ended."""

    rate: TimeRate
    # Idle time under this is free; the fee counts from the end of the grace period.
    grace_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 0
    # The most the idle fee may come to in one session.
    cap: Amount | None = None


class Rounding(_Model):
    """Steps quantities are billed in, rounded up over the whole session (OCPI `step_size`)."""

    energy_step_wh: Annotated[int, Field(ge=1, le=100_000)] = 1
    time_step_s: Annotated[int, Field(ge=1, le=3600)] = 1


class TaxRate(_Model):
    """A tax on the net amount (several rates add up; none compounds on another)."""

    name: Annotated[str, Field(min_length=1, max_length=40, examples=["VAT"])]
    percent: Annotated[Decimal, Field(ge=0, le=100, decimal_places=4)]


class Tariff(_Model):
    """What a session costs (see the module docstring)."""

    id: ResourceId
    # Stored versions count from 1; a tariff read from a file has version 0.
    version: Annotated[int, Field(ge=0)] = 0
    name: Name
    currency: CurrencyCode
    prices_include_tax: bool = True
    tax_rates: Annotated[tuple[TaxRate, ...], Field(max_length=4)] = ()
    session_fee: Amount = Decimal(0)
    prices: PriceComponents = PriceComponents()
    tou: Annotated[tuple[TouPeriod, ...], Field(max_length=12)] = ()
    idle_fee: IdleFee | None = None
    min_price: Amount | None = None
    max_price: Amount | None = None
    rounding: Rounding = Rounding()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise ValueError("minPrice must not be above maxPrice")
        if sum(rate.percent for rate in self.tax_rates) > 100:
            raise ValueError("the tax rates add up to more than 100 %")
        check_periods(self.tou)
        return self

    @property
    def free(self) -> bool:
        """Whether no session can cost anything under this tariff."""
        return (
            self.session_fee == 0
            and self.prices.free
            and all(p.prices.free for p in self.tou)
            and (self.idle_fee is None or self.idle_fee.rate.amount == 0)
            and not self.min_price
        )

    def period_at(self, local: datetime) -> TouPeriod | None:
        """The time-of-use period in force at this wall-clock moment at the site, if any."""
        return next((p for p in self.tou if any(w.contains(local) for w in p.windows)), None)

    def prices_at(self, local: datetime) -> PriceComponents:
        """The unit prices in force at this wall-clock moment at the site."""
        period = self.period_at(local)
        return period.prices if period is not None else self.prices

    def changes_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Local wall-clock moments in (start, end] where a window begins or ends.

        `start` and `end` are aware and in the site's timezone; the moments returned are naive
        wall-clock times for the caller to localise (DST is the caller's business).
        """
        edges = sorted(
            {
                minute % _WEEK_MINUTES
                for period in self.tou
                for window in period.windows
                for span in window.spans()
                for minute in span
            }
        )
        if not edges:
            return []
        found: list[datetime] = []
        monday = (start - timedelta(days=start.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0, tzinfo=None
        )
        naive_start, naive_end = start.replace(tzinfo=None), end.replace(tzinfo=None)
        week = 0
        while monday + timedelta(weeks=week) <= naive_end:
            for minute in edges:
                moment = monday + timedelta(weeks=week, minutes=minute)
                if naive_start < moment <= naive_end:
                    found.append(moment)
            week += 1
        return found


def _minutes(clock: str) -> int:
    parsed = time.fromisoformat(clock)
    return parsed.hour * 60 + parsed.minute


def check_periods(periods: tuple[TouPeriod, ...]) -> None:
    """Refuse (ValueError) periods that share a name or whose windows overlap.

    What Tariff checks, for callers that want the refusal located at their `tou` field.
    """
    names = [p.name for p in periods]
    if len(set(names)) != len(names):
        raise ValueError("each time-of-use period needs a name of its own")
    _no_overlap(periods)


def _no_overlap(periods: tuple[TouPeriod, ...]) -> None:
    covered: list[tuple[int, int, str]] = []
    for period in periods:
        for window in period.windows:
            for begin, finish in window.spans():
                for other_begin, other_finish, other in covered:
                    if begin < other_finish and other_begin < finish:
                        raise ValueError(
                            f"time-of-use windows overlap: {other!r} and {period.name!r} "
                            f"({_at(max(begin, other_begin))})"
                        )
                covered.append((begin, finish, period.name))


def _at(minute: int) -> str:
    day, rest = divmod(minute, _DAY_MINUTES)
    return f"{_WEEK[day].value} {rest // 60:02d}:{rest % 60:02d}"
