"""Bulk registration from a seed document (the local runtime's `--seed`, and imports)."""

from __future__ import annotations

from dataclasses import dataclass

from csms.domain.errors import InvalidSeedError
from csms.domain.seed import Seed
from csms.domain.station import Station
from csms.services.ports import PasswordHasher, SeedRepository, StationRepository


@dataclass(frozen=True)
class SeedSummary:
    """How much a seed loaded."""

    sites: int
    stations: int
    tokens: int


class SeedService:
    """Loads sites, stations and tokens; loading the same seed twice changes nothing."""

    def __init__(
        self, *, stations: StationRepository, seeds: SeedRepository, hasher: PasswordHasher
    ) -> None:
        self._stations = stations
        self._seeds = seeds
        self._hasher = hasher

    def load(self, tenant_id: str, seed: Seed) -> SeedSummary:
        """Register everything in the seed under one tenant; a refused seed writes nothing."""
        existing_stations = {entry.id: self._stations.get(entry.id) for entry in seed.stations}
        for station_id, existing in existing_stations.items():
            if existing is not None and existing.tenant_id != tenant_id:
                msg = f"station {station_id!r} belongs to another tenant"
                raise InvalidSeedError(msg)
        for site in seed.sites:
            self._seeds.put_site(tenant_id, site)
        for entry in seed.stations:
            existing = existing_stations[entry.id]
            # Keep the stored hash when the password is unchanged: a restart re-seeds.
            if existing is not None and self._hasher.verify(existing.password_hash, entry.password):
                password_hash = existing.password_hash
            else:
                password_hash = self._hasher.hash(entry.password)
            self._stations.register(
                Station(
                    id=entry.id,
                    tenant_id=tenant_id,
                    site_id=entry.site_id,
                    password_hash=password_hash,
                    pinned_protocol=entry.protocol,
                )
            )
        for token in seed.tokens:
            self._seeds.put_token(tenant_id, token)
        return SeedSummary(
            sites=len(seed.sites), stations=len(seed.stations), tokens=len(seed.tokens)
        )
