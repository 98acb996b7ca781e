"""An AlertRepository in memory, with the adapter's conditions (csms.adapters.dynamo_alerts)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from csms.domain.alerts import Alert, AlertKey, BootHistory, Watch, WatchState
from csms.domain.events import DomainEvent
from csms.services.alerts import AlertQuery
from csms.services.ports import Page


class InMemoryAlertRepository:
    """AlertRepository in memory, with the adapter's conditions."""

    def __init__(self) -> None:
        self.markers: dict[AlertKey, Watch] = {}
        self.alerts: dict[tuple[str, str], Alert] = {}
        self.boot_histories: dict[tuple[str, str], BootHistory] = {}
        self.failure_histories: dict[tuple[str, str], BootHistory] = {}
        self.events: list[DomainEvent] = []

    def watch(self, watch: Watch) -> bool:
        if watch.key in self.markers:
            return False
        self.markers[watch.key] = watch
        return True

    def marker(self, key: AlertKey) -> Watch | None:
        return self.markers.get(key)

    def drop(self, watch: Watch) -> bool:
        if self.markers.get(watch.key) != watch:
            return False
        del self.markers[watch.key]
        return True

    def open(self, watch: Watch, alert: Alert, events: Sequence[DomainEvent]) -> bool:
        if self.markers.get(watch.key) != watch or (alert.key.tenant_id, alert.alert_id) in (
            self.alerts
        ):
            return False
        self.markers[watch.key] = watch.model_copy(
            update={"state": WatchState.OPEN, "alert_id": alert.alert_id}
        )
        self.alerts[(alert.key.tenant_id, alert.alert_id)] = alert
        self.events.extend(events)
        return True

    def close(self, watch: Watch, alert: Alert, events: Sequence[DomainEvent]) -> bool:
        stored = self.alerts.get((alert.key.tenant_id, alert.alert_id))
        if self.markers.get(watch.key) != watch or stored is None:
            return False
        if stored.version != alert.version - 1:
            return False
        del self.markers[watch.key]
        self.alerts[(alert.key.tenant_id, alert.alert_id)] = alert
        self.events.extend(events)
        return True

    def reschedule(self, watch: Watch, due_at: datetime) -> bool:
        if self.markers.get(watch.key) != watch:
            return False
        self.markers[watch.key] = watch.model_copy(update={"due_at": due_at})
        return True

    def due(self, now: datetime, limit: int) -> list[Watch]:
        # Open markers stay due here (the adapter drops their entries but a reboot loop's):
        # the sweep must pass over them.
        due = [w for w in self.markers.values() if w.due_at <= now]
        return sorted(due, key=lambda w: w.due_at)[:limit]

    def get(self, tenant_id: str, alert_id: str) -> Alert | None:
        return self.alerts.get((tenant_id, alert_id))

    def update(self, alert: Alert, events: Sequence[DomainEvent]) -> bool:
        stored = self.alerts.get((alert.key.tenant_id, alert.alert_id))
        if stored is None or stored.version != alert.version - 1:
            return False
        self.alerts[(alert.key.tenant_id, alert.alert_id)] = alert
        self.events.extend(events)
        return True

    def list(
        self, tenant_id: str, query: AlertQuery, limit: int, cursor: str | None = None
    ) -> Page[Alert]:
        del cursor
        items = [a for (t, _), a in sorted(self.alerts.items(), reverse=True) if t == tenant_id]
        items = [a for a in items if query.state is None or a.state is query.state]
        return Page(items=items[:limit], next_cursor=None)

    def boots(self, tenant_id: str, station_id: str) -> BootHistory:
        return self.boot_histories.get((tenant_id, station_id), BootHistory())

    def put_boots(self, tenant_id: str, station_id: str, history: BootHistory) -> None:
        self.boot_histories[(tenant_id, station_id)] = history

    def start_failures(self, tenant_id: str, station_id: str) -> BootHistory:
        return self.failure_histories.get((tenant_id, station_id), BootHistory())

    def put_start_failures(self, tenant_id: str, station_id: str, history: BootHistory) -> None:
        self.failure_histories[(tenant_id, station_id)] = history
