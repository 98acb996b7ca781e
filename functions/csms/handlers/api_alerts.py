"""Alerts: what is broken at the caller's stations (opened and closed by fault detection)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from csms.domain.access import Permission
from csms.domain.alerts import AlertState
from csms.domain.errors import ForbiddenError, ResourceNotFoundError
from csms.handlers import _runtime
from csms.handlers.api_access import current_principal, operation
from csms.handlers.api_common import (
    BAD_REQUEST,
    FORBIDDEN,
    Cursor,
    Limit,
    new_router,
    responses,
    station_of,
)
from csms.handlers.api_models_alerts import AlertPage, AlertView
from csms.services.alerts import AlertQuery

router = new_router()

AlertId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z-]+$")]
_NO_ALERT = (HTTPStatus.NOT_FOUND, "No such alert in the caller's tenant")


@operation(
    router,
    "GET",
    "/v1/alerts",
    Permission.READ,
    summary="List alerts",
    tags=["alerts"],
    responses=responses("A page of alerts", BAD_REQUEST, FORBIDDEN),
)
def list_alerts(
    *,
    limit: Limit = 50,
    cursor: Cursor = None,
    state: Annotated[AlertState | None, Query(description="open or closed")] = None,
    station_id: Annotated[
        str | None,
        Query(alias="stationId", max_length=48, description="Alerts of this station"),
    ] = None,
    site_id: Annotated[
        str | None, Query(alias="siteId", max_length=64, description="Alerts at this site")
    ] = None,
) -> AlertPage:
    """The caller's alerts, newest first; a site-restricted user sees only their sites'."""
    principal = current_principal()
    if site_id is not None and not principal.reaches(site_id):
        raise ForbiddenError(f"site {site_id!r} is not one of this user's sites")
    if station_id is not None and principal.restricted:
        station_of(principal, station_id)  # a station beyond reach is answered 404
    query = AlertQuery(
        state=state,
        station_id=station_id,
        site_id=site_id,
        sites=principal.sites,
    )
    page = _runtime.alerts().list(principal.tenant_id, query, limit, cursor)
    return AlertPage(items=[AlertView.of(a) for a in page.items], next_cursor=page.next_cursor)


@operation(
    router,
    "GET",
    "/v1/alerts/<alert_id>",
    Permission.READ,
    summary="Get an alert",
    tags=["alerts"],
    responses=responses("The alert", _NO_ALERT),
)
def get_alert(alert_id: AlertId) -> AlertView:
    """Kind, severity, port, details, when it opened and closed, and the steps taken."""
    principal = current_principal()
    alert = _runtime.alerts().get(principal.tenant_id, alert_id)
    if alert is None or not principal.reaches(alert.site_id):
        raise ResourceNotFoundError("alert", alert_id)
    return AlertView.of(alert)
