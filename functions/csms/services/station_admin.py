"""Station management by operators: register, change, rotate the password, decommission, list.

Every use case is scoped by the caller: a station of another tenant, or at a site the caller
does not reach, is absent (StationNotFoundError); a site named in a body must exist in the
tenant and be reachable (InvalidReferenceError). Writes are conditional on the version read, so
concurrent changes never overwrite each other: with `If-Match` a lost race is a
VersionMismatchError; without, the change is applied again to the fresh station.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Final

from csms.domain.access import Principal
from csms.domain.errors import (
    InvalidReferenceError,
    ResourceExistsError,
    StationDecommissionedError,
    StationNotFoundError,
    VersionMismatchError,
)
from csms.domain.station import ProtocolVersion, Station, StationState
from csms.services.ports import (
    Clock,
    ConnectionCloser,
    Page,
    PasswordHasher,
    SiteDirectory,
    StationQuery,
    StationRepository,
)


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET


@dataclass(frozen=True)
class StationRegistration:
    """A new station as an operator describes it."""

    id: str
    site_id: str
    name: str | None = None
    pinned_protocol: ProtocolVersion | None = None
    # None: the CSMS generates one.
    password: str | None = None

    def __repr__(self) -> str:
        return f"StationRegistration(id={self.id!r}, site_id={self.site_id!r}, password=***)"


@dataclass(frozen=True)
class StationPatch:
    """A merge patch: UNSET leaves a field as it is, None clears it."""

    name: str | _Unset | None = UNSET
    site_id: str | _Unset = UNSET
    pinned_protocol: ProtocolVersion | _Unset | None = UNSET


@dataclass(frozen=True)
class StationChange:
    """A station before and after a use case (both None-free: the station exists)."""

    before: Station
    after: Station

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return self.before != self.after


@dataclass(frozen=True)
class WithPassword:
    """A station and its new password in clear: shown once to the caller, never stored."""

    station: Station
    password: str
    before: Station | None = None

    def __repr__(self) -> str:
        return f"WithPassword(station={self.station.id!r}, password=***)"


class StationAdminService:
    """Operators' station management."""

    # Attempts of a change without If-Match that loses races (each re-reads the station).
    _ATTEMPTS = 3

    def __init__(
        self,
        *,
        stations: StationRepository,
        sites: SiteDirectory,
        hasher: PasswordHasher,
        closer: ConnectionCloser,
        clock: Clock,
        new_password: Callable[[], str],
        password_grace: timedelta = timedelta(days=1),
        onboarding_trace: timedelta = timedelta(hours=24),
    ) -> None:
        self._stations = stations
        self._sites = sites
        self._hasher = hasher
        self._closer = closer
        self._clock = clock
        self._new_password = new_password
        self._grace = password_grace
        self._onboarding_trace = onboarding_trace

    # -- reading ---------------------------------------------------------------------------
    def get(self, principal: Principal, station_id: str) -> Station:
        """The caller's station (decommissioned ones included)."""
        station = self._stations.get(station_id)
        if (
            station is None
            or station.tenant_id != principal.tenant_id
            or not principal.reaches(station.site_id)
        ):
            raise StationNotFoundError(station_id)
        return station

    def find(
        self, principal: Principal, query: StationQuery, limit: int, cursor: str | None = None
    ) -> Page[Station]:
        """The caller's stations, filtered; a restricted caller's are those at its sites."""
        if principal.sites is not None:
            query = StationQuery(
                site_id=query.site_id,
                online=query.online,
                protocol=query.protocol,
                state=query.state,
                descending=query.descending,
                sites=principal.sites,
            )
        return self._stations.list(principal.tenant_id, query, limit, cursor)

    # -- writing ---------------------------------------------------------------------------
    def register(self, principal: Principal, registration: StationRegistration) -> WithPassword:
        """A new station at one of the caller's sites, traced for its first connections."""
        self._check_site(principal, registration.site_id)
        password = registration.password or self._new_password()
        now = self._clock.now()
        station = Station(
            id=registration.id,
            tenant_id=principal.tenant_id,
            site_id=registration.site_id,
            name=registration.name,
            password_hash=self._hasher.hash(password),
            pinned_protocol=registration.pinned_protocol,
            trace_until=now + self._onboarding_trace if self._onboarding_trace else None,
            registered_at=now,
            version=1,
        )
        if not self._stations.create(station):
            raise ResourceExistsError("station", registration.id)
        return WithPassword(station=station, password=password)

    def update(
        self,
        principal: Principal,
        station_id: str,
        patch: StationPatch,
        expected_version: int | None = None,
    ) -> StationChange:
        """Name, site and pinned protocol as a merge patch."""

        def apply(station: Station) -> Station:
            values: dict[str, object] = {}
            if patch.name is not UNSET:
                values["name"] = patch.name
            if patch.site_id is not UNSET and patch.site_id != station.site_id:
                self._check_site(principal, patch.site_id)
                values["site_id"] = patch.site_id
            if patch.pinned_protocol is not UNSET:
                values["pinned_protocol"] = patch.pinned_protocol
            return station.model_copy(update=values)

        return self._change(principal, station_id, expected_version, apply)

    def rotate_password(
        self,
        principal: Principal,
        station_id: str,
        password: str | None = None,
        expected_version: int | None = None,
    ) -> WithPassword:
        """A new password; the current one stays valid for the grace period (0: not at all).

        The station keeps connecting with the old password until it is reconfigured (1.6
        AuthorizationKey, 2.0.1 SecurityCtrlr.BasicAuthPassword); its first connection with
        the new one ends the grace period.
        """
        new = password or self._new_password()
        new_hash = self._hasher.hash(new)
        now = self._clock.now()

        def apply(station: Station) -> Station:
            keep = self._grace > timedelta(0)
            return station.model_copy(
                update={
                    "password_hash": new_hash,
                    "previous_password_hash": station.password_hash if keep else None,
                    "previous_password_until": now + self._grace if keep else None,
                }
            )

        change = self._change(principal, station_id, expected_version, apply)
        return WithPassword(station=change.after, password=new, before=change.before)

    def decommission(
        self, principal: Principal, station_id: str, expected_version: int | None = None
    ) -> StationChange:
        """Out of service: refused at `$connect` from now on, its live connection closed.

        Its history (sessions, logs) stays. Decommissioning it again changes nothing.
        """
        station = self.get(principal, station_id)
        if station.decommissioned:
            _check_version(station, expected_version)
            return StationChange(before=station, after=station)
        now = self._clock.now()

        def apply(current: Station) -> Station:
            return current.model_copy(
                update={
                    "state": StationState.DECOMMISSIONED,
                    "decommissioned_at": now,
                    "previous_password_hash": None,
                    "previous_password_until": None,
                }
            )

        change = self._change(principal, station_id, expected_version, apply, first=station)
        # After the write: a station reconnecting at once is refused.
        if change.after.online and change.after.connection_id:
            self._closer.disconnect(change.after.connection_id)
        return change

    # -- helpers ---------------------------------------------------------------------------
    def _check_site(self, principal: Principal, site_id: str) -> None:
        if not principal.reaches(site_id) or self._sites.site(principal.tenant_id, site_id) is None:
            raise InvalidReferenceError("siteId", "site", site_id)

    def _change(
        self,
        principal: Principal,
        station_id: str,
        expected_version: int | None,
        apply: Callable[[Station], Station],
        first: Station | None = None,
    ) -> StationChange:
        station = first or self.get(principal, station_id)
        for _ in range(self._ATTEMPTS):
            if station.decommissioned:
                raise StationDecommissionedError(station_id)
            _check_version(station, expected_version)
            after = apply(station)
            if after == station:
                return StationChange(before=station, after=station)
            if self._stations.save(after, station.version):
                return StationChange(
                    before=station, after=after.model_copy(update={"version": station.version + 1})
                )
            if expected_version is not None:
                raise VersionMismatchError("station", station_id)
            station = self.get(principal, station_id)
        raise VersionMismatchError("station", station_id)


def _check_version(station: Station, expected: int | None) -> None:
    if expected is not None and expected != station.version:
        raise VersionMismatchError("station", station.id)
