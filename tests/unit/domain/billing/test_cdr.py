"""CDRs: derived ids, OCPI totals that add up, charging periods, credit CDRs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from tests.unit.domain.billing.builders import BERLIN, T0, a_period, a_tariff, a_usage, window

from csms.domain.billing.cdr import (
    AuthMethod,
    CdrTokenType,
    DimensionType,
    SessionFacts,
    allocate,
    auth_method,
    build_cdr,
    cdr_id,
    credit_cdr,
    token_type,
)
from csms.domain.billing.pricing import price
from csms.domain.billing.tariff import Tariff
from csms.domain.billing.usage import SessionUsage
from csms.domain.tokens import IdTokenType

NOW = T0 + timedelta(hours=5)


def facts(**over: object) -> SessionFacts:
    fields: dict[str, object] = {
        "tenant_id": "t-1",
        "session_id": "S1",
        "revision": 1,
        "station_id": "CS-1",
        "site_id": "site-1",
        "evse_id": 2,
        "connector_id": 1,
        "id_token": "TOK",
        "token_type": IdTokenType.ISO14443,
        "auth_method": AuthMethod.AUTH_REQUEST,
        "account_id": "acct-1",
    }
    fields.update(over)
    return SessionFacts.model_validate(fields)


def cdr_of(tariff: Tariff, usage: SessionUsage, **over: object):  # type: ignore[no-untyped-def]
    return build_cdr(facts(**over), tariff, usage, price(tariff, usage), NOW)


def test_cdr_id_derives_from_tenant_session_and_revision() -> None:
    # GIVEN / WHEN ids for the same and for other sessions
    first = cdr_id("t-1", "S1", 1)

    # THEN the same inputs give the same 36-character id, any other input another id
    assert first == cdr_id("t-1", "S1", 1)
    assert len(first) == 36
    assert len({first, cdr_id("t-2", "S1", 1), cdr_id("t-1", "S2", 1), cdr_id("t-1", "S1", 2)}) == 4


def test_build_cdr_states_usage_token_location_and_tariff() -> None:
    # GIVEN a 10 kWh hour under 0.30 EUR/kWh incl. 19 % VAT
    tariff, usage = a_tariff(version=3), a_usage()

    # WHEN its CDR is built
    cdr = cdr_of(tariff, usage)

    # THEN it carries OCPI's fields
    assert cdr.id == cdr_id("t-1", "S1", 1)
    assert (cdr.start_date_time, cdr.end_date_time) == (usage.start, usage.stop)
    assert (cdr.cdr_token.uid, cdr.cdr_token.type, cdr.cdr_token.contract_id) == (
        "TOK",
        CdrTokenType.RFID,
        "acct-1",
    )
    assert (cdr.location.id, cdr.location.evse_uid, cdr.location.connector_id) == (
        "site-1",
        "CS-1*2",
        "1",
    )
    assert (cdr.tariff_id, cdr.tariff_version, cdr.currency) == ("tariff-1", 3, "EUR")
    assert cdr.total_energy == Decimal(10)
    assert cdr.total_time == Decimal(1)
    assert cdr.total_cost.incl_vat == Decimal("3.00")
    assert cdr.total_cost.excl_vat == Decimal("2.52")
    assert cdr.total_energy_cost.incl_vat == Decimal("3.00")
    assert not cdr.credit
    assert cdr.last_updated == NOW


@pytest.mark.parametrize(
    "over",
    [
        {},
        {
            "sessionFee": "1.99",
            "prices": {"energyPerKwh": "0.333", "chargingTime": {"amount": "1.7"}},
        },
        {"maxPrice": "2.50", "sessionFee": "1.00"},
        {"minPrice": "5.00", "prices": {"energyPerKwh": "0"}},
        {
            "pricesIncludeTax": False,
            "taxRates": [{"name": "A", "percent": "8.875"}, {"name": "B", "percent": "2"}],
            "idleFee": {"rate": {"amount": "0.1", "per": "minute"}, "graceMinutes": 5},
            "prices": {"energyPerKwh": "0.41", "pluggedTime": {"amount": "0.7"}},
        },
    ],
)
def test_build_cdr_component_costs_add_up_to_the_total(over: dict[str, object]) -> None:
    # GIVEN tariffs with every component, limits and taxes, and a session with idle time
    tariff = a_tariff(**over)
    usage = a_usage(
        hours=2, kwh="13.7", idle={"start": T0 + timedelta(hours=1), "end": T0 + timedelta(hours=2)}
    )

    # WHEN the CDR is built
    cdr = cdr_of(tariff, usage)

    # THEN fixed + energy + time + parking is the total, without and with VAT, none negative
    parts = [
        cdr.total_fixed_cost,
        cdr.total_energy_cost,
        cdr.total_time_cost,
        cdr.total_parking_cost,
    ]
    assert sum(p.excl_vat for p in parts) == cdr.total_cost.excl_vat
    assert sum(p.incl_vat for p in parts) == cdr.total_cost.incl_vat
    assert all(p.excl_vat >= 0 and p.incl_vat >= 0 for p in parts)


def test_build_cdr_minimum_on_a_free_energy_price_is_a_fixed_cost() -> None:
    # GIVEN a tariff whose only price is a 5 EUR minimum
    cdr = cdr_of(a_tariff(minPrice="5.00", prices={"energyPerKwh": "0"}), a_usage())

    # THEN the minimum is the fixed cost
    assert cdr.total_fixed_cost.incl_vat == Decimal("5.00")
    assert cdr.total_energy_cost.incl_vat == Decimal("0.00")


def test_build_cdr_charging_periods_follow_time_of_use_and_idle() -> None:
    # GIVEN a night rate from 22:00 Berlin and a session 21:00-23:30 Berlin, idle from 23:00
    tariff = a_tariff(
        tou=[a_period("night", [window(["Monday"], "22:00", "06:00")], energyPerKwh="0.20")],
        idleFee={"rate": {"amount": "0.05", "per": "minute"}, "graceMinutes": 10},
    )
    start = T0.replace(hour=20)  # 21:00 in Berlin (CET)
    usage = a_usage(
        start,
        2.5,
        "20",
        timezone="Europe/Berlin",
        idle={"start": start + timedelta(hours=2), "end": start + timedelta(hours=2.5)},
    )

    # WHEN the CDR is built
    cdr = cdr_of(tariff, usage)

    # THEN a day period from the start, a night period from 22:00 local, a parking period
    # from the end of the grace
    periods = cdr.charging_periods
    assert [p.tou_period for p in periods] == [None, "night", None]
    assert periods[1].start_date_time.astimezone(BERLIN).hour == 22
    assert periods[2].dimensions[0].type is DimensionType.PARKING_TIME
    assert periods[2].start_date_time == usage.idle.start + timedelta(minutes=10)  # type: ignore[union-attr]
    assert periods[2].dimensions[0].volume == Decimal("0.333333")
    energy = [d.volume for p in periods for d in p.dimensions if d.type is DimensionType.ENERGY]
    assert sum(energy) == Decimal(20)


def test_build_cdr_free_session_has_one_period_with_what_it_measured() -> None:
    # GIVEN a free tariff
    cdr = cdr_of(
        a_tariff(prices={"energyPerKwh": "0"}),
        a_usage(kwh="7.5"),
        id_token=None,
        token_type=None,
        account_id=None,
    )

    # THEN one period states 7.5 kWh over 1 h; the token is unknown
    (period,) = cdr.charging_periods
    assert [(d.type, d.volume) for d in period.dimensions] == [
        (DimensionType.ENERGY, Decimal("7.5")),
        (DimensionType.TIME, Decimal(1)),
    ]
    assert cdr.total_cost.incl_vat == Decimal("0.00")
    assert (cdr.cdr_token.uid, cdr.cdr_token.type) == ("unknown", CdrTokenType.OTHER)


def test_build_cdr_time_priced_per_hour_is_one_time_dimension() -> None:
    # GIVEN charging time at 2 EUR/h and plugged-in time at 1 EUR/h
    tariff = a_tariff(prices={"chargingTime": {"amount": "2"}, "pluggedTime": {"amount": "1"}})

    # WHEN an hour is priced
    (period,) = cdr_of(tariff, a_usage(kwh=0)).charging_periods

    # THEN the period has one TIME dimension of 1 h
    assert [(d.type, d.volume) for d in period.dimensions] == [(DimensionType.TIME, Decimal(1))]


def test_credit_cdr_negates_the_costs_and_refers_to_the_original() -> None:
    # GIVEN a CDR
    original = cdr_of(a_tariff(sessionFee="1"), a_usage())

    # WHEN it is credited by revision 2
    credit = credit_cdr(original, 2, NOW + timedelta(days=1))

    # THEN the credit CDR has the original's id plus -CR (39), its costs negated
    assert credit.id == original.id + "-CR"
    assert len(credit.id) == 39
    assert (credit.credit, credit.credit_reference_id, credit.revision) == (True, original.id, 2)
    assert credit.total_cost.incl_vat == -original.total_cost.incl_vat
    assert credit.total_fixed_cost.excl_vat == -original.total_fixed_cost.excl_vat
    assert credit.total_energy == original.total_energy


@pytest.mark.parametrize(
    ("ocpp", "ocpi"),
    [
        (IdTokenType.ISO14443, CdrTokenType.RFID),
        (IdTokenType.EMAID, CdrTokenType.RFID),
        (IdTokenType.CENTRAL, CdrTokenType.APP_USER),
        (IdTokenType.NO_AUTHORIZATION, CdrTokenType.AD_HOC_USER),
        (IdTokenType.KEY_CODE, CdrTokenType.OTHER),
        (None, CdrTokenType.OTHER),
    ],
)
def test_token_type_maps_ocpp_onto_ocpi(ocpp: IdTokenType | None, ocpi: CdrTokenType) -> None:
    # GIVEN / WHEN / THEN each OCPP token type has its OCPI type
    assert token_type(ocpp) is ocpi


def test_auth_method_names_how_the_session_was_authorised() -> None:
    # GIVEN / WHEN / THEN a remote start is COMMAND, a CSMS check AUTH_REQUEST, else WHITELIST
    assert auth_method(remote_start=True, authorized_by_csms=True) is AuthMethod.COMMAND
    assert auth_method(remote_start=False, authorized_by_csms=True) is AuthMethod.AUTH_REQUEST
    assert auth_method(remote_start=False, authorized_by_csms=False) is AuthMethod.WHITELIST


def test_allocate_splits_by_largest_remainder_and_adds_up() -> None:
    # GIVEN 1.00 EUR over three equal weights, and over weights that are all zero
    thirds = allocate(Decimal("1.00"), [Decimal(1)] * 3, "EUR")
    none = allocate(Decimal("1.00"), [Decimal(0)] * 3, "EUR")
    yen = allocate(Decimal(100), [Decimal(2), Decimal(1)], "JPY")

    # THEN the leftover cent goes to the first, all-zero weights give it to the last share
    assert thirds == [Decimal("0.34"), Decimal("0.33"), Decimal("0.33")]
    assert none == [Decimal("0.00"), Decimal("0.00"), Decimal("1.00")]
    assert yen == [Decimal(67), Decimal(33)]
