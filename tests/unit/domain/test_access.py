"""Roles, permissions and site restrictions."""

from __future__ import annotations

import itertools

import pytest

from csms.domain.access import (
    ROLE_PERMISSIONS,
    TENANT_WIDE,
    Permission,
    Principal,
    Role,
    roles_with,
)


def a_principal(role: Role = Role.ADMIN, sites: frozenset[str] | None = None) -> Principal:
    return Principal(subject="u-1", tenant_id="t-1", role=role, sites=sites)


def test_roles_are_nested_each_holds_what_the_one_below_holds() -> None:
    # GIVEN the roles from least to most powerful
    ladder = list(reversed(Role))
    # THEN each holds a strict superset of the permissions below it
    for lower, higher in itertools.pairwise(ladder):
        assert ROLE_PERMISSIONS[lower] < ROLE_PERMISSIONS[higher]


@pytest.mark.parametrize(
    ("role", "permission", "allowed"),
    [
        (Role.VIEWER, Permission.READ, True),
        (Role.VIEWER, Permission.MAINTAIN_STATIONS, False),
        (Role.TECHNICIAN, Permission.MAINTAIN_STATIONS, True),
        (Role.TECHNICIAN, Permission.CONTROL_CHARGING, False),
        (Role.OPERATOR, Permission.CONTROL_CHARGING, True),
        (Role.OPERATOR, Permission.MANAGE_STATIONS, False),
        (Role.ADMIN, Permission.MANAGE_USERS, True),
        (Role.ADMIN, Permission.MANAGE_TENANT, False),
        (Role.OWNER, Permission.MANAGE_TENANT, True),
    ],
)
def test_principal_may_follows_the_role(role: Role, permission: Permission, allowed: bool) -> None:
    assert a_principal(role).may(permission) is allowed


def test_site_restricted_users_lose_tenant_wide_permissions_whatever_their_role() -> None:
    # GIVEN an owner restricted to one site
    owner = a_principal(Role.OWNER, frozenset({"s-1"}))
    # THEN site-bound permissions stay and tenant-wide ones go
    assert owner.may(Permission.CONTROL_CHARGING)
    assert not any(owner.may(p) for p in TENANT_WIDE)


def test_principal_reaches_only_its_sites() -> None:
    restricted = a_principal(sites=frozenset({"s-1", "s-2"}))
    assert restricted.reaches("s-1")
    assert not restricted.reaches("s-3")
    assert not restricted.reaches(None)  # a station at no site is beyond every restriction
    assert restricted.visible_sites(["s-3", "s-2", "s-1"]) == ["s-2", "s-1"]
    assert a_principal().reaches(None)


def test_users_grant_at_most_their_own_role_and_only_owners_make_owners() -> None:
    admin = a_principal(Role.ADMIN)
    assert admin.may_grant(Role.ADMIN)
    assert admin.may_grant(Role.VIEWER)
    assert not admin.may_grant(Role.OWNER)
    assert a_principal(Role.OWNER).may_grant(Role.OWNER)
    assert not a_principal(Role.OPERATOR).may_grant(Role.ADMIN)


def test_roles_with_lists_holders_most_powerful_first() -> None:
    assert roles_with(Permission.CONTROL_CHARGING) == [Role.OWNER, Role.ADMIN, Role.OPERATOR]
    assert roles_with(Permission.READ) == list(Role)
