"""Properties of the pricing engine on random tariffs and sessions (rule 9 and friends)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from tests.unit.domain.billing.builders import FAST, T0, a_period, window

from csms.domain.billing.money import minor_units, round_money
from csms.domain.billing.pricing import Component, PricedSession, PriceLine, Unit, price
from csms.domain.billing.tariff import Tariff
from csms.domain.billing.usage import SessionUsage

_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# Time-of-use layouts that never overlap: a weekday peak, a nightly window, a Sunday night.
_LAYOUTS = [
    [("peak", [window(_DAYS[:5], "17:00", "21:00")])],
    [("night", [window(_DAYS, "22:00", "06:00")])],
    [
        ("peak", [window(_DAYS[:5], "07:30", "09:15"), window(_DAYS[:5], "17:00", "20:00")]),
        ("sunday", [window(["Sunday"], "23:00", "02:00")]),
    ],
]
_ZONES = ["UTC", "Europe/Berlin", "America/New_York"]

_prices = st.decimals(min_value=0, max_value=5, places=4)
_rates = st.none() | st.fixed_dictionaries(
    {
        "amount": st.decimals(min_value=0, max_value=20, places=3),
        "per": st.sampled_from(["minute", "hour"]),
    }
)
_components = st.fixed_dictionaries(
    {"energyPerKwh": _prices, "chargingTime": _rates, "pluggedTime": _rates}
)


@st.composite
def _tariffs(draw: st.DrawFn, *, tou: bool, unit_steps: bool = False) -> Tariff:
    low = draw(st.none() | st.decimals(min_value=0, max_value=10, places=2))
    high = draw(st.none() | st.decimals(min_value=0, max_value=200, places=2))
    if low is not None and high is not None and low > high:
        low, high = high, low
    fields: dict[str, Any] = {
        "id": "t",
        "name": "random",
        "currency": draw(st.sampled_from(["EUR", "JPY", "KWD"])),
        "pricesIncludeTax": draw(st.booleans()),
        "taxRates": draw(
            st.lists(
                st.builds(
                    lambda n, p: {"name": n, "percent": p},
                    st.sampled_from(["VAT", "Levy"]),
                    st.decimals(min_value=0, max_value=30, places=3),
                ),
                max_size=2,
            )
        ),
        "sessionFee": draw(st.decimals(min_value=0, max_value=5, places=2)),
        "prices": draw(_components),
        "minPrice": low,
        "maxPrice": high,
        "idleFee": draw(
            st.none()
            | st.fixed_dictionaries(
                {
                    "rate": _rates.filter(lambda r: r is not None),
                    "graceMinutes": st.integers(0, 90),
                    "cap": st.none() | st.decimals(min_value=0, max_value=30, places=2),
                }
            )
        ),
    }
    if not unit_steps:
        fields["rounding"] = {
            "energyStepWh": draw(st.sampled_from([1, 100, 1000])),
            "timeStepS": draw(st.sampled_from([1, 60, 900])),
        }
    if tou:
        layout = draw(st.sampled_from(_LAYOUTS))
        fields["tou"] = [
            {"name": name, "windows": windows, "prices": draw(_components)}
            for name, windows in layout
        ]
    return Tariff.model_validate(fields)


@st.composite
def _usages(draw: st.DrawFn) -> SessionUsage:
    # Whole seconds and whole Wh, as meters report them; up to two days from a random week time.
    start = T0 + timedelta(seconds=draw(st.integers(0, 7 * 24 * 3600)))
    length = draw(st.integers(1, 2 * 24 * 3600))
    moments = sorted(draw(st.lists(st.integers(0, length), min_size=1, max_size=6)))
    increments = draw(
        st.lists(st.integers(0, 30_000), min_size=len(moments), max_size=len(moments))
    )
    register, samples = draw(st.integers(0, 1_000_000)), []
    for moment, increment in zip(moments, increments, strict=True):
        register += increment
        samples.append({"at": start + timedelta(seconds=moment), "wh": Decimal(register)})
    fields: dict[str, Any] = {
        "start": start,
        "stop": start + timedelta(seconds=length),
        "samples": samples,
        "timezone": draw(st.sampled_from(_ZONES)),
    }
    if draw(st.booleans()):
        idle = sorted(draw(st.lists(st.integers(0, length), min_size=2, max_size=2)))
        fields["idle"] = {
            "start": start + timedelta(seconds=idle[0]),
            "end": start + timedelta(seconds=idle[1]),
        }
    return SessionUsage.model_validate(fields)


_any_tariff = _tariffs(tou=False) | _tariffs(tou=True)


def _total(priced: PricedSession) -> tuple[Decimal, Decimal]:
    return priced.total_incl_tax, priced.total_excl_tax


@FAST
@given(_any_tariff, _usages())
def test_price_is_never_negative_and_adds_up(tariff: Tariff, usage: SessionUsage) -> None:
    # GIVEN any tariff and session WHEN pricing it
    priced = price(tariff, usage)
    # THEN nothing is negative, the lines add up, and the totals agree with the taxes
    places = Decimal(1).scaleb(-minor_units(tariff.currency))
    assert priced.total_incl_tax >= 0
    assert priced.total_excl_tax >= 0
    assert priced.subtotal == sum((line.amount for line in priced.lines), Decimal(0))
    taxes = sum((t.amount for t in priced.taxes), Decimal(0))
    assert priced.total_incl_tax == priced.total_excl_tax + taxes
    basis = priced.total_incl_tax if tariff.prices_include_tax else priced.total_excl_tax
    assert basis == priced.subtotal
    for line in priced.lines:
        assert line.amount == line.amount.quantize(places)
        assert line.unit_price or line.amount
        if line.component not in {
            Component.IDLE,
            Component.MINIMUM_PRICE,
            Component.MAXIMUM_PRICE,
        }:
            assert line.amount == round_money(line.quantity * line.unit_price, tariff.currency)
    # and the billed quantities are the measured ones rounded up to their steps
    # (each line's quantity on its own, rule 3: at most a step more per time-of-use period)
    step = Decimal(tariff.rounding.energy_step_wh).scaleb(-3)
    periods = len(tariff.tou) + 1
    assert priced.energy_kwh <= priced.billed_energy_kwh < priced.energy_kwh + step * periods
    assert priced.billed_energy_kwh % step == 0


def _more_energy(usage: SessionUsage, first: int, extra: int) -> SessionUsage:
    samples = [
        s.model_copy(update={"wh": s.wh + extra}) if i >= first else s
        for i, s in enumerate(usage.samples)
    ]
    return usage.model_copy(update={"samples": tuple(samples)})


@FAST
@given(_tariffs(tou=False), _usages(), st.integers(0, 5), st.integers(0, 50_000))
def test_price_is_monotone_in_energy(
    tariff: Tariff, usage: SessionUsage, first: int, extra: int
) -> None:
    # GIVEN a session and the same session with the register higher from some sample on
    more = _more_energy(usage, min(first, len(usage.samples) - 1), extra)
    # WHEN pricing both THEN more energy never costs less
    assert price(tariff, more).total_incl_tax >= price(tariff, usage).total_incl_tax
    assert price(tariff, more).total_excl_tax >= price(tariff, usage).total_excl_tax


@FAST
@given(_tariffs(tou=False), _usages(), st.integers(1, 24 * 3600))
def test_price_is_monotone_in_duration(tariff: Tariff, usage: SessionUsage, extra: int) -> None:
    # GIVEN a session and the same one unplugged later
    longer = usage.model_copy(update={"stop": usage.stop + timedelta(seconds=extra)})
    # WHEN pricing both THEN the longer one never costs less
    assert _total(price(tariff, longer)) >= _total(price(tariff, usage))


@FAST
@given(
    _tariffs(tou=True, unit_steps=True),
    _usages(),
    st.integers(1, 12 * 3600),
    st.integers(0, 40_000),
)
def test_price_with_tou_is_monotone_when_the_session_goes_on(
    tariff: Tariff, usage: SessionUsage, extra_s: int, extra_wh: int
) -> None:
    # GIVEN time-of-use prices billed in 1 Wh / 1 s steps, and a session that goes on longer
    # and takes more energy after its last sample
    stop = usage.stop + timedelta(seconds=extra_s)
    last = usage.samples[-1]
    more = usage.model_copy(
        update={
            "stop": stop,
            "samples": (
                *usage.samples,
                last.model_copy(update={"at": stop, "wh": last.wh + extra_wh}),
            ),
        }
    )
    # WHEN pricing both THEN going on never costs less
    assert _total(price(tariff, more)) >= _total(price(tariff, usage))


@FAST
@given(_tariffs(tou=False), _usages(), st.data())
def test_price_without_tou_ignores_when_energy_flowed(
    tariff: Tariff, usage: SessionUsage, data: st.DataObject
) -> None:
    # GIVEN prices that do not change over time, and the session's energy spread over more
    # samples (anywhere in the session, any share, the same total)
    first, last = usage.samples[0], usage.samples[-1]
    span = int((usage.stop - usage.start).total_seconds())
    moments = data.draw(st.lists(st.integers(0, span), max_size=5))
    levels = sorted(
        data.draw(
            st.lists(
                st.integers(0, int(last.wh - first.wh)),
                min_size=len(moments),
                max_size=len(moments),
            )
        )
    )
    extra = [
        {"at": usage.start + timedelta(seconds=m), "wh": first.wh + w}
        for m, w in zip(sorted(moments), levels, strict=True)
    ]
    resampled = SessionUsage.model_validate(
        {
            **usage.model_dump(exclude={"samples"}),
            "samples": [
                {"at": usage.start, "wh": first.wh},
                *extra,
                {"at": usage.stop, "wh": last.wh},
            ],
        }
    )
    # WHEN pricing both THEN the price is the same
    assert price(tariff, resampled).lines == price(tariff, usage).lines


@FAST
@given(_tariffs(tou=False), st.sampled_from(_LAYOUTS), _usages())
def test_price_tou_repeating_the_base_prices_prices_like_no_tou(
    tariff: Tariff, layout: list[tuple[str, list[dict[str, Any]]]], usage: SessionUsage
) -> None:
    # GIVEN a tariff and the same one with TOU periods that repeat its own prices
    base = tariff.prices.model_dump(by_alias=True)
    periods = [a_period(name, windows, **base) for name, windows in layout]
    same = Tariff.model_validate({**tariff.model_dump(by_alias=True), "tou": periods})
    # WHEN pricing a session under both
    plain, split = price(tariff, usage), price(same, usage)

    # THEN the same energy is measured; cut in parts, each part is rounded up to its step on
    # its own (rule 3) and each line's amount to the minor unit (rule 6): the split price is
    # at most a step per line above the plain one, and never more than rounding below it
    unit = Decimal(1).scaleb(-minor_units(tariff.currency))
    rounding = unit * (len(split.lines) + len(plain.lines)) / 2

    def step_of(line: PriceLine) -> Decimal:
        if line.component not in {
            Component.ENERGY,
            Component.CHARGING_TIME,
            Component.PLUGGED_TIME,
        }:
            return Decimal(0)
        if line.component is Component.ENERGY:
            return Decimal(tariff.rounding.energy_step_wh).scaleb(-3)
        seconds = Decimal(tariff.rounding.time_step_s)
        return seconds / (60 if line.unit is Unit.MINUTE else 3600)

    steps = sum((step_of(line) * line.unit_price for line in split.lines), Decimal(0))
    assert plain.subtotal - rounding <= split.subtotal <= plain.subtotal + steps + rounding
    assert split.energy_kwh == plain.energy_kwh
    assert split.billed_energy_kwh >= plain.billed_energy_kwh
