"""Golden cases: one session per business model of issue 6, amounts worked out by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from tests.unit.domain.billing.builders import BERLIN, a_period, a_tariff, a_usage, sample, window

from csms.domain.billing.pricing import PricedSession, price

D = Decimal
_EVERY_DAY = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _lines(priced: PricedSession) -> list[tuple[str, str | None, Decimal, Decimal, Decimal]]:
    return [
        (line.component.value, line.period, line.quantity, line.unit_price, line.amount)
        for line in priced.lines
    ]


def test_golden_public_cpo_energy_and_idle_fee() -> None:
    # GIVEN a public CPO: 0.49 EUR/kWh including 19 % VAT, 0.10 EUR per idle minute after a
    # 30 min grace, capped at 10 EUR
    tariff = a_tariff(
        name="Public AC",
        prices={"energyPerKwh": "0.49"},
        idleFee={"rate": {"amount": "0.10", "per": "minute"}, "graceMinutes": 30, "cap": "10"},
    )
    # WHEN a 2.5 h session takes 31.2 kWh in its first 75 min, then stays 75 min idle
    start = datetime(2026, 11, 24, 9, 0, tzinfo=BERLIN)
    full = start + timedelta(minutes=75)
    usage = a_usage(
        start=start,
        hours=2.5,
        timezone="Europe/Berlin",
        samples=[sample(start, 1_000_000), sample(full, 1_031_200)],
        idle={"start": full, "end": start + timedelta(hours=2.5)},
    )
    priced = price(tariff, usage)
    # THEN energy 31.2 x 0.49 = 15.288 -> 15.29; idle 75 - 30 = 45 min x 0.10 = 4.50 (under the
    # cap); total 19.79 incl. VAT; VAT 19.79 x 19/119 = 3.1597 -> 3.16; net 19.79 - 3.16 = 16.63
    assert _lines(priced) == [
        ("energy", None, D("31.2"), D("0.49"), D("15.29")),
        ("idle", None, D(45), D("0.10"), D("4.50")),
    ]
    assert (priced.subtotal, priced.total_incl_tax, priced.total_excl_tax) == (
        D("19.79"),
        D("19.79"),
        D("16.63"),
    )
    assert [(t.name, t.amount) for t in priced.taxes] == [("VAT", D("3.16"))]
    assert priced.explanation == (
        "Plugged in 2 h 30 min (Tue 2026-11-24 09:00 to Tue 2026-11-24 11:30 Europe/Berlin), "
        "charging 1 h 15 min, idle 1 h 15 min; 31.200 kWh delivered.",
        "31.200 kWh x 0.49 EUR/kWh = 15.29 EUR",
        "Idle fee after 30 min free: 45 min x 0.10 EUR/min = 4.50 EUR",
        "Total 19.79 EUR including 3.16 EUR VAT 19 % (16.63 EUR without tax).",
    )


def test_golden_workplace_free_but_tracked() -> None:
    # GIVEN a workplace's free tariff for employees
    tariff = a_tariff(name="Employees", prices={}, taxRates=[])
    # WHEN an employee takes 14 kWh over a working morning
    start = datetime(2026, 11, 24, 8, 0, tzinfo=BERLIN)
    priced = price(tariff, a_usage(start=start, hours=4, kwh=14, timezone="Europe/Berlin"))
    # THEN nothing is charged (no lines, total 0) but the 14 kWh and 240 min are reported
    assert priced.lines == ()
    assert (priced.total_incl_tax, priced.total_excl_tax) == (D(0), D(0))
    assert (priced.energy_kwh, priced.plugged_minutes) == (D(14), D(240))
    assert priced.explanation[-1] == "Free of charge under the tariff 'Employees': total 0.00 EUR."


def test_golden_hotel_session_fee() -> None:
    # GIVEN a hotel: 5 EUR per session including 7 % VAT, energy free
    tariff = a_tariff(
        name="Guests", sessionFee="5", prices={}, taxRates=[{"name": "VAT", "percent": "7"}]
    )
    # WHEN a guest charges 22 kWh overnight
    start = datetime(2026, 11, 24, 19, 0, tzinfo=BERLIN)
    priced = price(tariff, a_usage(start=start, hours=12, kwh=22, timezone="Europe/Berlin"))
    # THEN one fee line of 5.00; VAT 5 x 7/107 = 0.3271 -> 0.33; net 4.67
    assert _lines(priced) == [("session-fee", None, D(1), D(5), D("5.00"))]
    assert (priced.total_incl_tax, priced.total_excl_tax) == (D("5.00"), D("4.67"))
    assert priced.taxes[0].amount == D("0.33")


def test_golden_apartment_garage_night_rate() -> None:
    # GIVEN a garage: 0.32 EUR/kWh by day, 0.22 at night 22:00-06:00 every day, Berlin, prices
    # including 19 % VAT
    night = a_period("night", [window(_EVERY_DAY, "22:00", "06:00")], energyPerKwh="0.22")
    tariff = a_tariff(name="Residents", prices={"energyPerKwh": "0.32"}, tou=[night])
    # WHEN a resident plugs in Tue 20:00 and unplugs Wed 08:00; the car draws 2 kW evenly from
    # 20:00 to 07:00 (22 kWh)
    start = datetime(2026, 11, 24, 20, 0, tzinfo=BERLIN)
    usage = a_usage(
        start=start,
        hours=12,
        timezone="Europe/Berlin",
        samples=[sample(start, 5000), sample(start + timedelta(hours=11), 27000)],
    )
    priced = price(tariff, usage)
    # THEN day 20:00-22:00 (4 kWh) + 06:00-07:00 (2 kWh) = 6 x 0.32 = 1.92; night 22:00-06:00
    # 16 x 0.22 = 3.52; total 5.44; VAT 5.44 x 19/119 = 0.8686 -> 0.87; net 4.57
    assert _lines(priced) == [
        ("energy", None, D(6), D("0.32"), D("1.92")),
        ("energy", "night", D(16), D("0.22"), D("3.52")),
    ]
    assert (priced.total_incl_tax, priced.total_excl_tax) == (D("5.44"), D("4.57"))
    assert priced.explanation[2] == (
        "16.000 kWh x 0.22 EUR/kWh (night, Mon,Tue,Wed,Thu,Fri,Sat,Sun 22:00-06:00) = 3.52 EUR"
    )


def test_golden_fleet_net_prices_with_sales_tax_and_energy_steps() -> None:
    # GIVEN a fleet: 0.28 USD/kWh excluding tax, 8.875 % sales tax, energy in 100 Wh steps
    tariff = a_tariff(
        name="Fleet",
        currency="USD",
        pricesIncludeTax=False,
        taxRates=[{"name": "Sales tax", "percent": "8.875"}],
        prices={"energyPerKwh": "0.28"},
        rounding={"energyStepWh": 100},
    )
    # WHEN a van takes 42.37 kWh at a New York depot
    start = datetime(2026, 11, 24, 18, 0, tzinfo=ZoneInfo("America/New_York"))
    priced = price(tariff, a_usage(start=start, hours=3, kwh="42.37", timezone="America/New_York"))
    # THEN 42.4 kWh are billed (100 Wh steps, rounded up): 42.4 x 0.28 = 11.872 -> 11.87 net;
    # tax 11.87 x 8.875 % = 1.0535 -> 1.05; total 12.92
    assert _lines(priced) == [("energy", None, D("42.4"), D("0.28"), D("11.87"))]
    assert (priced.energy_kwh, priced.billed_energy_kwh) == (D("42.37"), D("42.4"))
    assert (priced.total_excl_tax, priced.total_incl_tax) == (D("11.87"), D("12.92"))
    assert [(t.name, t.base, t.amount) for t in priced.taxes] == [
        ("Sales tax", D("11.87"), D("1.05"))
    ]
    assert priced.explanation[-1] == (
        "Total 11.87 USD plus 1.05 USD Sales tax 8.875 % = 12.92 USD."
    )
