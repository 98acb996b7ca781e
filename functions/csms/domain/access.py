"""Who may do what: roles, permissions and site restrictions of operator users.

Roles come from the caller's verified JWT (Cognito groups or claims in AWS, `csms token`
locally); this module only says what each role may do. The table in docs/permissions.md is
generated from `ROLE_PERMISSIONS` and the API's route registry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Operator roles, from most to least powerful."""

    OWNER = "owner"
    ADMIN = "admin"
    OPERATOR = "operator"
    TECHNICIAN = "technician"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        """Higher is more powerful (owner 4 ... viewer 0)."""
        return len(_ORDER) - 1 - _ORDER.index(self)


_ORDER: tuple[Role, ...] = tuple(Role)


class Permission(StrEnum):
    """A capability an API operation requires."""

    READ = "read"  # sites, stations, live view, sessions, tokens, groups, vehicles
    MAINTAIN_STATIONS = "maintain-stations"  # reset, unlock, availability, configuration, ...
    TRACE_STATIONS = "trace-stations"  # message log of a station, switching tracing on
    CONTROL_CHARGING = "control-charging"  # start/stop, reservations, local lists, profiles
    MANAGE_DRIVERS = "manage-drivers"  # id tokens, driver groups, vehicles
    MANAGE_STATIONS = "manage-stations"  # register, rotate password, pin, assign, decommission
    MANAGE_SITES = "manage-sites"
    MANAGE_USERS = "manage-users"  # and read them
    READ_AUDIT = "read-audit"
    EXPORT = "export"
    MANAGE_TENANT = "manage-tenant"
    READ_TARIFFS = "read-tariffs"  # tariffs, their versions, tariff assignments
    MANAGE_TARIFFS = "manage-tariffs"  # create, change, delete tariffs (tenant-wide)
    ASSIGN_TARIFFS = "assign-tariffs"  # tariff assignments, at the caller's sites
    READ_BILLING = "read-billing"  # invoices, CDRs, a session's billing and payment status
    MANAGE_BILLING = "manage-billing"  # refunds (money leaves the tenant: tenant-wide)
    READ_MAINTENANCE = "read-maintenance"  # tickets, service history, maintenance plans
    MANAGE_MAINTENANCE = "manage-maintenance"  # open, assign, work, resolve tickets; plans


_VIEWER = frozenset({Permission.READ, Permission.READ_TARIFFS, Permission.READ_MAINTENANCE})
# Technicians do the maintenance work, so they take and resolve its tickets (at their sites).
_TECHNICIAN = _VIEWER | {
    Permission.MAINTAIN_STATIONS,
    Permission.TRACE_STATIONS,
    Permission.MANAGE_MAINTENANCE,
}
# Operators answer drivers' questions about what they paid; technicians and viewers see no money.
_OPERATOR = _TECHNICIAN | {
    Permission.CONTROL_CHARGING,
    Permission.MANAGE_DRIVERS,
    Permission.READ_BILLING,
}
_ADMIN = _OPERATOR | {
    Permission.MANAGE_STATIONS,
    Permission.MANAGE_SITES,
    Permission.MANAGE_USERS,
    Permission.READ_AUDIT,
    Permission.EXPORT,
    Permission.MANAGE_TARIFFS,
    Permission.ASSIGN_TARIFFS,
    Permission.MANAGE_BILLING,
}
_OWNER = _ADMIN | {Permission.MANAGE_TENANT}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: _OWNER,
    Role.ADMIN: _ADMIN,
    Role.OPERATOR: _OPERATOR,
    Role.TECHNICIAN: _TECHNICIAN,
    Role.VIEWER: _VIEWER,
}

# Permissions that act on the whole tenant: a user restricted to some sites does not get them,
# whatever the role (they would reach beyond those sites).
TENANT_WIDE: frozenset[Permission] = frozenset(
    {
        Permission.MANAGE_SITES,
        Permission.MANAGE_USERS,
        Permission.READ_AUDIT,
        Permission.EXPORT,
        Permission.MANAGE_TENANT,
        # A tariff applies wherever it is assigned, at every site.
        Permission.MANAGE_TARIFFS,
        # A refund gives back the tenant's money, whatever site the session was at.
        Permission.MANAGE_BILLING,
    }
)


def roles_with(permission: Permission) -> list[Role]:
    """The roles that hold a permission, most powerful first."""
    return [role for role in Role if permission in ROLE_PERMISSIONS[role]]


@dataclass(frozen=True)
class Principal:
    """The caller: subject, tenant, role and, optionally, the only sites they may reach."""

    subject: str
    tenant_id: str
    role: Role
    sites: frozenset[str] | None = None  # None: every site of the tenant

    @property
    def restricted(self) -> bool:
        """True when the user may reach only some sites."""
        return self.sites is not None

    def may(self, permission: Permission) -> bool:
        """Whether the role holds the permission (and, if tenant-wide, the user is unrestricted)."""
        if permission not in ROLE_PERMISSIONS[self.role]:
            return False
        return not (self.restricted and permission in TENANT_WIDE)

    def reaches(self, site_id: str | None) -> bool:
        """Whether the user may see a resource at this site (None: not at any site)."""
        if self.sites is None:
            return True
        return site_id is not None and site_id in self.sites

    def may_grant(self, role: Role) -> bool:
        """Users may give others at most their own role; only owners make owners."""
        if role is Role.OWNER:
            return self.role is Role.OWNER
        return role.rank <= self.role.rank

    def visible_sites(self, candidates: Iterable[str]) -> list[str]:
        """The candidates this user may reach, in their order."""
        return [site for site in candidates if self.reaches(site)]
