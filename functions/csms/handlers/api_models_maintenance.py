"""API models of maintenance: tickets, service history, plans (csms.handlers.api_maintenance)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, ConfigDict, Field, JsonValue, StringConstraints, model_validator

from csms.domain.maintenance import (
    MAX_ALERT_IDS,
    MAX_EVERY_DAYS,
    MAX_EVERY_KWH,
    MAX_TEXT_LENGTH,
    MAX_TITLE_LENGTH,
    MaintenancePlan,
    ServiceRecord,
    Ticket,
    TicketPriority,
    TicketState,
)
from csms.handlers.api_models import ApiModel
from csms.services.maintenance import UNSET, TicketPatch

StationRef = Annotated[
    str, StringConstraints(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._~:*+@-]+$")
]
UserRef = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@+-]+$")
]
AlertRef = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z-]+$")
]
Title = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE_LENGTH)]
# Text that must say something (a resolution, a note): not only white space.
Words = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_LENGTH, pattern=r"\S")]
Description = Annotated[str, StringConstraints(max_length=MAX_TEXT_LENGTH)]


class TimelineEntryView(ApiModel):
    """One change of a ticket."""

    at: datetime
    by: str
    action: str
    state: TicketState
    changes: dict[str, JsonValue] | None = None
    note: str | None = None


class TicketView(ApiModel):
    """A maintenance ticket: where, what, who, how far along, and its timeline."""

    id: str
    station_id: str
    site_id: str | None = None
    evse_id: int | None = None
    title: str
    description: str | None = None
    priority: TicketPriority
    state: TicketState
    allowed_transitions: list[TicketState] = Field(
        description="The states the ticket may move to now"
    )
    assignee: str | None = None
    alert_ids: list[str]
    plan_id: str | None = None
    resolution: str | None = None
    created_at: datetime
    created_by: str
    updated_at: datetime
    resolved_at: datetime | None = None
    timeline: list[TimelineEntryView]

    @classmethod
    def of(cls, ticket: Ticket) -> TicketView:
        """The public view of a ticket."""
        return cls(
            id=ticket.id,
            station_id=ticket.station_id,
            site_id=ticket.site_id,
            evse_id=ticket.evse_id,
            title=ticket.title,
            description=ticket.description,
            priority=ticket.priority,
            state=ticket.state,
            allowed_transitions=list(ticket.allowed),
            assignee=ticket.assignee,
            alert_ids=list(ticket.alert_ids),
            plan_id=ticket.plan_id,
            resolution=ticket.resolution,
            created_at=ticket.created_at,
            created_by=ticket.created_by,
            updated_at=ticket.updated_at,
            resolved_at=ticket.resolved_at,
            timeline=[TimelineEntryView.model_validate(e.model_dump()) for e in ticket.timeline],
        )


class TicketPage(ApiModel):
    """A page of tickets, newest first."""

    items: list[TicketView]
    next_cursor: str | None = None


class TicketCreate(ApiModel):
    """A new ticket at one of the caller's stations (state open)."""

    model_config = ConfigDict(extra="forbid")

    station_id: StationRef
    evse_id: Annotated[int, Field(ge=0, le=1000)] | None = Field(
        default=None, description="The port (EVSE); absent for the station as a whole"
    )
    title: Title
    description: Description | None = None
    priority: TicketPriority = TicketPriority.NORMAL
    assignee: UserRef | None = Field(
        default=None, description="A user of the tenant who can see the station's site"
    )
    alert_ids: list[AlertRef] = Field(default_factory=list, max_length=MAX_ALERT_IDS)


class TicketUpdate(ApiModel):
    """A partial update (JSON merge patch): absent fields stay, null clears an optional one.

    The state moves through `POST /v1/tickets/{id}/transitions`, not here.
    """

    model_config = ConfigDict(extra="forbid")

    title: Title | None = Field(default=None, description="Cannot be null")
    description: Description | None = None
    priority: TicketPriority | None = Field(default=None, description="Cannot be null")
    assignee: UserRef | None = None

    @model_validator(mode="after")
    def _required_are_not_cleared(self) -> Self:
        for name in ("title", "priority"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def patch(self) -> TicketPatch:
        """The service's patch: only the fields the body names."""
        given = self.model_fields_set
        return TicketPatch(
            title=self.title if self.title is not None else UNSET,
            description=self.description if "description" in given else UNSET,
            priority=self.priority if self.priority is not None else UNSET,
            assignee=self.assignee if "assignee" in given else UNSET,
        )


class TicketTransition(ApiModel):
    """Move a ticket in its workflow: open -> assigned -> in-progress -> resolved -> open."""

    model_config = ConfigDict(extra="forbid")

    to: TicketState
    assignee: UserRef | None = Field(
        default=None, description="Required to assign; may hand the ticket over on any move"
    )
    resolution: Words | None = Field(default=None, description="Required to resolve")
    note: Words | None = None

    @model_validator(mode="after")
    def _what_the_move_needs(self) -> Self:
        if self.to is TicketState.ASSIGNED and self.assignee is None:
            raise ValueError("assigning a ticket needs an assignee")
        if self.to is TicketState.RESOLVED and self.resolution is None:
            raise ValueError("resolving a ticket needs a resolution note")
        if self.to is not TicketState.RESOLVED and self.resolution is not None:
            raise ValueError("a resolution is given only when resolving")
        return self


class ServiceRecordView(ApiModel):
    """Maintenance done at a station."""

    id: str
    station_id: str
    site_id: str | None = None
    plan_id: str | None = None
    ticket_id: str | None = None
    done_at: datetime
    by: str
    note: str | None = None

    @classmethod
    def of(cls, record: ServiceRecord) -> ServiceRecordView:
        """The public view of a service record."""
        return cls.model_validate(record.model_dump(exclude={"tenant_id"}))


class ServiceHistoryEntry(ApiModel):
    """A ticket or a service done, at the time it was opened or done."""

    kind: Literal["ticket", "service"]
    at: datetime
    ticket: TicketView | None = None
    service: ServiceRecordView | None = None

    @classmethod
    def of(cls, entry: Ticket | ServiceRecord) -> ServiceHistoryEntry:
        """A history entry of a ticket or a service record."""
        if isinstance(entry, Ticket):
            return cls(kind="ticket", at=entry.created_at, ticket=TicketView.of(entry))
        return cls(kind="service", at=entry.done_at, service=ServiceRecordView.of(entry))


class ServiceHistoryPage(ApiModel):
    """A page of a station's service history, newest first."""

    items: list[ServiceHistoryEntry]
    next_cursor: str | None = None


class PlanView(ApiModel):
    """A preventive maintenance plan of a station."""

    id: str
    station_id: str
    site_id: str | None = None
    title: str
    description: str | None = None
    every_days: int | None = None
    every_kwh: Decimal | None = None
    created_at: datetime
    created_by: str
    last_service_at: datetime
    next_due_at: datetime | None = Field(
        default=None, description="When the time interval falls due (absent: energy only)"
    )
    occurrence: int = Field(description="The number of the service the plan waits for")
    ticket_id: str | None = Field(
        default=None, description="The ticket opened for the current occurrence, once due"
    )

    @classmethod
    def of(cls, plan: MaintenancePlan) -> PlanView:
        """The public view of a plan."""
        return cls.model_validate(
            {**plan.model_dump(exclude={"tenant_id", "version"}), "next_due_at": plan.next_due_at}
        )


class PlanPage(ApiModel):
    """A page of plans, oldest first."""

    items: list[PlanView]
    next_cursor: str | None = None


class PlanCreate(ApiModel):
    """A preventive plan: every N days and/or every M kWh delivered since the last service."""

    model_config = ConfigDict(extra="forbid")

    station_id: StationRef
    title: Title
    description: Description | None = None
    every_days: Annotated[int, Field(ge=1, le=MAX_EVERY_DAYS)] | None = None
    every_kwh: Annotated[Decimal, Field(gt=0, le=MAX_EVERY_KWH, decimal_places=3)] | None = None
    last_service_at: AwareDatetime | None = Field(
        default=None,
        description="When the station was last serviced (default, and at the latest: now)",
    )

    @model_validator(mode="after")
    def _some_interval(self) -> Self:
        if self.every_days is None and self.every_kwh is None:
            raise ValueError("give everyDays, everyKwh or both")
        return self


class ServiceDone(ApiModel):
    """A plan's service done: the plan counts again from `doneAt` (default now)."""

    model_config = ConfigDict(extra="forbid")

    note: Words | None = None
    done_at: AwareDatetime | None = Field(
        default=None,
        description="Default now; a future time counts as now, one before the last service as it",
    )


class ServiceDoneView(ApiModel):
    """The plan as it counts now, and the service record."""

    plan: PlanView
    service: ServiceRecordView
