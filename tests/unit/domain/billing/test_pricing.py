"""The pricing engine, rule by rule (the rules are in csms.domain.billing.pricing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.unit.domain.billing.builders import (
    BERLIN,
    T0,
    a_period,
    a_tariff,
    a_usage,
    at,
    sample,
    window,
)

from csms.domain.billing.pricing import Component, PricedSession, Unit, price

D = Decimal
_EVERY_DAY = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# Monday 16:00 in Berlin (CET, UTC+1).
_MON_16 = datetime(2026, 11, 23, 16, 0, tzinfo=BERLIN)


def _peak(**prices: Any) -> dict[str, Any]:
    return a_period("peak", [window(["Monday", "Tuesday"], "17:00", "21:00")], **prices)


def _amounts(priced: PricedSession) -> list[tuple[str, str | None, Decimal, Decimal]]:
    return [
        (line.component.value, line.period, line.quantity, line.amount) for line in priced.lines
    ]


def test_price_energy_is_kwh_times_price_rounded_half_up() -> None:
    # GIVEN 0.39 EUR/kWh and 12.3456 kWh
    tariff = a_tariff(prices={"energyPerKwh": "0.39"})
    # WHEN pricing the session
    priced = price(tariff, a_usage(kwh="12.3456"))
    # THEN one energy line: billed in whole Wh (the default step) 12.346 x 0.39 = 4.81494 ->
    # 4.81, which is also the total
    assert _amounts(priced) == [("energy", None, D("12.346"), D("4.81"))]
    assert priced.lines[0].unit is Unit.KWH
    assert priced.subtotal == priced.total_incl_tax == D("4.81")
    assert (priced.energy_kwh, priced.billed_energy_kwh) == (D("12.3456"), D("12.346"))
    assert priced.lines[0].explanation == "12.346 kWh x 0.39 EUR/kWh = 4.81 EUR"


def test_price_charging_time_leaves_out_idle_and_plugged_time_counts_all() -> None:
    # GIVEN 2 EUR per charging hour and 0.05 EUR per plugged-in minute
    tariff = a_tariff(
        prices={
            "chargingTime": {"amount": "2", "per": "hour"},
            "pluggedTime": {"amount": "0.05", "per": "minute"},
        }
    )
    # WHEN pricing 2 h plugged in, the last 30 min idle
    usage = a_usage(hours=2, kwh=0, idle={"start": at(1.5), "end": at(2)})
    priced = price(tariff, usage)
    # THEN charging 1.5 h x 2 = 3.00 and plugged-in 120 min x 0.05 = 6.00
    assert _amounts(priced) == [
        ("charging-time", None, D("1.5"), D("3.00")),
        ("plugged-time", None, D(120), D("6.00")),
    ]
    assert [line.unit for line in priced.lines] == [Unit.HOUR, Unit.MINUTE]
    assert (priced.charging_minutes, priced.plugged_minutes, priced.idle_minutes) == (
        D(90),
        D(120),
        D(30),
    )
    assert priced.lines[0].explanation == "1.5 h charging time x 2.00 EUR/h = 3.00 EUR"


def test_price_time_in_hours_keeps_six_decimals() -> None:
    # GIVEN 3 EUR per charging hour WHEN pricing 100 s
    tariff = a_tariff(prices={"chargingTime": {"amount": "3"}})
    priced = price(tariff, a_usage(hours=100 / 3600, kwh=0))
    # THEN 100 s = 0.027778 h (half up) x 3 = 0.083334 -> 0.08
    assert _amounts(priced) == [("charging-time", None, D("0.027778"), D("0.08"))]


def test_price_splits_energy_at_a_tou_boundary() -> None:
    # GIVEN 0.30 EUR/kWh and a Mon/Tue 17:00-21:00 peak at 0.50
    tariff = a_tariff(tou=[_peak(energyPerKwh="0.50")])
    # WHEN pricing Monday 16:00-18:00 in Berlin, 10 kWh evenly
    usage = a_usage(start=_MON_16, hours=2, kwh=10, timezone="Europe/Berlin")
    priced = price(tariff, usage)
    # THEN 5 kWh x 0.30 = 1.50 before 17:00 and 5 kWh x 0.50 = 2.50 after
    assert _amounts(priced) == [
        ("energy", None, D("5"), D("1.50")),
        ("energy", "peak", D("5"), D("2.50")),
    ]
    assert priced.lines[1].explanation == (
        "5.000 kWh x 0.50 EUR/kWh (peak, Mon,Tue 17:00-21:00) = 2.50 EUR"
    )
    assert priced.total_incl_tax == D("4.00")


def test_price_splits_energy_between_samples_by_time() -> None:
    # GIVEN the peak at 0.50 from 17:00
    tariff = a_tariff(tou=[_peak(energyPerKwh="0.50")])
    # WHEN 1 kWh flows 16:00-16:30 and 9 kWh 16:30-17:30
    usage = a_usage(
        start=_MON_16,
        hours=2,
        timezone="Europe/Berlin",
        samples=[
            sample(_MON_16, 0),
            sample(_MON_16 + timedelta(minutes=30), 1000),
            sample(_MON_16 + timedelta(minutes=90), 10000),
        ],
    )
    priced = price(tariff, usage)
    # THEN the 9 kWh interval is split 4.5 / 4.5 at 17:00: 5.5 kWh base, 4.5 kWh peak
    assert _amounts(priced) == [
        ("energy", None, D("5.5"), D("1.65")),
        ("energy", "peak", D("4.5"), D("2.25")),
    ]


def test_price_split_energy_adds_up_when_the_cut_is_not_exact() -> None:
    # GIVEN the peak from 17:00 WHEN 1 kWh flows evenly 16:00-19:00 (a third before 17:00)
    tariff = a_tariff(tou=[_peak(energyPerKwh="0.50")])
    usage = a_usage(start=_MON_16, hours=3, kwh=1, timezone="Europe/Berlin")
    priced = price(tariff, usage)
    # THEN the cut keeps 0.001 Wh (rounded down) and the rest goes after it: 333.333 + 666.667
    # Wh measured, each line billed in whole Wh (the default step): 334 + 667
    assert [line.quantity for line in priced.lines] == [D("0.334"), D("0.667")]
    assert priced.energy_kwh == D(1)
    assert sum(line.quantity for line in priced.lines) == priced.billed_energy_kwh == D("1.001")


def test_price_counts_no_energy_before_the_first_or_after_the_last_sample() -> None:
    # GIVEN the peak from 17:00, samples only from 17:30 to 18:00
    tariff = a_tariff(tou=[_peak(energyPerKwh="0.50")])
    first, last = _MON_16 + timedelta(minutes=90), _MON_16 + timedelta(hours=2)
    usage = a_usage(
        start=_MON_16,
        hours=3,
        timezone="Europe/Berlin",
        samples=[sample(first, 100), sample(last, 2100)],
    )
    # WHEN pricing THEN all 2 kWh are in the peak, none before 16:00-17:30 in base prices
    assert _amounts(price(tariff, usage)) == [("energy", "peak", D(2), D("1.00"))]


def test_price_counts_a_jump_at_one_moment() -> None:
    # GIVEN two samples at the same moment (a register that jumped)
    usage = a_usage(hours=1, samples=[sample(T0, 0), sample(at(0.5), 1000), sample(at(0.5), 3000)])
    # WHEN pricing THEN the jump counts: 3 kWh x 0.30
    assert _amounts(price(a_tariff(), usage)) == [("energy", None, D(3), D("0.90"))]


def test_price_counts_a_jump_at_the_stop() -> None:
    # GIVEN the last two samples both at the stop
    usage = a_usage(hours=1, samples=[sample(T0, 0), sample(at(1), 1000), sample(at(1), 2000)])
    # WHEN pricing THEN both kWh count
    assert price(a_tariff(), usage).lines[0].quantity == D(2)


def test_price_tou_follows_the_wall_clock_across_spring_dst() -> None:
    # GIVEN 1 EUR per plugged-in hour, 3 EUR at night 22:00-06:00 every day
    night = a_period("night", [window(_EVERY_DAY, "22:00", "06:00")], pluggedTime={"amount": "3"})
    tariff = a_tariff(prices={"pluggedTime": {"amount": "1"}}, tou=[night])
    # WHEN pricing Sat 20:00 CET to Sun 08:00 CEST over the spring change (11 real hours)
    start = datetime(2026, 3, 28, 20, 0, tzinfo=BERLIN)
    usage = a_usage(start=start, hours=11, kwh=0, timezone="Europe/Berlin")
    priced = price(tariff, usage)
    # THEN the night is 22:00 CET to 06:00 CEST: 7 real hours; the day 2 h + 2 h
    assert _amounts(priced) == [
        ("plugged-time", None, D(4), D("4.00")),
        ("plugged-time", "night", D(7), D("21.00")),
    ]
    assert priced.plugged_minutes == D(660)


def test_price_tou_follows_the_wall_clock_across_autumn_dst() -> None:
    # GIVEN the same night rate
    night = a_period("night", [window(_EVERY_DAY, "22:00", "06:00")], pluggedTime={"amount": "3"})
    tariff = a_tariff(prices={"pluggedTime": {"amount": "1"}}, tou=[night])
    # WHEN pricing Sat 20:00 CEST to Sun 08:00 CET over the autumn change (13 real hours)
    start = datetime(2026, 10, 24, 20, 0, tzinfo=BERLIN)
    priced = price(tariff, a_usage(start=start, hours=13, kwh=0, timezone="Europe/Berlin"))
    # THEN the night lasts 9 real hours
    assert _amounts(priced) == [
        ("plugged-time", None, D(4), D("4.00")),
        ("plugged-time", "night", D(9), D("27.00")),
    ]


def test_price_a_window_edge_in_the_dst_gap_takes_the_offset_before_it() -> None:
    # GIVEN 1 EUR/h and 10 EUR/h on Sundays 02:30-04:00 (02:30 does not exist on 2026-03-29)
    odd = a_period("odd", [window(["Sunday"], "02:30", "04:00")], pluggedTime={"amount": "10"})
    tariff = a_tariff(prices={"pluggedTime": {"amount": "1"}}, tou=[odd])
    # WHEN pricing 00:00-03:00 UTC that Sunday
    start = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    priced = price(tariff, a_usage(start=start, hours=3, kwh=0, timezone="Europe/Berlin"))
    # THEN 02:30 localises with fold=0 (+01:00, i.e. 01:30 UTC); 04:00 CEST is 02:00 UTC:
    # 30 min at 10 EUR/h, 2.5 h at 1 EUR/h
    assert _amounts(priced) == [
        ("plugged-time", None, D("2.5"), D("2.50")),
        ("plugged-time", "odd", D("0.5"), D("5.00")),
    ]


def test_price_energy_steps_round_each_line_up() -> None:
    # GIVEN whole kWh steps and the peak from 17:00
    tariff = a_tariff(tou=[_peak(energyPerKwh="0.50")], rounding={"energyStepWh": 1000})
    # WHEN 10.4 kWh flow evenly 16:00-18:00
    usage = a_usage(start=_MON_16, hours=2, kwh="10.4", timezone="Europe/Berlin")
    priced = price(tariff, usage)
    # THEN each period's 5.2 kWh is billed as 6: 6 x 0.30 = 1.80 and 6 x 0.50 = 3.00
    assert _amounts(priced) == [
        ("energy", None, D(6), D("1.80")),
        ("energy", "peak", D(6), D("3.00")),
    ]
    assert (priced.energy_kwh, priced.billed_energy_kwh) == (D("10.4"), D(12))
    assert "billed in steps of 1000 Wh as 12.000 kWh" in priced.explanation[0]


def test_price_steps_make_no_line_for_a_period_without_the_quantity() -> None:
    # GIVEN whole kWh steps and the peak from 17:00
    tariff = a_tariff(tou=[_peak(energyPerKwh="0.50")], rounding={"energyStepWh": 1000})
    # WHEN 5.2 kWh flow 16:00-17:00 and none in the peak hour after
    usage = a_usage(
        start=_MON_16,
        hours=2,
        timezone="Europe/Berlin",
        samples=[sample(_MON_16, 0), sample(_MON_16 + timedelta(hours=1), 5200)],
    )
    # THEN 6 kWh are billed at the base price, and no peak line appears
    assert _amounts(price(tariff, usage)) == [("energy", None, D(6), D("1.80"))]


def test_price_time_steps_round_each_line_up() -> None:
    # GIVEN charging time at 6 EUR/h in 15 min steps, and 0.06 EUR/min in the peak
    tariff = a_tariff(
        prices={"chargingTime": {"amount": "6"}},
        tou=[_peak(chargingTime={"amount": "0.06", "per": "minute"})],
        rounding={"timeStepS": 900},
    )
    # WHEN charging 16:50-17:51 (61 min: 10 base, 51 peak)
    start = _MON_16 + timedelta(minutes=50)
    priced = price(tariff, a_usage(start=start, hours=61 / 60, kwh=0, timezone="Europe/Berlin"))
    # THEN each part is billed in 15 min steps: 15 min at base (0.25 h -> 1.50) and 60 min
    # in the peak (3.60)
    assert _amounts(priced) == [
        ("charging-time", None, D("0.25"), D("1.50")),
        ("charging-time", "peak", D(60), D("3.60")),
    ]


def test_price_idle_fee_counts_after_the_grace_period() -> None:
    # GIVEN 0.10 EUR per idle minute after 30 min
    tariff = a_tariff(idleFee={"rate": {"amount": "0.10", "per": "minute"}, "graceMinutes": 30})
    # WHEN the session stays idle 75 min
    usage = a_usage(hours=2, kwh=5, idle={"start": at(0.75), "end": at(2)})
    priced = price(tariff, usage)
    # THEN 45 min x 0.10 = 4.50 is billed as one idle line
    assert _amounts(priced)[-1] == ("idle", None, D(45), D("4.50"))
    assert (priced.idle_minutes, priced.billed_idle_minutes) == (D(75), D(45))
    assert "Idle fee after 30 min free: 45 min x 0.10 EUR/min = 4.50 EUR" in priced.explanation


def test_price_idle_fee_is_not_split_by_tou_and_rounds_to_the_time_step() -> None:
    # GIVEN an idle fee of 6 EUR/h after 10 min, 5 min steps, and a peak with other prices
    tariff = a_tariff(
        tou=[_peak(energyPerKwh="0.50")],
        idleFee={"rate": {"amount": "6"}, "graceMinutes": 10},
        rounding={"timeStepS": 300},
    )
    # WHEN idle 16:30-17:31 (61 min, across the peak's start)
    usage = a_usage(
        start=_MON_16,
        hours=2,
        kwh=0,
        timezone="Europe/Berlin",
        idle={"start": _MON_16 + timedelta(minutes=30), "end": _MON_16 + timedelta(minutes=91)},
    )
    priced = price(tariff, usage)
    # THEN 51 min beyond grace -> 55 min = 0.916667 h x 6 = 5.50, one line
    assert _amounts(priced) == [("idle", None, D("0.916667"), D("5.50"))]


def test_price_idle_within_grace_is_free_and_says_so() -> None:
    # GIVEN 30 min grace WHEN idle 20 min
    tariff = a_tariff(idleFee={"rate": {"amount": "0.10", "per": "minute"}, "graceMinutes": 30})
    priced = price(tariff, a_usage(hours=1, idle={"start": at(0.5), "end": at(0.5 + 1 / 3)}))
    # THEN no idle line, and the driver reads why
    assert [line.component for line in priced.lines] == [Component.ENERGY]
    assert "No idle fee: the first 30 min idle are free." in priced.explanation


def test_price_idle_fee_at_zero_rate_leaves_no_line() -> None:
    # GIVEN an idle fee of 0 WHEN idle an hour THEN no idle line
    tariff = a_tariff(idleFee={"rate": {"amount": "0"}})
    priced = price(tariff, a_usage(hours=2, idle={"start": at(1), "end": at(2)}))
    assert [line.component for line in priced.lines] == [Component.ENERGY]
    assert "No idle fee." in priced.explanation


def test_price_idle_fee_is_capped() -> None:
    # GIVEN 0.10 EUR/min after 30 min, capped at 10 EUR
    tariff = a_tariff(
        idleFee={"rate": {"amount": "0.10", "per": "minute"}, "graceMinutes": 30, "cap": "10"}
    )
    # WHEN idle 200 min (170 billable: 17.00 uncapped)
    priced = price(tariff, a_usage(hours=4, kwh=0, idle={"start": at(0.5), "end": at(4 - 1 / 6)}))
    # THEN the idle line says 170 min but comes to 10.00
    assert _amounts(priced) == [("idle", None, D(170), D("10.00"))]
    assert priced.lines[0].explanation.endswith("= 17.00 EUR, capped at 10.00 EUR")


def test_price_session_fee_is_one_line_even_without_energy() -> None:
    # GIVEN a 5 EUR session fee WHEN a session delivers nothing
    tariff = a_tariff(sessionFee="5", prices={})
    priced = price(tariff, a_usage(kwh=0))
    # THEN one session fee line of 5.00
    assert _amounts(priced) == [("session-fee", None, D(1), D("5.00"))]
    assert priced.lines[0].unit is Unit.SESSION
    assert "Session fee = 5.00 EUR" in priced.explanation


def test_price_minimum_adds_the_difference_when_energy_was_delivered() -> None:
    # GIVEN a minimum of 2 EUR WHEN 1 kWh x 0.30 = 0.30 is delivered
    priced = price(a_tariff(minPrice="2"), a_usage(kwh=1))
    # THEN a minimum line adds 1.70
    assert _amounts(priced) == [
        ("energy", None, D(1), D("0.30")),
        ("minimum-price", None, D(1), D("1.70")),
    ]
    assert priced.total_incl_tax == D("2.00")
    assert "Minimum price 2.00 EUR: 1.70 EUR added" in priced.explanation


def test_price_minimum_does_not_apply_without_energy() -> None:
    # GIVEN a minimum of 2 EUR WHEN nothing was delivered THEN the price stays 0
    priced = price(a_tariff(minPrice="2"), a_usage(kwh=0))
    assert priced.lines == ()
    assert priced.total_incl_tax == D(0)


def test_price_maximum_takes_the_difference_off() -> None:
    # GIVEN a maximum of 20 EUR WHEN 100 kWh x 0.30 = 30.00 are delivered
    priced = price(a_tariff(maxPrice="20", minPrice="1"), a_usage(hours=5, kwh=100))
    # THEN a negative maximum line brings the subtotal to 20
    assert _amounts(priced)[-1] == ("maximum-price", None, D(1), D("-10.00"))
    assert priced.subtotal == sum(line.amount for line in priced.lines) == D("20.00")
    assert "Maximum price 20.00 EUR: 10.00 EUR taken off" in priced.explanation


def test_price_within_minimum_and_maximum_adds_no_line() -> None:
    # GIVEN a minimum of 1 and a maximum of 20 WHEN 10 kWh cost 3.00 THEN no extra line
    priced = price(a_tariff(maxPrice="20", minPrice="1"), a_usage(kwh=10))
    assert [line.component for line in priced.lines] == [Component.ENERGY]


_TWO_RATES = [{"name": "VAT", "percent": "10"}, {"name": "Levy", "percent": "5"}]


def test_price_tax_inclusive_takes_each_rate_out_of_the_total() -> None:
    # GIVEN prices including 10 % and 5 % WHEN the session costs 10.00
    tariff = a_tariff(taxRates=_TWO_RATES, prices={"energyPerKwh": "1"})
    priced = price(tariff, a_usage(kwh=10))
    # THEN 10 x 10/115 = 0.8696 -> 0.87 and 10 x 5/115 = 0.4348 -> 0.43; net 8.70
    assert [(t.name, t.amount, t.base) for t in priced.taxes] == [
        ("VAT", D("0.87"), D("8.70")),
        ("Levy", D("0.43"), D("8.70")),
    ]
    assert (priced.total_incl_tax, priced.total_excl_tax) == (D("10.00"), D("8.70"))
    assert priced.explanation[-1] == (
        "Total 10.00 EUR including 0.87 EUR VAT 10 % and 0.43 EUR Levy 5 % (8.70 EUR without tax)."
    )


def test_price_tax_exclusive_adds_each_rate_to_the_net() -> None:
    # GIVEN prices excluding 10 % and 5 % WHEN the session costs 10.00 net
    tariff = a_tariff(taxRates=_TWO_RATES, pricesIncludeTax=False, prices={"energyPerKwh": "1"})
    priced = price(tariff, a_usage(kwh=10))
    # THEN 1.00 + 0.50 tax, 11.50 in all
    assert [t.amount for t in priced.taxes] == [D("1.00"), D("0.50")]
    assert (priced.total_excl_tax, priced.total_incl_tax) == (D("10.00"), D("11.50"))
    assert priced.explanation[-1] == (
        "Total 10.00 EUR plus 1.00 EUR VAT 10 % and 0.50 EUR Levy 5 % = 11.50 EUR."
    )


def test_price_without_tax_rates_states_the_total() -> None:
    # GIVEN no tax rates WHEN pricing THEN the totals agree and the sentence names no tax
    priced = price(a_tariff(taxRates=[]), a_usage(kwh=10))
    assert priced.taxes == ()
    assert priced.total_excl_tax == priced.total_incl_tax == D("3.00")
    assert priced.explanation[-1] == "Total 3.00 EUR."


@pytest.mark.parametrize(
    ("currency", "unit_price", "amount", "shown"),
    [
        ("JPY", "35", D(432), "12.345 kWh x 35 JPY/kWh = 432 JPY"),
        ("KWD", "0.045", D("0.556"), "12.345 kWh x 0.045 KWD/kWh = 0.556 KWD"),
        ("EUR", "0.3945", D("4.87"), "12.345 kWh x 0.3945 EUR/kWh = 4.87 EUR"),
    ],
)
def test_price_rounds_to_each_currency_minor_unit(
    currency: str, unit_price: str, amount: Decimal, shown: str
) -> None:
    # GIVEN a tariff in a currency with 0, 3 or 2 decimals
    tariff = a_tariff(currency=currency, prices={"energyPerKwh": unit_price})
    # WHEN pricing 12.345 kWh (JPY 432.075 -> 432, KWD 0.555525 -> 0.556, EUR 4.870 -> 4.87)
    priced = price(tariff, a_usage(kwh="12.345"))
    # THEN the amount has the currency's decimals and the line reads naturally
    assert priced.lines[0].amount == amount
    assert str(priced.total_incl_tax) == str(amount)
    assert priced.lines[0].explanation == shown


def test_price_free_tariff_reports_usage_at_zero() -> None:
    # GIVEN a free tariff WHEN 14 kWh are delivered
    tariff = a_tariff(name="Employees", prices={}, taxRates=[])
    priced = price(tariff, a_usage(hours=3, kwh=14))
    # THEN no line, a total of 0, and the usage still reported
    assert priced.lines == ()
    assert priced.total_incl_tax == priced.total_excl_tax == D(0)
    assert priced.energy_kwh == D(14)
    assert priced.explanation[-1] == "Free of charge under the tariff 'Employees': total 0.00 EUR."


def test_price_leaves_out_lines_that_cost_nothing() -> None:
    # GIVEN energy free in the peak, 0.30 otherwise
    tariff = a_tariff(tou=[_peak(energyPerKwh="0")])
    # WHEN pricing Monday 16:00-18:00, 10 kWh
    priced = price(tariff, a_usage(start=_MON_16, hours=2, timezone="Europe/Berlin"))
    # THEN only the paid line shows; the total is 5 kWh x 0.30
    assert _amounts(priced) == [("energy", None, D(5), D("1.50"))]


def test_price_explains_usage_first_in_the_site_timezone() -> None:
    # GIVEN a session in Berlin with idle time WHEN pricing it
    usage = a_usage(
        start=_MON_16,
        hours=2.5,
        kwh="31.2",
        timezone="Europe/Berlin",
        idle={"start": _MON_16 + timedelta(minutes=75), "end": _MON_16 + timedelta(minutes=150)},
    )
    priced = price(a_tariff(), usage)
    # THEN the first sentence says when, how long, and how much, on the site's clock
    assert priced.explanation[0] == (
        "Plugged in 2 h 30 min (Mon 2026-11-23 16:00 to Mon 2026-11-23 18:30 Europe/Berlin), "
        "charging 1 h 15 min, idle 1 h 15 min; 31.200 kWh delivered."
    )


def test_price_explains_short_sessions_in_minutes() -> None:
    # GIVEN a 45 min 20 s session WHEN pricing it THEN its duration reads in whole minutes
    priced = price(a_tariff(), a_usage(hours=(45 * 60 + 40) / 3600, kwh=1))
    assert priced.explanation[0].startswith("Plugged in 46 min (")
    assert price(a_tariff(), a_usage(hours=2)).explanation[0].startswith("Plugged in 2 h (")


def test_price_is_a_valid_result_model() -> None:
    # GIVEN a priced session built without validation WHEN validating it again
    priced = price(a_tariff(sessionFee="1", minPrice="5"), a_usage(kwh=1))
    again = PricedSession.model_validate(priced.model_dump())
    # THEN it passes and equals itself (the fields are what the model declares)
    assert again == priced
    assert again.tariff_id == "tariff-1"


def test_price_session_ending_on_a_window_edge_has_no_empty_piece() -> None:
    # GIVEN the peak from 17:00 WHEN a session ends exactly at 17:00
    tariff = a_tariff(tou=[_peak(energyPerKwh="0.50")])
    priced = price(tariff, a_usage(start=_MON_16, hours=1, timezone="Europe/Berlin"))
    # THEN all of it is in base prices
    assert _amounts(priced) == [("energy", None, D(10), D("3.00"))]
