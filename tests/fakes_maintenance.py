"""In-memory stand-ins for the maintenance repositories (csms.services.maintenance)."""

from __future__ import annotations

from collections.abc import Iterator

from csms.domain.maintenance import MaintenancePlan, ServiceRecord, Ticket
from csms.services.maintenance import HistoryEntry, TicketQuery
from csms.services.ports import Page
from tests.fakes import _page


class InMemoryTicketRepository:
    """Tickets, origins and service records with the adapter's conditional semantics."""

    def __init__(self) -> None:
        self.tickets: dict[tuple[str, str], Ticket] = {}
        self.origins: dict[tuple[str, str], str] = {}
        self.records: list[ServiceRecord] = []
        # Writes to refuse as if a concurrent writer had won (counted down per replace).
        self.lose_races = 0

    def create(self, ticket: Ticket, origin: str | None = None) -> str | None:
        if origin is not None:
            held = self.origins.get((ticket.tenant_id, origin))
            if held is not None:
                return held
            self.origins[(ticket.tenant_id, origin)] = ticket.id
        assert (ticket.tenant_id, ticket.id) not in self.tickets
        self.tickets[(ticket.tenant_id, ticket.id)] = ticket.model_copy(update={"version": 1})
        return None

    def get(self, tenant_id: str, ticket_id: str) -> Ticket | None:
        return self.tickets.get((tenant_id, ticket_id))

    def replace(self, ticket: Ticket) -> bool:
        if self.lose_races > 0:
            self.lose_races -= 1
            return False
        stored = self.tickets.get((ticket.tenant_id, ticket.id))
        if stored is None or stored.version != ticket.version:
            return False
        self.tickets[(ticket.tenant_id, ticket.id)] = ticket.model_copy(
            update={"version": ticket.version + 1}
        )
        return True

    def list(
        self, tenant_id: str, query: TicketQuery, limit: int, cursor: str | None = None
    ) -> Page[Ticket]:
        found = sorted(
            (
                t
                for (tenant, _), t in self.tickets.items()
                if tenant == tenant_id
                and query.state in (None, t.state)
                and query.station_id in (None, t.station_id)
                and query.site_id in (None, t.site_id)
                and (query.sites is None or t.site_id in query.sites)
            ),
            key=lambda t: t.id,
            reverse=True,
        )
        return _page(found, limit, cursor, "tickets")

    def history(
        self, tenant_id: str, station_id: str, limit: int, cursor: str | None = None
    ) -> Page[HistoryEntry]:
        entries: list[HistoryEntry] = [
            t
            for (tenant, _), t in self.tickets.items()
            if tenant == tenant_id and t.station_id == station_id
        ]
        entries += [
            r for r in self.records if r.tenant_id == tenant_id and r.station_id == station_id
        ]
        entries.sort(key=lambda e: e.id, reverse=True)
        return _page(entries, limit, cursor, "history")


class InMemoryPlanRepository:
    """Plans; `serviced` also appends the record to the ticket repository's history."""

    def __init__(self, tickets: InMemoryTicketRepository) -> None:
        self.plans: dict[tuple[str, str], MaintenancePlan] = {}
        self._tickets = tickets
        self.lose_races = 0

    def create(self, plan: MaintenancePlan) -> None:
        self.plans[(plan.tenant_id, plan.id)] = plan.model_copy(update={"version": 1})

    def get(self, tenant_id: str, plan_id: str) -> MaintenancePlan | None:
        return self.plans.get((tenant_id, plan_id))

    def _put(self, plan: MaintenancePlan) -> bool:
        if self.lose_races > 0:
            self.lose_races -= 1
            return False
        stored = self.plans.get((plan.tenant_id, plan.id))
        if stored is None or stored.version != plan.version:
            return False
        self.plans[(plan.tenant_id, plan.id)] = plan.model_copy(
            update={"version": plan.version + 1}
        )
        return True

    def replace(self, plan: MaintenancePlan) -> bool:
        return self._put(plan)

    def delete(self, tenant_id: str, plan_id: str, expected_version: int) -> bool:
        stored = self.plans.get((tenant_id, plan_id))
        if stored is None or stored.version != expected_version:
            return False
        del self.plans[(tenant_id, plan_id)]
        return True

    def serviced(self, plan: MaintenancePlan, record: ServiceRecord) -> bool:
        if not self._put(plan):
            return False
        self._tickets.records.append(record)
        return True

    def list(self, tenant_id: str, limit: int, cursor: str | None = None) -> Page[MaintenancePlan]:
        found = sorted(
            (p for (t, _), p in self.plans.items() if t == tenant_id), key=lambda p: p.id
        )
        return _page(found, limit, cursor, "plans")

    def every_plan(self) -> Iterator[MaintenancePlan]:
        yield from list(self.plans.values())
