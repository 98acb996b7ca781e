"""One contract suite for the tenancy ports, run against the in-memory fakes and against the
DynamoDB adapters on moto (table from the synthesized template). The port docstrings in
`csms.services.tenancy` are the contract.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes import (
    T0,
    InMemoryGroupRepository,
    InMemorySiteRepository,
    InMemoryTenantProfileRepository,
    InMemoryUserRepository,
    InMemoryVehicleRepository,
)

from csms.adapters.dynamo import DynamoSeedRepository, site_partition, station_pk
from csms.adapters.dynamo_models import StationItem
from csms.adapters.dynamo_tenancy import (
    DynamoGroupRepository,
    DynamoSiteRepository,
    DynamoTenantProfileRepository,
    DynamoUserRepository,
    DynamoVehicleRepository,
)
from csms.domain.access import Role
from csms.domain.errors import InvalidCursorError, InvalidReferenceError, LastOwnerError
from csms.domain.tenancy import (
    Address,
    DriverGroup,
    GroupKind,
    Site,
    TenantProfile,
    User,
    UserStatus,
    Vehicle,
)
from csms.services.tenancy import (
    GroupRepository,
    SiteRepository,
    TenantProfileRepository,
    UserRepository,
    VehicleRepository,
)

MEMORY, DYNAMO = "memory", "dynamo"
T, OTHER = "t-1", "t-2"


@dataclass
class Repos:
    """One implementation of each tenancy port, and a way to assign a station to a site."""

    kind: str
    sites: SiteRepository
    groups: GroupRepository
    vehicles: VehicleRepository
    users: UserRepository
    profiles: TenantProfileRepository
    assign_station: Callable[[str, str, str], None]


def _memory() -> Repos:
    sites = InMemorySiteRepository()
    groups = InMemoryGroupRepository()

    def assign(tenant: str, site: str, station: str) -> None:
        del station
        sites.with_stations.add((tenant, site))

    return Repos(
        kind=MEMORY,
        sites=sites,
        groups=groups,
        vehicles=InMemoryVehicleRepository(groups),
        users=InMemoryUserRepository(),
        profiles=InMemoryTenantProfileRepository(),
        assign_station=assign,
    )


def _assign_on_gsi2(tenant: str, site: str, station: str) -> None:
    StationItem(
        station_pk(station),
        "META",
        tenant_id=tenant,
        site_id=site,
        GSI2PK=site_partition(tenant, site),
        GSI2SK=f"STATION#{station}",
    ).save()


def _dynamo() -> Repos:
    return Repos(
        kind=DYNAMO,
        sites=DynamoSiteRepository(),
        groups=DynamoGroupRepository(),
        vehicles=DynamoVehicleRepository(),
        users=DynamoUserRepository(),
        profiles=DynamoTenantProfileRepository(),
        assign_station=_assign_on_gsi2,
    )


@pytest.fixture(params=[MEMORY, DYNAMO])
def repos(request: pytest.FixtureRequest) -> Repos:
    if request.param == DYNAMO:
        request.getfixturevalue("dynamo_table")
        return _dynamo()
    return _memory()


def a_site(site_id: str = "s1", **over: Any) -> Site:
    fields: dict[str, Any] = {
        "id": site_id,
        "name": "Depot",
        "address": Address(street="Kai 1", city="Kiel", postal_code="24103", country="DE"),
        "timezone": "Europe/Berlin",
        "limit_kw": Decimal("150.5"),
        "description": "by the sea",
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(over)
    return Site.model_validate(fields)


def a_group(group_id: str = "g1", **over: Any) -> DriverGroup:
    return DriverGroup.model_validate(
        {"id": group_id, "name": "G", "kind": GroupKind.FLEET, **over}
    )


def a_vehicle(vehicle_id: str = "v1", group_id: str = "g1", **over: Any) -> Vehicle:
    return Vehicle.model_validate(
        {"id": vehicle_id, "name": "V", "group_id": group_id, "battery_kwh": 60, **over}
    )


def a_user(user_id: str = "u1", role: Role = Role.OWNER, **over: Any) -> User:
    return User.model_validate(
        {"id": user_id, "email": f"{user_id}@example.com", "name": "U", "role": role, **over}
    )


# -- sites ------------------------------------------------------------------------------------


def test_sites_round_trip_and_refuse_a_second_create(repos: Repos) -> None:
    # GIVEN a stored site
    site = a_site()
    assert repos.sites.create_site(T, site)
    # WHEN it is read, created again, read by another tenant
    # THEN as stored; refused; absent
    assert repos.sites.get_site(T, "s1") == site
    assert not repos.sites.create_site(T, a_site(name="Other"))
    assert repos.sites.get_site(OTHER, "s1") is None
    assert repos.sites.get_site(T, "s1") == site


def test_sites_replace_and_delete_only_the_expected_version(repos: Repos) -> None:
    # GIVEN a site at version 1
    repos.sites.create_site(T, a_site())
    changed = a_site(name="New", version=2)
    # WHEN replaced over a wrong version, then the right one
    # THEN only the second takes
    assert not repos.sites.replace_site(T, changed, 5)
    assert repos.sites.replace_site(T, changed, 1)
    assert repos.sites.get_site(T, "s1") == changed
    # AND deleting needs the current version too
    assert not repos.sites.delete_site(T, "s1", 1)
    assert not repos.sites.delete_site(OTHER, "s1", 2)
    assert repos.sites.delete_site(T, "s1", 2)
    assert repos.sites.get_site(T, "s1") is None
    assert not repos.sites.replace_site(T, changed, 2)


def test_sites_list_in_full_pages_even_when_restricted(repos: Repos) -> None:
    # GIVEN five sites, and one of another tenant
    for site_id in ("e", "a", "d", "b", "c"):
        repos.sites.create_site(T, a_site(site_id))
    repos.sites.create_site(OTHER, a_site("a0"))
    # WHEN listed two at a time, all and restricted to three
    all_ids = _walk(lambda cursor: repos.sites.list_sites(T, 2, cursor))
    some_ids = _walk(
        lambda cursor: repos.sites.list_sites(T, 2, cursor, only=frozenset({"a", "c", "e"}))
    )
    # THEN by id, each page full but the last
    assert all_ids == [["a", "b"], ["c", "d"], ["e"]]
    assert some_ids == [["a", "c"], ["e"]]


def _walk(page_of: Callable[[str | None], Any]) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = page_of(cursor)
        pages.append([item.id for item in page.items])
        cursor = page.next_cursor
        if cursor is None:
            return pages


def test_sites_list_refuses_a_foreign_cursor(repos: Repos) -> None:
    # GIVEN a cursor of another tenant's list
    for site_id in ("a", "b"):
        repos.sites.create_site(OTHER, a_site(site_id))
    cursor = repos.sites.list_sites(OTHER, 1).next_cursor
    # WHEN it is used for this tenant
    # THEN it is refused
    with pytest.raises(InvalidCursorError):
        repos.sites.list_sites(T, 1, cursor)


def test_sites_know_their_stations_per_tenant(repos: Repos) -> None:
    # GIVEN a station assigned to s1 of another tenant, then of this one
    repos.sites.create_site(T, a_site())
    repos.assign_station(OTHER, "s1", "CP-X")
    # THEN only this tenant's assignment counts
    assert not repos.sites.site_has_stations(T, "s1")
    repos.assign_station(T, "s1", "CP-1")
    assert repos.sites.site_has_stations(T, "s1")


# -- groups and vehicles ----------------------------------------------------------------------


def test_groups_round_trip_with_versions(repos: Repos) -> None:
    # GIVEN a group
    assert repos.groups.create_group(T, a_group())
    # THEN as stored; a second create and a stale replace are refused
    assert repos.groups.get_group(T, "g1") == a_group()
    assert not repos.groups.create_group(T, a_group())
    assert not repos.groups.replace_group(T, a_group(name="X", version=2), 2)
    assert repos.groups.replace_group(T, a_group(name="X", version=2), 1)
    assert [g.name for g in repos.groups.list_groups(T, 10).items] == ["X"]
    assert repos.groups.list_groups(OTHER, 10).items == []
    assert repos.groups.delete_group(T, "g1", 2)
    assert repos.groups.get_group(T, "g1") is None


def test_vehicles_need_their_group_when_written(repos: Repos) -> None:
    # WHEN a vehicle names a missing group
    # THEN InvalidReferenceError and nothing is stored
    with pytest.raises(InvalidReferenceError):
        repos.vehicles.create_vehicle(T, a_vehicle())
    assert repos.vehicles.get_vehicle(T, "v1") is None
    # GIVEN the group (of this tenant only)
    repos.groups.create_group(OTHER, a_group("g2"))
    repos.groups.create_group(T, a_group())
    assert repos.vehicles.create_vehicle(T, a_vehicle())
    assert not repos.vehicles.create_vehicle(T, a_vehicle())
    # WHEN moved to a group of another tenant
    with pytest.raises(InvalidReferenceError):
        repos.vehicles.replace_vehicle(T, a_vehicle(group_id="g2", version=2), 1)
    assert repos.vehicles.get_vehicle(T, "v1") == a_vehicle()
    assert not repos.vehicles.replace_vehicle(T, a_vehicle(version=3), 2)


def test_vehicles_list_by_group_and_tell_a_group_in_use(repos: Repos) -> None:
    # GIVEN vehicles in two groups
    for group_id in ("g1", "g2", "g3"):
        repos.groups.create_group(T, a_group(group_id))
    for vehicle_id, group_id in (("v1", "g1"), ("v2", "g2"), ("v3", "g1"), ("v4", "g1")):
        repos.vehicles.create_vehicle(T, a_vehicle(vehicle_id, group_id))
    # WHEN listed by group, two at a time
    pages = _walk(lambda cursor: repos.vehicles.list_vehicles(T, 2, cursor, group_id="g1"))
    # THEN that group's only, in full pages
    assert pages == [["v1", "v3"], ["v4"]]
    assert [v.id for v in repos.vehicles.list_vehicles(T, 10).items] == ["v1", "v2", "v3", "v4"]
    assert repos.vehicles.group_in_use(T, "g2")
    assert not repos.vehicles.group_in_use(T, "g3")
    assert not repos.vehicles.group_in_use(OTHER, "g1")
    assert repos.vehicles.delete_vehicle(T, "v2", 1)
    assert not repos.vehicles.group_in_use(T, "g2")


# -- users ------------------------------------------------------------------------------------


def test_users_keep_one_active_owner(repos: Repos) -> None:
    # GIVEN one owner
    owner = a_user("o1")
    assert repos.users.create_user(T, owner)
    assert repos.users.active_owners(T) == 1
    # WHEN demoted, disabled, deleted
    # THEN LastOwnerError and nothing changes
    demoted = a_user("o1", Role.ADMIN, version=2)
    disabled = a_user("o1", status=UserStatus.DISABLED, version=2)
    attempts: list[Callable[[], bool]] = [
        lambda: repos.users.replace_user(T, demoted, owner),
        lambda: repos.users.replace_user(T, disabled, owner),
        lambda: repos.users.delete_user(T, owner),
    ]
    for attempt in attempts:
        with pytest.raises(LastOwnerError):
            attempt()
    assert repos.users.get_user(T, "o1") == owner
    # GIVEN a second owner (another tenant's owners do not count)
    repos.users.create_user(OTHER, a_user("x1"))
    second = a_user("o2")
    repos.users.create_user(T, second)
    assert repos.users.active_owners(T) == 2
    # THEN the first may be demoted, and the second is then the last
    assert repos.users.replace_user(T, demoted, owner)
    assert repos.users.active_owners(T) == 1
    with pytest.raises(LastOwnerError):
        repos.users.delete_user(T, second)
    # AND the admin is deleted like any user
    assert repos.users.delete_user(T, demoted)
    assert [u.id for u in repos.users.list_users(T, 10).items] == ["o2"]


def test_users_undo_may_leave_no_owner(repos: Repos) -> None:
    # GIVEN a viewer promoted to the only owner, and a second new owner
    viewer = a_user("v", Role.VIEWER)
    repos.users.create_user(T, viewer)
    promoted = a_user("v", Role.OWNER, version=2)
    repos.users.replace_user(T, promoted, viewer)
    created = a_user("n", Role.OWNER)
    repos.users.create_user(T, created)
    # WHEN both are taken back (the directory refused them)
    assert repos.users.delete_user(T, created, undo=True)
    restored = a_user("v", Role.VIEWER, version=3)
    assert repos.users.replace_user(T, restored, promoted, undo=True)
    # THEN no owner is left, and nothing else
    assert repos.users.active_owners(T) == 0
    assert repos.users.get_user(T, "v") == restored
    assert repos.users.get_user(T, "n") is None


def test_users_replace_only_over_the_version_read(repos: Repos) -> None:
    # GIVEN a viewer
    viewer = a_user("v", Role.VIEWER)
    repos.users.create_user(T, viewer)
    assert not repos.users.create_user(T, viewer)
    stale = viewer.model_copy(update={"version": 7})
    promoted = a_user("v", Role.OWNER, version=2)
    # WHEN changed over a version that is not stored
    # THEN False and the owner count does not move
    assert not repos.users.replace_user(T, promoted, stale)
    assert not repos.users.delete_user(T, stale)
    assert repos.users.active_owners(T) == 0
    # WHEN promoted over the right version
    assert repos.users.replace_user(T, promoted, viewer)
    assert repos.users.active_owners(T) == 1
    assert repos.users.get_user(T, "v") == promoted


# -- tenant profile ---------------------------------------------------------------------------


def test_profile_is_written_over_the_expected_version(repos: Repos) -> None:
    # GIVEN no profile
    assert repos.profiles.get_profile(T) is None
    first = TenantProfile(display_name="Acme", version=1, updated_at=T0)
    # WHEN put over "nothing" twice, then over version 1
    assert repos.profiles.put_profile(T, first, 0)
    assert not repos.profiles.put_profile(T, first, 0)
    second = TenantProfile(display_name="Acme 2", version=2, updated_at=T0)
    assert not repos.profiles.put_profile(T, second, 5)
    assert repos.profiles.put_profile(T, second, 1)
    # THEN the latest is held, for this tenant only
    assert repos.profiles.get_profile(T) == second
    assert repos.profiles.get_profile(OTHER) is None


# -- seeds on the table -----------------------------------------------------------------------


@pytest.mark.usefixtures("dynamo_table")
def test_seeded_site_reads_as_version_1_and_reseeding_keeps_api_fields() -> None:
    # GIVEN a site from a seed
    seeds, sites = DynamoSeedRepository(), DynamoSiteRepository()
    seeds.put_site(T, Site(id="s1", name="Seeded", limit_kw=Decimal(50)))
    seeded = sites.get_site(T, "s1")
    assert seeded is not None
    assert (seeded.version, seeded.timezone, seeded.address) == (1, "UTC", None)
    # WHEN the API adds an address and time zone, and the same seed is loaded again
    assert sites.replace_site(T, a_site(name="Seeded", limit_kw=Decimal(50), version=2), 1)
    seeds.put_site(T, Site(id="s1", name="Seeded", limit_kw=Decimal(50)))
    # THEN nothing changes
    kept = sites.get_site(T, "s1")
    assert kept == a_site(name="Seeded", limit_kw=Decimal(50), version=2)
    # WHEN the seed changes the limit
    seeds.put_site(T, Site(id="s1", name="Seeded", limit_kw=Decimal(80)))
    # THEN the limit and version move, the rest stays
    changed = sites.get_site(T, "s1")
    assert changed is not None
    assert (changed.limit_kw, changed.version, changed.timezone) == (
        Decimal(80),
        3,
        "Europe/Berlin",
    )
