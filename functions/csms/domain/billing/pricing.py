"""The pricing engine: a session's price under a tariff, line by line, with the why.

Pure and deterministic, money in Decimal (no float anywhere); docs/pricing.md states the same
rules for operators. `price(tariff, usage)` follows them in this order:

1. Timeline. The session is cut at its start, its stop, every energy sample, the idle start and
   end and every time-of-use change (`Tariff.changes_between` on the site's wall clock; a wall
   time inside a DST gap localises with fold=0, i.e. with the offset before the change). Each
   piece is priced with the prices in force at its start (`Tariff.prices_at` on the wall clock).
2. Energy in a piece: the cumulative register interpolated linearly between samples; none before
   the first sample or after the last. Where an interval between two samples is split, each cut
   gets the interpolated register rounded down to 0.001 Wh and the last part of the interval
   the rest, so the pieces always add up to the energy measured (last sample - first sample).
   Two samples at the same moment count the jump in the piece that starts there.
3. Energy, charging time (pieces outside the idle period) and plugged-in time (all pieces) each
   get one line per time-of-use period used (period None = the tariff's own prices), in the
   order first used. Steps (`Tariff.rounding`): each line's quantity is rounded UP to its step
   (`energy_step_wh`, `time_step_s`), so a session crossing a time-of-use boundary may pay one
   part step more per period than OCPI's `step_size` (which rounds the total and bills the rest
   at the last period's price, and can make a longer session cheaper). An energy quantity is in
   kWh; a time quantity in minutes or hours as that period's rate's `per` says, to six decimals
   (half up).
4. Idle fee: idle time beyond `grace_minutes`, rounded up to `time_step_s`, at the tariff's idle
   rate (not split by time of use), the amount then capped at `cap`.
5. Session fee: one line (quantity 1).
6. Each line's amount = quantity x unit price rounded half up to the currency's minor unit
   (`money.round_money`); lines whose unit price and amount are both zero are left out; the
   subtotal is the sum of the lines. Lines are in the tariff's basis (with tax when
   `prices_include_tax`, without otherwise).
7. Minimum / maximum: when the session delivered energy and the subtotal is under `min_price`,
   a MINIMUM_PRICE line adds the difference; over `max_price`, a MAXIMUM_PRICE line takes the
   difference off (negative amount). Both in the tariff's basis (rounded to the minor unit).
8. Tax (rates add up, none compounds). `prices_include_tax`: total incl. = subtotal, each
   tax = round(total incl. x p_i / (100 + sum p)), total excl. = total incl. - the taxes.
   Otherwise total excl. = subtotal, each tax = round(total excl. x p_i / 100), total incl. =
   total excl. + the taxes. `TaxLine.base` is the total excluding tax.
9. So the price is never negative and the lines always add up to the subtotal; a free tariff
   gives 0 with the usage still reported. The price never falls as energy or time grows: every
   line's quantity only grows, and a new period adds a line.
10. Explanation: short sentences a driver can read: what was used; each line as
    "12.346 kWh x 0.39 EUR/kWh (peak, Mon,Tue 17:00-21:00) = 4.81 EUR"; the idle fee with its
    grace and cap; the total with tax.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from csms.domain.billing.money import round_money
from csms.domain.billing.tariff import PriceComponents, Tariff, TimeRate, TimeUnit, TouPeriod
from csms.domain.billing.usage import SessionUsage


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class Component(StrEnum):
    """What a price line is for."""

    ENERGY = "energy"
    CHARGING_TIME = "charging-time"
    PLUGGED_TIME = "plugged-time"
    IDLE = "idle"
    SESSION_FEE = "session-fee"
    # The difference up to the tariff's minimum, or down to its maximum (negative).
    MINIMUM_PRICE = "minimum-price"
    MAXIMUM_PRICE = "maximum-price"


class Unit(StrEnum):
    """The unit of a line's quantity."""

    KWH = "kWh"
    HOUR = "h"
    MINUTE = "min"
    SESSION = "session"


class PriceLine(_Model):
    """One line of the breakdown, in the tariff's basis (with or without tax, as it says)."""

    component: Component
    # The time-of-use period the line is for (None: the tariff's own prices).
    period: str | None = None
    quantity: Decimal
    unit: Unit
    unit_price: Decimal
    # quantity x unit price, rounded half up to the currency's minor unit (money.round_money).
    amount: Decimal
    explanation: str


class TaxLine(_Model):
    """One tax rate's share of the total."""

    name: str
    percent: Decimal
    # The net amount taxed, and the tax, rounded to the minor unit.
    base: Decimal
    amount: Decimal


class PricedSession(_Model):
    """A session priced under a tariff version: the lines, the tax, the totals and the why."""

    tariff_id: str
    tariff_version: int
    currency: str
    prices_include_tax: bool
    lines: tuple[PriceLine, ...]
    # Sum of the lines (the tariff's basis), then without and with tax.
    subtotal: Decimal
    total_excl_tax: Decimal
    taxes: tuple[TaxLine, ...]
    total_incl_tax: Decimal
    # What was measured (before steps) and billed (after them).
    energy_kwh: Decimal
    billed_energy_kwh: Decimal
    charging_minutes: Decimal
    plugged_minutes: Decimal
    idle_minutes: Decimal
    billed_idle_minutes: Decimal
    # Sentences a driver could read, in order: what was used, what it cost, the total.
    explanation: Annotated[tuple[str, ...], Field(min_length=1)]


_ZERO = Decimal(0)
_US = timedelta(microseconds=1)
_MINUTE_US = 60_000_000
_UNIT_US = {TimeUnit.MINUTE: _MINUTE_US, TimeUnit.HOUR: 60 * _MINUTE_US}
_UNIT = {TimeUnit.MINUTE: Unit.MINUTE, TimeUnit.HOUR: Unit.HOUR}
# Resolution of a split interval's energy (Wh) and of time quantities (minutes, hours).
_WH_CUT = Decimal("0.001")
_QUANTITY = Decimal("0.000001")
_KWH_SHOWN = Decimal("0.001")
_DAY_MINUTES = 24 * 60
_WEEK_MINUTES = 7 * _DAY_MINUTES


@dataclass(slots=True)
class _Use:
    """What one set of prices (a period, or the tariff's own) was used for."""

    period: str | None
    prices: PriceComponents
    label: str
    energy_wh: Decimal = _ZERO
    charging_us: int = 0
    plugged_us: int = 0


@dataclass(slots=True)
class _Timeline:
    """The session cut into pieces: their bounds (microseconds from start) and energy (Wh)."""

    cuts: list[int]
    energy: list[Decimal]


def price(tariff: Tariff, usage: SessionUsage) -> PricedSession:
    """The price of `usage` under `tariff` (the rules in the module docstring)."""
    currency = tariff.currency
    start = usage.start.astimezone(UTC)
    zone = usage.zone
    timeline = _timeline(tariff, usage, start, zone)
    uses = _uses(tariff, usage, timeline, start, zone)
    rounding = tariff.rounding

    energy_wh = usage.samples[-1].wh - usage.samples[0].wh
    step_wh = Decimal(rounding.energy_step_wh)
    billed_wh = sum((_step_up(u.energy_wh, step_wh) for u in uses), _ZERO)
    step_us = rounding.time_step_s * 1_000_000
    charging_us = sum(u.charging_us for u in uses)
    plugged_us = timeline.cuts[-1]
    idle_us = plugged_us - charging_us

    lines = _energy_lines(uses, step_wh, currency)
    lines += _time_lines(uses, Component.CHARGING_TIME, step_us, currency)
    lines += _time_lines(uses, Component.PLUGGED_TIME, step_us, currency)
    notes = [_usage_sentence(usage, energy_wh, billed_wh, rounding.energy_step_wh, idle_us)]
    notes += [line.explanation for line in lines]
    billed_idle_us = 0
    idle = tariff.idle_fee
    if idle is not None and idle_us > 0:
        billed_idle_us = _step_us(max(0, idle_us - idle.grace_minutes * _MINUTE_US), step_us)
        idle_line, note = _idle(idle.rate, idle.grace_minutes, idle.cap, billed_idle_us, currency)
        lines += idle_line
        notes.append(note)
    if tariff.session_fee:
        amount = round_money(tariff.session_fee, currency)
        text = f"Session fee = {_money(amount, currency)}"
        fee = _line(
            Component.SESSION_FEE,
            None,
            Decimal(1),
            Unit.SESSION,
            unit_price=tariff.session_fee,
            amount=amount,
            explanation=text,
        )
        lines.append(fee)
        notes.append(text)
    # In minor units even with no line at all (a free session is 0.00, not 0).
    subtotal = round_money(sum((line.amount for line in lines), _ZERO), currency)
    for line in _limits(tariff, subtotal, delivered=energy_wh > 0):
        lines.append(line)
        notes.append(line.explanation)
        subtotal += line.amount
    taxes, total_excl, total_incl = _taxes(tariff, subtotal)
    notes.append(_total_sentence(tariff, total_excl, total_incl, taxes))
    return PricedSession.model_construct(
        tariff_id=tariff.id,
        tariff_version=tariff.version,
        currency=currency,
        prices_include_tax=tariff.prices_include_tax,
        lines=tuple(lines),
        subtotal=subtotal,
        total_excl_tax=total_excl,
        taxes=taxes,
        total_incl_tax=total_incl,
        energy_kwh=_plain(energy_wh.scaleb(-3)),
        billed_energy_kwh=_plain(billed_wh.scaleb(-3)),
        charging_minutes=_per(charging_us, _MINUTE_US),
        plugged_minutes=_per(plugged_us, _MINUTE_US),
        idle_minutes=_per(idle_us, _MINUTE_US),
        billed_idle_minutes=_per(billed_idle_us, _MINUTE_US),
        explanation=tuple(notes),
    )


# --- the timeline (rules 1 and 2) -------------------------------------------------------------


def _timeline(tariff: Tariff, usage: SessionUsage, start: datetime, zone: ZoneInfo) -> _Timeline:
    # Offsets are whole microseconds from the start, computed from UTC (subtracting two
    # datetimes that share a tzinfo would ignore a DST change between them).
    total = (usage.stop - start) // _US
    offsets = [(sample.at - start) // _US for sample in usage.samples]
    cuts = {0, total, *offsets}
    if usage.idle is not None:
        cuts.add((usage.idle.start - start) // _US)
        cuts.add((usage.idle.end - start) // _US)
    if tariff.tou:
        local_start, local_stop = start.astimezone(zone), usage.stop.astimezone(zone)
        for wall in tariff.changes_between(local_start, local_stop):
            # replace() leaves fold=0: a wall time in a DST gap takes the offset before it.
            offset = (wall.replace(tzinfo=zone).astimezone(UTC) - start) // _US
            if 0 < offset < total:
                cuts.add(offset)
    ordered = sorted(cuts)
    index = {cut: i for i, cut in enumerate(ordered)}
    energy = [_ZERO] * (len(ordered) - 1)
    samples = usage.samples
    for j in range(len(samples) - 1):
        delta = samples[j + 1].wh - samples[j].wh
        if not delta:
            continue
        begin, end = offsets[j], offsets[j + 1]
        first = min(index[begin], len(energy) - 1)
        last = index[end]
        if last - first <= 1:
            # A whole piece (or a jump at one moment: the piece starting there, or the last).
            energy[first] += delta
            continue
        span, done = end - begin, _ZERO
        for k in range(first, last - 1):
            reached = (delta * (ordered[k + 1] - begin) / span).quantize(_WH_CUT, ROUND_FLOOR)
            energy[k] += reached - done
            done = reached
        energy[last - 1] += delta - done
    return _Timeline(ordered, energy)


def _uses(
    tariff: Tariff, usage: SessionUsage, timeline: _Timeline, start: datetime, zone: ZoneInfo
) -> list[_Use]:
    """What each set of prices was used for, in the order first used."""
    idle_begin = idle_end = -1
    if usage.idle is not None:
        idle_begin = (usage.idle.start - start) // _US
        idle_end = (usage.idle.end - start) // _US
    spans = _week_spans(tariff.tou)
    uses: dict[str | None, _Use] = {}
    own = _Use(None, tariff.prices, "")
    cuts = timeline.cuts
    for k, wh in enumerate(timeline.energy):
        begin, end = cuts[k], cuts[k + 1]
        use = own
        if spans:
            period = _period_at((start + begin * _US).astimezone(zone), spans)
            if period is not None:
                use = uses.get(period.name) or _Use(period.name, period.prices, _label(period))
        uses.setdefault(use.period, use)
        use.energy_wh += wh
        use.plugged_us += end - begin
        if not idle_begin <= begin < end <= idle_end:
            use.charging_us += end - begin
    return list(uses.values())


def _week_spans(periods: tuple[TouPeriod, ...]) -> list[tuple[int, int, TouPeriod]]:
    return [
        (begin, finish, period)
        for period in periods
        for window in period.windows
        for begin, finish in window.spans()
    ]


def _period_at(local: datetime, spans: list[tuple[int, int, TouPeriod]]) -> TouPeriod | None:
    # The same minute of the week as TouWindow.contains (seconds do not matter).
    minute = local.weekday() * _DAY_MINUTES + local.hour * 60 + local.minute
    return next((p for begin, finish, p in spans if begin <= minute < finish), None)


def _label(period: TouPeriod) -> str:
    return f" ({period.name}, {'; '.join(w.label() for w in period.windows)})"


# --- lines (rules 3 to 7) ---------------------------------------------------------------------


def _step_up(quantity: Decimal, step: Decimal) -> Decimal:
    rest = quantity % step
    return quantity if not rest else quantity - rest + step


def _per(us: int, unit_us: int) -> Decimal:
    return _plain((Decimal(us) / unit_us).quantize(_QUANTITY, ROUND_HALF_UP))


def _plain(quantity: Decimal) -> Decimal:
    # Without trailing zeros, but never in exponent form (normalize() writes 100 as 1E+2).
    whole = quantity.to_integral_value()
    return whole if whole == quantity else quantity.normalize()


def _step_us(us: int, step_us: int) -> int:
    return -(-us // step_us) * step_us


def _energy_lines(uses: list[_Use], step_wh: Decimal, currency: str) -> list[PriceLine]:
    lines = []
    for use in (u for u in uses if u.energy_wh > 0):
        wh = _step_up(use.energy_wh, step_wh)
        kwh = _plain(wh.scaleb(-3))
        unit_price = use.prices.energy_per_kwh
        amount = round_money(kwh * unit_price, currency)
        if unit_price or amount:
            text = (
                f"{_kwh(wh)} kWh x {_unit_price(unit_price, currency)}/kWh{use.label} = "
                f"{_money(amount, currency)}"
            )
            lines.append(
                _line(
                    Component.ENERGY,
                    use.period,
                    kwh,
                    Unit.KWH,
                    unit_price=unit_price,
                    amount=amount,
                    explanation=text,
                )
            )
    return lines


def _time_lines(
    uses: list[_Use], component: Component, step_us: int, currency: str
) -> list[PriceLine]:
    charging = component is Component.CHARGING_TIME
    used = [u for u in uses if (u.charging_us if charging else u.plugged_us) > 0]
    what = "charging time" if charging else "plugged-in time"
    lines = []
    for use in used:
        rate = use.prices.charging_time if charging else use.prices.plugged_time
        if rate is None or not rate.amount:
            continue
        us = _step_us(use.charging_us if charging else use.plugged_us, step_us)
        quantity = _per(us, _UNIT_US[rate.per])
        unit = _UNIT[rate.per]
        amount = round_money(quantity * rate.amount, currency)
        text = (
            f"{_quantity(quantity)} {unit} {what} x {_unit_price(rate.amount, currency)}/{unit}"
            f"{use.label} = {_money(amount, currency)}"
        )
        lines.append(
            _line(
                component,
                use.period,
                quantity,
                unit,
                unit_price=rate.amount,
                amount=amount,
                explanation=text,
            )
        )
    return lines


def _idle(
    rate: TimeRate, grace: int, cap: Decimal | None, billed_us: int, currency: str
) -> tuple[list[PriceLine], str]:
    """The idle fee's line (none when nothing is billed) and what to tell the driver."""
    if not rate.amount:
        return [], "No idle fee."
    if not billed_us:
        return [], f"No idle fee: the first {grace} min idle are free."
    quantity = _per(billed_us, _UNIT_US[rate.per])
    unit = _UNIT[rate.per]
    amount = round_money(quantity * rate.amount, currency)
    text = (
        f"Idle fee after {grace} min free: {_quantity(quantity)} {unit} x "
        f"{_unit_price(rate.amount, currency)}/{unit} = {_money(amount, currency)}"
    )
    if cap is not None and amount > round_money(cap, currency):
        amount = round_money(cap, currency)
        text += f", capped at {_money(amount, currency)}"
    line = _line(
        Component.IDLE,
        None,
        quantity,
        unit,
        unit_price=rate.amount,
        amount=amount,
        explanation=text,
    )
    return [line], text


def _limits(tariff: Tariff, subtotal: Decimal, *, delivered: bool) -> list[PriceLine]:
    currency = tariff.currency
    if tariff.min_price is not None and delivered:
        least = round_money(tariff.min_price, currency)
        if subtotal < least:
            return [
                _difference(
                    Component.MINIMUM_PRICE,
                    least - subtotal,
                    f"Minimum price {_money(least, currency)}: "
                    f"{_money(least - subtotal, currency)} added",
                )
            ]
    if tariff.max_price is not None:
        most = round_money(tariff.max_price, currency)
        if subtotal > most:
            return [
                _difference(
                    Component.MAXIMUM_PRICE,
                    most - subtotal,
                    f"Maximum price {_money(most, currency)}: "
                    f"{_money(subtotal - most, currency)} taken off",
                )
            ]
    return []


def _difference(component: Component, amount: Decimal, text: str) -> PriceLine:
    return _line(
        component,
        None,
        Decimal(1),
        Unit.SESSION,
        unit_price=amount,
        amount=amount,
        explanation=text,
    )


def _line(
    component: Component,
    period: str | None,
    quantity: Decimal,
    unit: Unit,
    *,
    unit_price: Decimal,
    amount: Decimal,
    explanation: str,
) -> PriceLine:
    return PriceLine.model_construct(
        component=component,
        period=period,
        quantity=quantity,
        unit=unit,
        unit_price=unit_price,
        amount=amount,
        explanation=explanation,
    )


# --- tax and totals (rule 8) ------------------------------------------------------------------


def _taxes(tariff: Tariff, subtotal: Decimal) -> tuple[tuple[TaxLine, ...], Decimal, Decimal]:
    currency, rates = tariff.currency, tariff.tax_rates
    if tariff.prices_include_tax:
        divisor = 100 + sum((r.percent for r in rates), _ZERO)
        amounts = [round_money(subtotal * r.percent / divisor, currency) for r in rates]
        total_incl = subtotal
        total_excl = total_incl - sum(amounts, _ZERO)
    else:
        amounts = [round_money(subtotal * r.percent / 100, currency) for r in rates]
        total_excl = subtotal
        total_incl = total_excl + sum(amounts, _ZERO)
    taxes = tuple(
        TaxLine.model_construct(name=r.name, percent=r.percent, base=total_excl, amount=a)
        for r, a in zip(rates, amounts, strict=True)
    )
    return taxes, total_excl, total_incl


# --- explanation (rule 10) --------------------------------------------------------------------


def _usage_sentence(
    usage: SessionUsage, energy_wh: Decimal, billed_wh: Decimal, step_wh: int, idle_us: int
) -> str:
    zone = usage.zone
    begin, end = usage.start.astimezone(zone), usage.stop.astimezone(zone)
    plugged_us = (usage.stop - usage.start) // _US
    text = (
        f"Plugged in {_duration(plugged_us)} ({begin:%a %Y-%m-%d %H:%M} to "
        f"{end:%a %Y-%m-%d %H:%M} {usage.timezone}), charging {_duration(plugged_us - idle_us)}"
    )
    if idle_us:
        text += f", idle {_duration(idle_us)}"
    text += f"; {_kwh(energy_wh)} kWh delivered"
    if billed_wh != energy_wh:
        text += f", billed in steps of {step_wh} Wh as {_kwh(billed_wh)} kWh"
    return text + "."


def _total_sentence(
    tariff: Tariff, total_excl: Decimal, total_incl: Decimal, taxes: tuple[TaxLine, ...]
) -> str:
    currency = tariff.currency
    if not total_incl and tariff.free:
        return f"Free of charge under the tariff {tariff.name!r}: total {_money(_ZERO, currency)}."
    named = [f"{_money(t.amount, currency)} {t.name} {_plain(t.percent):f} %" for t in taxes]
    if not taxes:
        return f"Total {_money(total_incl, currency)}."
    if tariff.prices_include_tax:
        return (
            f"Total {_money(total_incl, currency)} including {' and '.join(named)} "
            f"({_money(total_excl, currency)} without tax)."
        )
    return (
        f"Total {_money(total_excl, currency)} plus {' and '.join(named)} = "
        f"{_money(total_incl, currency)}."
    )


def _money(amount: Decimal, currency: str) -> str:
    return f"{round_money(amount, currency):f} {currency}"


def _unit_price(value: Decimal, currency: str) -> str:
    # At least the currency's decimals (0.39 EUR), more when the price has them (0.3945 EUR).
    shown = round_money(value, currency)
    if shown != value:
        shown = value.normalize()
    return f"{shown:f} {currency}"


def _quantity(value: Decimal) -> str:
    places = Decimal("0.01") if abs(value) >= 1 else Decimal("0.0001")
    return f"{value.quantize(places, ROUND_HALF_UP).normalize():f}"


def _kwh(wh: Decimal) -> str:
    return f"{wh.scaleb(-3).quantize(_KWH_SHOWN, ROUND_HALF_UP):f}"


def _duration(us: int) -> str:
    minutes = -(-us // _MINUTE_US) if us % _MINUTE_US >= _MINUTE_US // 2 else us // _MINUTE_US
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest} min" if rest else f"{hours} h"
