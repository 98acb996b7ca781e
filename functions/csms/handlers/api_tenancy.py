"""Routes of the HTTP API: sites, driver groups, vehicles, operator users, the tenant profile.

Single resources answer with an `ETag` (their version); PATCH and DELETE honour `If-Match`.
Every change is noted for the audit log with the public representation before and after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.openapi.types import (
    OpenAPIResponse,
    OpenAPIResponseHeader,
)
from pydantic import ValidationError

from csms.domain.access import Permission
from csms.domain.tenancy import ID_PATTERN
from csms.handlers.api_access import (
    current_principal,
    expected_version,
    if_match_header,
    operation,
)
from csms.handlers.api_common import (
    BAD_REQUEST,
    FORBIDDEN,
    PRECONDITION_FAILED,
    Cursor,
    Limit,
    ResourceId,
    audit_change,
    json_response,
    new_router,
    problems,
    runtime,
)
from csms.handlers.api_models import ApiModel
from csms.handlers.api_models_tenancy import (
    GroupCreate,
    GroupPage,
    GroupUpdate,
    GroupView,
    SiteCreate,
    SitePage,
    SiteUpdate,
    SiteView,
    TenantUpdate,
    TenantView,
    UserCreate,
    UserPage,
    UserUpdate,
    UserView,
    VehicleCreate,
    VehiclePage,
    VehicleUpdate,
    VehicleView,
)
from csms.services.tenancy import TenancyService

router = new_router()

_JSON = "application/json"
_ETAG: dict[str, OpenAPIResponseHeader] = {
    "ETag": {
        "description": "The stored version; send it back in `If-Match` to change the resource",
        "schema": {"type": "string"},
    }
}
_CONFLICT_RETRY = (
    HTTPStatus.CONFLICT,
    "In use, or changed concurrently so often that the change was not applied",
)
_UNPROCESSABLE = (HTTPStatus.UNPROCESSABLE_ENTITY, "The body names a resource that does not exist")


def _one(
    description: str, model: type[ApiModel], *described: tuple[HTTPStatus, str], status: int = 200
) -> dict[int, OpenAPIResponse]:
    ok: OpenAPIResponse = {
        "description": description,
        "headers": _ETAG,
        "content": {_JSON: {"model": model}},
    }
    return {status: ok, **problems(BAD_REQUEST, *described)}


def _deleted(*described: tuple[HTTPStatus, str]) -> dict[int, OpenAPIResponse]:
    return {204: {"description": "Deleted"}, **problems(BAD_REQUEST, *described)}


def _not_found(kind: str) -> tuple[HTTPStatus, str]:
    return HTTPStatus.NOT_FOUND, f"No such {kind} in the caller's tenant"


def _send(view: ApiModel, version: int, *, location: str | None = None) -> Response[str]:
    created = HTTPStatus.CREATED if location else HTTPStatus.OK
    return json_response(view, version=version, status=created, location=location)


def _no_content() -> Response[str]:
    return Response(status_code=HTTPStatus.NO_CONTENT.value, body="")


def _expected(kind: str, resource_id: str) -> int | None:
    return expected_version(if_match_header(router), kind, resource_id)


@contextmanager
def _service() -> Iterator[TenancyService]:
    """The service; a change the domain refuses as a whole is a 400 like any bad body."""
    try:
        yield runtime().tenancy
    except ValidationError as exc:
        errors: list[dict[str, Any]] = [
            {"loc": ("body", *err["loc"]), "msg": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from None


# -- sites ------------------------------------------------------------------------------------

_NO_SITE = _not_found("site")
_SITE_EXAMPLES = {
    "depot": Example(
        summary="A depot with a 250 kW grid connection",
        value={
            "id": "depot-north",
            "name": "Depot North",
            "address": {
                "street": "Hafenstraße 1",
                "city": "Hamburg",
                "postalCode": "20457",
                "country": "DE",
            },
            "timezone": "Europe/Berlin",
            "limitKw": 250,
        },
    )
}


@operation(
    router,
    "GET",
    "/v1/sites",
    Permission.READ,
    summary="List sites",
    tags=["sites"],
    responses={200: {"description": "A page of sites, by id"}, **problems(BAD_REQUEST)},
)
def list_sites(limit: Limit = 50, cursor: Cursor = None) -> SitePage:
    """The sites the caller may reach, by id, a page at a time."""
    with _service() as tenancy:
        page = tenancy.list_sites(current_principal(), limit, cursor)
    return SitePage(items=[SiteView.of(s) for s in page.items], next_cursor=page.next_cursor)


@operation(
    router,
    "GET",
    "/v1/sites/<site_id>",
    Permission.READ,
    summary="Get a site",
    tags=["sites"],
    responses=_one("The site", SiteView, _NO_SITE),
)
def get_site(site_id: ResourceId) -> Response[str]:
    """Address, time zone, grid limit; `ETag` carries the version."""
    with _service() as tenancy:
        site = tenancy.get_site(current_principal(), site_id)
    return _send(SiteView.of(site), site.version)


@operation(
    router,
    "POST",
    "/v1/sites",
    Permission.MANAGE_SITES,
    summary="Create a site",
    tags=["sites"],
    responses=_one(
        "Created; `Location` names the new site",
        SiteView,
        FORBIDDEN,
        (HTTPStatus.CONFLICT, "A site with this id exists"),
        status=201,
    ),
)
def create_site(
    body: Annotated[SiteCreate, Body(openapi_examples=_SITE_EXAMPLES)],
) -> Response[str]:
    """A new site of the caller's tenant."""
    with _service() as tenancy:
        site = tenancy.create_site(current_principal(), body.site())
    view = SiteView.of(site)
    audit_change("site", site.id, "create", None, view)
    return _send(view, site.version, location=f"/v1/sites/{site.id}")


@operation(
    router,
    "PATCH",
    "/v1/sites/<site_id>",
    Permission.MANAGE_SITES,
    summary="Change a site",
    tags=["sites"],
    responses=_one(
        "The site as changed", SiteView, FORBIDDEN, _NO_SITE, _CONFLICT_RETRY, PRECONDITION_FAILED
    ),
)
def update_site(
    site_id: ResourceId,
    body: Annotated[
        SiteUpdate,
        Body(
            openapi_examples={
                "limit": Example(summary="Raise the grid limit", value={"limitKw": 400}),
                "move": Example(
                    summary="Change the street and clear the description",
                    value={"address": {"street": "Kai 7"}, "description": None},
                ),
            }
        ),
    ],
) -> Response[str]:
    """JSON merge patch; `If-Match` makes it conditional on the version read."""
    with _service() as tenancy:
        before, after = tenancy.update_site(
            current_principal(), site_id, body.patch(), _expected("site", site_id)
        )
    view = SiteView.of(after)
    if after is not before:
        audit_change("site", site_id, "update", SiteView.of(before), view)
    return _send(view, after.version)


@operation(
    router,
    "DELETE",
    "/v1/sites/<site_id>",
    Permission.MANAGE_SITES,
    summary="Delete a site",
    tags=["sites"],
    responses=_deleted(
        FORBIDDEN,
        _NO_SITE,
        (HTTPStatus.CONFLICT, "Stations are assigned to the site (`site-in-use`)"),
        PRECONDITION_FAILED,
    ),
)
def delete_site(site_id: ResourceId) -> Response[str]:
    """Refused while stations are assigned to the site."""
    with _service() as tenancy:
        site = tenancy.delete_site(current_principal(), site_id, _expected("site", site_id))
    audit_change("site", site_id, "delete", SiteView.of(site), None)
    return _no_content()


# -- driver groups ----------------------------------------------------------------------------

_NO_GROUP = _not_found("driver group")


@operation(
    router,
    "GET",
    "/v1/groups",
    Permission.READ,
    summary="List driver groups",
    tags=["groups"],
    responses={200: {"description": "A page of groups, by id"}, **problems(BAD_REQUEST)},
)
def list_groups(limit: Limit = 50, cursor: Cursor = None) -> GroupPage:
    """The tenant's driver groups by id."""
    with _service() as tenancy:
        page = tenancy.list_groups(current_principal(), limit, cursor)
    return GroupPage(items=[GroupView.of(g) for g in page.items], next_cursor=page.next_cursor)


@operation(
    router,
    "GET",
    "/v1/groups/<group_id>",
    Permission.READ,
    summary="Get a driver group",
    tags=["groups"],
    responses=_one("The group", GroupView, _NO_GROUP),
)
def get_group(group_id: ResourceId) -> Response[str]:
    """One driver group; `ETag` carries the version."""
    with _service() as tenancy:
        group = tenancy.get_group(current_principal(), group_id)
    return _send(GroupView.of(group), group.version)


@operation(
    router,
    "POST",
    "/v1/groups",
    Permission.MANAGE_DRIVERS,
    summary="Create a driver group",
    tags=["groups"],
    responses=_one(
        "Created; `Location` names the new group",
        GroupView,
        FORBIDDEN,
        (HTTPStatus.CONFLICT, "A group with this id exists"),
        status=201,
    ),
)
def create_group(
    body: Annotated[
        GroupCreate,
        Body(
            openapi_examples={
                "fleet": Example(
                    summary="A delivery fleet",
                    value={"id": "vans", "name": "Delivery vans", "kind": "fleet"},
                )
            }
        ),
    ],
) -> Response[str]:
    """A new driver group: fleet, residents, employees or members."""
    with _service() as tenancy:
        group = tenancy.create_group(current_principal(), body.group())
    view = GroupView.of(group)
    audit_change("group", group.id, "create", None, view)
    return _send(view, group.version, location=f"/v1/groups/{group.id}")


@operation(
    router,
    "PATCH",
    "/v1/groups/<group_id>",
    Permission.MANAGE_DRIVERS,
    summary="Change a driver group",
    tags=["groups"],
    responses=_one(
        "The group as changed",
        GroupView,
        FORBIDDEN,
        _NO_GROUP,
        _CONFLICT_RETRY,
        PRECONDITION_FAILED,
    ),
)
def update_group(
    group_id: ResourceId,
    body: Annotated[
        GroupUpdate,
        Body(openapi_examples={"rename": Example(summary="Rename", value={"name": "Vans"})}),
    ],
) -> Response[str]:
    """JSON merge patch; `If-Match` makes it conditional on the version read."""
    with _service() as tenancy:
        before, after = tenancy.update_group(
            current_principal(), group_id, body.patch(), _expected("group", group_id)
        )
    view = GroupView.of(after)
    if after is not before:
        audit_change("group", group_id, "update", GroupView.of(before), view)
    return _send(view, after.version)


@operation(
    router,
    "DELETE",
    "/v1/groups/<group_id>",
    Permission.MANAGE_DRIVERS,
    summary="Delete a driver group",
    tags=["groups"],
    responses=_deleted(
        FORBIDDEN,
        _NO_GROUP,
        (HTTPStatus.CONFLICT, "A vehicle belongs to the group (`group-in-use`)"),
        PRECONDITION_FAILED,
    ),
)
def delete_group(group_id: ResourceId) -> Response[str]:
    """Refused while a vehicle belongs to the group."""
    with _service() as tenancy:
        group = tenancy.delete_group(current_principal(), group_id, _expected("group", group_id))
    audit_change("group", group_id, "delete", GroupView.of(group), None)
    return _no_content()


# -- vehicles ---------------------------------------------------------------------------------

_NO_VEHICLE = _not_found("vehicle")
GroupFilter = Annotated[
    str | None,
    Query(alias="groupId", max_length=64, pattern=ID_PATTERN, description="Vehicles of this group"),
]


@operation(
    router,
    "GET",
    "/v1/vehicles",
    Permission.READ,
    summary="List vehicles",
    tags=["vehicles"],
    responses={200: {"description": "A page of vehicles, by id"}, **problems(BAD_REQUEST)},
)
def list_vehicles(
    limit: Limit = 50, cursor: Cursor = None, group_id: GroupFilter = None
) -> VehiclePage:
    """The tenant's vehicles by id, optionally of one group."""
    with _service() as tenancy:
        page = tenancy.list_vehicles(current_principal(), limit, cursor, group_id)
    return VehiclePage(items=[VehicleView.of(v) for v in page.items], next_cursor=page.next_cursor)


@operation(
    router,
    "GET",
    "/v1/vehicles/<vehicle_id>",
    Permission.READ,
    summary="Get a vehicle",
    tags=["vehicles"],
    responses=_one("The vehicle", VehicleView, _NO_VEHICLE),
)
def get_vehicle(vehicle_id: ResourceId) -> Response[str]:
    """One vehicle; `ETag` carries the version."""
    with _service() as tenancy:
        vehicle = tenancy.get_vehicle(current_principal(), vehicle_id)
    return _send(VehicleView.of(vehicle), vehicle.version)


@operation(
    router,
    "POST",
    "/v1/vehicles",
    Permission.MANAGE_DRIVERS,
    summary="Create a vehicle",
    tags=["vehicles"],
    responses=_one(
        "Created; `Location` names the new vehicle",
        VehicleView,
        FORBIDDEN,
        (HTTPStatus.CONFLICT, "A vehicle with this id exists"),
        _UNPROCESSABLE,
        status=201,
    ),
)
def create_vehicle(
    body: Annotated[
        VehicleCreate,
        Body(
            openapi_examples={
                "van": Example(
                    summary="A van leaving at 06:30 on weekdays",
                    value={
                        "id": "van-7",
                        "name": "Van 7",
                        "groupId": "vans",
                        "vin": "WDB9066331S123456",
                        "batteryKwh": 75,
                        "maxAcKw": 11,
                        "maxDcKw": 80,
                        "departure": {
                            "time": "06:30",
                            "days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
                        },
                        "idTokens": ["04A2B3C4D5E6F7"],
                    },
                )
            }
        ),
    ],
) -> Response[str]:
    """A new vehicle of an existing driver group (422 `invalid-reference` otherwise)."""
    with _service() as tenancy:
        vehicle = tenancy.create_vehicle(current_principal(), body.vehicle())
    view = VehicleView.of(vehicle)
    audit_change("vehicle", vehicle.id, "create", None, view)
    return _send(view, vehicle.version, location=f"/v1/vehicles/{vehicle.id}")


@operation(
    router,
    "PATCH",
    "/v1/vehicles/<vehicle_id>",
    Permission.MANAGE_DRIVERS,
    summary="Change a vehicle",
    tags=["vehicles"],
    responses=_one(
        "The vehicle as changed",
        VehicleView,
        FORBIDDEN,
        _NO_VEHICLE,
        _CONFLICT_RETRY,
        PRECONDITION_FAILED,
        _UNPROCESSABLE,
    ),
)
def update_vehicle(
    vehicle_id: ResourceId,
    body: Annotated[
        VehicleUpdate,
        Body(
            openapi_examples={
                "departure": Example(
                    summary="Leave at 07:00 on Saturdays; forget the VIN",
                    value={"departure": {"time": "07:00", "days": ["Saturday"]}, "vin": None},
                )
            }
        ),
    ],
) -> Response[str]:
    """JSON merge patch; a new group must exist; `If-Match` makes it conditional."""
    with _service() as tenancy:
        before, after = tenancy.update_vehicle(
            current_principal(), vehicle_id, body.patch(), _expected("vehicle", vehicle_id)
        )
    view = VehicleView.of(after)
    if after is not before:
        audit_change("vehicle", vehicle_id, "update", VehicleView.of(before), view)
    return _send(view, after.version)


@operation(
    router,
    "DELETE",
    "/v1/vehicles/<vehicle_id>",
    Permission.MANAGE_DRIVERS,
    summary="Delete a vehicle",
    tags=["vehicles"],
    responses=_deleted(FORBIDDEN, _NO_VEHICLE, _CONFLICT_RETRY, PRECONDITION_FAILED),
)
def delete_vehicle(vehicle_id: ResourceId) -> Response[str]:
    """Forget the vehicle."""
    with _service() as tenancy:
        vehicle = tenancy.delete_vehicle(
            current_principal(), vehicle_id, _expected("vehicle", vehicle_id)
        )
    audit_change("vehicle", vehicle_id, "delete", VehicleView.of(vehicle), None)
    return _no_content()


# -- users ------------------------------------------------------------------------------------

_NO_USER = _not_found("user")
_LAST_OWNER = (
    HTTPStatus.CONFLICT,
    "The tenant's last active owner cannot be demoted, disabled or deleted (`last-owner`)",
)
_DIRECTORY = (HTTPStatus.BAD_GATEWAY, "The identity provider refused the change; nothing changed")
_GRANT = (
    HTTPStatus.FORBIDDEN,
    "Users grant at most their own role; only owners create, change or delete owners",
)


@operation(
    router,
    "GET",
    "/v1/users",
    Permission.MANAGE_USERS,
    summary="List operator users",
    tags=["users"],
    responses={200: {"description": "A page of users, by id"}, **problems(BAD_REQUEST, FORBIDDEN)},
)
def list_users(limit: Limit = 50, cursor: Cursor = None) -> UserPage:
    """The tenant's operator users by id."""
    with _service() as tenancy:
        page = tenancy.list_users(current_principal(), limit, cursor)
    return UserPage(items=[UserView.of(u) for u in page.items], next_cursor=page.next_cursor)


@operation(
    router,
    "GET",
    "/v1/users/<user_id>",
    Permission.MANAGE_USERS,
    summary="Get an operator user",
    tags=["users"],
    responses=_one("The user", UserView, FORBIDDEN, _NO_USER),
)
def get_user(user_id: ResourceId) -> Response[str]:
    """One user; `ETag` carries the version."""
    with _service() as tenancy:
        user = tenancy.get_user(current_principal(), user_id)
    return _send(UserView.of(user), user.version)


@operation(
    router,
    "POST",
    "/v1/users",
    Permission.MANAGE_USERS,
    summary="Create an operator user",
    tags=["users"],
    responses=_one(
        "Created; `Location` names the new user",
        UserView,
        _GRANT,
        (HTTPStatus.CONFLICT, "A user with this id or e-mail exists"),
        (HTTPStatus.UNPROCESSABLE_ENTITY, "`sites` names a site that does not exist"),
        _DIRECTORY,
        status=201,
    ),
)
def create_user(
    body: Annotated[
        UserCreate,
        Body(
            openapi_examples={
                "technician": Example(
                    summary="A technician for one site",
                    value={
                        "email": "tech@example.com",
                        "name": "Kim Tech",
                        "role": "technician",
                        "sites": ["depot-north"],
                    },
                )
            }
        ),
    ],
) -> Response[str]:
    """A new user; in AWS the user pool invites them by e-mail."""
    with _service() as tenancy:
        user = tenancy.create_user(current_principal(), body.user(tenancy.new_user_id()))
    view = UserView.of(user)
    audit_change("user", user.id, "create", None, view)
    return _send(view, user.version, location=f"/v1/users/{user.id}")


@operation(
    router,
    "PATCH",
    "/v1/users/<user_id>",
    Permission.MANAGE_USERS,
    summary="Change an operator user",
    tags=["users"],
    responses=_one(
        "The user as changed",
        UserView,
        _GRANT,
        _NO_USER,
        _LAST_OWNER,
        PRECONDITION_FAILED,
        (HTTPStatus.UNPROCESSABLE_ENTITY, "`sites` names a site that does not exist"),
        _DIRECTORY,
    ),
)
def update_user(
    user_id: ResourceId,
    body: Annotated[
        UserUpdate,
        Body(
            openapi_examples={
                "disable": Example(summary="Disable the user", value={"status": "disabled"}),
                "all-sites": Example(
                    summary="Make an operator of every site",
                    value={"role": "operator", "sites": None},
                ),
            }
        ),
    ],
) -> Response[str]:
    """JSON merge patch, then the identity provider; `If-Match` makes it conditional."""
    with _service() as tenancy:
        before, after = tenancy.update_user(
            current_principal(), user_id, body.patch(), _expected("user", user_id)
        )
    view = UserView.of(after)
    if after is not before:
        audit_change("user", user_id, "update", UserView.of(before), view)
    return _send(view, after.version)


@operation(
    router,
    "DELETE",
    "/v1/users/<user_id>",
    Permission.MANAGE_USERS,
    summary="Delete an operator user",
    tags=["users"],
    responses=_deleted(_GRANT, _NO_USER, _LAST_OWNER, PRECONDITION_FAILED, _DIRECTORY),
)
def delete_user(user_id: ResourceId) -> Response[str]:
    """The identity is disabled, the record deleted, then the identity deleted."""
    with _service() as tenancy:
        user = tenancy.delete_user(current_principal(), user_id, _expected("user", user_id))
    audit_change("user", user_id, "delete", UserView.of(user), None)
    return _no_content()


# -- tenant profile ---------------------------------------------------------------------------


@operation(
    router,
    "GET",
    "/v1/tenant",
    Permission.READ,
    summary="Get the tenant profile",
    tags=["tenant"],
    responses=_one("The profile (defaults, version 0, until first changed)", TenantView),
)
def get_tenant() -> Response[str]:
    """Display name, contact e-mail and default time zone of the caller's tenant."""
    with _service() as tenancy:
        profile = tenancy.get_profile(current_principal())
    return _send(TenantView.of(profile), profile.version)


@operation(
    router,
    "PATCH",
    "/v1/tenant",
    Permission.MANAGE_TENANT,
    summary="Change the tenant profile",
    tags=["tenant"],
    responses=_one(
        "The profile as changed", TenantView, FORBIDDEN, _CONFLICT_RETRY, PRECONDITION_FAILED
    ),
)
def update_tenant(
    body: Annotated[
        TenantUpdate,
        Body(
            openapi_examples={
                "profile": Example(
                    summary="Name the company and its contact",
                    value={
                        "displayName": "Nordstrom Charging GmbH",
                        "contactEmail": "ops@example.com",
                        "defaultTimezone": "Europe/Berlin",
                    },
                )
            }
        ),
    ],
) -> Response[str]:
    """JSON merge patch; `If-Match: "0"` applies only while nothing is stored."""
    principal = current_principal()
    with _service() as tenancy:
        before, after = tenancy.update_profile(
            principal, body.patch(), _expected("tenant", principal.tenant_id)
        )
    view = TenantView.of(after)
    if after is not before:
        audit_change("tenant", principal.tenant_id, "update", TenantView.of(before), view)
    return _send(view, after.version)
