"""The ticket workflow, its timeline and the plans' due rules (pure domain)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from csms.domain.errors import InvalidTransitionError, ResourceInUseError
from csms.domain.maintenance import (
    MAX_TIMELINE,
    MaintenancePlan,
    Ticket,
    TicketState,
    alert_origin,
    new_ticket,
    plan_origin,
    sortable_id,
)

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def a_ticket(**over: Any) -> Ticket:
    values: dict[str, Any] = {
        "ticket_id": "t-1",
        "tenant_id": "t",
        "station_id": "CP-1",
        "site_id": "s",
        "title": "Broken",
        "at": T0,
        "by": "op",
    }
    values.update(over)
    return new_ticket(**values)


def a_plan(**over: Any) -> MaintenancePlan:
    values: dict[str, Any] = {
        "id": "p-1",
        "tenant_id": "t",
        "station_id": "CP-1",
        "title": "Inspect",
        "every_days": 30,
        "created_at": T0,
        "created_by": "op",
        "last_service_at": T0,
    }
    values.update(over)
    return MaintenancePlan(**values)


def test_ticket_states_need_their_assignee_and_resolution() -> None:
    # GIVEN / WHEN tickets are made in staffed or resolved states without what those need
    # THEN they are invalid
    base = a_ticket().model_dump()
    with pytest.raises(ValidationError, match="needs an assignee"):
        Ticket.model_validate({**base, "state": "assigned"})
    with pytest.raises(ValidationError, match="resolution note"):
        Ticket.model_validate({**base, "state": "resolved", "resolution": "  "})


def test_ticket_resolve_without_a_note_is_refused_by_the_model() -> None:
    # GIVEN a ticket in progress
    ticket = a_ticket().transition(TicketState.ASSIGNED, at=T0, by="op", assignee="u")
    working = ticket.transition(TicketState.IN_PROGRESS, at=T0, by="u")
    # WHEN it is resolved without a resolution
    # THEN the model refuses it
    with pytest.raises(ValidationError):
        working.transition(TicketState.RESOLVED, at=T0, by="u")


def test_ticket_assigned_cannot_lose_its_assignee() -> None:
    # GIVEN an assigned ticket
    ticket = a_ticket().transition(TicketState.ASSIGNED, at=T0, by="op", assignee="u")
    # WHEN its assignee is removed
    # THEN that is refused (another assignee is fine)
    with pytest.raises(ResourceInUseError):
        ticket.updated({"assignee": None}, at=T0, by="op")
    assert ticket.updated({"assignee": "v"}, at=T0, by="op").assignee == "v"


def test_ticket_every_state_allows_only_its_next_one() -> None:
    # GIVEN each state, WHEN any other target is asked, THEN it is refused with the allowed ones
    chain = [TicketState.OPEN, TicketState.ASSIGNED, TicketState.IN_PROGRESS, TicketState.RESOLVED]
    ticket = a_ticket()
    for step, state in enumerate(chain):
        following = chain[(step + 1) % len(chain)]
        assert ticket.allowed == (following,)
        for wrong in set(chain) - {following}:
            with pytest.raises(InvalidTransitionError):
                ticket.transition(wrong, at=T0, by="op", assignee="u", resolution="r")
        if state is not TicketState.RESOLVED:
            ticket = ticket.transition(following, at=T0, by="op", assignee="u", resolution="r")


def test_ticket_links_an_alert_once() -> None:
    # GIVEN a ticket
    ticket = a_ticket(alert_ids=("a-1", "a-1"))
    # WHEN alerts are linked, one twice
    linked = ticket.with_alert("a-2", at=T0, by="sys").with_alert("a-2", at=T0, by="sys")
    # THEN each is there once, with one timeline entry
    assert linked.alert_ids == ("a-1", "a-2")
    assert [e.action for e in linked.timeline] == ["created", "alert-linked"]


def test_ticket_timeline_keeps_the_creation_and_the_newest_entries() -> None:
    # GIVEN a ticket changed more often than the timeline keeps
    ticket = a_ticket()
    for n in range(MAX_TIMELINE + 5):
        ticket = ticket.updated({"title": f"t{n}"}, at=T0 + timedelta(seconds=n), by="op")
    # THEN the creation stays, the oldest changes went
    assert len(ticket.timeline) == MAX_TIMELINE
    assert ticket.timeline[0].action == "created"
    assert ticket.timeline[-1].changes == {"title": f"t{MAX_TIMELINE + 4}"}


def test_ticket_update_notes_values_as_json() -> None:
    # GIVEN a ticket, WHEN a value that is not plain JSON changes (a port number, a priority)
    changed = a_ticket().updated({"evse_id": 2, "priority": "high"}, at=T0, by="op")
    # THEN the timeline holds the plain values
    assert changed.timeline[-1].changes == {"evse_id": 2, "priority": "high"}


def test_plan_needs_an_interval_and_is_due_after_it() -> None:
    # GIVEN / WHEN a plan without any interval
    # THEN it is invalid
    with pytest.raises(ValidationError, match="every_days, every_kwh"):
        a_plan(every_days=None)
    # AND a 30-day plan is due exactly 30 days after its last service; an energy plan never by time
    plan = a_plan()
    assert not plan.due_by_time(T0 + timedelta(days=30) - timedelta(seconds=1))
    assert plan.due_by_time(T0 + timedelta(days=30))
    energy = a_plan(every_days=None, every_kwh=Decimal("2.5"))
    assert energy.next_due_at is None
    assert energy.energy_due_wh == Decimal(2500)
    assert not energy.due_by_time(T0 + timedelta(days=9999))
    assert plan.energy_due_wh is None


def test_plan_occurrences_have_their_own_origin() -> None:
    # GIVEN a plan, WHEN it is serviced
    plan = a_plan(ticket_id="t-9")
    after = plan.serviced(T0 + timedelta(days=31))
    # THEN the next occurrence has another idempotency key and no ticket yet
    assert plan_origin(plan) == "plan#p-1#1"
    assert plan_origin(after) == "plan#p-1#2"
    assert after.ticket_id is None
    assert alert_origin("a-1") == "alert#a-1"


def test_sortable_ids_sort_by_time() -> None:
    # GIVEN ids made a microsecond apart, WHEN sorted, THEN they are in time order
    ids = [sortable_id(T0 + timedelta(microseconds=n), "zz") for n in (3, 1, 2)]
    assert sorted(ids) == [ids[1], ids[2], ids[0]]
