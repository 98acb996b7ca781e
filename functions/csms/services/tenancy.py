"""Use cases of a tenant's own records: sites, driver groups, vehicles, users and its profile.

Every call is scoped to the caller's tenant; users restricted to some sites see only those
sites. Changes are written on the version they were read at: with `If-Match` a lost race is a
VersionMismatchError (412); without, the change is read and applied again a few times before
ConcurrentModificationError (409).

Operator users live twice: as a record here and as an identity in the user directory (Cognito
in AWS), which puts role, tenant and sites into the JWT. The two are written in an order that
never leaves an identity able to sign in without a record (see `create_user`, `update_user`
and `delete_user`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from csms.domain.access import Principal
from csms.domain.errors import (
    ConcurrentModificationError,
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
    Site,
    TenantProfile,
    User,
    UserStatus,
    Vehicle,
    check_user_change,
    stamped,
)
from csms.services.ports import Clock, IdGenerator, Page

logger = logging.getLogger(__name__)

R = TypeVar("R", Site, DriverGroup, Vehicle, User, TenantProfile)


# -- ports ------------------------------------------------------------------------------------


class SiteRepository(Protocol):
    """A tenant's sites, in its partition, by id."""

    def get_site(self, tenant_id: str, site_id: str) -> Site | None:
        """The site, strongly consistent (a conditional write may follow)."""
        ...

    def create_site(self, tenant_id: str, site: Site) -> bool:
        """Store a new site; False, with nothing written, when its id exists."""
        ...

    def replace_site(self, tenant_id: str, site: Site, expected_version: int) -> bool:
        """Store the site over the one at `expected_version`; False when that is not stored."""
        ...

    def delete_site(self, tenant_id: str, site_id: str, expected_version: int) -> bool:
        """Delete the site at `expected_version`; False when that is not stored."""
        ...

    def list_sites(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        only: frozenset[str] | None = None,
    ) -> Page[Site]:
        """Sites by id, a page at a time; `only`: just these ids (a site-restricted user)."""
        ...

    def site_has_stations(self, tenant_id: str, site_id: str) -> bool:
        """Whether any station is assigned to the site."""
        ...


class GroupRepository(Protocol):
    """A tenant's driver groups, by id."""

    def get_group(self, tenant_id: str, group_id: str) -> DriverGroup | None:
        """The group, strongly consistent."""
        ...

    def create_group(self, tenant_id: str, group: DriverGroup) -> bool:
        """Store a new group; False, with nothing written, when its id exists."""
        ...

    def replace_group(self, tenant_id: str, group: DriverGroup, expected_version: int) -> bool:
        """Store the group over the one at `expected_version`; False when that is not stored."""
        ...

    def delete_group(self, tenant_id: str, group_id: str, expected_version: int) -> bool:
        """Delete the group at `expected_version`; False when that is not stored."""
        ...

    def list_groups(
        self, tenant_id: str, limit: int, cursor: str | None = None
    ) -> Page[DriverGroup]:
        """Groups by id, a page at a time."""
        ...


class VehicleRepository(Protocol):
    """A tenant's vehicles, by id."""

    def get_vehicle(self, tenant_id: str, vehicle_id: str) -> Vehicle | None:
        """The vehicle, strongly consistent."""
        ...

    def create_vehicle(self, tenant_id: str, vehicle: Vehicle) -> bool:
        """Store a new vehicle; False, with nothing written, when its id exists.

        Raises InvalidReferenceError, with nothing written, when its group does not exist at
        the moment of the write (checked in the same transaction).
        """
        ...

    def replace_vehicle(self, tenant_id: str, vehicle: Vehicle, expected_version: int) -> bool:
        """Store the vehicle over the one at `expected_version`; False when that is not stored.

        Raises InvalidReferenceError when its group does not exist (same transaction).
        """
        ...

    def delete_vehicle(self, tenant_id: str, vehicle_id: str, expected_version: int) -> bool:
        """Delete the vehicle at `expected_version`; False when that is not stored."""
        ...

    def list_vehicles(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None = None,
        group_id: str | None = None,
    ) -> Page[Vehicle]:
        """Vehicles by id, a page at a time; `group_id`: only that group's."""
        ...

    def group_in_use(self, tenant_id: str, group_id: str) -> bool:
        """Whether any vehicle belongs to the group."""
        ...


class UserRepository(Protocol):
    """A tenant's operator users, and a count of its active owners kept with them."""

    def get_user(self, tenant_id: str, user_id: str) -> User | None:
        """The user, strongly consistent."""
        ...

    def create_user(self, tenant_id: str, user: User) -> bool:
        """Store a new user; False, with nothing written, when its id exists."""
        ...

    def replace_user(
        self, tenant_id: str, user: User, previous: User, *, undo: bool = False
    ) -> bool:
        """Store `user` over `previous` (at its version); False when that is not stored.

        Raises LastOwnerError, with nothing written, when `previous` is an active owner,
        `user` is not, and no other active owner remains (checked in the same transaction),
        unless `undo`: taking back a change the directory refused.
        """
        ...

    def delete_user(self, tenant_id: str, previous: User, *, undo: bool = False) -> bool:
        """Delete the user at the version of `previous`; False when that is not stored.

        Raises LastOwnerError, with nothing written, when it is the last active owner, unless
        `undo`: taking back a creation the directory refused.
        """
        ...

    def list_users(self, tenant_id: str, limit: int, cursor: str | None = None) -> Page[User]:
        """Users by id, a page at a time."""
        ...

    def active_owners(self, tenant_id: str) -> int:
        """How many of the tenant's users are active owners (strongly consistent)."""
        ...


class TenantProfileRepository(Protocol):
    """The one profile record of a tenant."""

    def get_profile(self, tenant_id: str) -> TenantProfile | None:
        """The stored profile, None when the tenant never set one."""
        ...

    def put_profile(self, tenant_id: str, profile: TenantProfile, expected_version: int) -> bool:
        """Store the profile over the one at `expected_version` (0: none stored yet).

        False, with nothing written, when the stored version is another.
        """
        ...


class UserDirectory(Protocol):
    """The identity provider that signs operators in and puts tenant, role and sites in the JWT.

    Raises UserDirectoryError when it does not take a change, ResourceExistsError("user", ...)
    when an identity with the user's id or e-mail exists already.
    """

    def create(self, tenant_id: str, user: User) -> None:
        """Create the identity (the directory invites the user by e-mail)."""
        ...

    def update(self, tenant_id: str, before: User, after: User) -> None:
        """Bring e-mail, name, role, sites and enabled state from `before` to `after`."""
        ...

    def delete(self, tenant_id: str, user: User) -> None:
        """Delete the identity; one that does not exist counts as deleted."""
        ...


# -- the service ------------------------------------------------------------------------------

Patch = dict[str, Any]
"""A JSON merge patch by the record's Python field names (see `_Record.changed`)."""


class TenancyService:
    """Sites, driver groups, vehicles, users and the profile of the caller's tenant."""

    def __init__(
        self,
        *,
        sites: SiteRepository,
        groups: GroupRepository,
        vehicles: VehicleRepository,
        users: UserRepository,
        profiles: TenantProfileRepository,
        directory: UserDirectory,
        clock: Clock,
        new_id: IdGenerator,
        attempts: int = 3,
    ) -> None:
        self._sites = sites
        self._groups = groups
        self._vehicles = vehicles
        self._users = users
        self._profiles = profiles
        self._directory = directory
        self._clock = clock
        self._new_id = new_id
        self._attempts = attempts

    # -- sites --------------------------------------------------------------------------------

    def create_site(self, principal: Principal, site: Site) -> Site:
        """Store a new site; ResourceExistsError when the id is taken."""
        created = stamped(site, self._clock.now(), created=True)
        if not self._sites.create_site(principal.tenant_id, created):
            raise ResourceExistsError("site", site.id)
        return created

    def get_site(self, principal: Principal, site_id: str) -> Site:
        """The site; one beyond the caller's sites is as absent as one that is not there."""
        site = self._sites.get_site(principal.tenant_id, site_id)
        if site is None or not principal.reaches(site_id):
            raise ResourceNotFoundError("site", site_id)
        return site

    def list_sites(self, principal: Principal, limit: int, cursor: str | None = None) -> Page[Site]:
        """The sites the caller may reach, by id."""
        return self._sites.list_sites(principal.tenant_id, limit, cursor, only=principal.sites)

    def update_site(
        self, principal: Principal, site_id: str, patch: Patch, expected: int | None = None
    ) -> tuple[Site, Site]:
        """Merge-patch the site; (before, after)."""
        tenant = principal.tenant_id
        return self._update(
            "site",
            site_id,
            load=lambda: self.get_site(principal, site_id),
            apply=lambda current: current.changed(patch),
            write=lambda new, current: self._sites.replace_site(tenant, new, current.version),
            expected=expected,
        )

    def delete_site(self, principal: Principal, site_id: str, expected: int | None = None) -> Site:
        """Delete the site; ResourceInUseError while stations are assigned to it."""
        tenant = principal.tenant_id

        def delete(current: Site) -> bool:
            if self._sites.site_has_stations(tenant, site_id):
                raise ResourceInUseError("site", site_id, "stations are assigned to it")
            return self._sites.delete_site(tenant, site_id, current.version)

        return self._delete(
            "site", site_id, lambda: self.get_site(principal, site_id), delete, expected
        )

    # -- driver groups ------------------------------------------------------------------------

    def create_group(self, principal: Principal, group: DriverGroup) -> DriverGroup:
        """Store a new group; ResourceExistsError when the id is taken."""
        created = stamped(group, self._clock.now(), created=True)
        if not self._groups.create_group(principal.tenant_id, created):
            raise ResourceExistsError("group", group.id)
        return created

    def get_group(self, principal: Principal, group_id: str) -> DriverGroup:
        """The group; ResourceNotFoundError if none."""
        group = self._groups.get_group(principal.tenant_id, group_id)
        if group is None:
            raise ResourceNotFoundError("group", group_id)
        return group

    def list_groups(
        self, principal: Principal, limit: int, cursor: str | None = None
    ) -> Page[DriverGroup]:
        """Groups by id."""
        return self._groups.list_groups(principal.tenant_id, limit, cursor)

    def update_group(
        self, principal: Principal, group_id: str, patch: Patch, expected: int | None = None
    ) -> tuple[DriverGroup, DriverGroup]:
        """Merge-patch the group; (before, after)."""
        tenant = principal.tenant_id
        return self._update(
            "group",
            group_id,
            load=lambda: self.get_group(principal, group_id),
            apply=lambda current: current.changed(patch),
            write=lambda new, current: self._groups.replace_group(tenant, new, current.version),
            expected=expected,
        )

    def delete_group(
        self, principal: Principal, group_id: str, expected: int | None = None
    ) -> DriverGroup:
        """Delete the group; ResourceInUseError while a vehicle belongs to it."""
        tenant = principal.tenant_id

        def delete(current: DriverGroup) -> bool:
            if self._vehicles.group_in_use(tenant, group_id):
                raise ResourceInUseError("group", group_id, "vehicles belong to it")
            return self._groups.delete_group(tenant, group_id, current.version)

        return self._delete(
            "group", group_id, lambda: self.get_group(principal, group_id), delete, expected
        )

    # -- vehicles -----------------------------------------------------------------------------

    def create_vehicle(self, principal: Principal, vehicle: Vehicle) -> Vehicle:
        """Store a new vehicle of an existing group."""
        self._require_group(principal.tenant_id, vehicle.group_id)
        created = stamped(vehicle, self._clock.now(), created=True)
        if not self._vehicles.create_vehicle(principal.tenant_id, created):
            raise ResourceExistsError("vehicle", vehicle.id)
        return created

    def get_vehicle(self, principal: Principal, vehicle_id: str) -> Vehicle:
        """The vehicle; ResourceNotFoundError if none."""
        vehicle = self._vehicles.get_vehicle(principal.tenant_id, vehicle_id)
        if vehicle is None:
            raise ResourceNotFoundError("vehicle", vehicle_id)
        return vehicle

    def list_vehicles(
        self,
        principal: Principal,
        limit: int,
        cursor: str | None = None,
        group_id: str | None = None,
    ) -> Page[Vehicle]:
        """Vehicles by id, optionally of one group."""
        return self._vehicles.list_vehicles(principal.tenant_id, limit, cursor, group_id)

    def update_vehicle(
        self, principal: Principal, vehicle_id: str, patch: Patch, expected: int | None = None
    ) -> tuple[Vehicle, Vehicle]:
        """Merge-patch the vehicle; a new group must exist."""
        tenant = principal.tenant_id

        def apply(current: Vehicle) -> Vehicle:
            new = current.changed(patch)
            if new.group_id != current.group_id:
                self._require_group(tenant, new.group_id)
            return new

        return self._update(
            "vehicle",
            vehicle_id,
            load=lambda: self.get_vehicle(principal, vehicle_id),
            apply=apply,
            write=lambda new, current: self._vehicles.replace_vehicle(tenant, new, current.version),
            expected=expected,
        )

    def delete_vehicle(
        self, principal: Principal, vehicle_id: str, expected: int | None = None
    ) -> Vehicle:
        """Delete the vehicle."""
        tenant = principal.tenant_id
        return self._delete(
            "vehicle",
            vehicle_id,
            lambda: self.get_vehicle(principal, vehicle_id),
            lambda current: self._vehicles.delete_vehicle(tenant, vehicle_id, current.version),
            expected,
        )

    def _require_group(self, tenant_id: str, group_id: str) -> None:
        if self._groups.get_group(tenant_id, group_id) is None:
            raise InvalidReferenceError("groupId", "group", group_id)

    # -- users --------------------------------------------------------------------------------

    def new_user_id(self) -> str:
        """An id for a user whose creator names none."""
        return self._new_id()

    def create_user(self, principal: Principal, user: User) -> User:
        """Store the record, then create the identity; a refused identity leaves no record.

        The record comes first: whatever fails after it, no identity exists without one.
        """
        check_user_change(principal, None, user)
        self._require_sites(principal.tenant_id, user.sites)
        created = stamped(user, self._clock.now(), created=True)
        if not self._users.create_user(principal.tenant_id, created):
            raise ResourceExistsError("user", user.id)
        try:
            self._directory.create(principal.tenant_id, created)
        except (UserDirectoryError, ResourceExistsError):
            # Best effort: should this fail too, a record without an identity signs no one in.
            undone = self._users.delete_user(principal.tenant_id, created, undo=True)
            if not undone:  # pragma: no cover - changed within the same request: very unlikely
                logger.error("user %s kept a record the directory refused", created.id)
            raise
        return created

    def get_user(self, principal: Principal, user_id: str) -> User:
        """The user; ResourceNotFoundError if none."""
        user = self._users.get_user(principal.tenant_id, user_id)
        if user is None:
            raise ResourceNotFoundError("user", user_id)
        return user

    def list_users(self, principal: Principal, limit: int, cursor: str | None = None) -> Page[User]:
        """Users by id."""
        return self._users.list_users(principal.tenant_id, limit, cursor)

    def update_user(
        self, principal: Principal, user_id: str, patch: Patch, expected: int | None = None
    ) -> tuple[User, User]:
        """Merge-patch the user: the record first, then the directory.

        Should the directory refuse, the record is put back as it was (the identity still has
        the old role) and UserDirectoryError tells the caller nothing changed.
        """
        tenant = principal.tenant_id

        def apply(current: User) -> User:
            new = current.changed(patch)
            check_user_change(principal, current, new)
            if new.sites != current.sites:
                self._require_sites(tenant, new.sites)
            return new

        before, after = self._update(
            "user",
            user_id,
            load=lambda: self.get_user(principal, user_id),
            apply=apply,
            write=lambda new, current: self._users.replace_user(tenant, new, current),
            expected=expected,
        )
        if after is before:
            return before, after
        try:
            self._directory.update(tenant, before, after)
        except UserDirectoryError:
            restored = before.model_copy(
                update={"version": after.version + 1, "updated_at": self._clock.now()}
            )
            undone = self._users.replace_user(tenant, restored, after, undo=True)
            if not undone:  # pragma: no cover - changed within the same request: very unlikely
                logger.error("user %s: record and directory disagree", user_id)
            raise
        return before, after

    def delete_user(self, principal: Principal, user_id: str, expected: int | None = None) -> User:
        """Delete the user: disable the identity, delete the record, delete the identity.

        Disabling first keeps the order safe: if the record cannot go (changed meanwhile, the
        last owner), the identity is enabled again; if the identity cannot be deleted after
        the record went, what remains is a disabled identity that signs no one in.
        """
        tenant = principal.tenant_id

        def delete(current: User) -> bool:
            check_user_change(principal, current, None)
            if current.active_owner and self._users.active_owners(tenant) <= 1:
                raise LastOwnerError(user_id)
            disabled = current.model_copy(update={"status": UserStatus.DISABLED})
            if current.status is UserStatus.ACTIVE:
                self._directory.update(tenant, current, disabled)
            try:
                deleted = self._users.delete_user(tenant, current)
            except LastOwnerError:
                self._reenable(tenant, current, disabled)
                raise
            if not deleted:
                self._reenable(tenant, current, disabled)
            return deleted

        user = self._delete(
            "user", user_id, lambda: self.get_user(principal, user_id), delete, expected
        )
        try:
            self._directory.delete(tenant, user)
        except UserDirectoryError:
            logger.exception("user %s deleted; its disabled identity remains", user_id)
        return user

    def _reenable(self, tenant_id: str, current: User, disabled: User) -> None:
        if current.status is UserStatus.ACTIVE:
            self._directory.update(tenant_id, disabled, current)

    def _require_sites(self, tenant_id: str, sites: tuple[str, ...] | None) -> None:
        for site_id in sites or ():
            if self._sites.get_site(tenant_id, site_id) is None:
                raise InvalidReferenceError("sites", "site", site_id)

    # -- tenant profile -----------------------------------------------------------------------

    def get_profile(self, principal: Principal) -> TenantProfile:
        """The stored profile, or the defaults (version 0) when none is stored."""
        stored = self._profiles.get_profile(principal.tenant_id)
        return stored if stored is not None else TenantProfile.default(principal.tenant_id)

    def update_profile(
        self, principal: Principal, patch: Patch, expected: int | None = None
    ) -> tuple[TenantProfile, TenantProfile]:
        """Merge-patch the profile (its defaults when none is stored); (before, after)."""
        tenant = principal.tenant_id
        return self._update(
            "tenant",
            tenant,
            load=lambda: self.get_profile(principal),
            apply=lambda current: current.changed(patch),
            write=lambda new, current: self._profiles.put_profile(tenant, new, current.version),
            expected=expected,
        )

    # -- the read-change-write loop -----------------------------------------------------------

    def _update(
        self,
        kind: str,
        record_id: str,
        *,
        load: Callable[[], R],
        apply: Callable[[R], R],
        write: Callable[[R, R], bool],
        expected: int | None,
    ) -> tuple[R, R]:
        for _ in range(self._attempts):
            current = load()
            if expected is not None and current.version != expected:
                raise VersionMismatchError(kind, record_id)
            new = apply(current)
            if new.content() == current.content():
                return current, current
            new = stamped(new, self._clock.now())
            if write(new, current):
                return current, new
            if expected is not None:
                raise VersionMismatchError(kind, record_id)
        raise ConcurrentModificationError(kind, record_id)

    def _delete(
        self,
        kind: str,
        record_id: str,
        load: Callable[[], R],
        delete: Callable[[R], bool],
        expected: int | None,
    ) -> R:
        for _ in range(self._attempts):
            current = load()
            if expected is not None and current.version != expected:
                raise VersionMismatchError(kind, record_id)
            if delete(current):
                return current
            if expected is not None:
                raise VersionMismatchError(kind, record_id)
        raise ConcurrentModificationError(kind, record_id)
