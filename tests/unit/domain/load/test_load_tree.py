"""The compiled tree: every limit as a row, every EVSE as a slot, and the fill primitive."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.domain.load.builders import MIN_1P_KW, MIN_3P_KW, SITE, a_config, a_station

from csms.domain.load.config import (
    PHASES,
    EvseLoad,
    LoadGroup,
    Phase,
    PhaseLimits,
    PhaseRotation,
    SiteLoadConfig,
)
from csms.domain.load.tree import CompiledTree, Row, ev_phases, grid_phases

AMPS_PER_KW_1P = 1000 / 230
AMPS_PER_KW_3P = 1000 / (3 * 230)


def labels(tree: CompiledTree) -> dict[str, float]:
    return {row.label: row.limit for row in tree.rows}


def coefficients(tree: CompiledTree, key: str) -> dict[str, float]:
    """The rows a slot counts in, by label, with its coefficient."""
    slot = tree.slots[tree.by_key[key]]
    return {tree.rows[r].label: c for r, c in slot.rows}


def a_panel_site(**over: Any) -> SiteLoadConfig:
    """A site with per-phase limits, a feeder with kW and A limits, and stations below both."""
    fields: dict[str, Any] = {
        "limit_kw": 100.0,
        "limit_a": PhaseLimits(l1=100.0, l2=100.0, l3=100.0),
        "safety_margin_pct": 10.0,
        "groups": (LoadGroup(id="feeder-a", limit_kw=40.0, limit_a=PhaseLimits(l1=32.0, l3=50.0)),),
        "stations": (
            a_station("CS-1", group_id="feeder-a"),
            a_station("CS-2", phases=1, max_kw=7.4, rotation="STR"),
        ),
    }
    fields.update(over)
    return a_config(**fields)


# -- rows ----------------------------------------------------------------------------------------


def test_compiled_tree_turns_every_limit_into_a_row_with_the_margin_off() -> None:
    # GIVEN a site with a 10 % margin, per-phase limits on the site and the feeder
    # WHEN compiled with 90 kW available (the margin already off, as available_power gives it)
    tree = CompiledTree(a_panel_site(), 90.0)
    # THEN the site's kW is taken as given, every other limit loses the margin, stations keep
    # their max, and phases without a limit have no row
    assert labels(tree) == {
        "site": 90.0,
        "site:L1": pytest.approx(90.0),
        "site:L2": pytest.approx(90.0),
        "site:L3": pytest.approx(90.0),
        "group:feeder-a": pytest.approx(36.0),
        "group:feeder-a:L1": pytest.approx(28.8),
        "group:feeder-a:L3": pytest.approx(45.0),
        "station:CS-1": 22.0,
        "station:CS-2": 7.4,
    }


def test_compiled_tree_never_has_a_negative_site_row() -> None:
    tree = CompiledTree(a_config(), -3.0)
    assert labels(tree)["site"] == 0.0


def test_row_label_names_site_group_station_and_phase() -> None:
    assert Row(SITE, "site", None, 1.0).label == "site"
    assert Row(SITE, "site", Phase.L2, 1.0).label == "site:L2"
    assert Row("feeder-a", "group", Phase.L1, 1.0).label == "group:feeder-a:L1"
    assert Row("CS-1", "station", None, 1.0).label == "station:CS-1"


def test_compiled_tree_counts_a_three_phase_slot_on_every_row_above_it() -> None:
    # WHEN the panel site is compiled
    tree = CompiledTree(a_panel_site(), 90.0)
    # THEN CS-1's power counts 1:1 in kW rows and in A per kW on every limited phase above it
    assert coefficients(tree, "CS-1/1") == {
        "station:CS-1": 1.0,
        "group:feeder-a": 1.0,
        "group:feeder-a:L1": pytest.approx(AMPS_PER_KW_3P),
        "group:feeder-a:L3": pytest.approx(AMPS_PER_KW_3P),
        "site": 1.0,
        "site:L1": pytest.approx(AMPS_PER_KW_3P),
        "site:L2": pytest.approx(AMPS_PER_KW_3P),
        "site:L3": pytest.approx(AMPS_PER_KW_3P),
    }


def test_compiled_tree_counts_a_single_phase_slot_on_its_grid_phase_only() -> None:
    # WHEN the panel site is compiled
    tree = CompiledTree(a_panel_site(), 90.0)
    # THEN CS-2 (single phase, wired STR: its L1 on the grid's S) loads the site's L2 only,
    # at 1000 / 230 A per kW
    assert coefficients(tree, "CS-2/1") == {
        "station:CS-2": 1.0,
        "site": 1.0,
        "site:L2": pytest.approx(AMPS_PER_KW_1P),
    }


@pytest.mark.parametrize(
    ("rotation", "phase"),
    [
        ("RST", Phase.L1),
        ("RTS", Phase.L1),
        ("SRT", Phase.L2),
        ("STR", Phase.L2),
        ("TRS", Phase.L3),
        ("TSR", Phase.L3),
    ],
)
def test_grid_phases_of_a_single_phase_station_follows_its_rotation(
    rotation: str, phase: Phase
) -> None:
    assert grid_phases(a_station(phases=1, max_kw=7.4, rotation=rotation)) == (phase,)


@pytest.mark.parametrize(
    "over",
    [
        {"phases": 1, "max_kw": 7.4, "rotation": PhaseRotation.UNKNOWN},
        {"phases": 3, "rotation": "TSR"},
        {"current_type": "DC", "phases": 1, "max_kw": 50.0, "rotation": "SRT"},
    ],
)
def test_grid_phases_counts_unknown_three_phase_and_dc_on_every_phase(over: dict[str, Any]) -> None:
    assert grid_phases(a_station(**over)) == PHASES


def test_compiled_tree_slot_takes_the_evse_max_when_below_the_station_max() -> None:
    # GIVEN a 22 kW station with an 11 kW EVSE and an unlimited one
    station = a_station(evses=(EvseLoad(evse_id=1, max_kw=11.0), EvseLoad(evse_id=2)))
    # WHEN compiled
    tree = CompiledTree(a_config(stations=(station,)), 100.0)
    # THEN each slot has its own ceiling, both counting in the station's row
    assert [(s.key, s.max_kw) for s in tree.slots] == [("CS-1/1", 11.0), ("CS-1/2", 22.0)]
    assert coefficients(tree, "CS-1/2")["station:CS-1"] == 1.0


def test_compiled_tree_slot_never_exceeds_the_station_max() -> None:
    station = a_station(max_kw=11.0, evses=(EvseLoad(evse_id=1, max_kw=22.0),))
    tree = CompiledTree(a_config(stations=(station,)), 100.0)
    assert tree.slots[0].max_kw == 11.0


def test_slot_minimum_and_amps_follow_phases_and_voltage() -> None:
    # GIVEN a three-phase and a single-phase station
    tree = CompiledTree(
        a_config(stations=(a_station("CS-1"), a_station("CS-2", phases=1, max_kw=7.4))), 100.0
    )
    three, one = tree.slots
    # THEN the minimum is 6 A on each phase it uses, and amps <-> kW round-trips
    assert three.min_kw == pytest.approx(MIN_3P_KW)
    assert one.min_kw == pytest.approx(MIN_1P_KW)
    assert three.amps(11.04) == pytest.approx(16.0)
    assert one.kw_of(32.0) == pytest.approx(7.36)
    assert three.kw_of(three.amps(7.0)) == pytest.approx(7.0)


# -- fill, room, take, usage ---------------------------------------------------------------------


def test_fill_raises_slots_in_order_and_records_the_binding_row() -> None:
    # GIVEN two 22 kW stations in a 30 kW feeder
    config = a_config(
        groups=(LoadGroup(id="feeder-a", limit_kw=30.0),),
        stations=(a_station("CS-1", group_id="feeder-a"), a_station("CS-2", group_id="feeder-a")),
    )
    tree = CompiledTree(config, 100.0)
    alloc, headroom = [0.0, 0.0], tree.headroom()
    bound_rows: list[int | None] = [None, None]
    # WHEN filled towards 22 kW each, CS-2 first
    tree.fill([1, 0], [22.0, 22.0], alloc, headroom, bound_rows)
    # THEN CS-2 reaches its target and CS-1 gets what the feeder has left, bound by the feeder
    assert alloc == pytest.approx([8.0, 22.0])
    assert bound_rows[1] is None
    bound_row = bound_rows[0]
    assert bound_row is not None
    assert tree.rows[bound_row].label == "group:feeder-a"
    # AND the headroom is what usage says is left
    used = tree.usage(alloc)
    assert [row.limit - u for row, u in zip(tree.rows, used, strict=True)] == pytest.approx(
        headroom
    )


def test_fill_respects_a_phase_row() -> None:
    # GIVEN a site with 16 A on L1 and two single-phase stations on L1
    config = a_config(
        limit_a=PhaseLimits(l1=16.0),
        stations=(
            a_station("CS-1", phases=1, max_kw=7.4),
            a_station("CS-2", phases=1, max_kw=7.4),
        ),
    )
    tree = CompiledTree(config, 100.0)
    alloc, headroom = [0.0, 0.0], tree.headroom()
    bound: list[int | None] = [None, None]
    # WHEN both are filled to their max
    tree.fill([0, 1], [7.4, 7.4], alloc, headroom, bound)
    # THEN the two together draw 16 A on L1, no more
    assert alloc == pytest.approx([16 * 0.23, 0.0])
    assert tree.rows[bound[1] or 0].label == "site:L1"
    assert min(headroom) >= -1e-9


def test_fill_without_bound_and_nothing_to_give_changes_nothing() -> None:
    # GIVEN a slot already at its target and one whose rows are full
    tree = CompiledTree(a_config(limit_kw=10.0, stations=(a_station("A"), a_station("B"))), 10.0)
    alloc, headroom = [10.0, 0.0], tree.headroom()
    tree.take(0, 10.0, headroom)
    # WHEN filled again, with no bound list
    tree.fill([0, 1], [10.0, 5.0], alloc, headroom)
    # THEN nothing moves
    assert alloc == [10.0, 0.0]
    assert tree.usage(alloc)[0] == pytest.approx(10.0)


def test_room_is_the_tightest_row_and_never_negative() -> None:
    # GIVEN a slot under a 30 kW feeder and a 22 kW station
    config = a_config(
        groups=(LoadGroup(id="feeder-a", limit_kw=30.0),),
        stations=(a_station("CS-1", group_id="feeder-a"),),
    )
    tree = CompiledTree(config, 100.0)
    headroom = tree.headroom()
    # WHEN the room is asked for, before and after the feeder is overdrawn
    room, row = tree.room(0, headroom)
    headroom[tree.rows.index(Row("feeder-a", "group", None, 30.0))] = -5.0
    over, over_row = tree.room(0, headroom)
    # THEN it is the station's 22 kW, then 0 (not -5) bound by the feeder
    assert (room, tree.rows[row or 0].label) == (22.0, "station:CS-1")
    assert (over, tree.rows[over_row or 0].label) == (0.0, "group:feeder-a")


def test_usage_sums_every_slot_into_its_rows() -> None:
    # GIVEN the panel site with CS-1 at 6.9 kW (10 A) and CS-2 at 2.3 kW (10 A on L2)
    tree = CompiledTree(a_panel_site(), 90.0)
    used = dict(zip([r.label for r in tree.rows], tree.usage([6.9, 2.3]), strict=True))
    # THEN kW rows add up kW and phase rows add up amperes per phase
    assert used["site"] == pytest.approx(9.2)
    assert used["site:L1"] == pytest.approx(10.0)
    assert used["site:L2"] == pytest.approx(20.0)
    assert used["group:feeder-a:L3"] == pytest.approx(10.0)
    assert used["station:CS-2"] == pytest.approx(2.3)


# -- sessions on fewer phases than their station -------------------------------------------------


@pytest.mark.parametrize(
    ("rotation", "n", "phases"),
    [
        ("RST", 1, (Phase.L1,)),
        ("TSR", 2, (Phase.L3, Phase.L2)),
        ("SRT", 3, (Phase.L2, Phase.L1, Phase.L3)),
        ("Unknown", 1, PHASES),
    ],
)
def test_ev_phases_are_the_station_first_phases_through_its_rotation(
    rotation: str, n: int, phases: tuple[Phase, ...]
) -> None:
    assert ev_phases(a_station(rotation=rotation), n) == phases


def test_use_phases_moves_a_slot_onto_fewer_grid_phases() -> None:
    # GIVEN the panel site (a 10 % margin, per-phase limits on the site and the feeder)
    tree = CompiledTree(a_panel_site(), 90.0)
    i = tree.by_key["CS-1/1"]
    # WHEN CS-1's session is found to charge on one phase (wired RST: the grid's L1)
    tree.use_phases(i, 1)
    rows = {tree.rows[r].label: c for r, c in tree.rows_of[i]}
    # THEN it counts 1000/230 A per kW on L1 only, and its amps and minimum follow
    assert rows == {
        "station:CS-1": 1.0,
        "group:feeder-a": 1.0,
        "group:feeder-a:L1": pytest.approx(AMPS_PER_KW_1P),
        "site": 1.0,
        "site:L1": pytest.approx(AMPS_PER_KW_1P),
    }
    assert tree.amps(i, 2.3) == pytest.approx(10.0)
    assert tree.kw_of(i, 16.0) == pytest.approx(3.68)
    assert tree.min_kw(i) == pytest.approx(MIN_1P_KW)
    assert tree.usage([2.3, 0.0])[tree.rows.index(Row(SITE, "site", Phase.L1, 90.0))] == (
        pytest.approx(10.0)
    )


def test_use_phases_never_exceeds_the_station_phases() -> None:
    tree = CompiledTree(a_panel_site(), 90.0)
    i = tree.by_key["CS-1/1"]
    tree.use_phases(i, 5)
    assert (tree.phases_of[i], tree.rows_of[i]) == (3, tree.slots[i].rows)


def test_min_kw_of_a_dc_slot_is_zero() -> None:
    tree = CompiledTree(a_config(stations=(a_station(current_type="DC", max_kw=50.0),)), 90.0)
    assert tree.min_kw(0) == 0.0
