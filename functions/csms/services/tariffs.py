"""Use cases of tariffs and their assignments, scoped to the caller's tenant.

Tariffs are versioned and never edited in place: creating stores version 1, every change stores
version n+1 with the moment it took effect (`valid_from`), and every version stays readable for
good (a session is priced with the version in force when it started, `version_at`). Deleting a
tariff only marks it deleted: it is no longer listed or assignable, its versions stay. A tariff
that an assignment names cannot be deleted (checked in the same write as the deletion).

Changes are written on the version they were read at: with `If-Match` a lost race is a
VersionMismatchError (412); without, the change is read and applied again a few times before
ConcurrentModificationError (409).

Assignments (csms.domain.billing.assignment) name a tariff for a place and, optionally, a driver
group or an id token; one in force per slot. An assignment takes effect when created
(`valid_from`); deleting it ends it (`valid_until`) and keeps it, so that a session is priced
under the assignments in force at its start (`tariff_for(started_at=...)`) whatever changed
while it charged. Listing leaves ended ones out unless asked. Users restricted to some sites see
and manage only the assignments at their sites; the tenant-wide ones are beyond them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from csms.domain.access import Principal
from csms.domain.billing.assignment import TariffAssignment, resolve
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
from csms.domain.station import Station
from csms.domain.tenancy import DriverGroup, Site
from csms.domain.tokens import IdToken
from csms.services.ports import Clock, Page

TARIFF = "tariff"
VERSION = "tariff-version"
ASSIGNMENT = "tariff-assignment"


@dataclass(frozen=True)
class TariffVersion:
    """One stored version of a tariff and the moment it took effect (the write time)."""

    tariff: Tariff
    valid_from: datetime

    @property
    def version(self) -> int:
        """The tariff's version number (from 1)."""
        return self.tariff.version


# -- ports ------------------------------------------------------------------------------------


class TariffRepository(Protocol):
    """A tenant's tariffs, each with all its versions, and the tenant's tariff assignments."""

    def get_tariff(self, tenant_id: str, tariff_id: str) -> TariffVersion | None:
        """The current version, strongly consistent; None when absent or deleted."""
        ...

    def create_tariff(self, tenant_id: str, first: TariffVersion) -> bool:
        """Store version 1 of a new tariff; False, with nothing written, when the id is taken.

        A deleted tariff's id stays taken: its versions stay.
        """
        ...

    def add_version(self, tenant_id: str, new: TariffVersion, expected_version: int) -> bool:
        """Store `new` (version expected + 1) as the current version.

        False, with nothing written, when the current version is not `expected_version` or the
        tariff is deleted.
        """
        ...

    def delete_tariff(self, tenant_id: str, tariff_id: str, expected_version: int) -> bool:
        """Mark the tariff deleted; False when its current version is not `expected_version`.

        Raises ResourceInUseError, with nothing written, while an assignment names it (checked
        in the same write).
        """
        ...

    def list_tariffs(
        self, tenant_id: str, limit: int, cursor: str | None = None
    ) -> Page[TariffVersion]:
        """Current versions of the tariffs not deleted, by id, a page at a time."""
        ...

    def get_version(self, tenant_id: str, tariff_id: str, version: int) -> TariffVersion | None:
        """One version (of a deleted tariff too)."""
        ...

    def list_versions(
        self, tenant_id: str, tariff_id: str, limit: int, cursor: str | None = None
    ) -> Page[TariffVersion]:
        """Every version, oldest first, a page at a time."""
        ...

    def version_at(self, tenant_id: str, tariff_id: str, moment: datetime) -> TariffVersion | None:
        """The version in force at `moment`: the newest with `valid_from` <= moment."""
        ...

    def create_assignment(self, tenant_id: str, assignment: TariffAssignment) -> bool:
        """Store a new assignment; False, with nothing written, when its slot or id is taken.

        A slot is taken while an assignment in force holds it.

        Raises InvalidReferenceError("tariffId", ...), with nothing written, when its tariff is
        absent or deleted at the moment of the write (checked in the same write).
        """
        ...

    def get_assignment(self, tenant_id: str, assignment_id: str) -> TariffAssignment | None:
        """The assignment (ended ones too), strongly consistent."""
        ...

    def end_assignment(self, tenant_id: str, ended: TariffAssignment) -> bool:
        """Store `ended` (an assignment in force, now with `valid_until`) and free its slot.

        False, with nothing written, when it is not stored or ended already.
        """
        ...

    def list_assignments(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        only: frozenset[str] | None = None,
        include_ended: bool = False,
    ) -> Page[TariffAssignment]:
        """By id, a page at a time; `only`: just those at these sites (a restricted user)."""
        ...

    def all_assignments(self, tenant_id: str) -> list[TariffAssignment]:
        """Every assignment of the tenant, ended ones too (what `resolve` chooses from)."""
        ...


class StationLookup(Protocol):
    """Stations by id (any tenant's: the caller checks the tenant)."""

    def get(self, station_id: str) -> Station | None:
        """The station, or None."""
        ...


class SiteLookup(Protocol):
    """A tenant's sites."""

    def get_site(self, tenant_id: str, site_id: str) -> Site | None:
        """The site, or None."""
        ...


class GroupLookup(Protocol):
    """A tenant's driver groups."""

    def get_group(self, tenant_id: str, group_id: str) -> DriverGroup | None:
        """The group, or None."""
        ...


class TokenLookup(Protocol):
    """A tenant's id tokens."""

    def get(self, tenant_id: str, value: str) -> IdToken | None:
        """The token (case-insensitive), or None."""
        ...


# -- the service ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """The assignment that applies and the version of its tariff in force."""

    assignment: TariffAssignment
    tariff: TariffVersion


class TariffService:
    """Tariffs and tariff assignments of the caller's tenant."""

    def __init__(
        self,
        *,
        tariffs: TariffRepository,
        stations: StationLookup,
        sites: SiteLookup,
        groups: GroupLookup,
        tokens: TokenLookup,
        clock: Clock,
        attempts: int = 3,
    ) -> None:
        self._tariffs = tariffs
        self._stations = stations
        self._sites = sites
        self._groups = groups
        self._tokens = tokens
        self._clock = clock
        self._attempts = attempts

    # -- tariffs ------------------------------------------------------------------------------

    def create_tariff(self, principal: Principal, tariff: Tariff) -> TariffVersion:
        """Store version 1; ResourceExistsError when the id is taken."""
        first = TariffVersion(tariff.model_copy(update={"version": 1}), self._clock.now())
        if not self._tariffs.create_tariff(principal.tenant_id, first):
            raise ResourceExistsError(TARIFF, tariff.id)
        return first

    def get_tariff(self, principal: Principal, tariff_id: str) -> TariffVersion:
        """The current version; ResourceNotFoundError when absent or deleted."""
        current = self._tariffs.get_tariff(principal.tenant_id, tariff_id)
        if current is None:
            raise ResourceNotFoundError(TARIFF, tariff_id)
        return current

    def list_tariffs(
        self, principal: Principal, limit: int, cursor: str | None = None
    ) -> Page[TariffVersion]:
        """Current versions, by id."""
        return self._tariffs.list_tariffs(principal.tenant_id, limit, cursor)

    def replace_tariff(
        self, principal: Principal, tariff_id: str, tariff: Tariff, expected: int | None = None
    ) -> tuple[TariffVersion, TariffVersion]:
        """Store `tariff` as the next version; (before, after), the same when nothing changed."""
        tenant = principal.tenant_id
        for _ in range(self._attempts):
            current = self.get_tariff(principal, tariff_id)
            if expected is not None and current.version != expected:
                raise VersionMismatchError(TARIFF, tariff_id)
            terms = tariff.model_copy(update={"id": tariff_id, "version": current.version})
            if terms == current.tariff:
                return current, current
            # Versions take effect in order even if this clock runs behind the last writer's.
            new = TariffVersion(
                terms.model_copy(update={"version": current.version + 1}),
                max(self._clock.now(), current.valid_from),
            )
            if self._tariffs.add_version(tenant, new, current.version):
                return current, new
            if expected is not None:
                raise VersionMismatchError(TARIFF, tariff_id)
        raise ConcurrentModificationError(TARIFF, tariff_id)

    def delete_tariff(
        self, principal: Principal, tariff_id: str, expected: int | None = None
    ) -> TariffVersion:
        """Mark the tariff deleted; ResourceInUseError while an assignment names it."""
        for _ in range(self._attempts):
            current = self.get_tariff(principal, tariff_id)
            if expected is not None and current.version != expected:
                raise VersionMismatchError(TARIFF, tariff_id)
            if self._tariffs.delete_tariff(principal.tenant_id, tariff_id, current.version):
                return current
            if expected is not None:
                raise VersionMismatchError(TARIFF, tariff_id)
        raise ConcurrentModificationError(TARIFF, tariff_id)

    def list_versions(
        self, principal: Principal, tariff_id: str, limit: int, cursor: str | None = None
    ) -> Page[TariffVersion]:
        """Every version of a tariff that is not deleted, oldest first."""
        self.get_tariff(principal, tariff_id)
        return self._tariffs.list_versions(principal.tenant_id, tariff_id, limit, cursor)

    def get_version(self, principal: Principal, tariff_id: str, version: int) -> TariffVersion:
        """One version of a tariff that is not deleted."""
        self.get_tariff(principal, tariff_id)
        found = self._tariffs.get_version(principal.tenant_id, tariff_id, version)
        if found is None:
            raise ResourceNotFoundError(VERSION, f"{tariff_id}/{version}")
        return found

    def version_at(self, tenant_id: str, tariff_id: str, moment: datetime) -> TariffVersion | None:
        """The version in force at `moment` (deleted tariffs too: their sessions still bill)."""
        return self._tariffs.version_at(tenant_id, tariff_id, moment)

    # -- assignments --------------------------------------------------------------------------

    def create_assignment(
        self, principal: Principal, assignment: TariffAssignment
    ) -> TariffAssignment:
        """Store a new assignment of an existing tariff to places and drivers that exist.

        Raises InvalidReferenceError for an unknown tariff, site, station or group (a site or
        station beyond a restricted user's sites counts as unknown), ForbiddenError for a
        tenant-wide assignment by a restricted user, ResourceExistsError when the slot is taken.
        """
        tenant = principal.tenant_id
        placed = assignment.model_copy(
            update={
                "site_id": self._site_of(principal, assignment),
                "created_at": None,
                "valid_from": None,
                "valid_until": None,
            }
        )
        if placed.group_id is not None and self._groups.get_group(tenant, placed.group_id) is None:
            raise InvalidReferenceError("groupId", "group", placed.group_id)
        now = self._clock.now()
        created = placed.model_copy(update={"created_at": now, "valid_from": now})
        if not self._tariffs.create_assignment(tenant, created):
            raise ResourceExistsError(ASSIGNMENT, created.id)
        return created

    def _site_of(self, principal: Principal, assignment: TariffAssignment) -> str | None:
        tenant = principal.tenant_id
        if assignment.station_id is not None:
            station = self._stations.get(assignment.station_id)
            if (
                station is None
                or station.tenant_id != tenant
                or not principal.reaches(station.site_id)
            ):
                raise InvalidReferenceError("stationId", "station", assignment.station_id)
            return station.site_id
        if assignment.site_id is not None:
            site_id = assignment.site_id
            if self._sites.get_site(tenant, site_id) is None or not principal.reaches(site_id):
                raise InvalidReferenceError("siteId", "site", site_id)
            return site_id
        if principal.restricted:
            raise ForbiddenError("a tenant-wide assignment reaches beyond the caller's sites")
        return None

    def get_assignment(self, principal: Principal, assignment_id: str) -> TariffAssignment:
        """The assignment; one beyond the caller's sites is as absent as one not there."""
        found = self._tariffs.get_assignment(principal.tenant_id, assignment_id)
        if found is None or not principal.reaches(found.site_id):
            raise ResourceNotFoundError(ASSIGNMENT, assignment_id)
        return found

    def list_assignments(
        self,
        principal: Principal,
        limit: int,
        cursor: str | None = None,
        *,
        include_ended: bool = False,
    ) -> Page[TariffAssignment]:
        """The assignments the caller may reach, by id; the ended ones only when asked."""
        return self._tariffs.list_assignments(
            principal.tenant_id, limit, cursor, only=principal.sites, include_ended=include_ended
        )

    def delete_assignment(self, principal: Principal, assignment_id: str) -> TariffAssignment:
        """End the assignment now (the tariff it named may then be deleted); the ended one.

        Sessions that started while it was in force keep its tariff. An assignment ended
        already is as absent as one not there.
        """
        found = self.get_assignment(principal, assignment_id)
        if found.ended:
            raise ResourceNotFoundError(ASSIGNMENT, assignment_id)
        # Never before it took effect, even if this clock runs behind its creator's.
        until = self._clock.now()
        if found.valid_from is not None:
            until = max(until, found.valid_from)
        ended = found.model_copy(update={"valid_until": until})
        if not self._tariffs.end_assignment(principal.tenant_id, ended):
            raise ResourceNotFoundError(ASSIGNMENT, assignment_id)
        return ended

    def resolve_now(
        self,
        principal: Principal,
        station_id: str,
        evse_id: int | None = None,
        id_token: str | None = None,
        at: datetime | None = None,
    ) -> Resolved:
        """What would apply to a session starting now (or `at`) at this station for this token.

        The token's driver group counts as the session's; an unknown token has none.
        """
        tenant = principal.tenant_id
        station = self._stations.get(station_id)
        if station is None or station.tenant_id != tenant or not principal.reaches(station.site_id):
            raise StationNotFoundError(station_id)
        token = self._tokens.get(tenant, id_token) if id_token is not None else None
        found = self.tariff_for(
            tenant,
            site_id=station.site_id,
            station_id=station_id,
            evse_id=evse_id,
            group_id=token.group_id if token is not None else None,
            id_token=id_token,
            started_at=at if at is not None else self._clock.now(),
        )
        if found is None:
            raise ResourceNotFoundError(ASSIGNMENT, f"{station_id}/{evse_id or '*'}")
        return found

    def tariff_for(
        self,
        tenant_id: str,
        *,
        site_id: str | None,
        station_id: str,
        evse_id: int | None,
        group_id: str | None,
        id_token: str | None,
        started_at: datetime,
    ) -> Resolved | None:
        """The assignment in force at the session's start that applies, and its tariff then.

        None when no assignment applies, or its tariff had no version yet at `started_at`.
        """
        assignment = resolve(
            self._tariffs.all_assignments(tenant_id),
            site_id=site_id,
            station_id=station_id,
            evse_id=evse_id,
            group_id=group_id,
            id_token=id_token,
            at=started_at,
        )
        if assignment is None:
            return None
        version = self._tariffs.version_at(tenant_id, assignment.tariff_id, started_at)
        return Resolved(assignment, version) if version is not None else None
