"""Tenancy records: validation of sites, groups, vehicles, users and the profile; grant rules."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from tests.fakes import T0

from csms.domain.access import Principal, Role
from csms.domain.errors import ForbiddenError
from csms.domain.seed import Seed
from csms.domain.tenancy import (
    COUNTRY_CODES,
    Departure,
    DriverGroup,
    GroupKind,
    Site,
    TenantProfile,
    User,
    UserStatus,
    Vehicle,
    Weekday,
    check_user_change,
    merge_patch,
    stamped,
)

ADDRESS = {"street": "Kai 1", "city": "Kiel", "postalCode": "24103", "country": "DE"}


def a_site(**over: Any) -> Site:
    return Site.model_validate({"id": "s1", "name": "Depot", "limitKw": 50, **over})


def a_vehicle(**over: Any) -> Vehicle:
    return Vehicle.model_validate(
        {"id": "v1", "name": "Van", "group_id": "g1", "battery_kwh": 60, **over}
    )


def a_user(role: Role = Role.VIEWER, **over: Any) -> User:
    return User.model_validate(
        {"id": "u1", "email": "u@example.com", "name": "U", "role": role, **over}
    )


def a_principal(role: Role) -> Principal:
    return Principal(subject="me", tenant_id="t", role=role)


# -- sites ------------------------------------------------------------------------------------


def test_site_seed_format_still_loads_with_defaults() -> None:
    # WHEN a seed gives only id, name and limitKw
    seed = Seed.model_validate({"sites": [{"id": "s1", "name": "S", "limitKw": "22.5"}]})
    # THEN the site has UTC, no address, version 1
    site = seed.sites[0]
    assert (site.limit_kw, site.timezone, site.address, site.version) == (
        Decimal("22.5"),
        "UTC",
        None,
        1,
    )


def test_site_takes_an_address_and_an_iana_timezone() -> None:
    # WHEN a site has an address and a zone
    site = a_site(address={**ADDRESS, "region": "SH"}, timezone="America/Argentina/Salta")
    # THEN both are kept
    assert site.address is not None
    assert (site.address.country, site.address.region) == ("DE", "SH")
    assert site.timezone == "America/Argentina/Salta"


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "Europe/", "", "A" * 70]
)
def test_site_refuses_a_timezone_zoneinfo_does_not_know(zone: str) -> None:
    # WHEN the zone is not an IANA name
    # THEN the site is refused
    with pytest.raises(ValidationError, match="time zone"):
        a_site(timezone=zone)


@pytest.mark.parametrize("country", ["XX", "de", "DEU", "UK", ""])
def test_site_refuses_a_country_that_is_not_iso_3166_alpha_2(country: str) -> None:
    # WHEN the country is not an assigned alpha-2 code in capitals
    # THEN the address is refused
    with pytest.raises(ValidationError, match="country"):
        a_site(address={**ADDRESS, "country": country})


@pytest.mark.parametrize("limit", [0, -1, 100_001])
def test_site_refuses_a_grid_limit_out_of_range(limit: int) -> None:
    with pytest.raises(ValidationError, match="limitKw"):
        a_site(limitKw=limit)


def test_country_codes_match_tzdata_when_the_system_has_it() -> None:
    # GIVEN tzdata's list of ISO 3166 codes (the source of ours)
    table = Path("/usr/share/zoneinfo/iso3166.tab")
    if not table.exists():
        pytest.skip("no tzdata iso3166.tab on this system")
    codes = {
        line.split("\t", 1)[0]
        for line in table.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    # THEN ours are the same 249
    assert codes == COUNTRY_CODES
    assert len(COUNTRY_CODES) == 249


# -- merge patch ------------------------------------------------------------------------------


def test_merge_patch_merges_objects_removes_nulls_replaces_the_rest() -> None:
    # WHEN a patch names a nested field, a null and a list
    merged = merge_patch(
        {"a": {"x": 1, "y": 2}, "b": 1, "c": [1], "d": 4},
        {"a": {"y": 3}, "b": None, "c": [2], "e": {"z": 1}},
    )
    # THEN per RFC 7396
    assert merged == {"a": {"x": 1, "y": 3}, "c": [2], "d": 4, "e": {"z": 1}}


def test_record_changed_validates_the_result_as_a_whole() -> None:
    # GIVEN a site
    site = a_site(address=ADDRESS, description="d")
    # WHEN a patch clears the description and changes the city
    changed = site.changed({"description": None, "address": {"city": "Lübeck"}})
    # THEN both apply, the rest stays
    assert changed.description is None
    assert changed.address is not None
    assert (changed.address.city, changed.address.street) == ("Lübeck", "Kai 1")
    # AND a patch that leaves something invalid is refused
    with pytest.raises(ValidationError):
        site.changed({"limit_kw": -5})


def test_stamped_sets_versions_and_times() -> None:
    # WHEN a record is created, then changed
    created = stamped(a_site(version=9), T0, created=True)
    changed = stamped(created, T0.replace(hour=9))
    # THEN version 1 then 2, created once, updated each time
    assert (created.version, created.created_at, created.updated_at) == (1, T0, T0)
    assert (changed.version, changed.created_at) == (2, T0)
    assert changed.updated_at == T0.replace(hour=9)
    # AND a profile (no creation time) is stamped too
    assert stamped(TenantProfile(display_name="x"), T0, created=True).version == 1


# -- groups and vehicles ----------------------------------------------------------------------


def test_group_kind_is_one_of_four() -> None:
    assert DriverGroup(id="g", name="G", kind=GroupKind.RESIDENTS).kind is GroupKind.RESIDENTS
    with pytest.raises(ValidationError):
        DriverGroup.model_validate({"id": "g", "name": "G", "kind": "friends"})


@pytest.mark.parametrize(
    "vin",
    [
        "WDB9066331S12345",  # 16 characters
        "WDB9066331S1234567",  # 18
        "WDB9066331S12345I",  # I
        "WDB9066331S12345O",  # O
        "WDB9066331S12345Q",  # Q
        "wdb9066331s123456",  # lower case
    ],
)
def test_vehicle_refuses_a_bad_vin(vin: str) -> None:
    with pytest.raises(ValidationError, match="VIN"):
        a_vehicle(vin=vin)


def test_vehicle_takes_a_valid_vin_and_power_limits() -> None:
    vehicle = a_vehicle(vin="WDB9066331S123456", max_ac_kw=11, max_dc_kw=150)
    assert (vehicle.vin, vehicle.max_ac_kw, vehicle.max_dc_kw) == (
        "WDB9066331S123456",
        Decimal(11),
        Decimal(150),
    )


@pytest.mark.parametrize(
    "over",
    [
        {"battery_kwh": 0},
        {"battery_kwh": 1000.5},
        {"max_ac_kw": 0},
        {"max_dc_kw": 1001},
        {"id_tokens": ["Tag", "TAG"]},
    ],
)
def test_vehicle_refuses_out_of_range_values(over: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        a_vehicle(**over)


def test_departure_orders_its_days_and_refuses_repeats_and_bad_times() -> None:
    # WHEN days come in any order
    departure = Departure.model_validate({"time": "23:59", "days": ["Sunday", "Monday"]})
    # THEN they are kept Monday first
    assert departure.days == (Weekday.MONDAY, Weekday.SUNDAY)
    for bad in (
        {"time": "24:00", "days": ["Monday"]},
        {"time": "7:30", "days": ["Monday"]},
        {"time": "07:30", "days": []},
        {"time": "07:30", "days": ["Monday", "Monday"]},
    ):
        with pytest.raises(ValidationError):
            Departure.model_validate(bad)


WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


@pytest.mark.parametrize(
    ("moment", "days", "expected"),
    [
        # Tuesday 08:00 UTC is 09:00 in Berlin: 17:30 the same day (16:30 UTC)
        ("2026-11-24T08:00:00+00:00", WEEKDAYS, "2026-11-24T16:30:00+00:00"),
        # after 17:30 on a Friday: the next weekday is Monday
        ("2026-11-27T17:00:00+00:00", WEEKDAYS, "2026-11-30T16:30:00+00:00"),
        # exactly at the departure: the next one
        ("2026-11-24T16:30:00+00:00", WEEKDAYS, "2026-11-25T16:30:00+00:00"),
        # only Tuesdays, already past: a week later
        ("2026-11-24T17:00:00+00:00", ["Tuesday"], "2026-12-01T16:30:00+00:00"),
        # summer time: 17:30 in Berlin is 15:30 UTC
        ("2026-07-01T08:00:00+00:00", WEEKDAYS, "2026-07-01T15:30:00+00:00"),
        # the wall-clock time stays across the change to winter time (Sunday 25 October)
        ("2026-10-23T16:00:00+00:00", WEEKDAYS, "2026-10-26T16:30:00+00:00"),
    ],
)
def test_departure_next_after_is_at_the_site_wall_clock_time(
    moment: str, days: list[str], expected: str
) -> None:
    departure = Departure.model_validate({"time": "17:30", "days": days})
    got = departure.next_after(datetime.fromisoformat(moment), "Europe/Berlin")
    assert got == datetime.fromisoformat(expected)


# -- users and grant rules --------------------------------------------------------------------


def test_user_sites_are_kept_as_a_sorted_set() -> None:
    user = a_user(sites=["b", "a", "b"])
    assert user.sites == ("a", "b")
    assert a_user().sites is None
    with pytest.raises(ValidationError):
        a_user(sites=[])
    # AND together they fit the JWT claim
    with pytest.raises(ValidationError, match="2048"):
        a_user(sites=[f"{i:02d}" + "x" * 60 for i in range(40)])


@pytest.mark.parametrize("email", ["no-at", "a@b", "a b@c.de", "@c.de"])
def test_user_refuses_an_address_that_is_not_an_email(email: str) -> None:
    with pytest.raises(ValidationError, match="e-mail"):
        a_user(email=email)


def test_user_is_an_active_owner_only_when_owner_and_active() -> None:
    assert a_user(Role.OWNER).active_owner
    assert not a_user(Role.OWNER, status=UserStatus.DISABLED).active_owner
    assert not a_user(Role.ADMIN).active_owner


@pytest.mark.parametrize(
    ("actor", "role", "allowed"),
    [
        (Role.OWNER, Role.OWNER, True),
        (Role.ADMIN, Role.OWNER, False),
        (Role.ADMIN, Role.ADMIN, True),
        (Role.ADMIN, Role.VIEWER, True),
        (Role.OPERATOR, Role.ADMIN, False),
    ],
)
def test_user_creation_grants_at_most_the_actors_role(
    actor: Role, role: Role, allowed: bool
) -> None:
    # WHEN the actor creates a user with the role
    def create() -> None:
        check_user_change(a_principal(actor), None, a_user(role))

    # THEN it is allowed or forbidden
    if allowed:
        create()
    else:
        with pytest.raises(ForbiddenError):
            create()


def test_only_owners_change_or_delete_owners() -> None:
    # GIVEN an owner
    owner = a_user(Role.OWNER)
    renamed = owner.model_copy(update={"name": "New"})
    # THEN an admin may neither rename nor delete them; an owner may
    with pytest.raises(ForbiddenError, match="only owners"):
        check_user_change(a_principal(Role.ADMIN), owner, renamed)
    with pytest.raises(ForbiddenError):
        check_user_change(a_principal(Role.ADMIN), owner, None)
    check_user_change(a_principal(Role.OWNER), owner, renamed)
    check_user_change(a_principal(Role.OWNER), owner, None)


def test_user_change_without_a_new_role_needs_no_grant() -> None:
    # GIVEN an admin changing another admin's name (their role stays)
    admin = a_user(Role.ADMIN)
    # THEN allowed; promoting a viewer beyond the actor's role is not
    check_user_change(a_principal(Role.ADMIN), admin, admin.model_copy(update={"name": "N"}))
    with pytest.raises(ForbiddenError, match="only owners make owners"):
        check_user_change(a_principal(Role.ADMIN), a_user(), a_user(Role.OWNER))


# -- tenant profile ---------------------------------------------------------------------------


def test_profile_defaults_name_the_tenant_and_refuse_bad_zones() -> None:
    profile = TenantProfile.default("acme")
    assert (profile.display_name, profile.default_timezone, profile.version) == ("acme", "UTC", 0)
    with pytest.raises(ValidationError):
        TenantProfile(display_name="x", default_timezone="Nowhere/City")
