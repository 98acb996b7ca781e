"""Maintenance through the HTTP API and the daily run on moto: tickets, history, plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.integration.conftest import Ctx, seed_station
from tests.integration.test_api import call_api

from csms.adapters.dynamo_maintenance import DynamoPlanRepository, DynamoTicketRepository
from csms.adapters.dynamo_sessions import DynamoSessionRepository
from csms.adapters.dynamo_tenancy import DynamoUserRepository
from csms.adapters.outbox import OutboxEncoder
from csms.adapters.system import new_uuid
from csms.domain.sessions import MeterMark, Session, SessionState
from csms.domain.station import ProtocolVersion
from csms.domain.tenancy import User
from csms.handlers import _runtime, sched_maintenance

TECH = {"sub": "tech-anna", "tenant_id": "default", "role": "technician"}
VIEWER = {"sub": "view-1", "tenant_id": "default", "role": "viewer"}
SITE9 = {"sub": "op-9", "tenant_id": "default", "role": "operator", "sites": ["site-9"]}


@pytest.fixture
def stations(runtime: _runtime.Runtime) -> _runtime.Runtime:
    """CP-1 at site-1 (tenant default), CP-2 in another tenant, and technician Anna."""
    seed_station(runtime, "CP-1")
    seed_station(runtime, "CP-2", tenant="other")
    user = User.model_validate(
        {"id": "tech-anna", "email": "anna@example.com", "name": "Anna", "role": "technician"}
    )
    assert DynamoUserRepository().create_user("default", user)
    return runtime


def _ticket(**over: Any) -> dict[str, Any]:
    body = {"stationId": "CP-1", "evseId": 1, "title": "Cable cracked", "priority": "high"}
    return {**body, **over}


def test_ticket_lifecycle_through_the_api(stations: _runtime.Runtime) -> None:
    # GIVEN a ticket opened by a technician
    status, headers, made = call_api("POST", "/v1/tickets", claims=TECH, body=_ticket())
    assert status == 201, made
    ticket_id = made["id"]
    assert {k.lower(): v for k, v in headers.items()}["location"] == f"/v1/tickets/{ticket_id}"
    assert made["allowedTransitions"] == ["assigned"]
    # WHEN it is assigned (If-Match), started and resolved
    status, headers, assigned = call_api(
        "POST",
        f"/v1/tickets/{ticket_id}/transitions",
        claims=TECH,
        body={"to": "assigned", "assignee": "tech-anna"},
        headers={"If-Match": '"1"'},
    )
    assert status == 200, assigned
    assert headers["etag"] == '"2"'
    call_api(
        "POST", f"/v1/tickets/{ticket_id}/transitions", claims=TECH, body={"to": "in-progress"}
    )
    status, _, resolved = call_api(
        "POST",
        f"/v1/tickets/{ticket_id}/transitions",
        claims=TECH,
        body={"to": "resolved", "resolution": "Replaced the cable"},
    )
    # THEN it is resolved with its timeline, and a viewer reads it with its version
    assert status == 200, resolved
    assert resolved["state"] == "resolved"
    assert [e["action"] for e in resolved["timeline"]] == [
        "created",
        "assigned",
        "in-progress",
        "resolved",
    ]
    status, headers, read = call_api("GET", f"/v1/tickets/{ticket_id}", claims=VIEWER)
    assert status == 200
    assert read == resolved
    assert headers["etag"] == '"4"'


def test_ticket_transition_refusals_are_precise(stations: _runtime.Runtime) -> None:
    # GIVEN an open ticket
    _, _, made = call_api("POST", "/v1/tickets", claims=TECH, body=_ticket())
    path = f"/v1/tickets/{made['id']}/transitions"
    # WHEN it is resolved at once, assigned without assignee, or with a stale If-Match
    skipped = call_api("POST", path, claims=TECH, body={"to": "resolved", "resolution": "x"})
    no_assignee = call_api("POST", path, claims=TECH, body={"to": "assigned"})
    stale = call_api(
        "POST",
        path,
        claims=TECH,
        body={"to": "assigned", "assignee": "tech-anna"},
        headers={"If-Match": '"7"'},
    )
    unknown = call_api("POST", path, claims=TECH, body={"to": "assigned", "assignee": "nobody"})
    # THEN: 409 naming the allowed moves, 400, 412, 422
    assert skipped[0] == 409
    assert skipped[2]["type"] == "/problems/invalid-transition"
    assert "allowed from open: assigned" in skipped[2]["detail"]
    assert no_assignee[0] == 400
    assert stale[0] == 412
    assert unknown[0] == 422
    assert unknown[2]["type"] == "/problems/invalid-reference"


def test_ticket_patch_list_and_reach(stations: _runtime.Runtime) -> None:
    # GIVEN two tickets at CP-1
    _, _, one = call_api("POST", "/v1/tickets", claims=TECH, body=_ticket(title="One"))
    _, _, two = call_api("POST", "/v1/tickets", claims=TECH, body=_ticket(title="Two"))
    # WHEN one is patched, the list is filtered, and a user of another site looks
    status, _, patched = call_api(
        "PATCH",
        f"/v1/tickets/{one['id']}",
        claims=TECH,
        body={"priority": "urgent", "description": None},
    )
    bad = call_api("PATCH", f"/v1/tickets/{one['id']}", claims=TECH, body={"title": None})
    _, _, listed = call_api("GET", "/v1/tickets", claims=VIEWER, query={"stationId": "CP-1"})
    _, _, page = call_api("GET", "/v1/tickets", claims=VIEWER, query={"limit": "1"})
    _, _, rest = call_api(
        "GET", "/v1/tickets", claims=VIEWER, query={"limit": "1", "cursor": page["nextCursor"]}
    )
    _, _, none_open = call_api("GET", "/v1/tickets", claims=VIEWER, query={"state": "resolved"})
    hidden = call_api("GET", f"/v1/tickets/{one['id']}", claims=SITE9)
    _, _, theirs = call_api("GET", "/v1/tickets", claims=SITE9)
    # THEN the patch applied, the list is newest first and paged, and site-9 sees nothing
    assert status == 200, patched
    assert patched["priority"] == "urgent"
    assert bad[0] == 400
    assert [t["id"] for t in listed["items"]] == [two["id"], one["id"]]
    assert [t["id"] for t in page["items"] + rest["items"]] == [two["id"], one["id"]]
    assert rest["nextCursor"] is None
    assert none_open["items"] == []
    assert hidden[0] == 404
    assert theirs["items"] == []


def test_ticket_for_another_tenants_station_is_refused(stations: _runtime.Runtime) -> None:
    # GIVEN / WHEN a ticket names a station of another tenant
    status, _, body = call_api("POST", "/v1/tickets", claims=TECH, body=_ticket(stationId="CP-2"))
    # THEN it is a bad reference, and a viewer may not open tickets
    assert status == 422, body
    assert call_api("POST", "/v1/tickets", claims=VIEWER, body=_ticket())[0] == 403


def test_open_for_alert_on_dynamodb_answers_the_same_ticket(stations: _runtime.Runtime) -> None:
    # GIVEN the escalation opened a ticket for an alert
    service = _runtime.maintenance()
    first = service.open_for_alert("default", "CP-1", 1, "a-77", title="Faulted")
    # WHEN it asks again
    again = service.open_for_alert("default", "CP-1", 1, "a-77", title="Faulted")
    # THEN the stored ticket is answered, and it is the station's history
    assert again == first
    _, _, history = call_api("GET", "/v1/stations/CP-1/service-history", claims=VIEWER)
    assert [e["ticket"]["id"] for e in history["items"]] == [first.id]


def _session(sid: str, start: datetime, wh: int) -> Session:
    return Session(
        id=sid,
        tenant_id="default",
        station_id="CP-1",
        transaction_id=sid,
        protocol=ProtocolVersion.OCPP201,
        state=SessionState.ENDED,
        started_at=start,
        meter_start=MeterMark(wh=Decimal(0), at=start),
        meter_last=MeterMark(wh=Decimal(wh), at=start + timedelta(hours=1)),
        updated_at=start,
    )


def test_plans_run_daily_and_services_reset_them(stations: _runtime.Runtime) -> None:
    # GIVEN a 30-day plan last serviced 40 days ago and a 10 kWh plan with 12 kWh delivered since
    long_ago = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    status, _, by_time = call_api(
        "POST",
        "/v1/maintenance-plans",
        claims=TECH,
        body={"stationId": "CP-1", "title": "Inspect", "everyDays": 30, "lastServiceAt": long_ago},
    )
    assert status == 201, by_time
    _, _, by_energy = call_api(
        "POST",
        "/v1/maintenance-plans",
        claims=TECH,
        body={"stationId": "CP-1", "title": "Filters", "everyKwh": 10},
    )
    sessions = DynamoSessionRepository(OutboxEncoder(new_uuid))
    soon = datetime.now(UTC) + timedelta(seconds=1)
    assert sessions.create(_session("s-1", soon, 7000))
    assert sessions.create(_session("s-2", soon + timedelta(minutes=5), 5000))
    # WHEN the daily job runs twice
    first = sched_maintenance.lambda_handler({}, Ctx())
    second = sched_maintenance.lambda_handler({}, Ctx())
    # THEN each plan opened one ticket, once
    assert first == {"checked": 2, "due": 2, "opened": 2}
    assert second == {"checked": 2, "due": 0, "opened": 0}
    _, headers, plan = call_api("GET", f"/v1/maintenance-plans/{by_time['id']}", claims=VIEWER)
    assert plan["ticketId"] is not None
    # AND a service done resets the plan and joins the history
    status, _, done = call_api(
        "POST",
        f"/v1/maintenance-plans/{by_time['id']}/services",
        claims=TECH,
        body={"note": "All good"},
        headers={"If-Match": headers["etag"]},
    )
    assert status == 201, done
    assert done["plan"]["occurrence"] == 2
    assert done["plan"]["ticketId"] is None
    assert done["service"]["ticketId"] == plan["ticketId"]
    _, _, history = call_api("GET", "/v1/stations/CP-1/service-history", claims=VIEWER)
    assert [e["kind"] for e in history["items"]] == ["service", "ticket", "ticket"]
    # AND plans list and delete (If-Match honoured)
    _, _, plans = call_api("GET", "/v1/maintenance-plans", claims=VIEWER)
    assert {p["id"] for p in plans["items"]} == {by_time["id"], by_energy["id"]}
    path = f"/v1/maintenance-plans/{by_energy['id']}"
    assert call_api("DELETE", path, claims=TECH, headers={"If-Match": '"9"'})[0] == 412
    assert call_api("DELETE", path, claims=TECH)[0] == 204
    assert call_api("GET", path, claims=VIEWER)[0] == 404


def test_plan_needs_an_interval(stations: _runtime.Runtime) -> None:
    # GIVEN / WHEN a plan without interval is posted
    status, _, body = call_api(
        "POST", "/v1/maintenance-plans", claims=TECH, body={"stationId": "CP-1", "title": "x"}
    )
    # THEN it is a 400 with the reason
    assert status == 400, body
    assert "everyDays" in str(body["errors"])


def test_dynamo_repositories_keep_versions_and_cursors(stations: _runtime.Runtime) -> None:
    # GIVEN a ticket stored on DynamoDB
    ticket = _runtime.maintenance().open_for_alert("default", "CP-1", None, "a-1", title="x")
    tickets = DynamoTicketRepository()
    # WHEN it is replaced with a stale version, and the lists are given foreign cursors
    # THEN the stale write is refused, and the cursors are invalid
    assert tickets.replace(ticket.model_copy(update={"version": 5})) is False
    assert tickets.replace(ticket) is True
    bad = call_api("GET", "/v1/tickets", claims=VIEWER, query={"cursor": "eyJ4IjoxfQ"})
    assert bad[0] == 400
    bad = call_api(
        "GET", "/v1/stations/CP-1/service-history", claims=VIEWER, query={"cursor": "eyJ4IjoxfQ"}
    )
    assert bad[0] == 400
    plans = DynamoPlanRepository()
    assert plans.get("default", "nope") is None
    assert plans.delete("default", "nope", 1) is False


def test_ticket_naming_an_alert_that_is_not_its_stations_is_422(
    stations: _runtime.Runtime,
) -> None:
    # WHEN a ticket names an alert that does not exist
    status, _, problem = call_api(
        "POST", "/v1/tickets", claims=TECH, body=_ticket(alertIds=["a-none"])
    )
    # THEN it is refused, naming the field and the id, and no ticket is made
    assert (status, problem["type"]) == (422, "/problems/invalid-reference")
    assert "a-none" in problem["detail"]
    assert "alertIds" in problem["detail"]
    _, _, listed = call_api("GET", "/v1/tickets", claims=TECH)
    assert listed["items"] == []
