"""The load-group tree an operator configures: what is accepted and every way it is refused."""

from __future__ import annotations

from datetime import UTC, time
from typing import Any

import pytest
from pydantic import ValidationError
from tests.unit.domain.load.builders import MIN_1P_KW, MIN_3P_KW, SITE, a_config, a_station

from csms.domain.load.config import (
    DEFAULT_MIN_CURRENT_A,
    MAX_DEPTH,
    CurrentType,
    EvseLoad,
    LoadGroup,
    MeterPolicy,
    Phase,
    PhaseLimits,
    SiteLoadConfig,
    StationLoad,
    TimeOfDayLimit,
    Weekday,
    min_power_kw,
)


def a_group(group_id: str, parent_id: str | None = None, **over: Any) -> LoadGroup:
    return LoadGroup.model_validate({"id": group_id, "parent_id": parent_id, **over})


def refused(**over: Any) -> str:
    """The validation message of a configuration that must be refused."""
    with pytest.raises(ValidationError) as caught:
        a_config(**over)
    return str(caught.value)


# -- valid trees ---------------------------------------------------------------------------------


def test_site_load_config_accepts_a_nested_tree_of_groups_and_stations() -> None:
    # GIVEN a site with a feeder, a sub-panel below it and stations at every level
    groups = (
        a_group("feeder-a", limit_kw=50.0),
        a_group("panel-1", "feeder-a", limit_kw=30.0, limit_a=PhaseLimits(l1=32.0)),
    )
    stations = (
        a_station("CS-1"),
        a_station("CS-2", group_id="feeder-a"),
        a_station("CS-3", group_id="panel-1", phases=1, max_kw=7.4),
    )
    # WHEN it is validated
    config = a_config(groups=groups, stations=stations)
    # THEN it is kept as given, with the defaults every site starts from
    assert [s.group_id for s in config.stations] == [None, "feeder-a", "panel-1"]
    assert config.min_current_a == DEFAULT_MIN_CURRENT_A
    assert config.safety_margin_pct == 0.0
    assert config.hysteresis.min_change_a == 1.0


def test_site_load_config_reads_the_camel_case_wire_form() -> None:
    # GIVEN the configuration as the API receives it
    body = {
        "siteId": SITE,
        "limitKw": 40,
        "safetyMarginPct": 10,
        "groups": [{"id": "feeder-a", "limitKw": 20, "limitA": {"l1": 32}}],
        "stations": [
            {"stationId": "CS-1", "groupId": "feeder-a", "maxKw": 11, "evses": [{"evseId": 2}]}
        ],
        "meter": {"kind": "grid", "fallbackLimitKw": 10},
    }
    # WHEN validated
    config = SiteLoadConfig.model_validate(body)
    # THEN every camelCase field lands where it belongs
    assert config.groups[0].limit_a == PhaseLimits(l1=32.0)
    assert config.stations[0].evses == (EvseLoad(evse_id=2),)
    assert config.meter is not None
    assert config.meter.fallback_limit_kw == 10.0


def test_site_load_config_accepts_a_group_limit_that_powers_its_smallest_session_only() -> None:
    # GIVEN a group of 2 kW holding a single-phase (1.38 kW minimum) and a three-phase station
    # (4.14 kW minimum): the engine pauses the three-phase one rather than refuse the tree
    config = a_config(
        groups=(a_group("feeder-a", limit_kw=2.0),),
        stations=(
            a_station("CS-1", group_id="feeder-a", phases=1, max_kw=7.4),
            a_station("CS-2", group_id="feeder-a"),
        ),
    )
    # THEN it is accepted
    assert config.groups[0].limit_kw == 2.0


def test_site_load_config_accepts_groups_without_limits_or_stations() -> None:
    # GIVEN a group with no limit above a station and an empty group with a tiny limit
    config = a_config(
        groups=(a_group("feeder-a"), a_group("empty", limit_kw=0.0)),
        stations=(a_station("CS-1", group_id="feeder-a"),),
    )
    # THEN both are accepted: an unlimited group and an empty one constrain no session
    assert len(config.groups) == 2


def test_site_load_config_accepts_the_deepest_tree_allowed() -> None:
    # GIVEN a chain of MAX_DEPTH groups below the site, with a station at the bottom
    groups = tuple(
        a_group(f"g{n}", f"g{n - 1}" if n > 1 else None) for n in range(1, MAX_DEPTH + 1)
    )
    # WHEN validated
    config = a_config(groups=groups, stations=(a_station(group_id=f"g{MAX_DEPTH}"),))
    # THEN it is accepted
    assert len(config.groups) == MAX_DEPTH


def test_site_load_config_station_finds_a_station_by_id() -> None:
    # GIVEN a site with two stations
    config = a_config(stations=(a_station("CS-1"), a_station("CS-2", max_kw=11.0)))
    # WHEN a station is looked up
    found, missing = config.station("CS-2"), config.station("CS-9")
    # THEN the right one is returned, and None for a station not in the tree
    assert found is not None
    assert found.max_kw == 11.0
    assert missing is None


def test_phase_limits_of_returns_each_phase() -> None:
    # GIVEN limits on L1 and L3 only
    limits = PhaseLimits(l1=16.0, l3=32.0)
    # THEN each phase reads its own limit, and an unlimited phase None
    assert [limits.of(p) for p in (Phase.L1, Phase.L2, Phase.L3)] == [16.0, None, 32.0]


# -- refused trees -------------------------------------------------------------------------------


def test_site_load_config_refuses_duplicate_group_ids() -> None:
    message = refused(groups=(a_group("feeder-a"), a_group("feeder-a")))
    assert "each group id may appear once" in message


def test_site_load_config_refuses_a_group_named_like_the_site() -> None:
    message = refused(groups=(a_group(SITE),))
    assert "is the site's own id" in message


def test_site_load_config_refuses_an_unknown_parent() -> None:
    message = refused(groups=(a_group("feeder-a", "nowhere"),))
    assert "parent 'nowhere' is not a group" in message


def test_site_load_config_refuses_a_group_that_is_its_own_parent() -> None:
    message = refused(groups=(a_group("feeder-a", "feeder-a"),))
    assert "'feeder-a' is its own ancestor" in message


def test_site_load_config_refuses_a_longer_loop() -> None:
    # GIVEN a -> b -> c -> a
    groups = (a_group("a", "c"), a_group("b", "a"), a_group("c", "b"))
    # THEN the loop is found from its first member
    assert "'a' is its own ancestor" in refused(groups=groups)


def test_site_load_config_refuses_a_branch_hanging_off_a_loop() -> None:
    # GIVEN a group below a loop it is not part of, listed first
    groups = (a_group("leaf", "a"), a_group("a", "b"), a_group("b", "a"))
    # THEN the walk up from the leaf stops at the depth limit instead of running forever
    assert f"'leaf': a loop, or more than {MAX_DEPTH} levels" in refused(groups=groups)


def test_site_load_config_refuses_a_tree_deeper_than_max_depth() -> None:
    # GIVEN a chain of MAX_DEPTH + 1 groups below the site
    groups = tuple(
        a_group(f"g{n}", f"g{n - 1}" if n > 1 else None) for n in range(1, MAX_DEPTH + 2)
    )
    # THEN it is refused: MAX_DEPTH is the number of group levels below the site
    assert f"more than {MAX_DEPTH} levels" in refused(groups=groups)


def test_site_load_config_refuses_a_station_listed_twice() -> None:
    message = refused(stations=(a_station("CS-1"), a_station("CS-1")))
    assert "each station may appear once" in message


def test_site_load_config_refuses_a_station_in_an_unknown_group() -> None:
    message = refused(stations=(a_station("CS-1", group_id="feeder-x"),))
    assert "station 'CS-1': group 'feeder-x' is not a group" in message


def test_station_load_refuses_an_evse_listed_twice() -> None:
    with pytest.raises(ValidationError, match="each evseId may appear once"):
        StationLoad(station_id="CS-1", max_kw=22.0, evses=(EvseLoad(evse_id=1),) * 2)


def test_site_load_config_refuses_a_fallback_limit_above_the_site_limit() -> None:
    message = refused(limit_kw=50.0, meter=MeterPolicy(fallback_limit_kw=60.0))
    assert "fallback limit may not exceed the site limit" in message


def test_site_load_config_accepts_a_fallback_limit_equal_to_the_site_limit() -> None:
    config = a_config(limit_kw=50.0, meter=MeterPolicy(fallback_limit_kw=50.0))
    assert config.meter is not None


def test_site_load_config_refuses_an_ac_station_below_one_minimum_session() -> None:
    # GIVEN a three-phase station whose max is below 6 A on three phases (4.14 kW)
    message = refused(stations=(a_station("CS-1", max_kw=4.0),))
    # THEN it is refused, naming the minimum it cannot reach
    assert "station 'CS-1': max 4.0 kW is below the minimum current" in message
    assert "4.14 kW" in message


def test_site_load_config_refuses_an_evse_below_one_minimum_session() -> None:
    # GIVEN a three-phase station whose EVSE is capped at 3 kW, below 6 A on three phases
    station = a_station("CS-1", evses=(EvseLoad(evse_id=1, max_kw=3.0),))
    # THEN it is refused like a station below the minimum (its sessions would be sent < 6 A)
    assert "CS-1" in refused(stations=(station,))


def test_site_load_config_accepts_a_small_dc_station() -> None:
    # GIVEN a DC station of 1 kW below a group of 0.5 kW: DC has no minimum current
    config = a_config(
        groups=(a_group("feeder-a", limit_kw=0.5),),
        stations=(a_station("DC-1", group_id="feeder-a", current_type="DC", max_kw=1.0),),
    )
    # THEN it is accepted
    assert config.stations[0].current_type is CurrentType.DC


@pytest.mark.parametrize(
    ("limit_kw", "margin_pct", "ok"),
    [
        (MIN_3P_KW, 0.0, True),
        (MIN_3P_KW - 0.01, 0.0, False),
        (MIN_3P_KW / 0.9, 10.0, True),
        (MIN_3P_KW, 10.0, False),
    ],
)
def test_site_load_config_refuses_a_group_limit_below_one_session_after_the_margin(
    limit_kw: float, margin_pct: float, ok: bool
) -> None:
    # GIVEN a group with one three-phase station, its limit around 4.14 kW after the margin
    over = {
        "safety_margin_pct": margin_pct,
        "groups": (a_group("feeder-a", limit_kw=limit_kw),),
        "stations": (a_station("CS-1", group_id="feeder-a"),),
    }
    # WHEN validated
    # THEN it is accepted exactly when the limit after the margin powers one session
    if ok:
        assert a_config(**over).groups[0].limit_kw == limit_kw
    else:
        assert "group 'feeder-a': limit" in refused(**over)


def test_site_load_config_refuses_a_site_limit_below_one_session() -> None:
    # GIVEN a site of 1 kW (a typo for 1000?) with a single-phase station (1.38 kW minimum)
    message = refused(limit_kw=1.0, stations=(a_station(phases=1, max_kw=7.4),))
    # THEN it is refused, naming the site
    assert "the site: limit 1.0 kW" in message


def test_site_load_config_refuses_an_ancestor_group_below_one_session() -> None:
    # GIVEN an unlimited panel inside a 1 kW feeder, with a station in the panel
    message = refused(
        groups=(a_group("feeder-a", limit_kw=1.0), a_group("panel-1", "feeder-a")),
        stations=(a_station(group_id="panel-1", phases=1, max_kw=7.4),),
    )
    # THEN the feeder is named: its limit binds the station through the panel
    assert "group 'feeder-a'" in message


def test_site_load_config_checks_the_minimum_with_the_site_minimum_current() -> None:
    # GIVEN a site whose minimum current is 10 A: a 4.5 kW three-phase station cannot do 6.9 kW
    message = refused(min_current_a=10.0, stations=(a_station(max_kw=4.5),))
    assert "(10.0 A = 6.90 kW)" in message


# -- time-of-day windows -------------------------------------------------------------------------


def test_time_of_day_limit_refuses_an_empty_window() -> None:
    with pytest.raises(ValidationError, match="start and end to differ"):
        TimeOfDayLimit(start=time(8), end=time(8), limit_kw=10.0)


@pytest.mark.parametrize(
    ("start", "end"),
    [(time(8, tzinfo=UTC), time(9)), (time(8), time(9, tzinfo=UTC))],
)
def test_time_of_day_limit_refuses_times_with_an_offset(start: time, end: time) -> None:
    with pytest.raises(ValidationError, match="site's local time"):
        TimeOfDayLimit(start=start, end=end, limit_kw=10.0)


def test_time_of_day_limit_defaults_to_every_day() -> None:
    window = TimeOfDayLimit(start=time(22), end=time(6), limit_kw=10.0)
    assert window.days == tuple(Weekday)


# -- the minimum power of a session --------------------------------------------------------------


@pytest.mark.parametrize(
    ("over", "min_current_a", "expected_kw"),
    [
        ({"phases": 1}, 6.0, MIN_1P_KW),
        ({"phases": 3}, 6.0, MIN_3P_KW),
        ({"phases": 1, "voltage": 120.0}, 6.0, 0.72),
        ({"phases": 3}, 10.0, 6.9),
        ({"current_type": "DC", "max_kw": 50.0}, 6.0, 0.0),
    ],
)
def test_min_power_kw_is_the_minimum_current_on_every_phase(
    over: dict[str, Any], min_current_a: float, expected_kw: float
) -> None:
    # GIVEN a station of some kind WHEN its minimum session power is computed
    kw = min_power_kw(a_station(**over), min_current_a)
    # THEN it is amps x volts x phases (AC), and nothing for DC
    assert kw == pytest.approx(expected_kw)
