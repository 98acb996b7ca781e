"""Fault escalation's steps: each branch, stopping when cleared, retries that do nothing twice."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

import pytest
from tests.fakes import T0, FixedClock, InMemoryConnectorStatusRepository
from tests.fakes_alerts import InMemoryAlertRepository

from csms.domain.alerts import Alert, AlertDetails, AlertKey, AlertKind, AlertState, Severity
from csms.domain.command_records import CommandRecord, CommandState
from csms.domain.commands import Command, ResetCommand, ResetKind
from csms.domain.connector import ConnectorState, ConnectorStatus, EvseRef
from csms.domain.errors import ConcurrentModificationError, StationNotFoundError
from csms.domain.escalation import EscalationAction, describe, execution_name, step_label
from csms.domain.events import AlertEscalated, AlertOpened, DomainEvent, of_alert
from csms.domain.maintenance import Ticket, new_ticket
from csms.domain.tenancy import TenantProfile
from csms.services.escalation import (
    CommandResets,
    EscalationPolicy,
    EscalationService,
    MailerError,
)

TENANT = "t1"
STATION = "CP-1"
PORT = EvseRef(evse_id=1, connector_id=1)


def an_alert(kind: AlertKind = AlertKind.FAULTED, evse: EvseRef | None = PORT) -> Alert:
    """An open alert of CP-1's port 1 (a ground fault), opened at T0."""
    key = AlertKey(tenant_id=TENANT, station_id=STATION, evse=evse, kind=kind)
    return Alert(
        alert_id="20261124T080000000000Z-abc123def456",
        key=key,
        site_id="s1",
        severity=Severity.CRITICAL,
        opened_at=T0,
        details=AlertDetails(error_code="GroundFailure", vendor_error_code="E-42"),
    )


def opened_event(alert: Alert) -> AlertOpened:
    """The AlertOpened the alert's opening published."""
    return AlertOpened(**of_alert(alert), occurred_at=alert.opened_at)


class Starter:
    def __init__(self) -> None:
        self.started: dict[str, str] = {}

    def start(self, name: str, execution_input: str) -> bool:
        if name in self.started:
            return False
        self.started[name] = execution_input
        return True


class Resets:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, ResetKind]] = []

    def reset(self, tenant_id: str, station_id: str, kind: ResetKind) -> str:
        self.sent.append((tenant_id, station_id, kind))
        return f"Reset {kind.value}: Pending (command c-{len(self.sent)})"


class Tickets:
    def __init__(self) -> None:
        self.opened: dict[str, Ticket] = {}

    def open_for_alert(
        self,
        tenant_id: str,
        station_id: str,
        evse_id: int | None,
        alert_id: str,
        *,
        title: str,
        description: str | None = None,
    ) -> Ticket:
        if alert_id not in self.opened:
            self.opened[alert_id] = new_ticket(
                ticket_id=f"T-{len(self.opened) + 1}",
                tenant_id=tenant_id,
                station_id=station_id,
                site_id="s1",
                evse_id=evse_id,
                title=title,
                description=description,
                alert_ids=(alert_id,),
                at=T0,
                by="alert",
            )
        return self.opened[alert_id]


class Mailer:
    def __init__(self, fails: bool = False) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.fails = fails

    def send(self, to: str, subject: str, body: str) -> str:
        if self.fails:
            raise MailerError("SES refused it (MessageRejected)")
        self.sent.append((to, subject, body))
        return f"message m-{len(self.sent)}"


class Profiles:
    def __init__(self, email: str | None = "ops@example.com") -> None:
        self.email = email

    def get_profile(self, tenant_id: str) -> TenantProfile | None:
        if self.email is None:
            return None
        return TenantProfile(display_name=tenant_id, contact_email=self.email)


class World:
    def __init__(
        self, alert: Alert | None = None, *, email: str | None = "ops@example.com"
    ) -> None:
        self.clock = FixedClock()
        self.alerts = InMemoryAlertRepository()
        self.statuses = InMemoryConnectorStatusRepository()
        self.resets = Resets()
        self.tickets = Tickets()
        self.mailer = Mailer()
        self.starter = Starter()
        self.alert = alert or an_alert()
        self.alerts.alerts[(TENANT, self.alert.alert_id)] = self.alert
        self.status(ConnectorStatus.FAULTED)
        self.service = EscalationService(
            alerts=self.alerts,
            statuses=self.statuses,
            resets=self.resets,
            tickets=self.tickets,
            mailer=self.mailer,
            profiles=Profiles(email),
            starter=self.starter,
            clock=self.clock,
            policy=EscalationPolicy(wait=timedelta(minutes=3)),
        )

    def status(self, status: ConnectorStatus) -> None:
        evse = self.alert.key.evse or EvseRef(evse_id=0, connector_id=0)
        self.statuses.states[(STATION, evse)] = ConnectorState(
            evse=evse, status=status, since=T0, reported_at=T0
        )

    def stored(self) -> Alert:
        alert = self.alerts.get(TENANT, self.alert.alert_id)
        assert alert is not None
        return alert

    def steps(self) -> list[tuple[str, str | None]]:
        return [(step.action, step.outcome) for step in self.stored().steps]

    def step(self, action: EscalationAction) -> bool:
        self.clock.advance(180)
        return self.service.step(TENANT, self.alert.alert_id, action)


# -- starting ------------------------------------------------------------------------------


def test_start_names_the_workflow_after_the_alert_and_notes_it_once() -> None:
    # GIVEN a fault alert
    world = World()
    opened = opened_event(world.alert)
    # WHEN its AlertOpened arrives twice
    first = world.service.start(opened)
    second = world.service.start(opened)
    # THEN one workflow started, named after the alert, with the configured wait
    assert (first, second) == ("started", "already started")
    name = execution_name(TENANT, world.alert.alert_id)
    assert list(world.starter.started) == [name]
    assert json.loads(world.starter.started[name]) == {
        "tenantId": TENANT,
        "alertId": world.alert.alert_id,
        "waitSeconds": 180,
    }
    # AND the alert says so once
    [(action, outcome)] = world.steps()
    assert action == "escalation started"
    assert outcome is not None
    assert name in outcome


@pytest.mark.parametrize("kind", [k for k in AlertKind if k is not AlertKind.FAULTED])
def test_start_ignores_alerts_a_reset_cannot_cure(kind: AlertKind) -> None:
    # GIVEN an alert that is not a fault (offline, reboot loop, ...)
    world = World(an_alert(kind, evse=None))
    # WHEN it opens
    outcome = world.service.start(opened_event(world.alert))
    # THEN no workflow starts and the alert is untouched
    assert outcome == "not escalated"
    assert world.starter.started == {}
    assert world.steps() == []


def test_execution_names_differ_by_tenant_and_fit_step_functions() -> None:
    # GIVEN / WHEN the same alert id in two tenants
    one = execution_name("t1", "20261124T080000000000Z-abc123def456")
    two = execution_name("t2", "20261124T080000000000Z-abc123def456")
    # THEN the names differ, and use only what Step Functions allows, at most 80 characters
    assert one != two
    for name in (one, two, execution_name("t" * 64, "x" * 200)):
        assert len(name) <= 80
        assert all(c.isalnum() or c in "-_" for c in name)


# -- the branches ------------------------------------------------------------------------------


def test_a_fault_that_stays_is_reset_soft_then_hard_then_escalated_to_people() -> None:
    # GIVEN an open fault alert whose port stays Faulted
    world = World()
    # WHEN the workflow runs its three steps
    cleared = [
        world.step(EscalationAction.SOFT_RESET),
        world.step(EscalationAction.HARD_RESET),
        world.step(EscalationAction.ESCALATE),
    ]
    # THEN none found the fault cleared
    assert cleared == [False, False, False]
    # AND the station was reset soft, then hard
    assert world.resets.sent == [
        (TENANT, STATION, ResetKind.SOFT),
        (TENANT, STATION, ResetKind.HARD),
    ]
    # AND one ticket is open for the alert and port, its story naming the fault and the resets
    [ticket] = world.tickets.opened.values()
    assert (ticket.station_id, ticket.evse_id, ticket.alert_ids) == (
        STATION,
        1,
        (world.alert.alert_id,),
    )
    assert ticket.title == "Faulted: CP-1 EVSE 1 connector 1 (GroundFailure)"
    assert ticket.description is not None
    assert "hard reset" in ticket.description
    # AND the contact got one e-mail naming the ticket
    [(to, subject, body)] = world.mailer.sent
    assert to == "ops@example.com"
    assert "CP-1 EVSE 1 connector 1" in subject
    assert "Maintenance ticket: T-1" in body
    assert "Vendor error code: E-42" in body
    # AND AlertEscalated rode with the alert's last note, naming the ticket
    [event] = [e for e in world.alerts.events if isinstance(e, AlertEscalated)]
    assert (event.alert_id, event.ticket_id, event.evse) == (world.alert.alert_id, "T-1", PORT)
    assert event.opened_at == T0
    assert event.occurred_at == T0 + timedelta(seconds=540)
    # AND every step is on the alert, in order, with its time
    assert world.steps() == [
        ("soft reset", "Reset Soft: Pending (command c-1)"),
        ("hard reset", "Reset Hard: Pending (command c-2)"),
        ("maintenance ticket", "T-1"),
        ("operator e-mail", "sent (message m-1)"),
        ("partner webhook", "alert.escalated published"),
    ]
    assert world.stored().steps[0].at == T0 + timedelta(seconds=180)


@pytest.mark.parametrize("action", list(EscalationAction), ids=[a.value for a in EscalationAction])
def test_a_port_no_longer_faulted_stops_the_workflow_at_any_step(action: EscalationAction) -> None:
    # GIVEN an open alert whose port reports Available again (the detector has not closed it)
    world = World()
    world.status(ConnectorStatus.AVAILABLE)
    # WHEN the step runs
    cleared = world.step(action)
    # THEN it reports cleared, does nothing, and notes why it stopped
    assert cleared is True
    assert world.resets.sent == []
    assert world.tickets.opened == {}
    assert world.mailer.sent == []
    assert world.steps() == [
        ("escalation stopped", f"the condition cleared before the {step_label(action)}")
    ]


def test_a_closed_alert_stops_the_workflow_and_the_note_lands_on_the_closed_alert() -> None:
    # GIVEN an alert the detector closed (the port may still read Faulted in a stale copy)
    world = World()
    closed = world.alert.close(T0 + timedelta(seconds=30))
    world.alerts.alerts[(TENANT, world.alert.alert_id)] = closed
    # WHEN the hard reset step runs
    cleared = world.step(EscalationAction.HARD_RESET)
    # THEN it stops; the alert stays closed, with the note
    assert cleared is True
    assert world.resets.sent == []
    assert world.stored().state is AlertState.CLOSED
    assert world.steps()[0][0] == "escalation stopped"


def test_a_station_wide_fault_reads_the_station_status() -> None:
    # GIVEN a fault on EVSE 0 (the station as a whole)
    world = World(an_alert(evse=None))
    # WHEN the soft reset step runs
    cleared = world.step(EscalationAction.SOFT_RESET)
    # THEN the station's own status was read (Faulted) and it was reset
    assert cleared is False
    assert world.resets.sent == [(TENANT, STATION, ResetKind.SOFT)]
    assert describe(world.alert) == "Faulted: CP-1 (GroundFailure)"


def test_an_unknown_alert_stops_the_workflow() -> None:
    # GIVEN a workflow whose alert is gone (a tenant deleted)
    world = World()
    # WHEN a step runs for an id that is not stored
    cleared = world.service.step(TENANT, "nope", EscalationAction.SOFT_RESET)
    # THEN it stops without acting
    assert cleared is True
    assert world.resets.sent == []


# -- retries and failures ------------------------------------------------------------------------


def test_retried_steps_do_nothing_twice() -> None:
    # GIVEN the workflow's steps, each run twice (the state machine retries a task whose
    # Lambda failed after its work was done)
    world = World()
    for action in EscalationAction:
        world.step(action)
        world.step(action)
    # THEN one reset of each kind, one ticket, one e-mail, one event, one note each
    assert len(world.resets.sent) == 2
    assert len(world.tickets.opened) == 1
    assert len(world.mailer.sent) == 1
    assert sum(isinstance(e, AlertEscalated) for e in world.alerts.events) == 1
    assert [a for a, _ in world.steps()] == [
        "soft reset",
        "hard reset",
        "maintenance ticket",
        "operator e-mail",
        "partner webhook",
    ]


def test_no_contact_email_or_a_refused_email_is_noted_and_the_rest_goes_on() -> None:
    # GIVEN a tenant without a contact e-mail, and another whose mail server refuses
    silent = World(email=None)
    refused = World()
    refused.mailer.fails = True
    # WHEN each escalates
    silent.step(EscalationAction.ESCALATE)
    refused.step(EscalationAction.ESCALATE)
    # THEN the ticket and the event still happen, and the alert says why no mail went
    for world in (silent, refused):
        assert len(world.tickets.opened) == 1
        assert any(isinstance(e, AlertEscalated) for e in world.alerts.events)
    assert dict(silent.steps())["operator e-mail"] == (
        "not sent: the tenant profile has no contact e-mail"
    )
    assert dict(refused.steps())["operator e-mail"] == "not sent: SES refused it (MessageRejected)"


class RacingAlerts(InMemoryAlertRepository):
    """Loses the first `losses` updates (the detector or another step wrote in between)."""

    def __init__(self, losses: int) -> None:
        super().__init__()
        self.losses = losses

    def update(self, alert: Alert, events: Sequence[DomainEvent]) -> bool:
        if self.losses > 0:
            self.losses -= 1
            return False
        return super().update(alert, events)


def test_a_note_that_loses_a_race_is_written_again_and_one_that_always_loses_raises() -> None:
    # GIVEN an alert whose writes lose twice, and another's that always lose
    world = World()
    racing = RacingAlerts(losses=2)
    racing.alerts = world.alerts.alerts
    world.service._alerts = racing
    # WHEN the soft reset step runs
    world.step(EscalationAction.SOFT_RESET)
    # THEN its note landed
    assert [a for a, _ in world.steps()] == ["soft reset"]
    # WHEN every write loses
    racing.losses = 100
    # THEN the step raises (the state machine retries it), its reset sent
    with pytest.raises(ConcurrentModificationError):
        world.step(EscalationAction.HARD_RESET)
    assert [kind for _, _, kind in world.resets.sent] == [ResetKind.SOFT, ResetKind.HARD]


# -- resets through the command service ------------------------------------------------------------


class Commands:
    def __init__(self, error: Exception | None = None) -> None:
        self.sent: list[tuple[str, str, Command, timedelta]] = []
        self.error = error

    def send(
        self, tenant_id: str, station_id: str, command: Command, ttl: timedelta
    ) -> CommandRecord:
        if self.error is not None:
            raise self.error
        self.sent.append((tenant_id, station_id, command, ttl))
        return CommandRecord(
            id="c-9",
            station_id=station_id,
            tenant_id=tenant_id,
            action="Reset",
            state=CommandState.QUEUED,
            queued_at=T0,
            expires_at=T0 + ttl,
        )


def test_command_resets_queue_a_reset_and_report_its_state() -> None:
    # GIVEN the command service (a station offline: the command is queued)
    commands = Commands()
    resets = CommandResets(commands, timedelta(minutes=10))
    # WHEN a hard reset is asked for
    outcome = resets.reset(TENANT, STATION, ResetKind.HARD)
    # THEN a station-wide Reset Hard went to the queue for ten minutes, and the outcome says so
    [(tenant, station, command, ttl)] = commands.sent
    assert (tenant, station, ttl) == (TENANT, STATION, timedelta(minutes=10))
    assert command == ResetCommand(kind=ResetKind.HARD)
    assert outcome == "Reset Hard: Queued (command c-9)"


def test_command_resets_report_a_refusal_instead_of_failing() -> None:
    # GIVEN a station that is gone
    resets = CommandResets(Commands(StationNotFoundError(STATION)), timedelta(minutes=10))
    # WHEN a reset is asked for
    outcome = resets.reset(TENANT, STATION, ResetKind.SOFT)
    # THEN the outcome says why nothing was sent (the workflow goes on to people)
    assert outcome.startswith("not sent: ")
    assert STATION in outcome
