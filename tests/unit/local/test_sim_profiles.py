"""Charging profiles as a simulated station applies them (pure: no station, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from csms_local.sim.profiles import (
    Electrical,
    Limit,
    Period,
    Profile,
    ProfileError,
    Purpose,
    Running,
    composite_schedule,
    connector_limit,
    from_wire16,
    from_wire201,
    offered_w,
    profile_limit,
    replaced_by,
    station_limit,
    validate_for,
)

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
AC = Electrical(voltage=230.0, phases=3)
KW_PER_A = 0.69  # 230 V x 3 phases


def a_profile(**overrides: Any) -> Profile:
    values: dict[str, Any] = {
        "id": 1,
        "target": 1,
        "purpose": Purpose.TX_DEFAULT,
        "stack_level": 0,
        "kind": "Absolute",
        "unit": "A",
        "periods": (Period(0, 16),),
        "received_at": T0,
        "wire_purpose": "TxDefaultProfile",
    }
    values.update(overrides)
    return Profile(**values)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def kw(limit: Limit) -> float | None:
    return None if limit.watts is None else round(limit.watts / 1e3, 3)


# --- reading the wire ---------------------------------------------------------------------------


def test_profile_from_wire16_reads_every_field() -> None:
    # GIVEN a 1.6 csChargingProfiles as the ocpp package hands it over (snake_case)
    payload = {
        "charging_profile_id": 7,
        "transaction_id": 1001,
        "stack_level": 2,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Absolute",
        "valid_from": "2025-03-01T08:00:00Z",
        "valid_to": "2025-03-02T08:00:00+00:00",
        "charging_schedule": {
            "duration": 3600,
            "start_schedule": "2025-03-01T08:00:00Z",
            "charging_rate_unit": "W",
            "charging_schedule_period": [
                {"start_period": 0, "limit": 7000.0},
                {"start_period": 600, "limit": 3000.0, "number_phases": 1},
            ],
        },
    }
    # WHEN the station reads it for connector 2
    profile = from_wire16(payload, 2, T0)
    # THEN it keeps what the CSMS said, with the transaction id as text
    assert profile.id == 7
    assert (profile.target, profile.purpose, profile.stack_level) == (2, Purpose.TX, 2)
    assert profile.transaction_id == "1001"
    assert profile.unit == "W"
    assert profile.periods == (Period(0, 7000.0), Period(600, 3000.0, 1))
    assert profile.duration_s == 3600
    assert profile.valid_to == T0 + timedelta(days=1)
    assert profile.wire_purpose == "TxProfile"


def test_profile_from_wire201_takes_the_first_schedule() -> None:
    # GIVEN a 2.0.1 chargingProfile with two schedules (an ISO 15118 offer)
    payload = {
        "id": 3,
        "stack_level": 0,
        "charging_profile_purpose": "ChargingStationMaxProfile",
        "charging_profile_kind": "Relative",
        "charging_schedule": [
            {
                "id": 1,
                "charging_rate_unit": "A",
                "charging_schedule_period": [{"start_period": 0, "limit": 32}],
            },
            {
                "id": 2,
                "charging_rate_unit": "W",
                "charging_schedule_period": [{"start_period": 0, "limit": 1}],
            },
        ],
    }
    # WHEN the station reads it
    profile = from_wire201(payload, 0, T0)
    # THEN the first schedule applies, and the purpose is the station maximum
    assert (profile.purpose, profile.unit, profile.periods) == (
        Purpose.STATION_MAX,
        "A",
        (Period(0, 32.0),),
    )
    assert profile.transaction_id is None


def test_profile_external_constraints_cap_the_station_like_its_maximum() -> None:
    # GIVEN / WHEN a 2.0.1 external constraint
    payload = {
        "id": 4,
        "stack_level": 0,
        "charging_profile_purpose": "ChargingStationExternalConstraints",
        "charging_profile_kind": "Absolute",
        "charging_schedule": [
            {
                "id": 1,
                "charging_rate_unit": "W",
                "charging_schedule_period": [{"start_period": 0, "limit": 5}],
            }
        ],
    }
    # THEN it counts as a station maximum
    assert from_wire201(payload, 0, T0).purpose is Purpose.STATION_MAX


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"charging_profile_purpose": "Nope"}, "not a charging profile"),
        ({"charging_schedule": None}, "not a charging profile"),
        (
            {"charging_schedule": {"charging_rate_unit": "A", "charging_schedule_period": []}},
            "first period",
        ),
        (
            {
                "charging_schedule": {
                    "charging_rate_unit": "A",
                    "charging_schedule_period": [{"start_period": 60, "limit": 6}],
                }
            },
            "first period",
        ),
        (
            {
                "charging_schedule": {
                    "charging_rate_unit": "A",
                    "charging_schedule_period": [
                        {"start_period": 0, "limit": 6},
                        {"start_period": 0, "limit": 8},
                    ],
                }
            },
            "increasing order",
        ),
        (
            {
                "charging_schedule": {
                    "charging_rate_unit": "A",
                    "charging_schedule_period": [{"start_period": 0, "limit": -1}],
                }
            },
            "0 or more",
        ),
        ({"charging_profile_kind": "Recurring"}, "recurrencyKind"),
        ({"valid_from": "tomorrow"}, "not a date"),
        ({"valid_to": "2025-03-01T08:00:00"}, "offset"),
    ],
    ids=[
        "purpose",
        "schedule",
        "no-period",
        "late-start",
        "order",
        "negative",
        "recurring",
        "bad-time",
        "naive-time",
    ],
)
def test_profile_from_wire16_refuses_what_cannot_apply(change: dict[str, Any], why: str) -> None:
    # GIVEN a profile with one thing wrong
    payload: dict[str, Any] = {
        "charging_profile_id": 1,
        "stack_level": 0,
        "charging_profile_purpose": "TxDefaultProfile",
        "charging_profile_kind": "Absolute",
        "charging_schedule": {
            "charging_rate_unit": "A",
            "charging_schedule_period": [{"start_period": 0, "limit": 16}],
        },
    }
    payload.update(change)
    # WHEN / THEN the station refuses it, saying why
    with pytest.raises(ProfileError, match=why):
        from_wire16(payload, 1, T0)


# --- one profile over time ----------------------------------------------------------------------


def test_profile_limit_converts_amperes_with_the_phases_the_station_has() -> None:
    # GIVEN 16 A on three phases, on one phase, and 7 kW
    three = a_profile(periods=(Period(0, 16),))
    one = a_profile(periods=(Period(0, 16, 1),))
    watts = a_profile(unit="W", periods=(Period(0, 7000),))
    single_phase_station = Electrical(voltage=230.0, phases=1)
    # WHEN / THEN amperes become watts per phase used, watts stay watts
    assert kw(profile_limit(three, T0, None, AC)) == 11.04
    assert kw(profile_limit(one, T0, None, AC)) == 3.68
    assert kw(profile_limit(three, T0, None, single_phase_station)) == 3.68
    assert kw(profile_limit(watts, T0, None, AC)) == 7.0


def test_profile_limit_follows_periods_and_ends_with_the_duration() -> None:
    # GIVEN an absolute schedule from T0: 16 A, 8 A after 10 minutes, for 30 minutes
    profile = a_profile(start_schedule=T0, duration_s=1800, periods=(Period(0, 16), Period(600, 8)))
    # WHEN / THEN each moment has its period's limit and the next change
    assert profile_limit(profile, at(-5), None, AC) == Limit(None, T0)
    first = profile_limit(profile, at(5), None, AC)
    assert (kw(first), first.until) == (11.04, at(10))
    second = profile_limit(profile, at(10), None, AC)
    assert (kw(second), second.until) == (5.52, at(30))
    assert profile_limit(profile, at(30), None, AC) == Limit(None, None)


def test_profile_limit_respects_valid_from_and_valid_to() -> None:
    # GIVEN a profile valid from 10 to 20 minutes after T0
    profile = a_profile(valid_from=at(10), valid_to=at(20))
    # WHEN / THEN it applies only in that window
    assert profile_limit(profile, at(0), None, AC) == Limit(None, at(10))
    assert profile_limit(profile, at(15), None, AC).until == at(20)
    assert kw(profile_limit(profile, at(15), None, AC)) == 11.04
    assert profile_limit(profile, at(20), None, AC) == Limit(None, None)


def test_profile_limit_relative_starts_with_the_transaction() -> None:
    # GIVEN a relative profile: 6 A for the first 5 minutes of a transaction, then 16 A
    profile = a_profile(kind="Relative", periods=(Period(0, 6), Period(300, 16)))
    running = Running("tx-1", at(100))
    # WHEN / THEN the periods count from the transaction's start
    assert kw(profile_limit(profile, at(102), running, AC)) == 4.14
    assert profile_limit(profile, at(102), running, AC).until == at(105)
    assert kw(profile_limit(profile, at(106), running, AC)) == 11.04
    # AND without a transaction the first period applies from the moment asked about
    assert kw(profile_limit(profile, at(106), None, AC)) == 4.14


def test_profile_limit_recurring_daily_repeats_every_day() -> None:
    # GIVEN 6 A from 08:00 for two hours, every day, starting T0 (08:00)
    profile = a_profile(
        kind="Recurring",
        recurrency="Daily",
        start_schedule=T0,
        duration_s=7200,
        periods=(Period(0, 6),),
    )
    # WHEN / THEN: limited 08:00-10:00 on every day, free in between, never before the start
    assert profile_limit(profile, at(-60), None, AC) == Limit(None, T0)
    assert kw(profile_limit(profile, at(60 + 24 * 60 * 3), None, AC)) == 4.14
    assert profile_limit(profile, at(60), None, AC).until == at(120)
    assert profile_limit(profile, at(180), None, AC) == Limit(None, at(24 * 60))


def test_profile_limit_absolute_without_start_counts_from_receipt() -> None:
    # GIVEN an absolute profile with no startSchedule, received at T0, lasting 10 minutes
    profile = a_profile(duration_s=600)
    # WHEN / THEN it starts when received
    assert kw(profile_limit(profile, at(5), None, AC)) == 11.04
    assert profile_limit(profile, at(11), None, AC).watts is None


# --- the composite limit ------------------------------------------------------------------------


def test_connector_limit_highest_stack_level_wins_until_it_has_no_period() -> None:
    # GIVEN a default of 16 A (level 0) and, for 10 minutes, 8 A (level 1)
    low = a_profile(id=1, stack_level=0, periods=(Period(0, 16),))
    high = a_profile(
        id=2, stack_level=1, start_schedule=T0, duration_s=600, periods=(Period(0, 8),)
    )
    running = Running("tx", T0)
    # WHEN / THEN level 1 applies while it has a period, then level 0 again
    during = connector_limit([low, high], 1, at(5), running, AC)
    assert (kw(during), during.until) == (5.52, at(10))
    assert kw(connector_limit([low, high], 1, at(10), running, AC)) == 11.04


def test_connector_limit_tx_profile_replaces_the_default_for_its_transaction_only() -> None:
    # GIVEN a TxDefault of 16 A on the station and a TxProfile of 10 A for transaction "tx-1"
    default = a_profile(id=1, target=0, periods=(Period(0, 16),))
    tx = a_profile(
        id=2, purpose=Purpose.TX, transaction_id="tx-1", periods=(Period(0, 10),), stack_level=0
    )
    # WHEN / THEN the TxProfile applies to its transaction (even above the default's level)
    assert kw(connector_limit([default, tx], 1, T0, Running("tx-1", T0), AC)) == 6.9
    # AND another transaction, or another connector, or no transaction has the default
    assert kw(connector_limit([default, tx], 1, T0, Running("tx-2", T0), AC)) == 11.04
    assert kw(connector_limit([default, tx], 2, T0, Running("tx-1", T0), AC)) == 11.04
    assert kw(connector_limit([default, tx], 1, T0, None, AC)) == 11.04


def test_connector_limit_specific_default_wins_over_the_station_wide_one_at_a_tie() -> None:
    # GIVEN TxDefault 16 A on the station and 8 A on connector 1, same level
    station = a_profile(id=1, target=0, periods=(Period(0, 16),))
    own = a_profile(id=2, target=1, periods=(Period(0, 8),))
    # WHEN / THEN connector 1 has its own, connector 2 the station's
    assert kw(connector_limit([station, own], 1, T0, None, AC)) == 5.52
    assert kw(connector_limit([station, own], 2, T0, None, AC)) == 11.04


def test_connector_limit_station_maximum_is_shared_by_the_charging_connectors() -> None:
    # GIVEN a station maximum of 22 kW and a TxDefault of 32 A
    maximum = a_profile(
        id=1, target=0, purpose=Purpose.STATION_MAX, unit="W", periods=(Period(0, 22000),)
    )
    default = a_profile(id=2, target=0, periods=(Period(0, 32),))
    # WHEN two connectors charge
    shared = connector_limit([maximum, default], 1, T0, Running("a", T0), AC, sharing=2)
    alone = connector_limit([maximum, default], 1, T0, Running("a", T0), AC, sharing=1)
    # THEN each has half the maximum; alone, the lower of the maximum and the default
    assert kw(shared) == 11.0
    assert kw(alone) == 22.0
    # AND the station total reads the same whatever the sharing
    assert kw(station_limit([maximum, default], T0, AC)) == 22.0


def test_connector_limit_without_profiles_is_unlimited() -> None:
    # GIVEN no profile (or only one on another connector)
    other = a_profile(target=2)
    # WHEN / THEN nothing limits connector 1
    assert connector_limit([], 1, T0, None, AC) == Limit(None, None)
    assert connector_limit([other], 1, T0, None, AC).watts is None


def test_offered_w_pauses_below_the_minimum_current() -> None:
    # GIVEN limits around 6 A on three phases (4.14 kW)
    # WHEN / THEN below it the connector offers 0 (paused); at it or above, the limit
    assert offered_w(Limit(4000.0, None), AC) == 0.0
    assert offered_w(Limit(4140.0, None), AC) == 4140.0
    assert offered_w(Limit(None, None), AC) is None


def test_composite_schedule_lists_each_change_in_the_window() -> None:
    # GIVEN 16 A, 8 A after 10 minutes, for 30 minutes
    profile = a_profile(start_schedule=T0, duration_s=1800, periods=(Period(0, 16), Period(600, 8)))

    def limit_at(moment: datetime) -> Limit:
        return connector_limit([profile], 1, moment, None, AC)

    # WHEN the composite schedule of an hour from T0 is asked for
    periods = composite_schedule(limit_at, T0, 3600)
    # THEN it lists the two periods and the end of the profile
    assert periods == [(0.0, 11040.0), (600.0, 5520.0), (1800.0, None)]
    # AND a window within one period has one entry
    assert composite_schedule(limit_at, T0, 60) == [(0.0, 11040.0)]


# --- what the station accepts -------------------------------------------------------------------


def test_validate_for_refuses_a_tx_profile_without_its_transaction() -> None:
    # GIVEN TxProfiles and a station maximum on various targets
    tx = a_profile(purpose=Purpose.TX, transaction_id="tx-1")
    running = Running("tx-1", T0)
    # WHEN / THEN only a TxProfile for the running transaction on its connector is taken
    validate_for(tx, running, connectors=2, needs_transaction_id=True)
    with pytest.raises(ProfileError, match="no transaction"):
        validate_for(tx, None, connectors=2, needs_transaction_id=True)
    with pytest.raises(ProfileError, match="not the transaction"):
        validate_for(tx, Running("tx-2", T0), connectors=2, needs_transaction_id=True)
    with pytest.raises(ProfileError, match="names its transaction"):
        validate_for(
            a_profile(purpose=Purpose.TX), running, connectors=2, needs_transaction_id=True
        )
    # 1.6 lets the TxProfile leave the transaction out
    validate_for(a_profile(purpose=Purpose.TX), running, connectors=2, needs_transaction_id=False)
    with pytest.raises(ProfileError, match="whole station"):
        validate_for(
            a_profile(purpose=Purpose.STATION_MAX), None, connectors=2, needs_transaction_id=False
        )
    with pytest.raises(ProfileError, match="no connector 3"):
        validate_for(a_profile(target=3), None, connectors=2, needs_transaction_id=False)


def test_replaced_by_same_id_or_same_purpose_level_and_connector() -> None:
    # GIVEN kept profiles 1 (TxDefault level 0 on 1) and 2 (TxDefault level 1 on 1)
    kept = {1: a_profile(id=1), 2: a_profile(id=2, stack_level=1)}
    # WHEN / THEN a new profile replaces the one with its id, or its purpose/level/connector
    assert replaced_by(kept, a_profile(id=2, stack_level=5)) == [2]
    assert replaced_by(kept, a_profile(id=9, stack_level=0)) == [1]
    assert replaced_by(kept, a_profile(id=9, stack_level=0, target=2)) == []
