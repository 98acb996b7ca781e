"""A tenant's own records: sites, driver groups, vehicles, operator users and its profile.

Every record carries a `version` (1 when created, one more on every change): the API's ETag,
and the condition of every write, so that concurrent changes never overwrite each other.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Self, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from csms.domain.access import Principal, Role
from csms.domain.errors import ForbiddenError
from csms.domain.tokens import TokenValue, token_key

ID_PATTERN = r"^[A-Za-z0-9._:-]+$"
ResourceId = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]
"""Ids of sites, groups, vehicles and users: safe in a URL path and in a key segment."""

Version = Annotated[int, Field(ge=0)]

# ISO 3166-1 alpha-2, the 249 officially assigned codes (as in tzdata's iso3166.tab; a unit test
# compares this list with that file). Kept here because no country library is a runtime
# dependency of the functions.
_COUNTRIES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRY_CODES: frozenset[str] = frozenset(_COUNTRIES.split())

# An IANA zone name: Area/Location segments, never a path (ZoneInfo would read any file).
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+){0,2}$")
# ISO 3779: 17 characters, letters I, O and Q excluded (they read as 1 and 0).
_VIN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
# Deliberately loose: the identity provider verifies the address by sending to it.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def validate_country(value: str) -> str:
    """An assigned ISO 3166-1 alpha-2 code, in capitals."""
    if value not in COUNTRY_CODES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (such as DE, US)")
    return value


def validate_timezone(value: str) -> str:
    """An IANA time zone name that zoneinfo knows."""
    if len(value) > 64 or not _ZONE_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not an IANA time zone name (such as Europe/Berlin)")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def validate_vin(value: str) -> str:
    """A vehicle identification number (ISO 3779)."""
    if not _VIN.fullmatch(value):
        raise ValueError("a VIN is 17 characters of A-Z and 0-9, without I, O and Q")
    return value


def validate_email(value: str) -> str:
    """An e-mail address in its usual shape."""
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValueError("not an e-mail address")
    return value


CountryCode = Annotated[str, AfterValidator(validate_country)]
TimeZoneName = Annotated[str, AfterValidator(validate_timezone)]
ChargingPriority = Annotated[int, Field(ge=0, le=9)]
Vin = Annotated[str, AfterValidator(validate_vin)]
Email = Annotated[str, AfterValidator(validate_email)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=2000)]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    version: Version = 1
    updated_at: AwareDatetime | None = None

    def changed(self, patch: dict[str, Any]) -> Self:
        """This record with a JSON merge patch (RFC 7396) applied, validated as a whole.

        `patch` names fields by their Python names; nested objects merge, None removes.
        Raises pydantic's ValidationError when the result is not a valid record.
        """
        merged = merge_patch(self.model_dump(), patch)
        return type(self).model_validate(merged)

    def content(self) -> dict[str, Any]:
        """What the operator set: everything but version and timestamps (to compare)."""
        return self.model_dump(exclude={"version", "created_at", "updated_at"})


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396 on plain dicts: objects merge recursively, None removes, the rest replaces."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_patch(result[key], value)
        else:
            result[key] = value
    return result


# -- sites ------------------------------------------------------------------------------------


class Address(BaseModel):
    """Where a site is."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    street: Annotated[str, Field(min_length=1, max_length=200)]
    city: Annotated[str, Field(min_length=1, max_length=100)]
    postal_code: Annotated[str, Field(alias="postalCode", min_length=1, max_length=20)]
    country: CountryCode
    region: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class Site(_Record):
    """A place with chargers and one grid connection.

    Seed documents give only id, name and limitKw; the operator API adds the rest.
    """

    id: ResourceId
    name: Name
    # Optional only for sites loaded from seeds: the API requires it when creating a site.
    address: Address | None = None
    timezone: TimeZoneName = "UTC"
    limit_kw: Annotated[Decimal, Field(alias="limitKw", gt=0, le=100_000)]
    description: Description | None = None
    created_at: AwareDatetime | None = None


# -- driver groups and vehicles ---------------------------------------------------------------


class GroupKind(StrEnum):
    """What binds the drivers of a group."""

    FLEET = "fleet"
    RESIDENTS = "residents"
    EMPLOYEES = "employees"
    MEMBERS = "members"


class DriverGroup(_Record):
    """Drivers charged alike: a fleet, the residents of a building, employees, members."""

    id: ResourceId
    name: Name
    kind: GroupKind
    description: Description | None = None
    # Load management serves higher priorities first (0-9); None: the default, 0.
    charging_priority: ChargingPriority | None = None
    created_at: AwareDatetime | None = None


class Weekday(StrEnum):
    """Days of the week, Monday first (ISO 8601)."""

    MONDAY = "Monday"
    TUESDAY = "Tuesday"
    WEDNESDAY = "Wednesday"
    THURSDAY = "Thursday"
    FRIDAY = "Friday"
    SATURDAY = "Saturday"
    SUNDAY = "Sunday"


_WEEK = list(Weekday)


class Departure(BaseModel):
    """When a vehicle usually leaves: wall-clock time at the site where it charges.

    The time is local (the site's timezone), so that a departure at 07:00 stays at 07:00
    across daylight saving changes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    time: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["07:30"])]
    days: Annotated[tuple[Weekday, ...], Field(min_length=1, max_length=7)]

    @field_validator("days")
    @classmethod
    def _days_once_in_order(cls, days: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        if len(set(days)) != len(days):
            raise ValueError("each day may be named once")
        return tuple(sorted(days, key=_WEEK.index))

    def next_after(self, moment: datetime, timezone: str) -> datetime:
        """The first departure after `moment` (aware), on one of the days, at the site's time.

        A departure time that does not exist that day (the hour clocks skip in spring) is
        read as the same wall-clock time before the change, as `zoneinfo` does.
        """
        zone = ZoneInfo(timezone)
        local = moment.astimezone(zone)
        hour, minute = (int(part) for part in self.time.split(":"))
        for ahead in range(8):
            day = local.date() + timedelta(days=ahead)
            if _WEEK[day.weekday()] not in self.days:
                continue
            candidate = datetime.combine(day, time(hour, minute), tzinfo=zone)
            if candidate > moment:
                return candidate
        raise AssertionError("a week always holds one of the days")  # pragma: no cover


Kw = Annotated[Decimal, Field(gt=0, le=1000)]


class Vehicle(_Record):
    """A fleet vehicle: what smart charging needs to have it charged by its departure."""

    id: ResourceId
    name: Name
    group_id: ResourceId
    vin: Vin | None = None
    battery_kwh: Annotated[Decimal, Field(gt=0, le=1000)]
    max_ac_kw: Kw | None = None
    max_dc_kw: Kw | None = None
    departure: Departure | None = None
    id_tokens: Annotated[tuple[TokenValue, ...], Field(max_length=20)] = ()
    # Overrides its group's priority for load management (0-9); None: the group's.
    charging_priority: ChargingPriority | None = None
    # The department or cost centre its charging is allocated to (billing reports).
    department: Name | None = None
    created_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _tokens_once(self) -> Self:
        keys = [token_key(value) for value in self.id_tokens]
        if len(set(keys)) != len(keys):
            raise ValueError("each id token may be named once (without regard to case)")
        return self


# -- operator users ---------------------------------------------------------------------------


class UserStatus(StrEnum):
    """Whether the user may sign in."""

    ACTIVE = "active"
    DISABLED = "disabled"


# The sites travel in the JWT as one comma-separated claim (a Cognito custom attribute holds
# at most 2048 characters).
MAX_SITES_CLAIM = 2048


class User(_Record):
    """An operator user: the identity provider's subject, with role and sites.

    `sites` None means every site of the tenant; a list restricts the user to those sites.
    """

    id: ResourceId
    email: Email
    name: Name
    role: Role
    sites: Annotated[tuple[ResourceId, ...], Field(min_length=1, max_length=100)] | None = None
    status: UserStatus = UserStatus.ACTIVE
    created_at: AwareDatetime | None = None

    @field_validator("sites")
    @classmethod
    def _sites_once(cls, sites: tuple[str, ...] | None) -> tuple[str, ...] | None:
        # A set, kept sorted: the same sites always compare (and audit) alike.
        if sites is None:
            return None
        ordered = tuple(sorted(set(sites)))
        if len(",".join(ordered)) > MAX_SITES_CLAIM:
            raise ValueError(f"the site ids take more than {MAX_SITES_CLAIM} characters together")
        return ordered

    @property
    def active_owner(self) -> bool:
        """An owner who may sign in: a tenant keeps at least one."""
        return self.role is Role.OWNER and self.status is UserStatus.ACTIVE


def check_user_change(actor: Principal, before: User | None, after: User | None) -> None:
    """Raise ForbiddenError unless the actor may turn `before` into `after`.

    None stands for absent: (None, user) creates, (user, None) deletes. Users grant at most
    their own role; only owners create, change or delete owners.
    """
    if before is not None and before.role is Role.OWNER and actor.role is not Role.OWNER:
        raise ForbiddenError("only owners may change or delete an owner")
    if after is None or (before is not None and after.role is before.role):
        return
    if not actor.may_grant(after.role):
        raise ForbiddenError(
            f"role {actor.role.value} may not grant role {after.role.value}"
            + (" (only owners make owners)" if after.role is Role.OWNER else "")
        )


# -- tenant profile ---------------------------------------------------------------------------


class TenantProfile(_Record):
    """How the operator company presents itself; version 0 while nothing is stored."""

    display_name: Name
    contact_email: Email | None = None
    default_timezone: TimeZoneName = "UTC"
    version: Version = 0

    @classmethod
    def default(cls, tenant_id: str) -> TenantProfile:
        """What a tenant that never set its profile answers."""
        return cls(display_name=tenant_id)


R = TypeVar("R", bound=_Record)


def stamped(record: R, at: datetime, *, created: bool = False) -> R:
    """The record with its next version and timestamps (`created`: the first version)."""
    update: dict[str, Any] = {"version": 1 if created else record.version + 1, "updated_at": at}
    if created and "created_at" in type(record).model_fields:
        update["created_at"] = at
    return record.model_copy(update=update)
