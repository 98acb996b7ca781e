"""Bodies of the tenancy endpoints: sites, driver groups, vehicles, users, the tenant profile.

Updates are JSON merge patches (RFC 7396): a field left out stays as it is, an explicit null
clears an optional field; a null for a field that must have a value is refused (400).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Self

from pydantic import ConfigDict, Field, model_validator

from csms.domain.access import Role
from csms.domain.tenancy import (
    CountryCode,
    Departure,
    Description,
    DriverGroup,
    Email,
    GroupKind,
    Kw,
    Name,
    ResourceId,
    Site,
    TenantProfile,
    TimeZoneName,
    User,
    UserStatus,
    Vehicle,
    Vin,
)
from csms.domain.tokens import TokenValue
from csms.handlers.api_models import ApiModel, Number

LimitKw = Annotated[Decimal, Field(gt=0, le=100_000, description="Grid connection limit, kW")]
BatteryKwh = Annotated[Decimal, Field(gt=0, le=1000, description="Usable battery capacity, kWh")]
Sites = Annotated[
    list[ResourceId],
    Field(
        min_length=1,
        max_length=100,
        description="The only sites the user may reach; null or absent: every site",
    ),
]


GroupPriority = Annotated[
    int,
    Field(
        ge=0,
        le=9,
        description="Load management serves higher priorities first (0-9; null: 0)",
    ),
]
VehiclePriority = Annotated[
    int,
    Field(
        ge=0,
        le=9,
        description="Load management priority of this vehicle (0-9; null: its group's)",
    ),
]


class _Body(ApiModel):
    model_config = ConfigDict(extra="forbid")


class _Patch(_Body):
    """A merge patch: `patch()` gives the named fields by their Python names."""

    # Fields that always have a value: null cannot clear them.
    not_null: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _required_not_cleared(self) -> Self:
        cleared = sorted(
            name for name in self.model_fields_set & self.not_null if getattr(self, name) is None
        )
        if cleared:
            names = ", ".join(type(self).model_fields[name].alias or name for name in cleared)
            raise ValueError(f"{names} cannot be null")
        return self

    def patch(self) -> dict[str, Any]:
        """The fields the body names (nested objects too), by Python name."""
        return self.model_dump(exclude_unset=True)


class _Stamped(ApiModel):
    version: int = Field(description="Changes with every update; the ETag carries it")
    updated_at: datetime | None = None


# -- sites ------------------------------------------------------------------------------------


class AddressModel(_Body):
    """A postal address; `country` is an ISO 3166-1 alpha-2 code."""

    street: Annotated[str, Field(min_length=1, max_length=200)]
    city: Annotated[str, Field(min_length=1, max_length=100)]
    postal_code: Annotated[str, Field(min_length=1, max_length=20)]
    country: Annotated[CountryCode, Field(examples=["DE"])]
    region: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class AddressPatch(_Patch):
    """Part of an address to change."""

    not_null: ClassVar[frozenset[str]] = frozenset({"street", "city", "postal_code", "country"})

    street: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    city: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    postal_code: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    country: CountryCode | None = None
    region: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class SiteView(_Stamped):
    """A site of the tenant."""

    id: str
    name: str
    address: AddressModel | None = Field(
        default=None, description="Null only for sites loaded from a seed document"
    )
    timezone: str = Field(description="IANA time zone of the site")
    limit_kw: Number = Field(description="Grid connection limit, kW. A JSON number.")
    description: str | None = None
    created_at: datetime | None = None

    @classmethod
    def of(cls, site: Site) -> SiteView:
        """From the domain site."""
        return cls(
            id=site.id,
            name=site.name,
            address=AddressModel.model_validate(site.address.model_dump())
            if site.address
            else None,
            timezone=site.timezone,
            limit_kw=site.limit_kw,
            description=site.description,
            version=site.version,
            created_at=site.created_at,
            updated_at=site.updated_at,
        )


class SitePage(ApiModel):
    """A page of sites, by id."""

    items: list[SiteView]
    next_cursor: str | None = None


class SiteCreate(_Body):
    """A new site."""

    id: ResourceId
    name: Name
    address: AddressModel
    timezone: TimeZoneName = "UTC"
    limit_kw: LimitKw
    description: Description | None = None

    def site(self) -> Site:
        """The domain site."""
        return Site.model_validate(self.model_dump())


class SiteUpdate(_Patch):
    """Changes to a site (merge patch; the address merges field by field)."""

    not_null: ClassVar[frozenset[str]] = frozenset({"name", "address", "timezone", "limit_kw"})

    name: Name | None = None
    address: AddressPatch | None = None
    timezone: TimeZoneName | None = None
    limit_kw: LimitKw | None = None
    description: Description | None = None


# -- driver groups ----------------------------------------------------------------------------


class GroupView(_Stamped):
    """A driver group."""

    id: str
    name: str
    kind: GroupKind
    description: str | None = None
    charging_priority: int | None = None
    created_at: datetime | None = None

    @classmethod
    def of(cls, group: DriverGroup) -> GroupView:
        """From the domain group."""
        return cls.model_validate(group.model_dump())


class GroupPage(ApiModel):
    """A page of driver groups, by id."""

    items: list[GroupView]
    next_cursor: str | None = None


class GroupCreate(_Body):
    """A new driver group."""

    id: ResourceId
    name: Name
    kind: GroupKind
    description: Description | None = None
    charging_priority: GroupPriority | None = None

    def group(self) -> DriverGroup:
        """The domain group."""
        return DriverGroup.model_validate(self.model_dump())


class GroupUpdate(_Patch):
    """Changes to a driver group (merge patch)."""

    not_null: ClassVar[frozenset[str]] = frozenset({"name", "kind"})

    name: Name | None = None
    kind: GroupKind | None = None
    description: Description | None = None
    charging_priority: GroupPriority | None = None


# -- vehicles ---------------------------------------------------------------------------------


_DEPARTMENT = "The department or cost centre its charging is allocated to in billing reports"


class VehicleView(_Stamped):
    """A fleet vehicle."""

    id: str
    name: str
    group_id: str
    vin: str | None = None
    battery_kwh: Number = Field(description="Usable battery capacity, kWh. A JSON number.")
    max_ac_kw: Number | None = None
    max_dc_kw: Number | None = None
    departure: Departure | None = None
    id_tokens: list[str] = []
    charging_priority: int | None = None
    department: str | None = Field(default=None, description=_DEPARTMENT)
    created_at: datetime | None = None

    @classmethod
    def of(cls, vehicle: Vehicle) -> VehicleView:
        """From the domain vehicle."""
        return cls.model_validate(vehicle.model_dump())


class VehiclePage(ApiModel):
    """A page of vehicles, by id."""

    items: list[VehicleView]
    next_cursor: str | None = None


_DEPARTURE = (
    "Usual departure: local time `HH:MM` at the site where the vehicle charges, and weekdays."
    " Load management plans the vehicle's sessions to it (found by the id token that starts"
    " them) unless a departure is declared for the session or told by the EV."
)


class VehicleCreate(_Body):
    """A new vehicle of an existing driver group."""

    id: ResourceId
    name: Name
    group_id: ResourceId
    vin: Vin | None = Field(default=None, description="17 characters, no I, O or Q")
    battery_kwh: BatteryKwh
    max_ac_kw: Kw | None = Field(default=None, description="Highest AC charging power, kW")
    max_dc_kw: Kw | None = Field(default=None, description="Highest DC charging power, kW")
    departure: Departure | None = Field(default=None, description=_DEPARTURE)
    id_tokens: Annotated[list[TokenValue], Field(max_length=20)] = Field(
        default=[], description="Id tokens used with this vehicle"
    )
    charging_priority: VehiclePriority | None = None
    department: Name | None = Field(default=None, description=_DEPARTMENT)

    def vehicle(self) -> Vehicle:
        """The domain vehicle."""
        return Vehicle.model_validate(self.model_dump())


class VehicleUpdate(_Patch):
    """Changes to a vehicle (merge patch; a departure names both its time and its days)."""

    not_null: ClassVar[frozenset[str]] = frozenset({"name", "group_id", "battery_kwh"})

    name: Name | None = None
    group_id: ResourceId | None = None
    vin: Vin | None = None
    battery_kwh: BatteryKwh | None = None
    max_ac_kw: Kw | None = None
    max_dc_kw: Kw | None = None
    departure: Departure | None = Field(default=None, description=_DEPARTURE)
    id_tokens: Annotated[list[TokenValue], Field(max_length=20)] | None = None
    charging_priority: VehiclePriority | None = None
    department: Name | None = Field(default=None, description=_DEPARTMENT)


# -- users ------------------------------------------------------------------------------------


class UserView(_Stamped):
    """An operator user of the tenant."""

    id: str = Field(description="The user's subject in the identity provider")
    email: str
    name: str
    role: Role
    sites: list[str] | None = Field(
        default=None, description="The only sites the user may reach; null: every site"
    )
    status: UserStatus
    created_at: datetime | None = None

    @classmethod
    def of(cls, user: User) -> UserView:
        """From the domain user."""
        return cls.model_validate(user.model_dump())


class UserPage(ApiModel):
    """A page of operator users, by id."""

    items: list[UserView]
    next_cursor: str | None = None


class UserCreate(_Body):
    """A new operator user; the identity provider invites them by e-mail."""

    id: ResourceId | None = Field(
        default=None, description="The user's subject; a new UUID when left out"
    )
    email: Email
    name: Name
    role: Role
    sites: Sites | None = None
    status: UserStatus = UserStatus.ACTIVE

    def user(self, new_id: str) -> User:
        """The domain user (with `new_id` when the body names none)."""
        return User.model_validate({**self.model_dump(), "id": self.id or new_id})


class UserUpdate(_Patch):
    """Changes to an operator user (merge patch; `sites: null` gives every site)."""

    not_null: ClassVar[frozenset[str]] = frozenset({"email", "name", "role", "status"})

    email: Email | None = None
    name: Name | None = None
    role: Role | None = None
    sites: Sites | None = None
    status: UserStatus | None = None


# -- tenant profile ---------------------------------------------------------------------------


class TenantView(ApiModel):
    """How the operator company presents itself; version 0 until it is first changed."""

    display_name: str
    contact_email: str | None = None
    default_timezone: str
    version: int
    updated_at: datetime | None = None

    @classmethod
    def of(cls, profile: TenantProfile) -> TenantView:
        """From the domain profile."""
        return cls.model_validate(profile.model_dump())


class TenantUpdate(_Patch):
    """Changes to the tenant profile (merge patch)."""

    not_null: ClassVar[frozenset[str]] = frozenset({"display_name", "default_timezone"})

    display_name: Name | None = None
    contact_email: Email | None = None
    default_timezone: TimeZoneName | None = None
