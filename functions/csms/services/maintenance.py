"""Use cases of maintenance: tickets, a station's service history, preventive plans.

Tickets are opened by operators, by an alert (`open_for_alert`, one ticket per alert however
often the escalation asks) and by the daily plan run (one ticket per due occurrence of a plan).
Every write is conditional on the version read; without an expected version a lost race is read
again a few times, then ConcurrentModificationError.

Energy since a plan's last service is summed from the station's sessions (the per-station
session index, read from the last service on) by the daily run only, and only for plans that
count energy and have no ticket open for their occurrence yet: nothing is added to the message
path, late corrections of a session's energy are read as they stand, and the read stops as soon
as the threshold is reached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Final, Protocol

from csms.domain.access import Principal
from csms.domain.alerts import Alert
from csms.domain.errors import (
    ConcurrentModificationError,
    InvalidReferenceError,
    ResourceNotFoundError,
    VersionMismatchError,
)
from csms.domain.maintenance import (
    MaintenancePlan,
    ServiceRecord,
    Ticket,
    TicketPriority,
    TicketState,
    alert_origin,
    new_ticket,
    plan_origin,
    sortable_id,
)
from csms.domain.sessions import Session
from csms.domain.station import Station
from csms.domain.tenancy import User, UserStatus
from csms.services.ports import Clock, IdGenerator, Page, SessionQuery

# Who the timeline names for what the system did by itself.
ALERT_ACTOR: Final = "system:alerts"
PLAN_ACTOR: Final = "system:maintenance-plans"
# Sessions read per page while summing a station's energy.
_ENERGY_PAGE = 100


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET
"""A field a patch leaves as it is (as opposed to None, which clears it)."""


@dataclass(frozen=True)
class TicketPatch:
    """A partial update with JSON merge patch semantics (RFC 7396)."""

    title: str | _Unset = UNSET
    description: str | _Unset | None = UNSET
    priority: TicketPriority | _Unset = UNSET
    assignee: str | _Unset | None = UNSET

    def changes(self) -> dict[str, object]:
        """The fields to change, by Ticket field name."""
        named = ((f.name, getattr(self, f.name)) for f in fields(self))
        return {name: value for name, value in named if value is not UNSET}


@dataclass(frozen=True)
class TicketQuery:
    """Filters of a ticket list (all optional)."""

    state: TicketState | None = None
    station_id: str | None = None
    site_id: str | None = None
    # A site-restricted caller: only tickets at these sites.
    sites: frozenset[str] | None = None


HistoryEntry = Ticket | ServiceRecord


class TicketRepository(Protocol):
    """Tickets, the origins that make system-opened tickets idempotent, and service records."""

    def create(self, ticket: Ticket, origin: str | None = None) -> str | None:
        """Store a new ticket (version 1); with an origin, only if no ticket holds it yet.

        None when stored; the id of the ticket that holds the origin otherwise.
        """
        ...

    def get(self, tenant_id: str, ticket_id: str) -> Ticket | None:
        """By key, strongly consistent."""
        ...

    def replace(self, ticket: Ticket) -> bool:
        """Store it as version `ticket.version + 1` if the stored one is `ticket.version`."""
        ...

    def list(
        self, tenant_id: str, query: TicketQuery, limit: int, cursor: str | None
    ) -> Page[Ticket]:
        """Newest first."""
        ...

    def history(
        self, tenant_id: str, station_id: str, limit: int, cursor: str | None
    ) -> Page[HistoryEntry]:
        """The station's tickets and service records, newest first."""
        ...


class PlanRepository(Protocol):
    """Preventive maintenance plans."""

    def create(self, plan: MaintenancePlan) -> None:
        """Store a new plan (version 1)."""
        ...

    def get(self, tenant_id: str, plan_id: str) -> MaintenancePlan | None:
        """By key, strongly consistent."""
        ...

    def replace(self, plan: MaintenancePlan) -> bool:
        """Store the plan as version `plan.version + 1` if the stored one is `plan.version`."""
        ...

    def delete(self, tenant_id: str, plan_id: str, expected_version: int) -> bool:
        """Remove the plan if its stored version is `expected_version`."""
        ...

    def serviced(self, plan: MaintenancePlan, record: ServiceRecord) -> bool:
        """In one transaction: the plan as `plan.version + 1` (conditional) and the record."""
        ...

    def list(self, tenant_id: str, limit: int, cursor: str | None) -> Page[MaintenancePlan]:
        """By id (creation order)."""
        ...

    def every_plan(self) -> Iterator[MaintenancePlan]:
        """Every plan of every tenant (the daily run)."""
        ...


class StationLookup(Protocol):
    """Stations by id (the tenant is checked on the station)."""

    def get(self, station_id: str) -> Station | None:
        """The station, or None."""
        ...


class UserLookup(Protocol):
    """A tenant's operator users (assignees)."""

    def get_user(self, tenant_id: str, user_id: str) -> User | None:
        """The user, or None."""
        ...


class AlertLookup(Protocol):
    """A tenant's alerts by id (tickets name the alerts they are for)."""

    def get(self, tenant_id: str, alert_id: str) -> Alert | None:
        """The alert, or None."""
        ...


class SessionLister(Protocol):
    """A tenant's sessions, newest start first."""

    def list(
        self, tenant_id: str, query: SessionQuery, limit: int, cursor: str | None = None
    ) -> Page[Session]:
        """A page of sessions matching the query."""
        ...


@dataclass(frozen=True)
class PlanRun:
    """What the daily run did: tickets opened, plans found due, plans checked."""

    opened: list[Ticket]
    due: int
    checked: int


class MaintenanceService:
    """A tenant's tickets, service history and plans; every call is scoped to one tenant."""

    # A change without an expected version that keeps losing races gives up after this many.
    _ATTEMPTS = 3

    def __init__(
        self,
        *,
        tickets: TicketRepository,
        plans: PlanRepository,
        stations: StationLookup,
        users: UserLookup,
        sessions: SessionLister,
        clock: Clock,
        new_id: IdGenerator,
        alerts: AlertLookup | None = None,
    ) -> None:
        self._alerts = alerts
        self._tickets = tickets
        self._plans = plans
        self._stations = stations
        self._users = users
        self._sessions = sessions
        self._clock = clock
        self._new_id = new_id

    def _id(self, at: datetime) -> str:
        return sortable_id(at, self._new_id().replace("-", "")[:12])

    def _station(self, principal: Principal, station_id: str) -> Station:
        """The caller's station named in a body; another's, or one beyond reach, is unknown."""
        station = self._stations.get(station_id)
        if (
            station is None
            or station.tenant_id != principal.tenant_id
            or not principal.reaches(station.site_id)
        ):
            raise InvalidReferenceError("stationId", "station", station_id)
        return station

    def _check_assignee(self, tenant_id: str, assignee: str | None, site_id: str | None) -> None:
        """The assignee is an active user of the tenant who can see the ticket's site."""
        if assignee is None:
            return
        user = self._users.get_user(tenant_id, assignee)
        if (
            user is None
            or user.status is not UserStatus.ACTIVE
            or (user.sites is not None and site_id not in user.sites)
        ):
            raise InvalidReferenceError("assignee", "user", assignee)

    def _check_alerts(
        self, principal: Principal, station: Station, alert_ids: tuple[str, ...]
    ) -> None:
        """Each alert named is the tenant's and about the ticket's station."""
        if self._alerts is None:
            return
        for alert_id in alert_ids:
            alert = self._alerts.get(principal.tenant_id, alert_id)
            if alert is None or alert.key.station_id != station.id:
                raise InvalidReferenceError("alertIds", f"alert of station {station.id}", alert_id)

    # -- tickets ---------------------------------------------------------------------------------

    def create_ticket(
        self,
        principal: Principal,
        *,
        station_id: str,
        title: str,
        evse_id: int | None = None,
        description: str | None = None,
        priority: TicketPriority = TicketPriority.NORMAL,
        assignee: str | None = None,
        alert_ids: tuple[str, ...] = (),
    ) -> Ticket:
        """A new open ticket at one of the caller's stations."""
        station = self._station(principal, station_id)
        self._check_assignee(principal.tenant_id, assignee, station.site_id)
        self._check_alerts(principal, station, alert_ids)
        now = self._clock.now()
        ticket = new_ticket(
            ticket_id=self._id(now),
            tenant_id=principal.tenant_id,
            station_id=station.id,
            site_id=station.site_id,
            evse_id=evse_id,
            title=title,
            description=description,
            priority=priority,
            assignee=assignee,
            alert_ids=alert_ids,
            at=now,
            by=principal.subject,
        )
        self._tickets.create(ticket)
        return ticket

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
        """The ticket of an alert: opened on the first call, the same one on every later call.

        Called by the escalation workflow when the cheap fixes did not clear a fault; a retried
        step finds the ticket it opened before. The station must be the tenant's.
        """
        station = self._stations.get(station_id)
        if station is None or station.tenant_id != tenant_id:
            raise ResourceNotFoundError("station", station_id)
        now = self._clock.now()
        ticket = new_ticket(
            ticket_id=self._id(now),
            tenant_id=tenant_id,
            station_id=station_id,
            site_id=station.site_id,
            evse_id=evse_id,
            title=title,
            description=description,
            priority=TicketPriority.HIGH,
            alert_ids=(alert_id,),
            at=now,
            by=ALERT_ACTOR,
        )
        holder = self._tickets.create(ticket, alert_origin(alert_id))
        if holder is None:
            return ticket
        existing = self._tickets.get(tenant_id, holder)
        if existing is None:  # pragma: no cover - origins are written with their ticket
            raise ResourceNotFoundError("ticket", holder)
        return existing

    def get_ticket(self, principal: Principal, ticket_id: str) -> Ticket:
        """The caller's ticket; one at a site beyond the caller's reach is as absent."""
        ticket = self._tickets.get(principal.tenant_id, ticket_id)
        if ticket is None or not principal.reaches(ticket.site_id):
            raise ResourceNotFoundError("ticket", ticket_id)
        return ticket

    def list_tickets(
        self, principal: Principal, query: TicketQuery, limit: int, cursor: str | None = None
    ) -> Page[Ticket]:
        """Newest first, within the caller's sites."""
        scoped = TicketQuery(
            state=query.state,
            station_id=query.station_id,
            site_id=query.site_id,
            sites=principal.sites,
        )
        return self._tickets.list(principal.tenant_id, scoped, limit, cursor)

    def update_ticket(
        self,
        principal: Principal,
        ticket_id: str,
        patch: TicketPatch,
        expected_version: int | None = None,
    ) -> tuple[Ticket, Ticket]:
        """Title, description, priority, assignee: (the ticket before, as stored now)."""
        changes = patch.changes()

        def change(current: Ticket) -> Ticket:
            if "assignee" in changes:
                assignee = changes["assignee"]
                self._check_assignee(
                    principal.tenant_id,
                    assignee if isinstance(assignee, str) else None,
                    current.site_id,
                )
            return current.updated(changes, at=self._clock.now(), by=principal.subject)

        return self._change(principal, ticket_id, expected_version, change)

    def transition(
        self,
        principal: Principal,
        ticket_id: str,
        to: TicketState,
        *,
        assignee: str | None = None,
        resolution: str | None = None,
        note: str | None = None,
        expected_version: int | None = None,
    ) -> tuple[Ticket, Ticket]:
        """Move the ticket in its workflow: (the ticket before, as stored now)."""

        def change(current: Ticket) -> Ticket:
            self._check_assignee(principal.tenant_id, assignee, current.site_id)
            return current.transition(
                to,
                at=self._clock.now(),
                by=principal.subject,
                assignee=assignee,
                resolution=resolution,
                note=note,
            )

        return self._change(principal, ticket_id, expected_version, change)

    def _change(
        self,
        principal: Principal,
        ticket_id: str,
        expected_version: int | None,
        change: Callable[[Ticket], Ticket],
    ) -> tuple[Ticket, Ticket]:
        for _ in range(self._ATTEMPTS):
            current = self.get_ticket(principal, ticket_id)
            if expected_version is not None and current.version != expected_version:
                raise VersionMismatchError("ticket", ticket_id)
            changed = change(current)
            if changed == current:
                return current, current
            if self._tickets.replace(changed):
                return current, changed.model_copy(update={"version": current.version + 1})
            if expected_version is not None:
                raise VersionMismatchError("ticket", ticket_id)
        raise ConcurrentModificationError("ticket", ticket_id)

    def service_history(
        self, principal: Principal, station_id: str, limit: int, cursor: str | None = None
    ) -> Page[HistoryEntry]:
        """The station's tickets (open and resolved) and services done, newest first.

        The caller must reach the station (StationNotFound is the handler's answer otherwise);
        the entries are the station's, so they are at its site.
        """
        return self._tickets.history(principal.tenant_id, station_id, limit, cursor)

    # -- plans -----------------------------------------------------------------------------------

    def create_plan(
        self,
        principal: Principal,
        *,
        station_id: str,
        title: str,
        every_days: int | None = None,
        every_kwh: Decimal | None = None,
        description: str | None = None,
        last_service_at: datetime | None = None,
    ) -> MaintenancePlan:
        """A plan for one of the caller's stations; counting from `last_service_at` or now."""
        station = self._station(principal, station_id)
        now = self._clock.now()
        plan = MaintenancePlan(
            id=self._id(now),
            tenant_id=principal.tenant_id,
            station_id=station.id,
            site_id=station.site_id,
            title=title,
            description=description,
            every_days=every_days,
            every_kwh=every_kwh,
            created_at=now,
            created_by=principal.subject,
            last_service_at=min(last_service_at or now, now),
        )
        self._plans.create(plan)
        return plan

    def get_plan(self, principal: Principal, plan_id: str) -> MaintenancePlan:
        """The caller's plan; one at a site beyond the caller's reach is as absent."""
        plan = self._plans.get(principal.tenant_id, plan_id)
        if plan is None or not principal.reaches(plan.site_id):
            raise ResourceNotFoundError("maintenance-plan", plan_id)
        return plan

    def list_plans(
        self, principal: Principal, limit: int, cursor: str | None = None
    ) -> Page[MaintenancePlan]:
        """By creation, within the caller's sites (a page may hold fewer than `limit`)."""
        page = self._plans.list(principal.tenant_id, limit, cursor)
        visible = [plan for plan in page.items if principal.reaches(plan.site_id)]
        return Page(items=visible, next_cursor=page.next_cursor)

    def delete_plan(
        self, principal: Principal, plan_id: str, expected_version: int | None = None
    ) -> MaintenancePlan:
        """Remove the plan (its tickets and service records stay); the plan as it was."""
        plan = self.get_plan(principal, plan_id)
        if expected_version is not None and plan.version != expected_version:
            raise VersionMismatchError("maintenance-plan", plan_id)
        if not self._plans.delete(principal.tenant_id, plan_id, plan.version):
            raise VersionMismatchError("maintenance-plan", plan_id)
        return plan

    def record_service(
        self,
        principal: Principal,
        plan_id: str,
        *,
        note: str | None = None,
        done_at: datetime | None = None,
        expected_version: int | None = None,
    ) -> tuple[MaintenancePlan, MaintenancePlan, ServiceRecord]:
        """The plan's service done: a service record, and the plan counting again from it.

        `done_at` (default now) may not be in the future nor before the last service.
        """
        now = self._clock.now()
        for _ in range(self._ATTEMPTS):
            plan = self.get_plan(principal, plan_id)
            if expected_version is not None and plan.version != expected_version:
                raise VersionMismatchError("maintenance-plan", plan_id)
            at = max(min(done_at or now, now), plan.last_service_at)
            record = ServiceRecord(
                id=self._id(at),
                tenant_id=plan.tenant_id,
                station_id=plan.station_id,
                site_id=plan.site_id,
                plan_id=plan.id,
                ticket_id=plan.ticket_id,
                done_at=at,
                by=principal.subject,
                note=note,
            )
            after = plan.serviced(at)
            if self._plans.serviced(after, record):
                return plan, after.model_copy(update={"version": plan.version + 1}), record
            if expected_version is not None:
                raise VersionMismatchError("maintenance-plan", plan_id)
        raise ConcurrentModificationError("maintenance-plan", plan_id)

    # -- the daily run ---------------------------------------------------------------------------

    def run_due_plans(self) -> PlanRun:
        """Open a ticket for every plan that fell due and has none for its occurrence yet.

        Idempotent: a plan's occurrence opens one ticket, whether the run repeats, overlaps
        with another, or failed after opening the ticket and before noting it on the plan.
        """
        now = self._clock.now()
        opened: list[Ticket] = []
        due = checked = 0
        for plan in self._plans.every_plan():
            checked += 1
            if plan.ticket_id is not None or not self._is_due(plan, now):
                continue
            due += 1
            ticket = self._open_for_plan(plan, now)
            if ticket is not None:
                opened.append(ticket)
        return PlanRun(opened=opened, due=due, checked=checked)

    def _is_due(self, plan: MaintenancePlan, now: datetime) -> bool:
        if plan.due_by_time(now):
            return True
        needed = plan.energy_due_wh
        return needed is not None and self.energy_since(plan, needed) >= needed

    def energy_since(self, plan: MaintenancePlan, enough_wh: Decimal | None = None) -> Decimal:
        """Wh delivered at the plan's station by sessions started since its last service.

        Stops reading once `enough_wh` is reached (the plan is due; the exact figure is not
        needed). Sessions still running count with their energy so far.
        """
        query = SessionQuery(station_id=plan.station_id, started_from=plan.last_service_at)
        total = Decimal(0)
        cursor: str | None = None
        while True:
            page = self._sessions.list(plan.tenant_id, query, _ENERGY_PAGE, cursor)
            for session in page.items:
                total += session.energy_wh or 0
                if enough_wh is not None and total >= enough_wh:
                    return total
            cursor = page.next_cursor
            if cursor is None:
                return total

    def _open_for_plan(self, plan: MaintenancePlan, now: datetime) -> Ticket | None:
        """The occurrence's ticket, noted on the plan; None when an earlier run had opened it."""
        ticket = new_ticket(
            ticket_id=self._id(now),
            tenant_id=plan.tenant_id,
            station_id=plan.station_id,
            site_id=plan.site_id,
            title=plan.title,
            description=plan.description,
            plan_id=plan.id,
            at=now,
            by=PLAN_ACTOR,
        )
        holder = self._tickets.create(ticket, plan_origin(plan))
        # A lost race on the plan is harmless: the next run finds the origin's ticket again.
        self._plans.replace(plan.model_copy(update={"ticket_id": holder or ticket.id}))
        return ticket if holder is None else None
