"""The live view: stations, connectors and sessions of a site now, and every site's summary.

The DynamoDB calls one request costs are bounded; `csms.services.live.LiveService` counts them.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from csms.domain.access import Permission
from csms.handlers.api_access import current_principal, operation
from csms.handlers.api_common import BAD_REQUEST, Cursor, ResourceId, new_router, responses, runtime
from csms.handlers.api_models_stations import LivePage, SiteLiveSummaryView, SiteLiveView

router = new_router()

_TAGS = ["live"]


@operation(
    router,
    "GET",
    "/v1/live",
    Permission.READ,
    summary="Every site's live summary",
    tags=_TAGS,
    responses=responses("A page of site summaries, by site id", BAD_REQUEST),
)
def live_sites(
    limit: Annotated[int, Query(ge=1, le=20, description="Sites per page")] = 10,
    cursor: Cursor = None,
) -> LivePage:
    """Stations online, connectors charging, power now and energy today of each site reached.

    Energy today counts from the site's local midnight (its time zone); sessions that started
    before midnight count with the part after it, estimated pro rata by time between their
    first and newest energy register.
    """
    page = runtime().live.sites(current_principal(), limit, cursor)
    return LivePage(
        items=[SiteLiveSummaryView.of(s) for s in page.items], next_cursor=page.next_cursor
    )


@operation(
    router,
    "GET",
    "/v1/sites/<site_id>/live",
    Permission.READ,
    summary="A site's live view",
    tags=_TAGS,
    responses=responses(
        "The site's summary and its stations now",
        (HTTPStatus.NOT_FOUND, "No such site in the caller's tenant and sites"),
    ),
)
def live_site(site_id: ResourceId) -> SiteLiveView:
    """The site's summary (as in `GET /v1/live`) and each station now.

    Per station: online or offline since when, protocol, each connector's status since when
    and its last error, and the active session on it with power, energy, SoC, start time and
    token type.
    """
    return SiteLiveView.of_site(runtime().live.site(current_principal(), site_id))
