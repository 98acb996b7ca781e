"""SeedService: load sites, stations and tokens; loading twice changes nothing."""

from __future__ import annotations

import itertools

import pytest
from tests.conftest import World
from tests.fakes import a_binding, a_station

from csms.domain.errors import InvalidSeedError
from csms.domain.seed import Seed
from csms.domain.station import ProtocolVersion
from csms.services.seeding import SeedService, SeedSummary


class SaltedHasher:
    """Like PlainHasher, but every hash gets a fresh salt, as Argon2's would."""

    def __init__(self) -> None:
        self._salts = itertools.count(1)
        self.hashes = 0

    def hash(self, password: str) -> str:
        self.hashes += 1
        return f"salted${next(self._salts)}${password}"

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash.split("$", 2)[2] == password

    def decoy_hash(self) -> str:
        return "salted$0$\x00decoy"


SEED = Seed.model_validate(
    {
        "sites": [{"id": "site-1", "name": "Depot", "limitKw": 100}],
        "stations": [
            {"id": "CP-1", "siteId": "site-1", "password": "secret-password"},
            {"id": "CP-2", "siteId": "site-1", "password": "other-password", "protocol": "ocpp1.6"},
        ],
        "tokens": [{"idToken": "TAG-1", "status": "Accepted"}],
    }
)


@pytest.fixture
def salted(world: World) -> tuple[SeedService, SaltedHasher]:
    hasher = SaltedHasher()
    return SeedService(stations=world.stations_repo, seeds=world.seeds_repo, hasher=hasher), hasher


def test_seed_load_registers_everything_under_the_tenant(world: World) -> None:
    # GIVEN an empty CSMS
    # WHEN a seed is loaded for tenant-a
    summary = world.seeds.load("tenant-a", SEED)
    # THEN the summary counts it all
    assert summary == SeedSummary(sites=1, stations=2, tokens=1)
    # AND sites and tokens are stored under the tenant
    assert set(world.seeds_repo.sites) == {("tenant-a", "site-1")}
    assert set(world.seeds_repo.tokens) == {("tenant-a", "TAG-1")}
    # AND stations are registered with hashed passwords and their pins
    cp1, cp2 = world.stations_repo.stations["CP-1"], world.stations_repo.stations["CP-2"]
    assert (cp1.tenant_id, cp1.site_id, cp1.pinned_protocol) == ("tenant-a", "site-1", None)
    assert cp2.pinned_protocol is ProtocolVersion.OCPP16
    assert cp1.password_hash == "plain$secret-password"
    assert world.hasher.verify(cp2.password_hash, "other-password")


def test_seed_load_twice_keeps_the_stored_hash(
    world: World, salted: tuple[SeedService, SaltedHasher]
) -> None:
    # GIVEN a seed loaded once
    service, hasher = salted
    service.load("tenant-a", SEED)
    stations = world.stations_repo
    first = {sid: stations.get(sid) for sid in ("CP-1", "CP-2")}
    # WHEN the same seed is loaded again (a restart re-seeds)
    service.load("tenant-a", SEED)
    # THEN no password was hashed again and the stored hashes did not change
    assert hasher.hashes == 2
    assert {sid: stations.get(sid) for sid in ("CP-1", "CP-2")} == first


def test_seed_load_changed_password_is_rehashed(
    world: World, salted: tuple[SeedService, SaltedHasher]
) -> None:
    # GIVEN a seed loaded once
    service, hasher = salted
    service.load("tenant-a", SEED)
    old_hash = world.stations_repo.stations["CP-1"].password_hash
    # WHEN CP-1's password changes in the seed
    changed = Seed.model_validate(
        {
            "sites": [{"id": "site-1", "name": "Depot", "limitKw": 100}],
            "stations": [{"id": "CP-1", "siteId": "site-1", "password": "new-password"}],
        }
    )
    service.load("tenant-a", changed)
    # THEN the new password is hashed and the old one no longer verifies
    new_hash = world.stations_repo.stations["CP-1"].password_hash
    assert new_hash != old_hash
    assert hasher.verify(new_hash, "new-password")
    assert not hasher.verify(new_hash, "secret-password")


def test_seed_load_keeps_live_state_of_registered_station(world: World) -> None:
    # GIVEN a station that is already online
    world.seeds.load("tenant-a", SEED)
    world.stations_repo.bind(a_binding())
    # WHEN the seed is loaded again
    world.seeds.load("tenant-a", SEED)
    # THEN the station is still online (registration data only was refreshed)
    assert world.stations_repo.stations["CP-1"].online
    assert world.stations_repo.stations["CP-1"].connection_id == "conn-1"


def test_seed_load_station_of_another_tenant_is_refused(world: World) -> None:
    # GIVEN CP-1 registered in tenant-b
    world.stations_repo.register(a_station(tenant_id="tenant-b"))
    # WHEN tenant-a seeds a station CP-1
    with pytest.raises(InvalidSeedError, match="CP-1"):
        world.seeds.load("tenant-a", SEED)
    # THEN tenant-b keeps its station
    assert world.stations_repo.stations["CP-1"].tenant_id == "tenant-b"
    assert world.stations_repo.stations["CP-1"].password_hash == "plain$secret-password"


def test_seed_load_empty_seed_does_nothing(world: World) -> None:
    # GIVEN / WHEN an empty seed is loaded
    summary = world.seeds.load("tenant-a", Seed())
    # THEN nothing is stored
    assert summary == SeedSummary(sites=0, stations=0, tokens=0)
    assert world.stations_repo.stations == {}
    assert world.seeds_repo.sites == {}


def test_seed_load_refused_seed_writes_nothing(world: World) -> None:
    # GIVEN CP-2 registered in tenant-b
    world.stations_repo.register(a_station(id="CP-2", tenant_id="tenant-b"))
    # WHEN tenant-a loads a seed with a site, a new CP-1 and CP-2
    with pytest.raises(InvalidSeedError):
        world.seeds.load("tenant-a", SEED)
    # THEN the refused seed left nothing behind
    assert world.seeds_repo.sites == {}
    assert "CP-1" not in world.stations_repo.stations
