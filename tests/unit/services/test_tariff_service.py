"""TariffService on the in-memory fakes: versions, concurrency, assignments, resolving."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.fakes import (
    T0,
    FixedClock,
    InMemoryGroupRepository,
    InMemorySiteRepository,
    InMemoryStationRepository,
    InMemoryTariffRepository,
    InMemoryTokenRepository,
    a_station,
)

from csms.domain.access import Principal, Role
from csms.domain.billing.assignment import TariffAssignment
from csms.domain.billing.tariff import Tariff
from csms.domain.errors import (
    ConcurrentModificationError,
    ForbiddenError,
    InvalidReferenceError,
    ResourceExistsError,
    ResourceNotFoundError,
    StationNotFoundError,
    VersionMismatchError,
)
from csms.domain.tenancy import DriverGroup, GroupKind, Site
from csms.domain.tokens import IdToken
from csms.services.tariffs import TariffService, TariffVersion

T = "t-1"
OWNER = Principal("o", T, Role.OWNER)
RESTRICTED = Principal("a", T, Role.ADMIN, frozenset({"s1"}))


def a_tariff(tariff_id: str = "public", **over: Any) -> Tariff:
    return Tariff.model_validate({"id": tariff_id, "name": "P", "currency": "EUR", **over})


class World:
    def __init__(self) -> None:
        self.clock = FixedClock()
        self.repo = InMemoryTariffRepository()
        self.stations = InMemoryStationRepository()
        self.sites = InMemorySiteRepository()
        self.groups = InMemoryGroupRepository()
        self.tokens = InMemoryTokenRepository()
        self.service = TariffService(
            tariffs=self.repo,
            stations=self.stations,
            sites=self.sites,
            groups=self.groups,
            tokens=self.tokens,
            clock=self.clock,
        )
        for site in ("s1", "s2"):
            self.sites.create_site(T, Site(id=site, name=site, limit_kw=50))
        self.stations.register(a_station(id="CP-1", tenant_id=T, site_id="s1"))
        self.stations.register(a_station(id="CP-2", tenant_id=T, site_id="s2"))
        self.stations.register(a_station(id="CP-X", tenant_id="other", site_id="s1"))
        self.groups.create_group(T, DriverGroup(id="fleet", name="F", kind=GroupKind.FLEET))
        self.tokens.create(T, IdToken(id_token="TAG-F", group_id="fleet"), T0)


@pytest.fixture
def w() -> World:
    return World()


def test_tariff_versions_count_up_and_take_effect_in_order(w: World) -> None:
    # GIVEN a tariff created at T0
    first = w.service.create_tariff(OWNER, a_tariff())
    # WHEN changed with a clock behind the last write, then put unchanged
    w.clock.at = T0 - timedelta(minutes=5)
    before, after = w.service.replace_tariff(OWNER, "public", a_tariff(session_fee="1"), 1)
    same = w.service.replace_tariff(OWNER, "public", a_tariff("ignored", session_fee="1"))
    # THEN version 2 takes effect no earlier than version 1; nothing changes the second time
    assert (first.version, before, after.version) == (1, first, 2)
    assert after.valid_from == T0
    assert same == (after, after)
    assert w.service.get_version(OWNER, "public", 1) == first
    assert w.service.list_versions(OWNER, "public", 10).items == [first, after]
    assert w.service.version_at(T, "public", T0) == after
    with pytest.raises(ResourceExistsError):
        w.service.create_tariff(OWNER, a_tariff())
    with pytest.raises(ResourceNotFoundError, match="public/7"):
        w.service.get_version(OWNER, "public", 7)


def test_tariff_changes_check_if_match_and_retry_lost_races(w: World) -> None:
    # GIVEN a tariff, and a store whose writes always lose the race
    w.service.create_tariff(OWNER, a_tariff())
    w.repo.add_version = lambda *_: False  # type: ignore[method-assign]
    w.repo.delete_tariff = lambda *_: False  # type: ignore[method-assign]
    # WHEN changed and deleted with a wrong If-Match, the right one, and none
    # THEN 412 whenever If-Match was sent; retried and given up without
    for call in (
        lambda e: w.service.replace_tariff(OWNER, "public", a_tariff(session_fee="2"), e),
        lambda e: w.service.delete_tariff(OWNER, "public", e),
    ):
        with pytest.raises(VersionMismatchError):
            call(5)
        with pytest.raises(VersionMismatchError):
            call(1)
        with pytest.raises(ConcurrentModificationError):
            call(None)


def test_tariff_delete_hides_it_but_version_at_still_finds_it(w: World) -> None:
    # GIVEN a deleted tariff
    w.service.create_tariff(OWNER, a_tariff())
    gone = w.service.delete_tariff(OWNER, "public", 1)
    # WHEN read through the API's use cases and by billing
    # THEN absent for the former, there for the latter
    assert gone.version == 1
    assert w.service.list_tariffs(OWNER, 10).items == []
    for read in (
        lambda: w.service.get_tariff(OWNER, "public"),
        lambda: w.service.list_versions(OWNER, "public", 10),
    ):
        with pytest.raises(ResourceNotFoundError):
            read()
    assert w.service.version_at(T, "public", T0) == TariffVersion(a_tariff(version=1), T0)


def test_assignments_take_the_stations_site_and_check_every_reference(w: World) -> None:
    # GIVEN a tariff
    w.service.create_tariff(OWNER, a_tariff())
    # WHEN assigned to a station, and to unknown or foreign things
    made = w.service.create_assignment(
        OWNER, TariffAssignment(tariff_id="public", station_id="CP-1")
    )
    refused = [
        {"station_id": "CP-X"},
        {"station_id": "CP-9"},
        {"site_id": "s9"},
        {"group_id": "ghosts"},
        {"tariff_id": "ghost"},
    ]
    # THEN the station's site is recorded, created now; each unknown one is invalid
    assert (made.site_id, made.created_at) == ("s1", T0)
    for fields in refused:
        with pytest.raises(InvalidReferenceError):
            w.service.create_assignment(
                OWNER, TariffAssignment.model_validate({"tariff_id": "public", **fields})
            )
    with pytest.raises(ResourceExistsError):
        w.service.create_assignment(OWNER, TariffAssignment(tariff_id="public", station_id="CP-1"))
    assert w.service.get_assignment(OWNER, made.id) == made
    assert w.service.delete_assignment(OWNER, made.id) == made.model_copy(
        update={"valid_until": T0}
    )
    with pytest.raises(ResourceNotFoundError):
        w.service.delete_assignment(OWNER, made.id)


def test_restricted_users_reach_only_assignments_at_their_sites(w: World) -> None:
    # GIVEN assignments at s1, at s2 and tenant-wide
    w.service.create_tariff(OWNER, a_tariff())
    at_s1 = w.service.create_assignment(
        RESTRICTED, TariffAssignment(tariff_id="public", site_id="s1")
    )
    at_s2 = w.service.create_assignment(OWNER, TariffAssignment(tariff_id="public", site_id="s2"))
    everywhere = w.service.create_assignment(OWNER, TariffAssignment(tariff_id="public"))
    # WHEN a user restricted to s1 lists, reads, deletes and creates beyond s1
    # THEN only s1's is theirs; others are absent; tenant-wide ones forbidden, s2 unknown
    assert w.service.list_assignments(RESTRICTED, 10).items == [at_s1]
    for other in (at_s2, everywhere):
        with pytest.raises(ResourceNotFoundError):
            w.service.get_assignment(RESTRICTED, other.id)
    with pytest.raises(ForbiddenError):
        w.service.create_assignment(
            RESTRICTED, TariffAssignment(tariff_id="public", group_id="fleet")
        )
    with pytest.raises(InvalidReferenceError):
        w.service.create_assignment(RESTRICTED, TariffAssignment(tariff_id="public", site_id="s2"))
    assert len(w.service.list_assignments(OWNER, 10).items) == 3


def test_resolve_uses_the_tokens_group_and_the_version_at_the_start(w: World) -> None:
    # GIVEN a public tariff at CP-1, a fleet tariff for the group, changed 10 minutes later
    w.service.create_tariff(OWNER, a_tariff())
    w.service.create_tariff(OWNER, a_tariff("fleet-rate"))
    w.service.create_assignment(OWNER, TariffAssignment(tariff_id="public", station_id="CP-1"))
    w.service.create_assignment(OWNER, TariffAssignment(tariff_id="fleet-rate", group_id="fleet"))
    w.clock.advance(600)
    w.service.replace_tariff(OWNER, "fleet-rate", a_tariff(session_fee="1"))
    # WHEN resolved now for the fleet token, for anyone, at CP-2, at unknown stations
    fleet = w.service.resolve_now(OWNER, "CP-1", 1, "tag-f")
    anyone = w.service.resolve_now(OWNER, "CP-1")
    # THEN the group's tariff at its current version; the public one for anyone
    assert (fleet.tariff.tariff.id, fleet.tariff.version) == ("fleet-rate", 2)
    assert anyone.assignment.tariff_id == "public"
    with pytest.raises(ResourceNotFoundError):
        w.service.resolve_now(OWNER, "CP-2")
    for station in ("CP-9", "CP-X"):
        with pytest.raises(StationNotFoundError):
            w.service.resolve_now(OWNER, station)
    # AND a session that started before the change keeps version 1; one before any: none
    common: dict[str, Any] = {
        "site_id": "s1",
        "station_id": "CP-1",
        "evse_id": 1,
        "group_id": "fleet",
        "id_token": None,
    }
    early = w.service.tariff_for(T, **common, started_at=T0 + timedelta(minutes=5))
    assert early is not None
    assert early.tariff.version == 1
    assert w.service.tariff_for(T, **common, started_at=T0 - timedelta(days=1)) is None


def test_assignment_history_prices_a_session_under_the_assignment_at_its_start(w: World) -> None:
    # GIVEN a public tariff at CP-1 from T0, ended an hour later and replaced by a dearer one
    w.service.create_tariff(OWNER, a_tariff())
    w.service.create_tariff(OWNER, a_tariff("dear"))
    first = w.service.create_assignment(
        OWNER, TariffAssignment(tariff_id="public", station_id="CP-1")
    )
    w.clock.advance(3600)
    ended = w.service.delete_assignment(OWNER, first.id)
    second = w.service.create_assignment(
        OWNER, TariffAssignment(tariff_id="dear", station_id="CP-1")
    )
    common: dict[str, Any] = {
        "site_id": "s1",
        "station_id": "CP-1",
        "evse_id": 1,
        "group_id": None,
        "id_token": None,
    }

    # WHEN sessions that started before, at and after the change are resolved, and now
    before = w.service.tariff_for(T, **common, started_at=T0 + timedelta(minutes=30))
    at_change = w.service.tariff_for(T, **common, started_at=T0 + timedelta(hours=1))
    after = w.service.tariff_for(T, **common, started_at=T0 + timedelta(hours=2))
    then = w.service.resolve_now(OWNER, "CP-1", at=T0 + timedelta(minutes=1))
    now = w.service.resolve_now(OWNER, "CP-1")

    # THEN each gets the assignment in force at its start; both stay, with distinct ids
    assert (ended.valid_from, ended.valid_until) == (T0, T0 + timedelta(hours=1))
    assert second.valid_from == T0 + timedelta(hours=1)
    assert second.id != first.id
    assert before is not None
    assert before.assignment == ended
    assert at_change is not None
    assert at_change.assignment == second
    assert after is not None
    assert after.assignment.tariff_id == "dear"
    assert then.assignment.id == first.id
    assert now.assignment == second
    assert [a.id for a in w.service.list_assignments(OWNER, 10).items] == [second.id]
    listed = w.service.list_assignments(OWNER, 10, include_ended=True).items
    assert sorted(a.id for a in listed) == sorted([first.id, second.id])
    # AND reading the ended one still works; ending it again is as if it were not there
    assert w.service.get_assignment(OWNER, first.id) == ended
    with pytest.raises(ResourceNotFoundError):
        w.service.delete_assignment(OWNER, first.id)


def test_assignment_ended_with_a_clock_behind_ends_when_it_began(w: World) -> None:
    # GIVEN an assignment made at T0 WHEN deleted by a writer whose clock is a minute behind
    w.service.create_tariff(OWNER, a_tariff())
    made = w.service.create_assignment(OWNER, TariffAssignment(tariff_id="public"))
    w.clock.at = T0 - timedelta(minutes=1)
    ended = w.service.delete_assignment(OWNER, made.id)
    # THEN it ends when it began (in force for no session), never before
    assert ended.valid_until == T0


def test_assignment_stored_without_history_ends_like_any_other(w: World) -> None:
    # GIVEN an assignment stored before assignments had a history (no `valid_from`)
    w.service.create_tariff(OWNER, a_tariff())
    legacy = TariffAssignment(tariff_id="public", site_id="s1", created_at=T0)
    assert w.repo.create_assignment(T, legacy)
    w.clock.advance(60)
    # WHEN it is deleted, and a session that started while it was in force is resolved
    ended = w.service.delete_assignment(OWNER, legacy.id)
    later = w.service.tariff_for(
        T,
        site_id="s1",
        station_id="CP-1",
        evse_id=None,
        group_id=None,
        id_token=None,
        started_at=T0 + timedelta(seconds=30),
    )
    # THEN it ends now, keeps its id, and still applies to that session
    assert later is not None
    assert later.assignment.id == legacy.id
    assert ended.valid_until == T0 + timedelta(seconds=60)
    assert ended.id == legacy.id
