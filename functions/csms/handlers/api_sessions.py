"""Charging sessions and their meter values."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import AwareDatetime

from csms.domain.access import Permission
from csms.domain.sessions import SessionState
from csms.domain.tokens import MAX_TOKEN_LENGTH
from csms.handlers.api_access import current_principal, operation
from csms.handlers.api_common import BAD_REQUEST, Cursor, Limit, new_router, responses, runtime
from csms.handlers.api_models import (
    MeterReadingView,
    MeterValuePage,
    SessionDetail,
    SessionPage,
    SessionSummary,
)
from csms.services.ports import SessionQuery

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
    responses=responses("A page of sessions", BAD_REQUEST),
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
    query = SessionQuery(
        station_id=station_id,
        site_id=site_id,
        id_token=id_token,
        group_id=group_id,
        state=state,
        started_from=started_from,
        started_to=started_to,
    )
    page = runtime().sessions.find(current_principal().tenant_id, query, limit, cursor)
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
    return SessionDetail.of_view(runtime().sessions.view(current_principal().tenant_id, session_id))


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
    page = runtime().sessions.chunks(current_principal().tenant_id, session_id, limit, cursor)
    readings = sorted(
        (reading for chunk in page.items for reading in chunk.readings),
        key=lambda reading: reading.timestamp,
    )
    return MeterValuePage(
        items=[MeterReadingView.of(r) for r in readings], next_cursor=page.next_cursor
    )
