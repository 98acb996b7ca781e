"""Load management: a site's configuration, its meter readings, sessions' needs, the allocation.

Permissions: the configuration is the site's (MANAGE_SITES, like the site itself); readings and
declared needs steer charging (CONTROL_CHARGING), which a meter integration or a fleet system
gets as a machine user with the operator role, restricted to its sites if need be (MANAGE_SITES
is tenant-wide: a user restricted to one site could never hold it).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from csms.domain.access import Permission
from csms.handlers.api_access import current_principal, expected_version, if_match_header, operation
from csms.handlers.api_common import (
    BAD_REQUEST,
    FORBIDDEN,
    PRECONDITION_FAILED,
    ResourceId,
    audit_change,
    json_response,
    new_router,
    problems,
    responses,
    runtime,
    versioned,
)
from csms.handlers.api_models_load import (
    LoadConfigBody,
    LoadConfigView,
    NeedsBody,
    NeedsView,
    ReadingsAccepted,
    ReadingsBody,
    SiteLoadView,
)
from csms.handlers.api_sessions import SessionId

router = new_router()

KIND = "load-config"
_NO_SITE = (
    HTTPStatus.NOT_FOUND,
    "No such site in the caller's reach (`site-not-found`), or it has no load management "
    "(`load-config-not-found`)",
)
_CONFLICT = (HTTPStatus.CONFLICT, "Changed concurrently so often that the change was not applied")
_INVALID_CONFIG = (
    HTTPStatus.BAD_REQUEST,
    "The body is invalid, or the tree is (`invalid-load-config`: a loop, an orphan, a limit "
    "that cannot power one session at the minimum current, a fallback above the limit, ...)",
)
_UNKNOWN_STATION = (
    HTTPStatus.UNPROCESSABLE_ENTITY,
    "A station named is not an active station of the tenant at this site (`invalid-reference`)",
)


def _config_responses() -> dict[int, OpenAPIResponse]:
    created: OpenAPIResponse = {
        "description": "Created: the site had no load management; `ETag` carries the version",
        "content": {"application/json": {"model": LoadConfigView}},
    }
    return {
        **versioned(
            "Replaced",
            LoadConfigView,
            _INVALID_CONFIG,
            FORBIDDEN,
            (HTTPStatus.NOT_FOUND, "No such site in the caller's tenant"),
            PRECONDITION_FAILED,
            _CONFLICT,
            _UNKNOWN_STATION,
        ),
        HTTPStatus.CREATED.value: created,
    }


@operation(
    router,
    "GET",
    "/v1/sites/<site_id>/load-config",
    Permission.READ,
    summary="Get a site's load management configuration",
    tags=["load management"],
    responses=versioned("The configuration", LoadConfigView, _NO_SITE),
)
def get_load_config(site_id: ResourceId) -> Response[str]:
    """The load-group tree, limits, meter policy and hysteresis; its version as `ETag`."""
    config = runtime().load.config(current_principal(), site_id)
    return json_response(LoadConfigView.of(config), version=config.version)


_CONFIG_EXAMPLES = {
    "depot": Example(
        summary="A 150 kW depot: two feeders, a site meter, a cheaper night",
        value={
            "limitKw": 150,
            "limitA": {"l1": 200, "l2": 200, "l3": 200},
            "safetyMarginPct": 5,
            "groups": [
                {"id": "feeder-a", "name": "Feeder A", "limitKw": 80},
                {"id": "panel-a1", "parentId": "feeder-a", "limitA": {"l1": 63, "l2": 63}},
                {"id": "feeder-b", "name": "Feeder B", "limitKw": 80},
            ],
            "stations": [
                {"stationId": "CP-1", "groupId": "panel-a1", "maxKw": 22, "rotation": "RST"},
                {
                    "stationId": "CP-2",
                    "groupId": "panel-a1",
                    "maxKw": 7.4,
                    "phases": 1,
                    "rotation": "SRT",
                },
                {
                    "stationId": "DC-1",
                    "groupId": "feeder-b",
                    "maxKw": 50,
                    "currentType": "DC",
                    "evses": [{"evseId": 1}, {"evseId": 2, "maxKw": 25}],
                },
            ],
            "timeOfDay": [
                {
                    "days": ["mon", "tue", "wed", "thu", "fri"],
                    "start": "17:00",
                    "end": "20:00",
                    "limitKw": 100,
                }
            ],
            "meter": {"kind": "grid", "staleAfterS": 120, "fallbackLimitKw": 60},
        },
    ),
    "simple": Example(
        summary="One limit shared by two stations",
        value={
            "limitKw": 22,
            "stations": [
                {"stationId": "CP-1", "maxKw": 22},
                {"stationId": "CP-2", "maxKw": 22},
            ],
        },
    ),
}


@operation(
    router,
    "PUT",
    "/v1/sites/<site_id>/load-config",
    Permission.MANAGE_SITES,
    summary="Create or replace a site's load management configuration",
    tags=["load management"],
    responses=_config_responses(),
)
def put_load_config(
    site_id: ResourceId,
    body: Annotated[LoadConfigBody, Body(openapi_examples=_CONFIG_EXAMPLES)],
) -> Response[str]:
    """Validated as a whole; the site is rebalanced at once.

    `If-Match` makes the replacement conditional on the version read (412 otherwise, also
    when the site has no configuration yet). `timezone` left out is the site's.
    """
    expected = expected_version(if_match_header(router), KIND, site_id)
    change = runtime().load.put_config(current_principal(), site_id, body.spec(), expected)
    view = LoadConfigView.of(change.after)
    before = LoadConfigView.of(change.before) if change.before is not None else None
    audit_change(KIND, site_id, "create" if before is None else "replace", before, view)
    status = HTTPStatus.CREATED if before is None else HTTPStatus.OK
    return json_response(view, version=change.after.version, status=status)


@operation(
    router,
    "DELETE",
    "/v1/sites/<site_id>/load-config",
    Permission.MANAGE_SITES,
    summary="Turn a site's load management off",
    tags=["load management"],
    responses={
        204: {"description": "Deleted: the site's chargers are no longer managed"},
        **problems(BAD_REQUEST, FORBIDDEN, _NO_SITE, PRECONDITION_FAILED, _CONFLICT),
    },
)
def delete_load_config(site_id: ResourceId) -> Response[str]:
    """The rebalance then clears the charging profiles it set; new sessions are unmanaged."""
    expected = expected_version(if_match_header(router), KIND, site_id)
    config = runtime().load.delete_config(current_principal(), site_id, expected)
    audit_change(KIND, site_id, "delete", LoadConfigView.of(config), None)
    return Response(status_code=HTTPStatus.NO_CONTENT.value, body="")


@operation(
    router,
    "POST",
    "/v1/sites/<site_id>/readings",
    Permission.CONTROL_CHARGING,
    summary="Send site meter, PV or battery readings",
    tags=["load management"],
    responses={
        202: {
            "description": "Accepted: kept until they go stale",
            "content": {"application/json": {"model": ReadingsAccepted}},
        },
        **problems(
            (
                HTTPStatus.BAD_REQUEST,
                "The body is invalid, or a reading is (`invalid-readings`: more than 5 minutes "
                "in the future, older than 24 hours, a forecast beyond 48 hours)",
            ),
            FORBIDDEN,
            _NO_SITE,
        ),
    },
)
def post_readings(
    site_id: ResourceId,
    body: Annotated[
        ReadingsBody,
        Body(
            openapi_examples={
                "meter": Example(
                    summary="The site meter, every few seconds",
                    value={
                        "readings": [{"kind": "meter", "at": "2026-11-24T08:00:00Z", "kw": 42.5}]
                    },
                ),
                "pv-forecast": Example(
                    summary="Measured PV, and a forecast for the next hour",
                    value={
                        "readings": [
                            {"kind": "pv", "at": "2026-11-24T12:00:00Z", "kw": 18.2},
                            {
                                "kind": "battery",
                                "at": "2026-11-24T12:00:00Z",
                                "kw": 10,
                                "validUntil": "2026-11-24T13:00:00Z",
                            },
                        ]
                    },
                ),
            }
        ),
    ],
) -> Response[str]:
    """Up to 100 at a time. Not audited: a meter posts every few seconds.

    A batch that moves the power available by 1 kW or more (or brings a silent meter back)
    rebalances the site at once; otherwise the periodic rebalance takes it in within a minute.
    """
    outcome = runtime().load.record_readings(
        current_principal(), site_id, [reading.reading() for reading in body.readings]
    )
    view = ReadingsAccepted(accepted=outcome.accepted, rebalance=outcome.rebalance)
    return json_response(view, status=HTTPStatus.ACCEPTED)


@operation(
    router,
    "GET",
    "/v1/sites/<site_id>/load",
    Permission.READ,
    summary="Get a site's current load allocation",
    tags=["load management"],
    responses=responses("The allocation in force", _NO_SITE),
)
def get_site_load(site_id: ResourceId) -> SiteLoadView:
    """What the chargers may draw now, what limits it, and each EVSE's limit with its reason.

    Before the site's first rebalance: the power available, and no EVSE yet.
    """
    load = runtime().load.site_load(current_principal(), site_id)
    return SiteLoadView.of(load.allocation, rebalanced=load.rebalanced)


@operation(
    router,
    "PUT",
    "/v1/sessions/<session_id>/needs",
    Permission.CONTROL_CHARGING,
    summary="Declare what a session needs",
    tags=["load management"],
    responses=responses(
        "The needs as stored",
        (
            HTTPStatus.BAD_REQUEST,
            "The body is invalid (`invalid-needs`: a departure not in the next 7 days)",
        ),
        FORBIDDEN,
        (
            HTTPStatus.NOT_FOUND,
            "No such session in the caller's reach (`session-not-found`), or its site has no "
            "load management (`load-config-not-found`)",
        ),
        (HTTPStatus.CONFLICT, "The session has ended (`session-not-active`)"),
    ),
)
def put_needs(
    session_id: SessionId,
    body: Annotated[
        NeedsBody,
        Body(
            openapi_examples={
                "fleet": Example(
                    summary="Leaves at 06:30 with 45 kWh more",
                    value={"departure": "2026-11-25T06:30:00Z", "energyKwh": 45, "priority": 5},
                ),
                "unknown-energy": Example(
                    summary="Only the departure is known",
                    value={"departure": "2026-11-24T17:00:00+01:00"},
                ),
            }
        ),
    ],
) -> NeedsView:
    """Replaces what was declared before; left out is unknown. The site is rebalanced at once.

    Declared values are hints: the engine stays good when drivers misstate them.
    """
    needs = runtime().load.declare_needs(
        current_principal(),
        session_id,
        departure=body.departure,
        energy_kwh=body.energy_kwh,
        priority=body.priority,
    )
    view = NeedsView.of(needs)
    audit_change("session-needs", session_id, "declare", None, view)
    return view
