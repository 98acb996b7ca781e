"""Maintenance: tickets with their state machine and timeline, service records, preventive plans.

A ticket moves open -> assigned -> in-progress -> resolved, and a resolved one may be reopened;
every other move is refused with the moves allowed from where it stands. Each change is noted on
the ticket's own timeline (who, when, what), so a station's service history reads without the
audit log (which needs another permission and keeps only a retention period).

A preventive plan asks for a service of a station every N days and/or every M kWh delivered
since its last service; each due *occurrence* opens one ticket, however often the daily job runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, model_validator

from csms.domain.errors import InvalidTransitionError, ResourceInUseError

MAX_TITLE_LENGTH: Final = 200
MAX_TEXT_LENGTH: Final = 4000
MAX_ALERT_IDS: Final = 50
# A ticket item stays far below DynamoDB's 400 KB: past this many entries the oldest go (the
# creation stays); the audit log keeps every change made through the API anyway.
MAX_TIMELINE: Final = 200
MAX_EVERY_DAYS: Final = 3650
MAX_EVERY_KWH: Final = Decimal(10_000_000)


class TicketState(StrEnum):
    """Where a ticket stands in its workflow."""

    OPEN = "open"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in-progress"
    RESOLVED = "resolved"


class TicketPriority(StrEnum):
    """How soon the work is needed."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


# The workflow: each state and the states it may move to.
TRANSITIONS: Final[dict[TicketState, tuple[TicketState, ...]]] = {
    TicketState.OPEN: (TicketState.ASSIGNED,),
    TicketState.ASSIGNED: (TicketState.IN_PROGRESS,),
    TicketState.IN_PROGRESS: (TicketState.RESOLVED,),
    TicketState.RESOLVED: (TicketState.OPEN,),
}

# States in which someone is working on the ticket: it keeps an assignee.
_STAFFED = frozenset({TicketState.ASSIGNED, TicketState.IN_PROGRESS})


class TimelineEntry(BaseModel):
    """One change of a ticket: who did what when, and the state after it."""

    model_config = ConfigDict(frozen=True)

    at: AwareDatetime
    by: str
    action: str  # created, updated, assigned, in-progress, resolved, reopened, alert-linked
    state: TicketState
    changes: dict[str, JsonValue] | None = None
    note: str | None = None


class Ticket(BaseModel):
    """A maintenance ticket of one station (and, optionally, one of its ports).

    `version` counts the writes of the ticket; every write is conditional on it.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    station_id: str
    # The station's site when the ticket was opened: site-restricted users see their sites'.
    site_id: str | None = None
    evse_id: int | None = Field(default=None, ge=0)
    title: str = Field(min_length=1, max_length=MAX_TITLE_LENGTH)
    description: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)
    priority: TicketPriority = TicketPriority.NORMAL
    state: TicketState = TicketState.OPEN
    assignee: str | None = None
    alert_ids: tuple[str, ...] = Field(default=(), max_length=MAX_ALERT_IDS)
    # The preventive plan (and its due occurrence) the ticket was opened for.
    plan_id: str | None = None
    resolution: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)
    created_at: AwareDatetime
    created_by: str
    updated_at: AwareDatetime
    resolved_at: AwareDatetime | None = None
    timeline: tuple[TimelineEntry, ...] = ()
    version: int = 1

    @model_validator(mode="after")
    def _consistent(self) -> Ticket:
        if self.state in _STAFFED and self.assignee is None:
            raise ValueError(f"a ticket {self.state} needs an assignee")
        if self.state is TicketState.RESOLVED and not (self.resolution or "").strip():
            raise ValueError("a resolved ticket needs a resolution note")
        return self

    @property
    def allowed(self) -> tuple[TicketState, ...]:
        """The states this ticket may move to now."""
        return TRANSITIONS[self.state]

    def transition(
        self,
        to: TicketState,
        *,
        at: datetime,
        by: str,
        assignee: str | None = None,
        resolution: str | None = None,
        note: str | None = None,
    ) -> Ticket:
        """The ticket moved to `to`; InvalidTransitionError when the workflow does not allow it.

        Assigning needs an assignee (given, or the one the ticket has); resolving needs a
        resolution note. Reopening keeps the assignee and the earlier resolution in the timeline.
        """
        if to not in self.allowed:
            raise InvalidTransitionError(
                "ticket", self.id, self.state.value, to.value, [s.value for s in self.allowed]
            )
        update: dict[str, object] = {"state": to, "updated_at": at}
        changes: dict[str, JsonValue] = {"state": to.value}
        if assignee is not None and assignee != self.assignee:
            update["assignee"] = assignee
            changes["assignee"] = assignee
        if to is TicketState.RESOLVED:
            update["resolution"] = resolution
            update["resolved_at"] = at
            changes["resolution"] = resolution
        elif to is TicketState.OPEN:
            update["resolution"] = None
            update["resolved_at"] = None
        action = "reopened" if self.state is TicketState.RESOLVED else to.value
        candidate = self.model_copy(update=update)
        # Validated as a whole: an assignment without assignee or a resolution without a note
        # cannot be stored, whichever way it was asked for.
        moved = Ticket.model_validate(candidate.model_dump())
        return moved._noted(
            TimelineEntry(at=at, by=by, action=action, state=to, changes=changes, note=note)
        )

    def updated(self, changes: dict[str, object], *, at: datetime, by: str) -> Ticket:
        """Title, description, priority or assignee changed; the same ticket if nothing did.

        The assignee of a ticket being worked on can be changed but not removed.
        """
        effective = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if not effective:
            return self
        if "assignee" in effective and effective["assignee"] is None and self.state in _STAFFED:
            raise ResourceInUseError(
                "ticket", self.id, f"a ticket {self.state} keeps an assignee; assign another"
            )
        candidate = Ticket.model_validate({**self.model_dump(), **effective, "updated_at": at})
        noted: dict[str, JsonValue] = {k: _plain(v) for k, v in effective.items()}
        return candidate._noted(
            TimelineEntry(at=at, by=by, action="updated", state=self.state, changes=noted)
        )

    def with_alert(self, alert_id: str, *, at: datetime, by: str) -> Ticket:
        """The alert linked to this ticket (once)."""
        if alert_id in self.alert_ids:
            return self
        linked = self.model_copy(
            update={"alert_ids": (*self.alert_ids, alert_id)[-MAX_ALERT_IDS:], "updated_at": at}
        )
        return linked._noted(
            TimelineEntry(
                at=at, by=by, action="alert-linked", state=self.state, changes={"alertId": alert_id}
            )
        )

    def _noted(self, entry: TimelineEntry) -> Ticket:
        timeline = (*self.timeline, entry)
        if len(timeline) > MAX_TIMELINE:
            timeline = (timeline[0], *timeline[-(MAX_TIMELINE - 1) :])
        return self.model_copy(update={"timeline": timeline})


def _plain(value: object) -> JsonValue:
    """A changed field as the timeline shows it (enums by value)."""
    if isinstance(value, StrEnum):
        return value.value
    if value is None or isinstance(value, str | int):
        return value
    return str(value)


def sortable_id(at: datetime, suffix: str) -> str:
    """An id that sorts by creation time (microseconds, UTC) and is unique by its suffix."""
    return f"{at:%Y%m%dT%H%M%S}{at.microsecond:06d}Z-{suffix}"


def new_ticket(
    *,
    ticket_id: str,
    tenant_id: str,
    station_id: str,
    site_id: str | None,
    title: str,
    at: datetime,
    by: str,
    evse_id: int | None = None,
    description: str | None = None,
    priority: TicketPriority = TicketPriority.NORMAL,
    assignee: str | None = None,
    alert_ids: tuple[str, ...] = (),
    plan_id: str | None = None,
) -> Ticket:
    """A new open ticket with its creation on the timeline."""
    ticket = Ticket(
        id=ticket_id,
        tenant_id=tenant_id,
        station_id=station_id,
        site_id=site_id,
        evse_id=evse_id,
        title=title,
        description=description,
        priority=priority,
        assignee=assignee,
        alert_ids=tuple(dict.fromkeys(alert_ids)),
        plan_id=plan_id,
        created_at=at,
        created_by=by,
        updated_at=at,
    )
    return ticket._noted(TimelineEntry(at=at, by=by, action="created", state=TicketState.OPEN))


class ServiceRecord(BaseModel):
    """Maintenance done at a station (for a plan, or recorded with a ticket)."""

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    station_id: str
    site_id: str | None = None
    plan_id: str | None = None
    ticket_id: str | None = None
    done_at: AwareDatetime
    by: str
    note: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)


class MaintenancePlan(BaseModel):
    """Preventive maintenance of a station: every `every_days` and/or every `every_kwh`.

    `occurrence` numbers the service the plan waits for (1 until the first service is done); a
    ticket opened for it is `ticket_id`, so each occurrence opens one ticket.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    station_id: str
    site_id: str | None = None
    title: str = Field(min_length=1, max_length=MAX_TITLE_LENGTH)
    description: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)
    every_days: int | None = Field(default=None, ge=1, le=MAX_EVERY_DAYS)
    every_kwh: Decimal | None = Field(default=None, gt=0, le=MAX_EVERY_KWH)
    created_at: AwareDatetime
    created_by: str
    last_service_at: AwareDatetime
    occurrence: int = Field(default=1, ge=1)
    ticket_id: str | None = None
    version: int = 1

    @model_validator(mode="after")
    def _some_interval(self) -> MaintenancePlan:
        if self.every_days is None and self.every_kwh is None:
            raise ValueError("a plan needs every_days, every_kwh or both")
        return self

    @property
    def next_due_at(self) -> datetime | None:
        """When the time interval falls due (None: the plan counts energy only)."""
        if self.every_days is None:
            return None
        return self.last_service_at + timedelta(days=self.every_days)

    @property
    def energy_due_wh(self) -> Decimal | None:
        """Energy (Wh) delivered since the last service at which the plan falls due."""
        return None if self.every_kwh is None else self.every_kwh * 1000

    def due_by_time(self, now: datetime) -> bool:
        """Whether the time interval has passed since the last service."""
        due = self.next_due_at
        return due is not None and now >= due

    def serviced(self, at: datetime) -> MaintenancePlan:
        """The plan after a service: counters restart from `at`, the next occurrence waits."""
        return self.model_copy(
            update={"last_service_at": at, "occurrence": self.occurrence + 1, "ticket_id": None}
        )


def plan_origin(plan: MaintenancePlan) -> str:
    """The idempotency key of the plan's current occurrence (one ticket each)."""
    return f"plan#{plan.id}#{plan.occurrence}"


def alert_origin(alert_id: str) -> str:
    """The idempotency key of an alert's ticket (one ticket per alert)."""
    return f"alert#{alert_id}"
