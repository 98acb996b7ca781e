"""Charging sessions and their meter values."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import AwareDatetime

from csms.domain.access import Permission, Principal
from csms.domain.errors import ForbiddenError, SessionNotFoundError
from csms.domain.sessions import SessionState
from csms.domain.tokens import MAX_TOKEN_LENGTH
from csms.handlers.api_access import current_principal, operation
from csms.handlers.api_common import (
    BAD_REQUEST,
    FORBIDDEN,
    Cursor,
    Limit,
    new_router,
    responses,
    runtime,
    station_of,
)
from csms.handlers.api_models import (
    MeterReadingView,
    MeterValuePage,
    SessionDetail,
    SessionPage,
    SessionSummary,
)
from csms.services.ports import SessionQuery
from csms.services.sessions import SessionView

router = new_router()

SessionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")]
_NO_SESSION = (HTTPStatus.NOT_FOUND, "No such session in the caller's tenant")


@operation(
    router,
    "GET",
    "/v1/sessions",
    Permission.READ,
    summary="List charging sessions",
    tags=["sessions"],
    responses=responses("A page of sessions", BAD_REQUEST, FORBIDDEN),
)
def list_sessions(
    *,
    limit: Limit = 50,
    cursor: Cursor = None,
    station_id: Annotated[
        str | None,
        Query(alias="stationId", max_length=48, description="Sessions of this station"),
    ] = None,
    site_id: Annotated[
        str | None, Query(alias="siteId", max_length=64, description="Sessions at this site")
    ] = None,
    id_token: Annotated[
        str | None,
        Query(
            alias="idToken",
            max_length=MAX_TOKEN_LENGTH,
            description="Sessions started with this token (without regard to case)",
        ),
    ] = None,
    group_id: Annotated[
        str | None,
        Query(alias="groupId", max_length=64, description="Sessions of this driver group"),
    ] = None,
    state: Annotated[SessionState | None, Query(description="Active or Ended")] = None,
    started_from: Annotated[
        AwareDatetime | None,
        Query(alias="startedFrom", description="Started at or after (RFC 3339, inclusive)"),
    ] = None,
    started_to: Annotated[
        AwareDatetime | None,
        Query(alias="startedTo", description="Started before (RFC 3339, exclusive)"),
    ] = None,
) -> SessionPage:
    """The caller's sessions, newest start first, filtered; a page at a time."""
    if started_from is not None and started_to is not None and started_from >= started_to:
        return SessionPage(items=[])  # an empty time range (and not a query the index refuses)
    principal = current_principal()
    query = SessionQuery(
        station_id=station_id,
        site_id=_site_in_reach(principal, station_id, site_id),
        id_token=id_token,
        group_id=group_id,
        state=state,
        started_from=started_from,
        started_to=started_to,
    )
    page = runtime().sessions.find(principal.tenant_id, query, limit, cursor)
    return SessionPage(
        items=[SessionSummary.of(s) for s in page.items], next_cursor=page.next_cursor
    )


@operation(
    router,
    "GET",
    "/v1/sessions/<session_id>",
    Permission.READ,
    summary="Get a charging session",
    tags=["sessions"],
    responses=responses("The session", _NO_SESSION),
)
def get_session(session_id: SessionId) -> SessionDetail:
    """State, station, EVSE, token, start/stop, live totals, stop reason and anomalies."""
    return SessionDetail.of_view(_session_in_reach(current_principal(), session_id))


@operation(
    router,
    "GET",
    "/v1/sessions/<session_id>/meter-values",
    Permission.READ,
    summary="A session's meter values",
    tags=["sessions"],
    responses=responses("A page of meter values", BAD_REQUEST, _NO_SESSION),
)
def session_meter_values(
    session_id: SessionId,
    limit: Annotated[int, Query(ge=1, le=100, description="Stored station messages per page")] = 50,
    cursor: Cursor = None,
) -> MeterValuePage:
    """Readings in base units, oldest first, a page of stored station messages at a time.

    A page holds the readings of up to `limit` messages, in time order. Pages follow the
    messages in the order of their first reading (2.0.1: seqNo), so a 1.6 StopTransaction's
    `transactionData`, which begins at the start, comes in the first page. A page can be
    empty while `nextCursor` is set (messages that carried no meter values).
    """
    principal = current_principal()
    if principal.restricted:
        _session_in_reach(principal, session_id)
    page = runtime().sessions.chunks(principal.tenant_id, session_id, limit, cursor)
    readings = sorted(
        (reading for chunk in page.items for reading in chunk.readings),
        key=lambda reading: reading.timestamp,
    )
    return MeterValuePage(
        items=[MeterReadingView.of(r) for r in readings], next_cursor=page.next_cursor
    )


def _session_in_reach(principal: Principal, session_id: str) -> SessionView:
    """The session, unless it is another tenant's or at a site beyond the caller's reach."""
    view = runtime().sessions.view(principal.tenant_id, session_id)
    if not principal.reaches(view.session.site_id):
        raise SessionNotFoundError(session_id)
    return view


def _site_in_reach(principal: Principal, station_id: str | None, site_id: str | None) -> str | None:
    """The site filter a listing must apply for this caller.

    A user limited to some sites lists the sessions of one of them at a time: the site given,
    the site of the station given, or their only site.
    """
    if not principal.restricted:
        return site_id
    if site_id is not None:
        if not principal.reaches(site_id):
            raise ForbiddenError(f"site {site_id!r} is not one of this user's sites")
        return site_id
    if station_id is not None:
        return station_of(principal, station_id).site_id
    sites = sorted(principal.sites or ())
    if len(sites) == 1:
        return sites[0]
    raise ForbiddenError(
        "a user limited to several sites lists sessions one site at a time: "
        "give siteId or stationId"
    )
