"""Tariff assignments: validation, slots and ids, and every step of the precedence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from csms.domain.billing.assignment import TariffAssignment, Where, Who, assignment_id, resolve


def an_assignment(tariff_id: str = "t", **over: Any) -> TariffAssignment:
    return TariffAssignment.model_validate({"tariff_id": tariff_id, **over})


SESSION: dict[str, Any] = {
    "site_id": "s1",
    "station_id": "CP-1",
    "evse_id": 2,
    "group_id": "residents",
    "id_token": "tag-1",
}

# Every place and driver combination that matches SESSION, least specific first.
TENANT = an_assignment("tenant")
SITE = an_assignment("site", site_id="s1")
STATION = an_assignment("station", site_id="s1", station_id="CP-1")
EVSE = an_assignment("evse", site_id="s1", station_id="CP-1", evse_id=2)
GROUP_TENANT = an_assignment("group-tenant", group_id="residents")
GROUP_EVSE = an_assignment("group-evse", station_id="CP-1", evse_id=2, group_id="residents")
TOKEN_TENANT = an_assignment("token-tenant", id_token="TAG-1")
TOKEN_SITE = an_assignment("token-site", site_id="s1", id_token="tag-1")


def _winner(*assignments: TariffAssignment, **session: Any) -> str | None:
    found = resolve(list(assignments), **{**SESSION, **session})
    return found.tariff_id if found else None


def test_resolve_prefers_the_most_specific_place_among_assignments_for_anyone() -> None:
    # GIVEN assignments for anyone at the tenant, site, station and EVSE
    # WHEN resolved as more specific places are taken away
    # THEN EVSE > station > site > tenant
    assert _winner(TENANT, SITE, STATION, EVSE) == "evse"
    assert _winner(TENANT, SITE, STATION) == "station"
    assert _winner(TENANT, SITE) == "site"
    assert _winner(TENANT) == "tenant"


def test_resolve_prefers_a_group_assignment_over_any_place_for_anyone() -> None:
    # GIVEN the group's tariff at the tenant level and the public one at the very EVSE
    # WHEN a group member charges there
    # THEN the group's wins: WHO before WHERE
    assert _winner(EVSE, GROUP_TENANT) == "group-tenant"
    # AND between the group's own, the more specific place wins
    assert _winner(GROUP_TENANT, GROUP_EVSE, EVSE) == "group-evse"


def test_resolve_prefers_a_token_assignment_over_group_and_anyone() -> None:
    # GIVEN assignments for the token, its group and anyone
    # WHEN the token charges
    # THEN the token's wins, and its more specific place among its own
    assert _winner(EVSE, GROUP_EVSE, TOKEN_TENANT) == "token-tenant"
    assert _winner(TOKEN_TENANT, TOKEN_SITE, GROUP_EVSE) == "token-site"


def test_resolve_skips_assignments_for_other_places_and_drivers() -> None:
    # GIVEN assignments for another site, station, EVSE, group and token
    others = [
        an_assignment("x", site_id="s2"),
        an_assignment("x", station_id="CP-2"),
        an_assignment("x", station_id="CP-1", evse_id=1),
        an_assignment("x", group_id="fleet"),
        an_assignment("x", id_token="tag-2"),
    ]
    # WHEN resolved for SESSION
    # THEN none applies, and the tenant's catch-all does
    assert _winner(*others) is None
    assert _winner(*others, TENANT) == "tenant"


def test_resolve_without_group_token_site_or_evse_matches_only_what_needs_none() -> None:
    # GIVEN assignments that need a group, a token, a site, an EVSE
    # WHEN a session has none of them (anonymous, station outside any site, whole station)
    # THEN only the station-wide assignment for anyone applies
    chosen = _winner(
        GROUP_TENANT, TOKEN_TENANT, SITE, EVSE, STATION,
        site_id=None, evse_id=None, group_id=None, id_token=None,
    )  # fmt: skip
    assert chosen == "station"
    assert _winner(site_id=None) is None


def test_assignment_where_and_who_and_slot_name_the_place_and_drivers() -> None:
    # GIVEN one assignment of each kind
    # WHEN their specificity and slots are read
    # THEN they say what they cover; token values compare case-insensitively
    assert (TENANT.where, TENANT.who, TENANT.slot) == (Where.TENANT, Who.ANYONE, "tenant|anyone")
    assert SITE.slot == "site:s1|anyone"
    assert STATION.precedence == (Who.ANYONE, Where.STATION)
    assert GROUP_EVSE.slot == "evse:CP-1/2|group:residents"
    assert TOKEN_TENANT.slot == "tenant|token:TAG-1"
    assert an_assignment("other", id_token="tag-1").slot == TOKEN_TENANT.slot


def test_assignment_id_derives_from_the_slot_only() -> None:
    # GIVEN two assignments of one slot with other tariffs, and one of another slot
    # WHEN their ids are compared
    # THEN the same slot gives the same id, whatever the tariff; ids are URL-safe
    assert an_assignment("a", site_id="s1").id == an_assignment("b", site_id="s1").id
    assert SITE.id != TENANT.id
    assert SITE.id == assignment_id("site:s1|anyone")
    assert SITE.id.startswith("ta-")
    assert SITE.id[3:].isalnum()
    # AND the id is part of the JSON form, but not something a caller may set
    assert SITE.model_dump()["id"] == SITE.id
    with pytest.raises(ValidationError):
        TariffAssignment.model_validate({"tariff_id": "t", "id": "mine"})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"evse_id": 1}, "an EVSE is named with its station"),
        ({"group_id": "g", "id_token": "x"}, "not both"),
        ({"evse_id": 0, "station_id": "CP"}, "greater than or equal to 1"),
        ({"station_id": "bad/id"}, "should match pattern"),
        (
            {"valid_from": "2026-11-23T10:00:00Z", "valid_until": "2026-11-23T09:00:00Z"},
            "cannot end before it takes effect",
        ),
        ({"valid_from": "2026-11-23T10:00:00"}, "timezone"),
    ],
)
def test_assignment_refuses_inconsistent_places_and_drivers(
    fields: dict[str, Any], message: str
) -> None:
    # GIVEN fields that do not make one place and one kind of driver
    # WHEN an assignment is made of them
    # THEN it is refused, saying why
    with pytest.raises(ValidationError, match=message):
        an_assignment(**fields)


T0 = datetime(2026, 11, 23, 8, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_assignment_in_force_from_its_start_until_its_end_exclusive() -> None:
    # GIVEN an assignment from T0 until T0 + 1 h, an open-ended one, and one from before history
    bounded = an_assignment(valid_from=T0, valid_until=T0 + HOUR)
    open_ended = an_assignment(valid_from=T0)
    legacy = an_assignment()
    # WHEN asked about moments around them
    # THEN in force from the start (inclusive) to the end (exclusive); legacy since always
    assert [bounded.in_force_at(T0 + d) for d in (-HOUR / 60, 0 * HOUR, HOUR / 2, HOUR)] == [
        False,
        True,
        True,
        False,
    ]
    assert open_ended.in_force_at(T0 + 1000 * HOUR)
    assert not open_ended.in_force_at(T0 - HOUR)
    assert legacy.in_force_at(datetime(2000, 1, 1, tzinfo=UTC))
    assert (bounded.ended, open_ended.ended, legacy.ended) == (True, False, False)


def test_resolve_at_a_moment_keeps_precedence_among_those_in_force() -> None:
    # GIVEN an EVSE assignment that ended at T0 + 1 h, a station one from then on, and the site's
    # assignment for anyone (from before history)
    old_evse = an_assignment("old-evse", station_id="CP-1", evse_id=2, valid_from=T0).model_copy(
        update={"valid_until": T0 + HOUR}
    )
    station = an_assignment("station", station_id="CP-1", valid_from=T0 + HOUR)
    every = (old_evse, station, SITE)
    # WHEN resolved for sessions starting before T0, during the EVSE's, after, and with no moment
    # THEN the most specific in force wins each time; with no moment, those not ended
    assert _winner(*every, at=T0 - HOUR) == "site"
    assert _winner(*every, at=T0 + HOUR / 2) == "old-evse"
    assert _winner(*every, at=T0 + HOUR) == "station"
    assert _winner(*every) == "station"


def test_resolve_prefers_the_newer_of_a_slot_when_clocks_overlap_them() -> None:
    # GIVEN a slot's old assignment that ended a moment after its successor began (clock skew)
    old = an_assignment("old", site_id="s1", valid_from=T0, valid_until=T0 + HOUR)
    new = an_assignment("new", site_id="s1", valid_from=T0 + HOUR / 2)
    # WHEN a session starting in the overlap is resolved, in either order
    # THEN the newer one applies
    assert _winner(old, new, at=T0 + HOUR * 3 / 4) == "new"
    assert _winner(new, old, at=T0 + HOUR * 3 / 4) == "new"


def test_assignment_id_derives_from_slot_and_start_unique_across_history() -> None:
    # GIVEN assignments of one slot that took effect at different moments (one at T0 in
    # another timezone's notation)
    first = an_assignment("a", site_id="s1", valid_from=T0)
    same = an_assignment("b", site_id="s1", valid_from="2026-11-23T09:00:00+01:00")
    later = an_assignment("a", site_id="s1", valid_from=T0 + HOUR)
    # WHEN their ids are compared
    # THEN the moment is part of the id, whatever its notation; the end is not
    assert first.id == same.id
    assert first.id != later.id
    assert first.id != SITE.id
    assert first.model_copy(update={"valid_until": T0 + HOUR}).id == first.id
