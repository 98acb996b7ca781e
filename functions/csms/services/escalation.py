"""Fault escalation: start one workflow per fault alert, and run each of its steps.

The workflow itself (waits and the order of the steps) is the state machine's (Step Functions
in AWS, csms_local.workflows in `csms local`); this service is what its tasks do. Each step reads
the alert and the port's stored status first: a condition that cleared stops the workflow
(`cleared` True), whatever step was next. Each step notes what it did on the alert, and a task
that is retried finds its note and does not act twice (a ticket, an e-mail, an event); a reset is
sent at least once (a retry after the send but before the note sends it again, which a station
survives).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from csms.domain.alerts import Alert, AlertState, AlertStep
from csms.domain.command_records import CommandRecord
from csms.domain.commands import Command, ResetCommand, ResetKind
from csms.domain.connector import ConnectorStatus, EvseRef
from csms.domain.errors import ConcurrentModificationError, DomainError
from csms.domain.escalation import (
    ESCALATED_KINDS,
    STEP_CLEARED,
    STEP_EMAIL,
    STEP_PARTNERS,
    STEP_STARTED,
    STEP_TICKET,
    EscalationAction,
    describe,
    done,
    execution_name,
    step_label,
)
from csms.domain.events import AlertEscalated, AlertOpened, DomainEvent, of_alert
from csms.domain.maintenance import Ticket
from csms.domain.tenancy import TenantProfile
from csms.services.ports import Clock, ConnectorStatusRepository

logger = logging.getLogger(__name__)

_STATION = EvseRef(evse_id=0, connector_id=0)
# Tries of a step's note that loses races (the detector closing the alert, another step).
_NOTE_ATTEMPTS = 5


class AlertSteps(Protocol):
    """The alerts, read and written back with a step more."""

    def get(self, tenant_id: str, alert_id: str) -> Alert | None:
        """One alert of a tenant."""
        ...

    def update(self, alert: Alert, events: Sequence[DomainEvent]) -> bool:
        """Store the alert with its events if it is still at `alert.version - 1`."""
        ...


class Resets(Protocol):
    """Sends a station a Reset (through the command queue) and says what became of it."""

    def reset(self, tenant_id: str, station_id: str, kind: ResetKind) -> str:
        """Send or queue it; a short outcome for the alert ("sent", "queued", "not sent: ...")."""
        ...


class CommandSender(Protocol):
    """The command service's send (csms.services.commands)."""

    def send(
        self, tenant_id: str, station_id: str, command: Command, ttl: timedelta
    ) -> CommandRecord:
        """Send now, or queue for `ttl`."""
        ...


class CommandResets:
    """Resets through the command service: queued for a station that is offline or busy."""

    def __init__(self, commands: CommandSender, ttl: timedelta) -> None:
        self._commands = commands
        self._ttl = ttl

    def reset(self, tenant_id: str, station_id: str, kind: ResetKind) -> str:
        """What became of it, for the alert's step."""
        try:
            record = self._commands.send(tenant_id, station_id, ResetCommand(kind=kind), self._ttl)
        except DomainError as exc:
            return f"not sent: {exc}"
        return f"Reset {kind.value}: {record.state.value} (command {record.id})"


class AlertTickets(Protocol):
    """Maintenance tickets opened for alerts (csms.services.maintenance)."""

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
        """The alert's ticket (the same one on every call)."""
        ...


class Mailer(Protocol):
    """Sends an e-mail (SES in AWS, a local outbox in `csms local`)."""

    def send(self, to: str, subject: str, body: str) -> str:
        """Send it; where it went (a message id, a file)."""
        ...


class Profiles(Protocol):
    """Tenant profiles: their contact e-mail hears of escalations."""

    def get_profile(self, tenant_id: str) -> TenantProfile | None:
        """The tenant's profile, if one is stored."""
        ...


class WorkflowStarter(Protocol):
    """Starts a workflow execution once per name."""

    def start(self, name: str, execution_input: str) -> bool:
        """Start it; False when an execution of that name exists already."""
        ...


@dataclass(frozen=True)
class EscalationPolicy:
    """The workflow's settings."""

    # Between the alert and the soft reset, the soft and the hard reset, the hard reset and
    # the escalation to people.
    wait: timedelta = timedelta(minutes=5)


class EscalationService:
    """Starts the workflow for fault alerts and performs its steps."""

    def __init__(
        self,
        *,
        alerts: AlertSteps,
        statuses: ConnectorStatusRepository,
        resets: Resets,
        tickets: AlertTickets,
        mailer: Mailer,
        profiles: Profiles,
        starter: WorkflowStarter,
        clock: Clock,
        policy: EscalationPolicy | None = None,
    ) -> None:
        self._alerts = alerts
        self._statuses = statuses
        self._resets = resets
        self._tickets = tickets
        self._mailer = mailer
        self._profiles = profiles
        self._starter = starter
        self._clock = clock
        self._policy = policy or EscalationPolicy()

    # -- starting ------------------------------------------------------------------------------

    def start(self, opened: AlertOpened) -> str:
        """Start the alert's workflow (once); what happened, for the log."""
        if opened.kind not in ESCALATED_KINDS:
            return "not escalated"
        name = execution_name(opened.tenant_id, opened.alert_id)
        wait = int(self._policy.wait.total_seconds())
        execution_input = json.dumps(
            {"tenantId": opened.tenant_id, "alertId": opened.alert_id, "waitSeconds": wait}
        )
        # Noted before the start, once: the workflow's first step may run at once (no wait),
        # and a retried start (the first one failed after starting) finds the note there.
        self._note(
            opened.tenant_id,
            opened.alert_id,
            STEP_STARTED,
            f"workflow {name}: soft reset, hard reset, then people, {wait} s apart",
        )
        started = self._starter.start(name, execution_input)
        return "started" if started else "already started"

    # -- the steps -----------------------------------------------------------------------------

    def step(self, tenant_id: str, alert_id: str, action: EscalationAction) -> bool:
        """Perform one step unless the condition cleared; whether it cleared (stop)."""
        alert = self._alerts.get(tenant_id, alert_id)
        if alert is None:
            logger.warning("escalation of an unknown alert stopped", extra={"alert_id": alert_id})
            return True
        if not self._holds(alert):
            self._note(
                tenant_id,
                alert_id,
                STEP_CLEARED,
                f"the condition cleared before the {step_label(action)}",
            )
            return True
        kind = action.reset_kind
        if kind is not None:
            label = step_label(action)
            if done(alert, label) is None:
                outcome = self._resets.reset(tenant_id, alert.key.station_id, kind)
                self._note(tenant_id, alert_id, label, outcome)
            return False
        self._escalate(alert)
        return False

    def _holds(self, alert: Alert) -> bool:
        """Open, and the port (or the station) still Faulted in the stored state."""
        if alert.state is AlertState.CLOSED:
            return False
        state = self._statuses.get(alert.key.station_id, alert.key.evse or _STATION)
        return state is not None and state.status is ConnectorStatus.FAULTED

    def _escalate(self, alert: Alert) -> None:
        tenant_id, alert_id = alert.key.tenant_id, alert.alert_id
        title = describe(alert)
        ticket = done(alert, STEP_TICKET)
        if ticket is None:
            ticket_id: str | None = self._tickets.open_for_alert(
                tenant_id,
                alert.key.station_id,
                alert.key.evse.evse_id if alert.key.evse is not None else None,
                alert_id,
                title=title[:200],
                description=_story(alert),
            ).id
            alert = self._note(tenant_id, alert_id, STEP_TICKET, ticket_id)
        else:
            ticket_id = ticket.outcome
        if done(alert, STEP_EMAIL) is None:
            alert = self._note(tenant_id, alert_id, STEP_EMAIL, self._email(alert, ticket_id))
        if done(alert, STEP_PARTNERS) is None:
            now = self._clock.now()
            event = AlertEscalated(
                **of_alert(alert), occurred_at=now, opened_at=alert.opened_at, ticket_id=ticket_id
            )
            self._note(tenant_id, alert_id, STEP_PARTNERS, "alert.escalated published", [event])

    def _email(self, alert: Alert, ticket_id: str | None) -> str:
        profile = self._profiles.get_profile(alert.key.tenant_id)
        to = profile.contact_email if profile is not None else None
        if to is None:
            return "not sent: the tenant profile has no contact e-mail"
        subject = f"[CSMS] Still faulted after resets: {describe(alert)}"
        body = _story(alert) + (f"\nMaintenance ticket: {ticket_id}\n" if ticket_id else "")
        try:
            where = self._mailer.send(to, subject, body)
        except MailerError as exc:
            # The ticket is open and partners are told; a mail that cannot go is noted, not
            # retried for ever (the workflow must not stall on a mail server).
            return f"not sent: {exc}"
        return f"sent ({where})"

    # -- notes on the alert ----------------------------------------------------------------------

    def _note(
        self,
        tenant_id: str,
        alert_id: str,
        label: str,
        outcome: str | None,
        events: Sequence[DomainEvent] = (),
    ) -> Alert:
        """Append a step (once per label) to the alert; the alert as stored after."""
        for _ in range(_NOTE_ATTEMPTS):
            alert = self._alerts.get(tenant_id, alert_id)
            if alert is None:
                raise ConcurrentModificationError("alert", alert_id)
            if done(alert, label) is not None:
                return alert
            step = AlertStep(at=self._clock.now(), action=label, outcome=outcome)
            noted = alert.model_copy(
                update={"steps": (*alert.steps, step), "version": alert.version + 1}
            )
            if self._alerts.update(noted, events):
                return noted
        raise ConcurrentModificationError("alert", alert_id)


class MailerError(Exception):
    """The e-mail could not be sent (the reason is safe to show the operator)."""


def _story(alert: Alert) -> str:
    """What the alert is and what was tried, as plain text."""
    lines = [
        describe(alert),
        f"Severity: {alert.severity.value}",
        f"Since: {alert.opened_at.isoformat()}",
    ]
    if alert.site_id:
        lines.append(f"Site: {alert.site_id}")
    details = alert.details
    for name, value in (
        ("Error code", details.error_code),
        ("Info", details.info),
        ("Vendor", details.vendor_id),
        ("Vendor error code", details.vendor_error_code),
    ):
        if value:
            lines.append(f"{name}: {value}")
    lines.append("Tried:")
    lines.extend(
        f"  {step.at.isoformat()} {step.action}" + (f": {step.outcome}" if step.outcome else "")
        for step in alert.steps
    )
    return "\n".join(lines) + "\n"
