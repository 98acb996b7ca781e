"""Maintenance use cases on fakes: tickets, their workflow, alerts' tickets, plans, the run."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes import (
    T0,
    FixedClock,
    InMemorySessionRepository,
    InMemoryStationRepository,
    InMemoryUserRepository,
    SequentialIds,
    a_station,
)
from tests.fakes_alerts import InMemoryAlertRepository
from tests.fakes_maintenance import InMemoryPlanRepository, InMemoryTicketRepository

from csms.domain.access import Principal, Role
from csms.domain.alerts import Alert, AlertKey, AlertKind, Severity
from csms.domain.errors import (
    ConcurrentModificationError,
    InvalidReferenceError,
    InvalidTransitionError,
    ResourceNotFoundError,
    VersionMismatchError,
)
from csms.domain.maintenance import ServiceRecord, Ticket, TicketPriority, TicketState
from csms.domain.sessions import MeterMark, Session, SessionState
from csms.domain.station import ProtocolVersion
from csms.domain.tenancy import User, UserStatus
from csms.services.maintenance import (
    ALERT_ACTOR,
    PLAN_ACTOR,
    UNSET,
    MaintenanceService,
    TicketPatch,
    TicketQuery,
)

TENANT = "tenant-a"
ADMIN = Principal(subject="op-1", tenant_id=TENANT, role=Role.ADMIN)
SITE2_TECH = Principal(
    subject="tech-2", tenant_id=TENANT, role=Role.TECHNICIAN, sites=frozenset({"site-2"})
)


class World:
    """The service on fakes: CP-1 at site-1, CP-2 at site-2, CP-X of another tenant."""

    def __init__(self) -> None:
        self.clock = FixedClock(T0)
        self.alerts = InMemoryAlertRepository()
        self.stations = InMemoryStationRepository()
        for station in (
            a_station(id="CP-1"),
            a_station(id="CP-2", site_id="site-2"),
            a_station(id="CP-X", tenant_id="tenant-b"),
        ):
            self.stations.register(station)
        self.users = InMemoryUserRepository()
        for user in (
            _user("tech-anna"),
            _user("tech-site2", sites=("site-2",)),
            _user("gone", status=UserStatus.DISABLED),
        ):
            self.users.create_user(TENANT, user)
        self.sessions = InMemorySessionRepository()
        self.tickets = InMemoryTicketRepository()
        self.plans = InMemoryPlanRepository(self.tickets)
        self.service = MaintenanceService(
            tickets=self.tickets,
            plans=self.plans,
            stations=self.stations,
            users=self.users,
            sessions=self.sessions,
            clock=self.clock,
            new_id=SequentialIds("x"),
            alerts=self.alerts,
        )

    def ticket(self, **over: Any) -> Ticket:
        values: dict[str, Any] = {"station_id": "CP-1", "title": "Cable cracked"}
        values.update(over)
        return self.service.create_ticket(ADMIN, **values)

    def session(self, sid: str, wh: int, *, started: timedelta, station: str = "CP-1") -> None:
        start = self.clock.now() + started
        self.sessions.sessions[sid] = Session(
            id=sid,
            tenant_id=TENANT,
            station_id=station,
            transaction_id=sid,
            protocol=ProtocolVersion.OCPP201,
            state=SessionState.ENDED,
            started_at=start,
            meter_start=MeterMark(wh=Decimal(1000), at=start),
            meter_last=MeterMark(wh=Decimal(1000 + wh), at=start + timedelta(hours=1)),
            updated_at=start,
        )


def _user(user_id: str, **over: Any) -> User:
    return User.model_validate(
        {"id": user_id, "email": f"{user_id}@example.com", "name": user_id, "role": "technician"}
        | over
    )


@pytest.fixture
def world() -> World:
    return World()


# -- tickets ---------------------------------------------------------------------------------------


def test_ticket_workflow_runs_open_to_resolved_and_reopens(world: World) -> None:
    # GIVEN an open ticket
    ticket = world.ticket()
    # WHEN it is assigned, worked on, resolved and reopened
    _, assigned = world.service.transition(
        ADMIN, ticket.id, TicketState.ASSIGNED, assignee="tech-anna"
    )
    world.clock.advance(60)
    _, started = world.service.transition(ADMIN, ticket.id, TicketState.IN_PROGRESS)
    _, resolved = world.service.transition(
        ADMIN, ticket.id, TicketState.RESOLVED, resolution="Replaced the cable"
    )
    before, reopened = world.service.transition(
        ADMIN, ticket.id, TicketState.OPEN, note="Cracked again"
    )
    # THEN each step is stored with the next version and noted on the timeline
    assert (assigned.version, started.version, resolved.version, reopened.version) == (2, 3, 4, 5)
    assert resolved.resolved_at == T0 + timedelta(seconds=60)
    assert before.resolution == "Replaced the cable"
    assert reopened.resolution is None
    assert reopened.assignee == "tech-anna"
    assert [e.action for e in reopened.timeline] == [
        "created",
        "assigned",
        "in-progress",
        "resolved",
        "reopened",
    ]
    assert reopened.timeline[-1].note == "Cracked again"
    assert world.tickets.get(TENANT, ticket.id) == reopened


def test_ticket_transition_refuses_a_skipped_state_naming_the_allowed_ones(world: World) -> None:
    # GIVEN an open ticket
    ticket = world.ticket()
    # WHEN it is resolved straight away
    with pytest.raises(InvalidTransitionError) as caught:
        world.service.transition(ADMIN, ticket.id, TicketState.RESOLVED, resolution="done")
    # THEN the move is refused with what is allowed from open, and nothing changed
    assert caught.value.allowed == ("assigned",)
    assert "allowed from open: assigned" in str(caught.value)
    assert world.tickets.get(TENANT, ticket.id) == ticket


@pytest.mark.parametrize(
    ("assignee", "why"),
    [("nobody", "unknown"), ("gone", "disabled"), ("tech-site2", "cannot see site-1")],
)
def test_ticket_assignee_must_be_an_active_user_who_reaches_the_site(
    world: World, assignee: str, why: str
) -> None:
    # GIVEN an open ticket at site-1
    ticket = world.ticket()
    # WHEN it is assigned to a user who is not usable
    with pytest.raises(InvalidReferenceError) as caught:
        world.service.transition(ADMIN, ticket.id, TicketState.ASSIGNED, assignee=assignee)
    # THEN the assignee is refused as a bad reference
    assert caught.value.field == "assignee", why


def test_ticket_create_refuses_stations_of_other_tenants_and_sites(world: World) -> None:
    # GIVEN / WHEN tickets are opened for another tenant's station and beyond the caller's sites
    # THEN both are bad references
    with pytest.raises(InvalidReferenceError):
        world.ticket(station_id="CP-X")
    with pytest.raises(InvalidReferenceError):
        world.service.create_ticket(SITE2_TECH, station_id="CP-1", title="x")
    with pytest.raises(InvalidReferenceError):
        world.ticket(station_id="CP-404")


def test_ticket_beyond_the_callers_sites_is_absent(world: World) -> None:
    # GIVEN a ticket at site-1 and one at site-2
    one = world.ticket()
    two = world.ticket(station_id="CP-2", assignee="tech-site2")
    # WHEN the site-2 technician reads and lists
    page = world.service.list_tickets(SITE2_TECH, TicketQuery(), 10)
    # THEN only site-2's ticket is there; site-1's is not found
    assert [t.id for t in page.items] == [two.id]
    with pytest.raises(ResourceNotFoundError):
        world.service.get_ticket(SITE2_TECH, one.id)
    assert world.service.get_ticket(SITE2_TECH, two.id) == two


def test_ticket_update_applies_a_merge_patch_and_notes_it(world: World) -> None:
    # GIVEN a ticket with a description
    ticket = world.ticket(description="seen by a driver")
    # WHEN the priority changes and the description is cleared
    before, after = world.service.update_ticket(
        ADMIN,
        ticket.id,
        TicketPatch(priority=TicketPriority.URGENT, description=None, title=UNSET),
        expected_version=1,
    )
    # THEN only those change, with a timeline entry naming them
    assert before == ticket
    assert (after.priority, after.description, after.title) == ("urgent", None, "Cable cracked")
    assert after.timeline[-1].changes == {"priority": "urgent", "description": None}
    # AND the same patch again changes nothing (no new version)
    again = world.service.update_ticket(
        ADMIN, ticket.id, TicketPatch(priority=TicketPriority.URGENT)
    )
    assert again == (after, after)


def test_ticket_update_with_a_stale_version_is_refused(world: World) -> None:
    # GIVEN a ticket changed once
    ticket = world.ticket()
    world.service.update_ticket(ADMIN, ticket.id, TicketPatch(title="New"))
    # WHEN a change names the first version
    # THEN it is refused
    with pytest.raises(VersionMismatchError):
        world.service.update_ticket(ADMIN, ticket.id, TicketPatch(title="Other"), 1)


def test_ticket_change_retries_lost_races_then_gives_up(world: World) -> None:
    # GIVEN a ticket whose writes lose two races
    ticket = world.ticket()
    world.tickets.lose_races = 2
    # WHEN it is changed without an expected version
    _, after = world.service.update_ticket(ADMIN, ticket.id, TicketPatch(title="New"))
    # THEN the third attempt is stored
    assert after.title == "New"
    assert after.version == 2
    # AND with If-Match a lost race is a version mismatch, and three lost races give up
    world.tickets.lose_races = 1
    with pytest.raises(VersionMismatchError):
        world.service.update_ticket(ADMIN, ticket.id, TicketPatch(title="A"), 2)
    world.tickets.lose_races = 3
    with pytest.raises(ConcurrentModificationError):
        world.service.update_ticket(ADMIN, ticket.id, TicketPatch(title="B"))


def test_ticket_assignee_change_is_checked(world: World) -> None:
    # GIVEN a ticket
    ticket = world.ticket()
    # WHEN it is handed to an unknown user, then to a known one, then cleared
    with pytest.raises(InvalidReferenceError):
        world.service.update_ticket(ADMIN, ticket.id, TicketPatch(assignee="nobody"))
    _, handed = world.service.update_ticket(ADMIN, ticket.id, TicketPatch(assignee="tech-anna"))
    _, cleared = world.service.update_ticket(ADMIN, ticket.id, TicketPatch(assignee=None))
    # THEN the known user is set and clearing an open ticket's assignee is allowed
    assert handed.assignee == "tech-anna"
    assert cleared.assignee is None


def test_open_for_alert_is_idempotent_per_alert(world: World) -> None:
    # GIVEN the escalation asks for a ticket for alert a-1
    first = world.service.open_for_alert(
        TENANT, "CP-1", 1, "a-1", title="Faulted", description="GroundFailure"
    )
    world.clock.advance(300)
    # WHEN it asks again (a retried step), and once for another alert
    again = world.service.open_for_alert(TENANT, "CP-1", 1, "a-1", title="Faulted")
    other = world.service.open_for_alert(TENANT, "CP-1", 2, "a-2", title="Faulted")
    # THEN the first call's ticket is answered; the other alert has its own
    assert again == first
    assert other.id != first.id
    assert first.alert_ids == ("a-1",)
    assert first.created_by == ALERT_ACTOR
    assert first.priority is TicketPriority.HIGH
    assert first.evse_id == 1
    assert len(world.tickets.tickets) == 2


def test_open_for_alert_refuses_another_tenants_station(world: World) -> None:
    # GIVEN / WHEN an alert of tenant-a names tenant-b's station
    # THEN it is not found
    with pytest.raises(ResourceNotFoundError):
        world.service.open_for_alert(TENANT, "CP-X", None, "a-9", title="x")


def test_service_history_lists_tickets_and_services_newest_first(world: World) -> None:
    # GIVEN a ticket, then a plan serviced, then another ticket at CP-1 (and one at CP-2)
    old = world.ticket()
    plan = world.service.create_plan(ADMIN, station_id="CP-1", title="Inspect", every_days=30)
    world.clock.advance(10)
    _, _, record = world.service.record_service(ADMIN, plan.id, note="ok")
    world.clock.advance(10)
    new = world.ticket()
    world.ticket(station_id="CP-2")
    # WHEN CP-1's history is read
    page = world.service.service_history(ADMIN, "CP-1", 10)
    # THEN both tickets and the service are there, newest first
    assert [e.id for e in page.items] == [new.id, record.id, old.id]
    assert isinstance(page.items[1], ServiceRecord)


# -- plans -----------------------------------------------------------------------------------------


def test_plan_falls_due_by_time_and_opens_one_ticket_per_occurrence(world: World) -> None:
    # GIVEN a 30-day plan created now
    plan = world.service.create_plan(ADMIN, station_id="CP-1", title="Inspect", every_days=30)
    # WHEN the run happens before and after 30 days, twice after
    before = world.service.run_due_plans()
    world.clock.advance(30 * 86_400)
    first = world.service.run_due_plans()
    second = world.service.run_due_plans()
    # THEN one ticket is opened, once, and noted on the plan
    assert (before.due, len(before.opened)) == (0, 0)
    (ticket,) = first.opened
    assert second.opened == []
    assert second.checked == 1
    assert ticket.plan_id == plan.id
    assert ticket.created_by == PLAN_ACTOR
    assert world.plans.get(TENANT, plan.id).ticket_id == ticket.id  # type: ignore[union-attr]


def test_plan_run_that_failed_after_the_ticket_opens_no_second_one(world: World) -> None:
    # GIVEN a due plan whose first run opened the ticket but lost the write on the plan
    plan = world.service.create_plan(ADMIN, station_id="CP-1", title="Inspect", every_days=1)
    world.clock.advance(86_400)
    world.plans.lose_races = 1
    first = world.service.run_due_plans()
    # WHEN the run repeats
    second = world.service.run_due_plans()
    # THEN the occurrence still has one ticket, now noted on the plan
    assert len(first.opened) == 1
    assert second.opened == []
    assert second.due == 1
    assert len(world.tickets.tickets) == 1
    stored = world.plans.get(TENANT, plan.id)
    assert stored is not None
    assert stored.ticket_id == first.opened[0].id


def test_plan_falls_due_by_energy_since_the_last_service(world: World) -> None:
    # GIVEN a 50 kWh plan, 30 kWh delivered before its last service and 40 kWh after
    plan = world.service.create_plan(
        ADMIN, station_id="CP-1", title="Filters", every_kwh=Decimal(50)
    )
    world.session("old", 30_000, started=-timedelta(hours=3))
    world.session("s1", 25_000, started=timedelta(hours=1))
    world.session("s2", 15_000, started=timedelta(hours=2))
    world.session("other", 90_000, started=timedelta(hours=2), station="CP-2")
    world.clock.advance(4 * 3600)
    # WHEN the run checks it
    not_yet = world.service.run_due_plans()
    # THEN 40 kWh is not enough
    assert world.service.energy_since(plan) == Decimal(40_000)
    assert not_yet.due == 0
    # AND after another 10 kWh it is due
    world.session("s3", 10_000, started=timedelta(hours=-1))
    assert len(world.service.run_due_plans().opened) == 1


def test_plan_energy_sum_reads_pages_and_stops_when_enough(world: World) -> None:
    # GIVEN 150 sessions of 1 kWh since the plan's creation
    plan = world.service.create_plan(
        ADMIN, station_id="CP-1", title="Filters", every_kwh=Decimal(500)
    )
    for n in range(150):
        world.session(f"s{n:03}", 1000, started=timedelta(minutes=n + 1))
    # WHEN the energy is summed in full, and up to 120 kWh
    # THEN the full sum crosses a page; the bounded one stops at the threshold
    assert world.service.energy_since(plan) == Decimal(150_000)
    assert world.service.energy_since(plan, Decimal(120_000)) == Decimal(120_000)


def test_plan_service_done_resets_the_counters(world: World) -> None:
    # GIVEN a 7-day plan that fell due and got its ticket
    plan = world.service.create_plan(ADMIN, station_id="CP-1", title="Wash", every_days=7)
    world.clock.advance(8 * 86_400)
    (ticket,) = world.service.run_due_plans().opened
    # WHEN the service is recorded (with a time in the future, counted as now)
    before, after, record = world.service.record_service(
        ADMIN, plan.id, note="washed", done_at=world.clock.now() + timedelta(days=2)
    )
    # THEN the plan counts from now, waits for occurrence 2, and the record links the ticket
    assert before.ticket_id == ticket.id
    assert after.last_service_at == world.clock.now()
    assert after.occurrence == 2
    assert after.ticket_id is None
    assert after.version == 3
    assert record.ticket_id == ticket.id
    assert record.note == "washed"
    assert after.next_due_at == world.clock.now() + timedelta(days=7)
    # AND the next run opens nothing until 7 more days have passed
    assert world.service.run_due_plans().opened == []


def test_plan_service_done_version_and_races(world: World) -> None:
    # GIVEN a plan
    plan = world.service.create_plan(ADMIN, station_id="CP-1", title="Wash", every_days=7)
    # WHEN a service names a stale version, or loses every race
    # THEN it is refused
    with pytest.raises(VersionMismatchError):
        world.service.record_service(ADMIN, plan.id, expected_version=9)
    world.plans.lose_races = 1
    with pytest.raises(VersionMismatchError):
        world.service.record_service(ADMIN, plan.id, expected_version=1)
    world.plans.lose_races = 3
    with pytest.raises(ConcurrentModificationError):
        world.service.record_service(ADMIN, plan.id)


def test_plan_reads_deletes_and_lists_within_reach(world: World) -> None:
    # GIVEN plans at site-1 and site-2
    one = world.service.create_plan(ADMIN, station_id="CP-1", title="A", every_days=7)
    two = world.service.create_plan(ADMIN, station_id="CP-2", title="B", every_kwh=Decimal(5))
    # WHEN the site-2 technician lists and reads them
    listed = world.service.list_plans(SITE2_TECH, 10)
    # THEN only site-2's plan is visible
    assert [p.id for p in listed.items] == [two.id]
    with pytest.raises(ResourceNotFoundError):
        world.service.get_plan(SITE2_TECH, one.id)
    # AND a delete with a stale version is refused, a current one removes it
    with pytest.raises(VersionMismatchError):
        world.service.delete_plan(ADMIN, one.id, expected_version=2)
    assert world.service.delete_plan(ADMIN, one.id, expected_version=1) == one
    with pytest.raises(ResourceNotFoundError):
        world.service.get_plan(ADMIN, one.id)


def test_plan_delete_that_loses_a_race_is_a_version_mismatch(world: World) -> None:
    # GIVEN a plan changed between the read and the delete
    plan = world.service.create_plan(ADMIN, station_id="CP-1", title="A", every_days=7)
    stored = world.plans.plans[(TENANT, plan.id)]
    original = world.plans.delete

    def racing(tenant_id: str, plan_id: str, expected_version: int) -> bool:
        world.plans.plans[(TENANT, plan.id)] = stored.model_copy(update={"version": 2})
        return original(tenant_id, plan_id, expected_version)

    world.plans.delete = racing  # type: ignore[method-assign]
    # WHEN it is deleted
    # THEN the delete is refused
    with pytest.raises(VersionMismatchError):
        world.service.delete_plan(ADMIN, plan.id)


def test_ticket_create_links_only_alerts_of_its_station(world: World) -> None:
    # GIVEN a fault alert at CP-1 and one at CP-2
    for alert_id, station in (("a-1", "CP-1"), ("a-2", "CP-2")):
        key = AlertKey(tenant_id=TENANT, station_id=station, kind=AlertKind.FAULTED)
        world.alerts.alerts[(TENANT, alert_id)] = Alert(
            alert_id=alert_id, key=key, severity=Severity.MAJOR, opened_at=T0
        )
    # WHEN a ticket of CP-1 names CP-1's alert
    ticket = world.service.create_ticket(ADMIN, station_id="CP-1", title="x", alert_ids=("a-1",))
    # THEN it is linked
    assert ticket.alert_ids == ("a-1",)
    # AND naming CP-2's alert, or one that does not exist, is refused by name
    for wrong in ("a-2", "a-none"):
        with pytest.raises(InvalidReferenceError) as caught:
            world.service.create_ticket(ADMIN, station_id="CP-1", title="x", alert_ids=(wrong,))
        assert caught.value.field == "alertIds"
        assert caught.value.resource_id == wrong
