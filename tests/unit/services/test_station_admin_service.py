"""StationAdminService: register, change, rotate the password, decommission and list, on fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.fakes import (
    T0,
    FixedClock,
    InMemorySiteDirectory,
    InMemoryStationRepository,
    PlainHasher,
    RecordingCloser,
    a_station,
)

from csms.domain.access import Principal, Role
from csms.domain.errors import (
    InvalidReferenceError,
    ResourceExistsError,
    StationDecommissionedError,
    StationNotFoundError,
    VersionMismatchError,
)
from csms.domain.station import ProtocolVersion, Station, StationState
from csms.services.ports import SiteRef, StationQuery
from csms.services.station_admin import (
    StationAdminService,
    StationPatch,
    StationRegistration,
    WithPassword,
)

ADMIN = Principal(subject="op", tenant_id="tenant-a", role=Role.ADMIN)
SITE_2_ONLY = Principal(
    subject="op2", tenant_id="tenant-a", role=Role.ADMIN, sites=frozenset({"site-2"})
)


class Admin:
    def __init__(self, grace: timedelta = timedelta(days=1)) -> None:
        self.clock = FixedClock()
        self.stations = InMemoryStationRepository()
        self.sites = InMemorySiteDirectory()
        for site in ("site-1", "site-2"):
            self.sites.add("tenant-a", SiteRef(id=site))
        self.sites.add("tenant-b", SiteRef(id="site-9"))
        self.closer = RecordingCloser()
        self.service = StationAdminService(
            stations=self.stations,
            sites=self.sites,
            hasher=PlainHasher(),
            closer=self.closer,
            clock=self.clock,
            new_password=lambda: "GeneratedPassword0123456",
            password_grace=grace,
            onboarding_trace=timedelta(hours=24),
        )

    def stored(self, station_id: str = "CP-1") -> Station:
        station = self.stations.get(station_id)
        assert station is not None
        return station


@pytest.fixture
def admin() -> Admin:
    return Admin()


def test_register_stores_hash_traces_onboarding_and_shows_password_once(admin: Admin) -> None:
    # WHEN an admin registers a station without a password
    created = admin.service.register(ADMIN, StationRegistration(id="CP-1", site_id="site-1"))
    # THEN the generated password is handed back, only its hash stored, the station traced
    # for its first day and at version 1
    assert created.password == "GeneratedPassword0123456"
    stored = admin.stored()
    assert stored.password_hash == "plain$GeneratedPassword0123456"
    assert stored.trace_until == T0 + timedelta(hours=24)
    assert stored.registered_at == T0
    assert stored.version == 1
    assert stored.state is StationState.ACTIVE
    assert "GeneratedPassword" not in repr(created)
    assert "GeneratedPassword" not in repr(
        StationRegistration(id="CP-1", site_id="s", password="GeneratedPassword")
    )


def test_register_with_a_chosen_password_and_pin_keeps_them(admin: Admin) -> None:
    # WHEN the password and protocol are given
    created = admin.service.register(
        ADMIN,
        StationRegistration(
            id="CP-1",
            site_id="site-1",
            name="Bay 1",
            pinned_protocol=ProtocolVersion.OCPP16,
            password="Chosen-password-16",
        ),
    )
    # THEN they are used
    assert created.password == "Chosen-password-16"
    assert admin.stored().pinned_protocol is ProtocolVersion.OCPP16
    assert admin.stored().name == "Bay 1"


def test_register_an_existing_id_of_any_tenant_or_state_conflicts(admin: Admin) -> None:
    # GIVEN a decommissioned station of another tenant
    admin.stations.register(
        a_station(id="CP-1", tenant_id="tenant-b", state=StationState.DECOMMISSIONED)
    )
    # WHEN the id is registered again
    # THEN it conflicts (ids are the station's URL) and nothing changes
    with pytest.raises(ResourceExistsError):
        admin.service.register(ADMIN, StationRegistration(id="CP-1", site_id="site-1"))
    assert admin.stored().tenant_id == "tenant-b"


@pytest.mark.parametrize(
    ("principal", "site"),
    [(ADMIN, "site-9"), (ADMIN, "nope"), (SITE_2_ONLY, "site-1")],
    ids=["other-tenant", "missing", "beyond-reach"],
)
def test_register_at_a_site_not_reached_is_an_invalid_reference(
    admin: Admin, principal: Principal, site: str
) -> None:
    # WHEN the site is not one of the caller's
    # THEN 422-worthy invalid reference, nothing stored
    with pytest.raises(InvalidReferenceError):
        admin.service.register(principal, StationRegistration(id="CP-1", site_id=site))
    assert admin.stations.get("CP-1") is None


def test_update_merges_the_patch_and_bumps_the_version(admin: Admin) -> None:
    # GIVEN a pinned station at site-1
    admin.stations.register(a_station(name="Old", pinned_protocol=ProtocolVersion.OCPP16))
    # WHEN it is renamed, moved and unpinned
    change = admin.service.update(
        ADMIN, "CP-1", StationPatch(name="New", site_id="site-2", pinned_protocol=None)
    )
    # THEN everything named changed, in one new version
    assert change.changed
    stored = admin.stored()
    assert (stored.name, stored.site_id, stored.pinned_protocol) == ("New", "site-2", None)
    assert stored.version == 1 == change.after.version
    assert change.before.name == "Old"


def test_update_that_changes_nothing_writes_nothing(admin: Admin) -> None:
    # GIVEN a station
    admin.stations.register(a_station(name="Same"))
    # WHEN the patch names the values it has (or nothing)
    change = admin.service.update(ADMIN, "CP-1", StationPatch(name="Same", site_id="site-1"))
    # THEN no new version
    assert not change.changed
    assert admin.stored().version == 0


def test_update_with_a_stale_if_match_is_a_version_mismatch(admin: Admin) -> None:
    # GIVEN a station at version 0
    admin.stations.register(a_station())
    # WHEN the caller names version 3
    # THEN 412-worthy, nothing written
    with pytest.raises(VersionMismatchError):
        admin.service.update(ADMIN, "CP-1", StationPatch(name="X"), expected_version=3)
    assert admin.stored().name is None


def test_update_that_loses_a_race_retries_without_if_match_and_fails_with_it(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a repository where another writer wins the first save
    admin.stations.register(a_station())
    real_save = admin.stations.save
    lost = {"count": 0}

    def racing_save(station: Station, expected_version: int) -> bool:
        if lost["count"] == 0:
            lost["count"] += 1
            other = admin.stored().model_copy(update={"pinned_protocol": ProtocolVersion.OCPP16})
            assert real_save(other, expected_version)
        return real_save(station, expected_version)

    monkeypatch.setattr(admin.stations, "save", racing_save)
    # WHEN a change without If-Match is applied
    change = admin.service.update(ADMIN, "CP-1", StationPatch(name="Mine"))
    # THEN it is applied again on the fresh station, keeping the other writer's change
    assert change.after.name == "Mine"
    assert admin.stored().pinned_protocol is ProtocolVersion.OCPP16
    assert admin.stored().version == 2
    # AND with If-Match the lost race is a version mismatch
    lost["count"] = 0
    with pytest.raises(VersionMismatchError):
        admin.service.update(ADMIN, "CP-1", StationPatch(name="Again"), expected_version=2)


def test_update_that_keeps_losing_races_gives_up(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a repository whose saves always lose
    admin.stations.register(a_station())
    monkeypatch.setattr(admin.stations, "save", lambda station, expected_version: False)
    # WHEN/THEN the change ends in a version mismatch, not in a loop
    with pytest.raises(VersionMismatchError):
        admin.service.update(ADMIN, "CP-1", StationPatch(name="X"))


def test_update_to_a_site_not_reached_is_an_invalid_reference(admin: Admin) -> None:
    # GIVEN a station of a user restricted to site-2
    admin.stations.register(a_station(site_id="site-2"))
    # WHEN that user moves it to site-1
    # THEN invalid reference
    with pytest.raises(InvalidReferenceError):
        admin.service.update(SITE_2_ONLY, "CP-1", StationPatch(site_id="site-1"))


@pytest.mark.parametrize(
    ("principal", "station"),
    [
        (ADMIN, a_station(tenant_id="tenant-b")),
        (SITE_2_ONLY, a_station(site_id="site-1")),
    ],
    ids=["other-tenant", "beyond-reach"],
)
def test_station_of_another_tenant_or_site_is_not_found(
    admin: Admin, principal: Principal, station: Station
) -> None:
    admin.stations.register(station)
    with pytest.raises(StationNotFoundError):
        admin.service.update(principal, "CP-1", StationPatch(name="X"))
    with pytest.raises(StationNotFoundError):
        admin.service.get(principal, "CP-1")
    with pytest.raises(StationNotFoundError):
        admin.service.decommission(principal, "CP-1")


def test_rotate_password_keeps_the_previous_for_the_grace_period(admin: Admin) -> None:
    # GIVEN a station with its password
    admin.stations.register(a_station())
    # WHEN its password is rotated
    rotated = admin.service.rotate_password(ADMIN, "CP-1")
    # THEN the new password is handed back once; the old hash stays valid for a day
    assert isinstance(rotated, WithPassword)
    assert rotated.password == "GeneratedPassword0123456"
    stored = admin.stored()
    assert stored.password_hash == "plain$GeneratedPassword0123456"
    assert stored.previous_password_hash == "plain$secret-password"
    assert stored.previous_password_until == T0 + timedelta(days=1)
    assert stored.previous_password_valid(T0 + timedelta(hours=23))
    assert not stored.previous_password_valid(T0 + timedelta(days=1))
    assert rotated.before is not None
    assert rotated.before.version == 0


def test_rotate_password_without_grace_drops_the_previous_at_once() -> None:
    # GIVEN grace 0 and a station
    admin = Admin(grace=timedelta(0))
    admin.stations.register(a_station())
    # WHEN rotated to a chosen password
    admin.service.rotate_password(ADMIN, "CP-1", "Chosen-password-16")
    # THEN only the new one is valid
    stored = admin.stored()
    assert stored.password_hash == "plain$Chosen-password-16"
    assert stored.previous_password_hash is None


def test_decommission_closes_the_live_connection_and_is_idempotent(admin: Admin) -> None:
    # GIVEN an online station
    admin.stations.register(a_station())
    admin.stations.stations["CP-1"] = admin.stored().model_copy(
        update={"online": True, "connection_id": "conn-7"}
    )
    # WHEN it is decommissioned twice
    first = admin.service.decommission(ADMIN, "CP-1")
    second = admin.service.decommission(ADMIN, "CP-1", expected_version=1)
    # THEN it is decommissioned once, its connection closed once
    assert first.changed
    assert not second.changed
    assert admin.stored().state is StationState.DECOMMISSIONED
    assert admin.stored().decommissioned_at == T0
    assert admin.closer.closed == ["conn-7"]
    # AND it can no longer be changed, nor its password rotated
    with pytest.raises(StationDecommissionedError):
        admin.service.update(ADMIN, "CP-1", StationPatch(name="X"))
    with pytest.raises(StationDecommissionedError):
        admin.service.rotate_password(ADMIN, "CP-1")


def test_decommission_offline_station_closes_nothing(admin: Admin) -> None:
    admin.stations.register(a_station())
    admin.service.decommission(ADMIN, "CP-1")
    assert admin.closer.closed == []


def test_find_of_a_restricted_user_lists_only_its_sites(admin: Admin) -> None:
    # GIVEN stations at two sites and one of another tenant
    admin.stations.register(a_station(id="CP-1", site_id="site-1"))
    admin.stations.register(a_station(id="CP-2", site_id="site-2"))
    admin.stations.register(a_station(id="CP-3", tenant_id="tenant-b", site_id="site-2"))
    # WHEN each caller lists
    everyone = admin.service.find(ADMIN, StationQuery(), 10)
    restricted = admin.service.find(SITE_2_ONLY, StationQuery(descending=True), 10)
    # THEN the admin sees the tenant's, the restricted user those at site-2
    assert [s.id for s in everyone.items] == ["CP-1", "CP-2"]
    assert [s.id for s in restricted.items] == ["CP-2"]
