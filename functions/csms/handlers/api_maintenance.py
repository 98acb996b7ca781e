"""Maintenance: tickets and their workflow, a station's service history, preventive plans."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from csms.domain.access import Permission
from csms.domain.errors import ForbiddenError
from csms.domain.maintenance import TicketState
from csms.handlers import _runtime
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
    StationId,
    audit_change,
    json_response,
    new_router,
    problems,
    responses,
    station_of,
    versioned,
)
from csms.handlers.api_models_maintenance import (
    PlanCreate,
    PlanPage,
    PlanView,
    ServiceDone,
    ServiceDoneView,
    ServiceHistoryEntry,
    ServiceHistoryPage,
    ServiceRecordView,
    TicketCreate,
    TicketPage,
    TicketTransition,
    TicketUpdate,
    TicketView,
)
from csms.services.maintenance import MaintenanceService, TicketQuery

router = new_router()

_ID_PATTERN = r"^[0-9A-Za-z-]+$"
TicketId = Annotated[str, Path(min_length=1, max_length=64, pattern=_ID_PATTERN)]
PlanId = Annotated[str, Path(min_length=1, max_length=64, pattern=_ID_PATTERN)]
_NO_TICKET = (HTTPStatus.NOT_FOUND, "No such ticket in the caller's tenant (or sites)")
_NO_PLAN = (HTTPStatus.NOT_FOUND, "No such maintenance plan in the caller's tenant (or sites)")
_NO_STATION = (HTTPStatus.NOT_FOUND, "No such station in the caller's tenant (or sites)")
_BAD_REFERENCE = (
    HTTPStatus.UNPROCESSABLE_ENTITY,
    "The station or assignee named is not one of the caller's tenant (or sites)",
)
_CONFLICT = (
    HTTPStatus.CONFLICT,
    "The workflow does not allow this move from the ticket's state (the problem names the "
    "allowed ones), or the change kept losing to concurrent ones",
)
_TAGS = ["maintenance"]


def _service() -> MaintenanceService:
    return _runtime.maintenance()


# -- tickets -------------------------------------------------------------------------------------


@operation(
    router,
    "GET",
    "/v1/tickets",
    Permission.READ_MAINTENANCE,
    summary="List maintenance tickets",
    tags=_TAGS,
    responses=responses("A page of tickets", BAD_REQUEST, FORBIDDEN, _NO_STATION),
)
def list_tickets(
    *,
    limit: Limit = 50,
    cursor: Cursor = None,
    state: Annotated[TicketState | None, Query(description="Tickets in this state")] = None,
    station_id: Annotated[
        str | None,
        Query(alias="stationId", max_length=48, description="Tickets of this station"),
    ] = None,
    site_id: Annotated[
        str | None, Query(alias="siteId", max_length=64, description="Tickets at this site")
    ] = None,
) -> TicketPage:
    """The caller's tickets, newest first; a site-restricted user sees only their sites'."""
    principal = current_principal()
    if site_id is not None and not principal.reaches(site_id):
        raise ForbiddenError(f"site {site_id!r} is not one of this user's sites")
    if station_id is not None and principal.restricted:
        station_of(principal, station_id)  # a station beyond reach is answered 404
    query = TicketQuery(state=state, station_id=station_id, site_id=site_id)
    page = _service().list_tickets(principal, query, limit, cursor)
    return TicketPage(items=[TicketView.of(t) for t in page.items], next_cursor=page.next_cursor)


@operation(
    router,
    "GET",
    "/v1/tickets/<ticket_id>",
    Permission.READ_MAINTENANCE,
    summary="Get a maintenance ticket",
    tags=_TAGS,
    responses=versioned("The ticket", TicketView, _NO_TICKET),
)
def get_ticket(ticket_id: TicketId) -> Response[str]:
    """State, allowed moves, assignee, linked alerts and timeline; its version as `ETag`."""
    ticket = _service().get_ticket(current_principal(), ticket_id)
    return json_response(TicketView.of(ticket), version=ticket.version)


_TICKET_EXAMPLES = {
    "port": Example(
        summary="A broken cable on port 1, for a technician",
        value={
            "stationId": "CP-0042",
            "evseId": 1,
            "title": "Cable jacket cracked",
            "description": "Driver reported exposed braid near the handle.",
            "priority": "urgent",
            "assignee": "tech-anna",
        },
    ),
    "alert": Example(
        summary="A ticket for an alert that did not clear",
        value={"stationId": "CP-0042", "title": "Faulted since Monday", "alertIds": ["a-123"]},
    ),
}


@operation(
    router,
    "POST",
    "/v1/tickets",
    Permission.MANAGE_MAINTENANCE,
    summary="Open a maintenance ticket",
    tags=_TAGS,
    responses={
        201: {
            "description": "Opened; `Location` names the new ticket",
            "content": {"application/json": {"model": TicketView}},
        },
        **problems(BAD_REQUEST, FORBIDDEN, _BAD_REFERENCE),
    },
)
def create_ticket(
    body: Annotated[TicketCreate, Body(openapi_examples=_TICKET_EXAMPLES)],
) -> Response[str]:
    """A new open ticket at one of the caller's stations."""
    ticket = _service().create_ticket(
        current_principal(),
        station_id=body.station_id,
        evse_id=body.evse_id,
        title=body.title,
        description=body.description,
        priority=body.priority,
        assignee=body.assignee,
        alert_ids=tuple(body.alert_ids),
    )
    view = TicketView.of(ticket)
    audit_change("ticket", ticket.id, "create", None, view)
    return json_response(
        view, version=ticket.version, status=HTTPStatus.CREATED, location=f"/v1/tickets/{ticket.id}"
    )


@operation(
    router,
    "PATCH",
    "/v1/tickets/<ticket_id>",
    Permission.MANAGE_MAINTENANCE,
    summary="Change a maintenance ticket",
    tags=_TAGS,
    responses=versioned(
        "The ticket as changed",
        TicketView,
        BAD_REQUEST,
        FORBIDDEN,
        _NO_TICKET,
        _BAD_REFERENCE,
        PRECONDITION_FAILED,
        (HTTPStatus.CONFLICT, "The assignee of a ticket being worked on cannot be removed"),
    ),
)
def update_ticket(
    ticket_id: TicketId,
    body: Annotated[
        TicketUpdate,
        Body(
            openapi_examples={
                "reassign": Example(
                    summary="Hand the ticket to another technician",
                    value={"assignee": "tech-ben", "priority": "high"},
                ),
                "clear": Example(summary="Clear the description", value={"description": None}),
            }
        ),
    ],
) -> Response[str]:
    """JSON merge patch of title, description, priority, assignee (the state: transitions).

    With `If-Match`, only the version named is changed (412 otherwise).
    """
    expected = expected_version(if_match_header(router), "ticket", ticket_id)
    before, after = _service().update_ticket(current_principal(), ticket_id, body.patch(), expected)
    view = TicketView.of(after)
    if after != before:
        audit_change("ticket", ticket_id, "update", TicketView.of(before), view)
    return json_response(view, version=after.version)


@operation(
    router,
    "POST",
    "/v1/tickets/<ticket_id>/transitions",
    Permission.MANAGE_MAINTENANCE,
    summary="Move a maintenance ticket in its workflow",
    tags=_TAGS,
    responses=versioned(
        "The ticket in its new state",
        TicketView,
        BAD_REQUEST,
        FORBIDDEN,
        _NO_TICKET,
        _BAD_REFERENCE,
        PRECONDITION_FAILED,
        _CONFLICT,
    ),
)
def transition_ticket(
    ticket_id: TicketId,
    body: Annotated[
        TicketTransition,
        Body(
            openapi_examples={
                "assign": Example(
                    summary="Assign to a technician", value={"to": "assigned", "assignee": "tech-a"}
                ),
                "start": Example(summary="Start the work", value={"to": "in-progress"}),
                "resolve": Example(
                    summary="Resolve with what was done",
                    value={"to": "resolved", "resolution": "Replaced the RCD; tested 3 sessions."},
                ),
                "reopen": Example(
                    summary="Reopen: the fault came back",
                    value={"to": "open", "note": "Tripped again overnight."},
                ),
            }
        ),
    ],
) -> Response[str]:
    """Open -> assigned -> in-progress -> resolved, and resolved -> open (reopen).

    Any other move is 409 `invalid-transition`, naming the moves allowed from the ticket's state.
    Assigning needs an `assignee`, resolving a `resolution`. With `If-Match`, only the version
    named moves (412 otherwise).
    """
    expected = expected_version(if_match_header(router), "ticket", ticket_id)
    before, after = _service().transition(
        current_principal(),
        ticket_id,
        body.to,
        assignee=body.assignee,
        resolution=body.resolution,
        note=body.note,
        expected_version=expected,
    )
    view = TicketView.of(after)
    audit_change("ticket", ticket_id, "transition", TicketView.of(before), view)
    return json_response(view, version=after.version)


# -- service history -----------------------------------------------------------------------------


@operation(
    router,
    "GET",
    "/v1/stations/<station_id>/service-history",
    Permission.READ_MAINTENANCE,
    summary="A station's service history",
    tags=_TAGS,
    responses=responses("A page of tickets and services done", BAD_REQUEST, _NO_STATION),
)
def service_history(
    station_id: StationId, limit: Limit = 50, cursor: Cursor = None
) -> ServiceHistoryPage:
    """The station's tickets (open and resolved) and preventive services done, newest first."""
    principal = current_principal()
    station_of(principal, station_id)
    page = _service().service_history(principal, station_id, limit, cursor)
    return ServiceHistoryPage(
        items=[ServiceHistoryEntry.of(e) for e in page.items], next_cursor=page.next_cursor
    )


# -- plans ---------------------------------------------------------------------------------------


@operation(
    router,
    "GET",
    "/v1/maintenance-plans",
    Permission.READ_MAINTENANCE,
    summary="List preventive maintenance plans",
    tags=_TAGS,
    responses=responses("A page of plans", BAD_REQUEST),
)
def list_plans(limit: Limit = 50, cursor: Cursor = None) -> PlanPage:
    """The caller's plans, oldest first (a page may hold fewer: plans beyond reach are left out)."""
    page = _service().list_plans(current_principal(), limit, cursor)
    return PlanPage(items=[PlanView.of(p) for p in page.items], next_cursor=page.next_cursor)


@operation(
    router,
    "GET",
    "/v1/maintenance-plans/<plan_id>",
    Permission.READ_MAINTENANCE,
    summary="Get a preventive maintenance plan",
    tags=_TAGS,
    responses=versioned("The plan", PlanView, _NO_PLAN),
)
def get_plan(plan_id: PlanId) -> Response[str]:
    """Intervals, last service, when it falls due by time, and the occurrence's ticket."""
    plan = _service().get_plan(current_principal(), plan_id)
    return json_response(PlanView.of(plan), version=plan.version)


@operation(
    router,
    "POST",
    "/v1/maintenance-plans",
    Permission.MANAGE_MAINTENANCE,
    summary="Create a preventive maintenance plan",
    tags=_TAGS,
    responses={
        201: {
            "description": "Created; `Location` names the new plan",
            "content": {"application/json": {"model": PlanView}},
        },
        **problems(BAD_REQUEST, FORBIDDEN, _BAD_REFERENCE),
    },
)
def create_plan(
    body: Annotated[
        PlanCreate,
        Body(
            openapi_examples={
                "both": Example(
                    summary="Every 180 days or 20 MWh, whichever comes first",
                    value={
                        "stationId": "CP-0042",
                        "title": "Semi-annual inspection",
                        "everyDays": 180,
                        "everyKwh": 20000,
                    },
                ),
                "days": Example(
                    summary="Yearly, last serviced in March",
                    value={
                        "stationId": "CP-0042",
                        "title": "Annual electrical test",
                        "everyDays": 365,
                        "lastServiceAt": "2026-03-01T09:00:00Z",
                    },
                ),
            }
        ),
    ],
) -> Response[str]:
    """A plan: the daily run opens one ticket each time it falls due (by time or energy)."""
    plan = _service().create_plan(
        current_principal(),
        station_id=body.station_id,
        title=body.title,
        description=body.description,
        every_days=body.every_days,
        every_kwh=body.every_kwh,
        last_service_at=body.last_service_at,
    )
    view = PlanView.of(plan)
    audit_change("maintenance-plan", plan.id, "create", None, view)
    return json_response(
        view,
        version=plan.version,
        status=HTTPStatus.CREATED,
        location=f"/v1/maintenance-plans/{plan.id}",
    )


@operation(
    router,
    "DELETE",
    "/v1/maintenance-plans/<plan_id>",
    Permission.MANAGE_MAINTENANCE,
    summary="Delete a preventive maintenance plan",
    tags=_TAGS,
    responses={
        204: {"description": "Deleted"},
        **problems(BAD_REQUEST, FORBIDDEN, _NO_PLAN, PRECONDITION_FAILED),
    },
)
def delete_plan(plan_id: PlanId) -> Response[str]:
    """No more tickets from it; its tickets and service records stay in the history."""
    expected = expected_version(if_match_header(router), "maintenance-plan", plan_id)
    removed = _service().delete_plan(current_principal(), plan_id, expected)
    audit_change("maintenance-plan", plan_id, "delete", PlanView.of(removed), None)
    return Response(status_code=HTTPStatus.NO_CONTENT.value, body="")


@operation(
    router,
    "POST",
    "/v1/maintenance-plans/<plan_id>/services",
    Permission.MANAGE_MAINTENANCE,
    summary="Record a plan's service as done",
    tags=_TAGS,
    responses={
        201: {
            "description": "Recorded; the plan counts days and energy again from it",
            "content": {"application/json": {"model": ServiceDoneView}},
        },
        **problems(BAD_REQUEST, FORBIDDEN, _NO_PLAN, PRECONDITION_FAILED, _CONFLICT),
    },
)
def record_service(
    plan_id: PlanId,
    body: Annotated[
        ServiceDone,
        Body(
            openapi_examples={
                "done": Example(
                    summary="Serviced this morning",
                    value={
                        "note": "Filters cleaned, contactors checked.",
                        "doneAt": "2026-07-14T08:30:00Z",
                    },
                ),
                "now": Example(summary="Serviced just now", value={}),
            }
        ),
    ],
) -> Response[str]:
    """A service record in the station's history; the next occurrence waits from it."""
    expected = expected_version(if_match_header(router), "maintenance-plan", plan_id)
    before, after, record = _service().record_service(
        current_principal(),
        plan_id,
        note=body.note,
        done_at=body.done_at,
        expected_version=expected,
    )
    view = ServiceDoneView(plan=PlanView.of(after), service=ServiceRecordView.of(record))
    audit_change("maintenance-plan", plan_id, "service", PlanView.of(before), view.plan)
    return json_response(view, version=after.version, status=HTTPStatus.CREATED)
