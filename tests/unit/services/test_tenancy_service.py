"""TenancyService on the in-memory fakes: scoping, versions, in-use checks, references, users."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes import (
    T0,
    FixedClock,
    InMemoryGroupRepository,
    InMemorySiteRepository,
    InMemoryTenantProfileRepository,
    InMemoryUserRepository,
    InMemoryVehicleRepository,
    RecordingUserDirectory,
    SequentialIds,
)

from csms.domain.access import Principal, Role
from csms.domain.errors import (
    ConcurrentModificationError,
    ForbiddenError,
    InvalidReferenceError,
    LastOwnerError,
    ResourceExistsError,
    ResourceInUseError,
    ResourceNotFoundError,
    UserDirectoryError,
    VersionMismatchError,
)
from csms.domain.tenancy import (
    DriverGroup,
    GroupKind,
    Site,
    User,
    UserStatus,
    Vehicle,
)
from csms.services.tenancy import TenancyService

TENANT = "t-1"
OWNER = Principal(subject="owner", tenant_id=TENANT, role=Role.OWNER)
ADMIN = Principal(subject="admin", tenant_id=TENANT, role=Role.ADMIN)
OTHER = Principal(subject="other", tenant_id="t-2", role=Role.OWNER)


class RacingSites(InMemorySiteRepository):
    """Sites that someone else changes right before each of the next `races` writes."""

    def __init__(self) -> None:
        super().__init__()
        self.races = 0

    def _race(self, tenant_id: str, site_id: str) -> None:
        if self.races > 0:
            self.races -= 1
            held = self.store.records[(tenant_id, site_id)]
            self.store.records[(tenant_id, site_id)] = held.model_copy(
                update={"version": held.version + 1}
            )

    def replace_site(self, tenant_id: str, site: Site, expected_version: int) -> bool:
        self._race(tenant_id, site.id)
        return super().replace_site(tenant_id, site, expected_version)

    def delete_site(self, tenant_id: str, site_id: str, expected_version: int) -> bool:
        self._race(tenant_id, site_id)
        return super().delete_site(tenant_id, site_id, expected_version)


@dataclass
class Tenancy:
    service: TenancyService
    sites: RacingSites
    groups: InMemoryGroupRepository
    vehicles: InMemoryVehicleRepository
    users: InMemoryUserRepository
    profiles: InMemoryTenantProfileRepository
    directory: RecordingUserDirectory
    clock: FixedClock


@pytest.fixture
def t() -> Tenancy:
    sites = RacingSites()
    groups = InMemoryGroupRepository()
    vehicles = InMemoryVehicleRepository(groups)
    users = InMemoryUserRepository()
    profiles = InMemoryTenantProfileRepository()
    directory = RecordingUserDirectory()
    clock = FixedClock()
    service = TenancyService(
        sites=sites,
        groups=groups,
        vehicles=vehicles,
        users=users,
        profiles=profiles,
        directory=directory,
        clock=clock,
        new_id=SequentialIds("user"),
    )
    return Tenancy(service, sites, groups, vehicles, users, profiles, directory, clock)


def a_site(site_id: str = "s1", **over: Any) -> Site:
    return Site.model_validate({"id": site_id, "name": "S", "limit_kw": 50, **over})


def a_user(user_id: str = "u1", role: Role = Role.VIEWER, **over: Any) -> User:
    return User.model_validate(
        {"id": user_id, "email": f"{user_id}@example.com", "name": "U", "role": role, **over}
    )


# -- sites ------------------------------------------------------------------------------------


def test_tenancy_site_create_stamps_version_and_times(t: Tenancy) -> None:
    # WHEN a site is created
    site = t.service.create_site(OWNER, a_site(version=7))
    # THEN version 1, created and updated now, stored
    assert (site.version, site.created_at, site.updated_at) == (1, T0, T0)
    assert t.sites.get_site(TENANT, "s1") == site
    # AND a second one with the id is refused
    with pytest.raises(ResourceExistsError):
        t.service.create_site(OWNER, a_site())


def test_tenancy_site_beyond_reach_or_tenant_is_absent(t: Tenancy) -> None:
    # GIVEN two sites
    t.service.create_site(OWNER, a_site("s1"))
    t.service.create_site(OWNER, a_site("s2"))
    restricted = Principal(
        subject="r", tenant_id=TENANT, role=Role.OPERATOR, sites=frozenset({"s2"})
    )
    # THEN a restricted user reaches and lists only theirs; another tenant none
    with pytest.raises(ResourceNotFoundError):
        t.service.get_site(restricted, "s1")
    with pytest.raises(ResourceNotFoundError):
        t.service.get_site(OTHER, "s1")
    assert [s.id for s in t.service.list_sites(restricted, 10).items] == ["s2"]
    assert t.service.list_sites(OTHER, 10).items == []


def test_tenancy_site_update_applies_the_patch_on_the_version_read(t: Tenancy) -> None:
    # GIVEN a site
    t.service.create_site(OWNER, a_site(description="d"))
    t.clock.advance(60)
    # WHEN patched
    before, after = t.service.update_site(
        OWNER, "s1", {"limit_kw": Decimal(80), "description": None}
    )
    # THEN version 2, changed fields, new update time
    assert (before.version, after.version) == (1, 2)
    assert (after.limit_kw, after.description, after.created_at) == (Decimal(80), None, T0)
    assert after.updated_at == t.clock.at
    # AND a patch that changes nothing writes nothing
    same_before, same_after = t.service.update_site(OWNER, "s1", {"limit_kw": Decimal(80)})
    assert same_after is same_before
    assert same_after.version == 2


def test_tenancy_site_update_with_if_match(t: Tenancy) -> None:
    # GIVEN a site at version 1
    t.service.create_site(OWNER, a_site())
    # THEN a stale If-Match is 412, also when the race is lost after the read
    with pytest.raises(VersionMismatchError):
        t.service.update_site(OWNER, "s1", {"name": "N"}, expected=3)
    t.sites.races = 1
    with pytest.raises(VersionMismatchError):
        t.service.update_site(OWNER, "s1", {"name": "N"}, expected=1)


def test_tenancy_site_update_without_if_match_retries_then_gives_up(t: Tenancy) -> None:
    # GIVEN a site someone else changes twice while we write
    t.service.create_site(OWNER, a_site())
    t.sites.races = 2
    # WHEN patched without If-Match
    _, after = t.service.update_site(OWNER, "s1", {"name": "Mine"})
    # THEN the third attempt lands on the latest version
    assert (after.name, after.version) == ("Mine", 4)
    # AND with more races than attempts, ConcurrentModificationError
    t.sites.races = 3
    with pytest.raises(ConcurrentModificationError):
        t.service.update_site(OWNER, "s1", {"name": "Again"})


def test_tenancy_site_delete_refused_while_stations_are_assigned(t: Tenancy) -> None:
    # GIVEN a site with a station
    t.service.create_site(OWNER, a_site())
    t.sites.with_stations.add((TENANT, "s1"))
    # THEN it cannot be deleted
    with pytest.raises(ResourceInUseError, match="stations"):
        t.service.delete_site(OWNER, "s1")
    # WHEN the station leaves
    t.sites.with_stations.clear()
    # THEN it is deleted (retried past a race, checked on the version)
    t.sites.races = 1
    with pytest.raises(VersionMismatchError):
        t.service.delete_site(OWNER, "s1", expected=1)
    deleted = t.service.delete_site(OWNER, "s1")
    assert deleted.version == 2
    assert t.sites.get_site(TENANT, "s1") is None


def test_tenancy_delete_gives_up_after_repeated_races(t: Tenancy) -> None:
    t.service.create_site(OWNER, a_site())
    t.sites.races = 3
    with pytest.raises(ConcurrentModificationError):
        t.service.delete_site(OWNER, "s1")
    with pytest.raises(VersionMismatchError):
        t.service.delete_site(OWNER, "s1", expected=1)


# -- groups and vehicles ----------------------------------------------------------------------


def a_group(group_id: str = "g1") -> DriverGroup:
    return DriverGroup(id=group_id, name="G", kind=GroupKind.FLEET)


def a_vehicle(group_id: str = "g1") -> Vehicle:
    return Vehicle.model_validate(
        {"id": "v1", "name": "V", "group_id": group_id, "battery_kwh": 50}
    )


def test_tenancy_group_crud_and_in_use(t: Tenancy) -> None:
    # GIVEN a group with a vehicle
    t.service.create_group(OWNER, a_group())
    with pytest.raises(ResourceExistsError):
        t.service.create_group(OWNER, a_group())
    t.service.create_vehicle(OWNER, a_vehicle())
    # THEN the group is in use
    with pytest.raises(ResourceInUseError, match="vehicles"):
        t.service.delete_group(OWNER, "g1")
    # WHEN renamed and the vehicle deleted
    _, renamed = t.service.update_group(OWNER, "g1", {"name": "Vans"}, expected=1)
    t.service.delete_vehicle(OWNER, "v1", expected=1)
    # THEN it can go
    assert renamed.name == "Vans"
    assert t.service.delete_group(OWNER, "g1", expected=2).name == "Vans"
    with pytest.raises(ResourceNotFoundError):
        t.service.get_group(OWNER, "g1")
    assert t.service.list_groups(OWNER, 10).items == []


def test_tenancy_vehicle_group_must_exist_in_the_tenant(t: Tenancy) -> None:
    # GIVEN a group of another tenant only
    t.service.create_group(OTHER, a_group())
    # THEN a vehicle naming it is an invalid reference
    with pytest.raises(InvalidReferenceError, match="groupId"):
        t.service.create_vehicle(OWNER, a_vehicle())
    # GIVEN the group here, a vehicle in it
    t.service.create_group(OWNER, a_group())
    created = t.service.create_vehicle(OWNER, a_vehicle())
    with pytest.raises(ResourceExistsError):
        t.service.create_vehicle(OWNER, a_vehicle())
    # THEN moving it to a missing group is refused, another field is not checked
    with pytest.raises(InvalidReferenceError):
        t.service.update_vehicle(OWNER, "v1", {"group_id": "nope"})
    _, renamed = t.service.update_vehicle(OWNER, "v1", {"name": "Van 1"})
    assert (renamed.name, renamed.version) == ("Van 1", 2)
    assert t.service.get_vehicle(OWNER, "v1") == renamed
    assert created.version == 1
    assert [v.id for v in t.service.list_vehicles(OWNER, 10, group_id="g1").items] == ["v1"]
    with pytest.raises(ResourceNotFoundError):
        t.service.get_vehicle(OTHER, "v1")


# -- users ------------------------------------------------------------------------------------


def test_tenancy_user_create_writes_record_then_directory(t: Tenancy) -> None:
    # GIVEN a site
    t.service.create_site(OWNER, a_site())
    # WHEN an admin creates a technician of that site
    user = t.service.create_user(ADMIN, a_user("u1", Role.TECHNICIAN, sites=["s1"]))
    # THEN record and identity exist
    assert t.users.get_user(TENANT, "u1") == user
    assert t.directory.calls == [("create", "u1", "technician")]
    assert t.service.new_user_id() == "user-1"
    # AND the same id again is refused before the directory is asked
    with pytest.raises(ResourceExistsError):
        t.service.create_user(ADMIN, a_user("u1"))
    assert len(t.directory.calls) == 1


def test_tenancy_user_create_checks_grant_and_sites(t: Tenancy) -> None:
    with pytest.raises(ForbiddenError):
        t.service.create_user(ADMIN, a_user("o", Role.OWNER))
    with pytest.raises(InvalidReferenceError, match="sites"):
        t.service.create_user(ADMIN, a_user("u", sites=["nowhere"]))
    assert t.users.store.records == {}
    assert t.directory.calls == []


@pytest.mark.parametrize("failure", ["refused", "exists"])
def test_tenancy_user_create_leaves_no_record_when_the_directory_refuses(
    t: Tenancy, failure: str
) -> None:
    # GIVEN a directory that refuses, or already knows the id
    if failure == "refused":
        t.directory.fail.add("create")
    else:
        t.directory.existing.add("u1")
    # WHEN the user is created
    # THEN the error passes and no record remains
    with pytest.raises((UserDirectoryError, ResourceExistsError)):
        t.service.create_user(OWNER, a_user("u1", Role.OWNER))
    assert t.users.get_user(TENANT, "u1") is None
    assert t.users.active_owners(TENANT) == 0


def test_tenancy_user_update_follows_grant_rules_and_sites(t: Tenancy) -> None:
    # GIVEN an owner and a viewer
    t.service.create_user(OWNER, a_user("o1", Role.OWNER))
    t.service.create_user(OWNER, a_user("v1"))
    # THEN an admin may not touch the owner, nor promote to owner
    with pytest.raises(ForbiddenError):
        t.service.update_user(ADMIN, "o1", {"name": "X"})
    with pytest.raises(ForbiddenError):
        t.service.update_user(ADMIN, "v1", {"role": Role.OWNER})
    with pytest.raises(InvalidReferenceError):
        t.service.update_user(ADMIN, "v1", {"sites": ["nowhere"]})
    # WHEN the admin makes the viewer an operator
    before, after = t.service.update_user(ADMIN, "v1", {"role": Role.OPERATOR})
    # THEN record and directory follow
    assert (before.role, after.role, after.version) == (Role.VIEWER, Role.OPERATOR, 2)
    assert t.directory.calls[-1] == ("update", "v1", "operator/active")
    # AND a patch that changes nothing does not reach the directory
    calls = len(t.directory.calls)
    same = t.service.update_user(ADMIN, "v1", {"role": Role.OPERATOR})
    assert same[0] is same[1]
    assert len(t.directory.calls) == calls


def test_tenancy_user_update_restores_the_record_when_the_directory_refuses(t: Tenancy) -> None:
    # GIVEN a viewer, and a directory that refuses updates
    t.service.create_user(OWNER, a_user("v1"))
    t.directory.fail.add("update")
    # WHEN the viewer is made an admin
    with pytest.raises(UserDirectoryError):
        t.service.update_user(OWNER, "v1", {"role": Role.ADMIN})
    # THEN the record says viewer again (at a newer version)
    held = t.users.get_user(TENANT, "v1")
    assert held is not None
    assert (held.role, held.version) == (Role.VIEWER, 3)


def test_tenancy_user_promotion_to_sole_owner_is_undone_when_the_directory_refuses(
    t: Tenancy,
) -> None:
    # GIVEN a viewer, no recorded owner, and a directory that refuses updates
    t.service.create_user(OWNER, a_user("v1"))
    t.directory.fail.add("update")
    # WHEN the viewer is made an owner
    with pytest.raises(UserDirectoryError):
        t.service.update_user(OWNER, "v1", {"role": Role.OWNER})
    # THEN the record is a viewer again, though that leaves no owner
    held = t.users.get_user(TENANT, "v1")
    assert held is not None
    assert held.role is Role.VIEWER
    assert t.users.active_owners(TENANT) == 0


def test_tenancy_last_owner_is_kept(t: Tenancy) -> None:
    # GIVEN one owner
    t.service.create_user(OWNER, a_user("o1", Role.OWNER))
    # THEN demoting, disabling and deleting are refused, and the identity stays enabled
    with pytest.raises(LastOwnerError):
        t.service.update_user(OWNER, "o1", {"role": Role.ADMIN})
    with pytest.raises(LastOwnerError):
        t.service.update_user(OWNER, "o1", {"status": UserStatus.DISABLED})
    with pytest.raises(LastOwnerError):
        t.service.delete_user(OWNER, "o1")
    assert [call[0] for call in t.directory.calls] == ["create"]


def test_tenancy_user_delete_disables_deletes_record_then_identity(t: Tenancy) -> None:
    # GIVEN two owners
    t.service.create_user(OWNER, a_user("o1", Role.OWNER))
    t.service.create_user(OWNER, a_user("o2", Role.OWNER))
    # WHEN one is deleted (an admin may not)
    with pytest.raises(ForbiddenError):
        t.service.delete_user(ADMIN, "o1")
    deleted = t.service.delete_user(OWNER, "o1", expected=1)
    # THEN disabled, record gone, identity gone
    assert deleted.id == "o1"
    assert t.users.get_user(TENANT, "o1") is None
    assert t.directory.calls[-2:] == [("update", "o1", "owner/disabled"), ("delete", "o1", "owner")]


def test_tenancy_user_delete_reenables_when_the_record_cannot_go(
    t: Tenancy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two owners, and a repository where the other owner is demoted right before the write
    t.service.create_user(OWNER, a_user("o1", Role.OWNER))
    t.service.create_user(OWNER, a_user("o2", Role.OWNER))
    original = t.users.delete_user

    def demote_first(tenant_id: str, previous: User, *, undo: bool = False) -> bool:
        held = t.users.store.records[(tenant_id, "o2")]
        t.users.store.records[(tenant_id, "o2")] = held.model_copy(update={"role": Role.ADMIN})
        return original(tenant_id, previous, undo=undo)

    monkeypatch.setattr(t.users, "delete_user", demote_first)
    # WHEN o1 is deleted
    with pytest.raises(LastOwnerError):
        t.service.delete_user(OWNER, "o1")
    # THEN o1 stays and its identity is enabled again
    assert t.users.get_user(TENANT, "o1") is not None
    assert t.directory.calls[-2:] == [
        ("update", "o1", "owner/disabled"),
        ("update", "o1", "owner/active"),
    ]


@pytest.mark.parametrize("status", [UserStatus.ACTIVE, UserStatus.DISABLED])
def test_tenancy_user_delete_of_a_stale_version_reenables(
    t: Tenancy, status: UserStatus, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a viewer changed by someone else between read and delete, every time
    t.service.create_user(OWNER, a_user("v1", status=status))
    original = t.users.delete_user

    def changed_meanwhile(tenant_id: str, previous: User, *, undo: bool = False) -> bool:
        held = t.users.store.records[(tenant_id, "v1")]
        t.users.store.records[(tenant_id, "v1")] = held.model_copy(
            update={"version": held.version + 1}
        )
        return original(tenant_id, previous, undo=undo)

    monkeypatch.setattr(t.users, "delete_user", changed_meanwhile)
    # WHEN deleted with If-Match
    with pytest.raises(VersionMismatchError):
        t.service.delete_user(OWNER, "v1", expected=1)
    # THEN the identity is enabled again (if it was), never left disabled by the attempt
    if status is UserStatus.ACTIVE:
        assert t.directory.calls[-1] == ("update", "v1", "viewer/active")
    else:
        assert [call[0] for call in t.directory.calls] == ["create"]


def test_tenancy_user_delete_survives_a_directory_that_cannot_delete(t: Tenancy) -> None:
    # GIVEN a disabled user and a directory that refuses deletes
    t.service.create_user(OWNER, a_user("v1", status=UserStatus.DISABLED))
    t.directory.fail.add("delete")
    # WHEN deleted
    deleted = t.service.delete_user(OWNER, "v1")
    # THEN the record is gone (the identity, disabled, is left), no disable was needed
    assert deleted.status is UserStatus.DISABLED
    assert t.users.get_user(TENANT, "v1") is None
    assert [call[0] for call in t.directory.calls] == ["create"]


def test_tenancy_users_list_and_get_per_tenant(t: Tenancy) -> None:
    t.service.create_user(OWNER, a_user("u1"))
    assert [u.id for u in t.service.list_users(OWNER, 10).items] == ["u1"]
    assert t.service.list_users(OTHER, 10).items == []
    with pytest.raises(ResourceNotFoundError):
        t.service.get_user(OTHER, "u1")


# -- tenant profile ---------------------------------------------------------------------------


def test_tenancy_profile_defaults_then_updates(t: Tenancy) -> None:
    # WHEN nothing is stored
    profile = t.service.get_profile(OWNER)
    # THEN defaults at version 0
    assert (profile.display_name, profile.version) == (TENANT, 0)
    # WHEN patched on version 0, then with a stale If-Match
    _, after = t.service.update_profile(OWNER, {"display_name": "Acme"}, expected=0)
    assert (after.display_name, after.version, after.updated_at) == ("Acme", 1, T0)
    assert t.service.get_profile(OWNER) == after
    with pytest.raises(VersionMismatchError):
        t.service.update_profile(OWNER, {"display_name": "Late"}, expected=0)
    assert t.service.get_profile(OTHER).display_name == "t-2"
