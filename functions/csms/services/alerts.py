"""Fault detection: events become watched conditions, the sweep turns lasting ones into alerts.

The detector runs from EventBridge (ConnectorStatusChanged, StationConnected/Disconnected,
StationBooted), never inline in the message path; the sweep runs every minute. A marker per
(station, port, kind) is claimed conditionally, so two detectors racing open one alert; the
alert's AlertOpened/AlertClosed events ride in the alert's own write (the outbox).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from csms.domain.alerts import (
    Alert,
    AlertDetails,
    AlertKey,
    AlertKind,
    AlertState,
    BootHistory,
    Cleared,
    Detected,
    Watch,
    WatchState,
    alert_id_of,
    offline_watch,
    severity_of,
    status_observation,
    still_offline,
    stuck_observation,
)
from csms.domain.connector import ConnectorStatus, EvseRef
from csms.domain.events import (
    AlertClosed,
    AlertOpened,
    ConnectorStatusChanged,
    DomainEvent,
    StationBooted,
    StationConnected,
    StationDisconnected,
    TokenAuthorized,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
    of_alert,
)
from csms.domain.sessions import ChargingState, Session, SessionState
from csms.domain.tokens import AuthorizationStatus
from csms.services.ports import Clock, ConnectorStatusRepository, Page, StationRepository

# Tries of a close that loses races with the escalation's steps before the next event retries.
_CLOSE_ATTEMPTS = 5


@dataclass(frozen=True)
class AlertQuery:
    """Filters of an alert list (all optional)."""

    state: AlertState | None = None
    station_id: str | None = None
    site_id: str | None = None
    # A site-restricted caller: only alerts at these sites.
    sites: frozenset[str] | None = None


class AlertRepository(Protocol):
    """Markers, the due index the sweep reads, alerts and boot histories."""

    def watch(self, watch: Watch) -> bool:
        """Claim the key with a pending marker due at `due_at`; False when already claimed."""
        ...

    def marker(self, key: AlertKey) -> Watch | None:
        """The key's marker, if any."""
        ...

    def drop(self, watch: Watch) -> bool:
        """Remove a marker that is still exactly `watch` (and its due entry)."""
        ...

    def open(self, watch: Watch, alert: Alert, events: Sequence[DomainEvent]) -> bool:
        """Turn the pending marker (still exactly `watch`) into `alert`'s open marker.

        The alert is written with its events. The marker's due entry goes, but a reboot loop's
        stays: the sweep closes the loop when it falls due.
        """
        ...

    def close(self, watch: Watch, alert: Alert, events: Sequence[DomainEvent]) -> bool:
        """Remove the open marker `watch` and store the closed alert (version-conditional)."""
        ...

    def reschedule(self, watch: Watch, due_at: datetime) -> bool:
        """Move the marker's due entry (it is still exactly `watch`)."""
        ...

    def due(self, now: datetime, limit: int) -> list[Watch]:
        """Markers due at or before `now`, oldest first, across tenants."""
        ...

    def get(self, tenant_id: str, alert_id: str) -> Alert | None:
        """One alert of a tenant."""
        ...

    def update(self, alert: Alert, events: Sequence[DomainEvent]) -> bool:
        """Store the alert with its events if it is still at `alert.version - 1`."""
        ...

    def list(
        self, tenant_id: str, query: AlertQuery, limit: int, cursor: str | None = None
    ) -> Page[Alert]:
        """A tenant's alerts, newest first."""
        ...

    def boots(self, tenant_id: str, station_id: str) -> BootHistory:
        """A station's recent boots (empty when none is kept)."""
        ...

    def put_boots(self, tenant_id: str, station_id: str, history: BootHistory) -> None:
        """Keep a station's recent boots."""
        ...

    def start_failures(self, tenant_id: str, station_id: str) -> BootHistory:
        """A station's failed starts since its last successful one (empty when none is kept)."""
        ...

    def put_start_failures(self, tenant_id: str, station_id: str, history: BootHistory) -> None:
        """Keep a station's failed starts."""
        ...


@dataclass(frozen=True)
class AlertPolicy:
    """Thresholds of the detectors (settings)."""

    # A fault must last this long before an alert opens (flapping suppression).
    hold_down: timedelta = timedelta(seconds=60)
    # Same as uptime's: a reconnect within it (API Gateway's 2-hour cut) is not an outage.
    offline_grace: timedelta = timedelta(minutes=2)
    reboot_loop_boots: int = 3
    reboot_loop_window: timedelta = timedelta(minutes=30)
    # A connector Preparing or Finishing (1.6) this long is stuck: a driver could not start,
    # or the station never saw the cable go.
    stuck_after: timedelta = timedelta(minutes=30)
    # This many failed starts (a token refused at Authorize or StartTransaction) within the
    # window, with no successful start between them, and drivers cannot charge there.
    start_failures: int = 5
    start_failure_window: timedelta = timedelta(minutes=30)
    # A session Charging whose energy has not grown for this long: power is not flowing.
    no_energy_after: timedelta = timedelta(minutes=15)


class SessionLookup(Protocol):
    """Sessions by id (the no-energy check reads the session's energy now)."""

    def get(self, session_id: str) -> Session | None:
        """The session item alone."""
        ...


@dataclass
class SweepResult:
    """What a sweep did."""

    opened: list[Alert] = field(default_factory=list)
    closed: list[Alert] = field(default_factory=list)
    dropped: int = 0


class AlertService:
    """Applies the detectors and keeps alerts open exactly while their condition lasts."""

    def __init__(
        self,
        alerts: AlertRepository,
        stations: StationRepository,
        statuses: ConnectorStatusRepository,
        clock: Clock,
        policy: AlertPolicy | None = None,
        *,
        sessions: SessionLookup | None = None,
    ) -> None:
        self._alerts = alerts
        self._stations = stations
        self._statuses = statuses
        self._clock = clock
        self._policy = policy or AlertPolicy()
        self._sessions = sessions

    # -- events ------------------------------------------------------------------------------

    def observe(self, event: DomainEvent) -> str:
        """Apply one event; returns what it did (for the log)."""
        if isinstance(event, ConnectorStatusChanged):
            return self._status(event)
        if isinstance(event, StationDisconnected):
            if event.superseded:
                return "ignored: already reconnected"
            key = AlertKey(
                tenant_id=event.tenant_id, station_id=event.station_id, kind=AlertKind.OFFLINE
            )
            watch = offline_watch(key, event.occurred_at, self._policy.offline_grace)
            return "watching" if self._alerts.watch(watch) else "already watched"
        if isinstance(event, StationConnected):
            key = AlertKey(
                tenant_id=event.tenant_id, station_id=event.station_id, kind=AlertKind.OFFLINE
            )
            return self._clear(Cleared(key=key, at=event.occurred_at))
        if isinstance(event, StationBooted):
            return self._boot(event)
        if isinstance(event, TokenAuthorized):
            if event.status is AuthorizationStatus.ACCEPTED:
                return "ignored: accepted"
            return self._start_failed(event.tenant_id, event.station_id, event.occurred_at)
        if isinstance(event, TransactionStarted):
            if event.authorization in (None, AuthorizationStatus.ACCEPTED):
                return self._started(event.tenant_id, event.station_id, event.occurred_at)
            return self._start_failed(event.tenant_id, event.station_id, event.occurred_at)
        if isinstance(event, (TransactionUpdated, TransactionEnded)):
            return self._progress(event)
        return "ignored"

    def _progress(self, event: TransactionUpdated | TransactionEnded) -> str:
        """Watch a Charging session's energy; anything else ends the watch of its port."""
        key = AlertKey(
            tenant_id=event.tenant_id,
            station_id=event.station_id,
            evse=event.evse,
            kind=AlertKind.NO_ENERGY_WHILE_CHARGING,
        )
        charging = (
            isinstance(event, TransactionUpdated)
            and event.charging_state is ChargingState.CHARGING
            and event.energy_wh is not None
        )
        if not charging or event.energy_wh is None:
            return self._clear(Cleared(key=key, at=event.occurred_at))
        watch = self._alerts.marker(key)
        if watch is not None and watch.details.session_id != event.session_id:
            # Another session's watch on this port (it ended unseen): done with it.
            self._clear(Cleared(key=key, at=max(event.occurred_at, watch.since)))
            watch = self._alerts.marker(key)
        if watch is None:
            since = event.occurred_at
            claimed = self._alerts.watch(
                Watch(
                    key=key,
                    state=WatchState.PENDING,
                    since=since,
                    due_at=since + self._policy.no_energy_after,
                    details=AlertDetails(session_id=event.session_id, energy_wh=event.energy_wh),
                )
            )
            return "watching" if claimed else "already watched"
        baseline = watch.details.energy_wh or Decimal(0)
        if watch.state is WatchState.OPEN and event.energy_wh > baseline:
            return self._clear(Cleared(key=key, at=event.occurred_at))
        # Pending: the sweep compares the session's energy then (one write per watch, not one
        # per update).
        return "energy watched" if event.energy_wh > baseline else "no energy yet"

    def _start_failed(self, tenant_id: str, station_id: str, at: datetime) -> str:
        policy = self._policy
        window, limit = policy.start_failure_window, policy.start_failures
        history = self._alerts.start_failures(tenant_id, station_id).add(at, window, limit)
        self._alerts.put_start_failures(tenant_id, station_id, history)
        if not history.in_loop(at, window, limit):
            return "failed start counted"
        key = AlertKey(tenant_id=tenant_id, station_id=station_id, kind=AlertKind.START_FAILURES)
        pending = Watch(
            key=key,
            state=WatchState.PENDING,
            since=history.boots[0],
            due_at=at,
            details=AlertDetails(info=f"{len(history.boots)} failed starts in a row"),
        )
        if not self._alerts.watch(pending):
            return "failed starts already alerted"
        return "opened" if self._open(pending) is not None else "open lost a race"

    def _started(self, tenant_id: str, station_id: str, at: datetime) -> str:
        """A session started: the failures before it no longer count, an alert closes."""
        if self._alerts.start_failures(tenant_id, station_id).boots:
            self._alerts.put_start_failures(tenant_id, station_id, BootHistory())
        key = AlertKey(tenant_id=tenant_id, station_id=station_id, kind=AlertKind.START_FAILURES)
        return self._clear(Cleared(key=key, at=at))

    def _status(self, event: ConnectorStatusChanged) -> str:
        key = AlertKey(
            tenant_id=event.tenant_id,
            station_id=event.station_id,
            evse=None if event.evse.is_station else event.evse,
            kind=AlertKind.FAULTED,
        )
        details = AlertDetails(
            error_code=event.error_code,
            info=event.info,
            vendor_id=event.vendor_id,
            vendor_error_code=event.vendor_error_code,
        )
        seen = status_observation(
            key, event.status, event.occurred_at, self._policy.hold_down, details
        )
        stuck = stuck_observation(
            key.model_copy(update={"kind": AlertKind.STUCK_CONNECTOR}),
            event.status,
            event.detail,
            event.occurred_at,
            self._policy.stuck_after,
        )
        outcomes = []
        for observed in (seen, stuck):
            if isinstance(observed, Detected):
                claimed = self._alerts.watch(observed.watch)
                outcomes.append("watching" if claimed else "already watched")
            else:
                outcomes.append(self._clear(observed))
        return outcomes[0] if outcomes[1] == "nothing to clear" else "; ".join(outcomes)

    def _clear(self, cleared: Cleared) -> str:
        watch = self._alerts.marker(cleared.key)
        if watch is None:
            return "nothing to clear"
        if cleared.at < watch.since:
            # An older event delivered late: the condition began after it.
            return "ignored: older than the condition"
        if watch.state is WatchState.PENDING:
            self._alerts.drop(watch)
            return "cleared within the hold-down"
        return "closed" if self._close(watch, cleared.at) is not None else "close lost a race"

    def _close(self, watch: Watch, at: datetime) -> Alert | None:
        # The escalation workflow writes its steps onto the open alert: a close that loses to
        # one reads the alert again (a marker that changed fails the write for good).
        for _ in range(_CLOSE_ATTEMPTS):
            alert = self._alerts.get(watch.key.tenant_id, watch.alert_id or "")
            if alert is None or alert.state is AlertState.CLOSED:
                # The marker outlived its alert (should not happen): free the key.
                self._alerts.drop(watch)
                return None
            closed = alert.close(at)
            event = AlertClosed(
                **of_alert(alert), occurred_at=closed.closed_at or at, opened_at=alert.opened_at
            )
            if self._alerts.close(watch, closed, [event]):
                return closed
            if self._alerts.marker(watch.key) != watch:
                return None
        return None

    def _boot(self, event: StationBooted) -> str:
        policy = self._policy
        history = self._alerts.boots(event.tenant_id, event.station_id).add(
            event.occurred_at, policy.reboot_loop_window, policy.reboot_loop_boots
        )
        self._alerts.put_boots(event.tenant_id, event.station_id, history)
        if not history.in_loop(
            event.occurred_at, policy.reboot_loop_window, policy.reboot_loop_boots
        ):
            return "boot counted"
        key = AlertKey(
            tenant_id=event.tenant_id, station_id=event.station_id, kind=AlertKind.REBOOT_LOOP
        )
        quiet_at = history.quiet_at(policy.reboot_loop_window) or event.occurred_at
        pending = Watch(
            key=key,
            state=WatchState.PENDING,
            since=history.boots[0],
            due_at=quiet_at,
            details=AlertDetails(boots=len(history.boots)),
        )
        if not self._alerts.watch(pending):
            # Already open: the sweep finds the later boots when the marker falls due.
            return "loop already open"
        return "opened" if self._open(pending) is not None else "open lost a race"

    # -- the sweep -----------------------------------------------------------------------------

    def sweep(self, limit: int = 500) -> SweepResult:
        """Open lasting conditions, drop cleared ones, close reboot loops that went quiet."""
        now = self._clock.now()
        result = SweepResult()
        for watch in self._alerts.due(now, limit):
            if watch.key.kind is AlertKind.REBOOT_LOOP:
                self._sweep_loop(watch, now, result)
            elif watch.state is WatchState.OPEN:
                # An open marker has no due entry but one left behind by a crash: nothing to do.
                continue
            elif self._still_holds(watch):
                opened = self._open(watch)
                if opened is not None:
                    result.opened.append(opened)
            else:
                self._alerts.drop(watch)
                result.dropped += 1
        return result

    def _sweep_loop(self, watch: Watch, now: datetime, result: SweepResult) -> None:
        policy = self._policy
        history = self._alerts.boots(watch.key.tenant_id, watch.key.station_id)
        quiet_at = history.quiet_at(policy.reboot_loop_window) or now
        if quiet_at > now:
            self._alerts.reschedule(watch, quiet_at)
            return
        if watch.state is WatchState.PENDING:
            self._alerts.drop(watch)
            result.dropped += 1
            return
        closed = self._close(watch, quiet_at)
        if closed is not None:
            result.closed.append(closed)

    def _still_holds(self, watch: Watch) -> bool:
        """Confirm from the stored state: events may have been late or out of order."""
        key = watch.key
        if key.kind is AlertKind.OFFLINE:
            station = self._stations.get(key.station_id)
            return (
                station is not None
                and station.tenant_id == key.tenant_id
                and not station.decommissioned
                and still_offline(station.online, station.connected_at, watch.since)
            )
        state = self._statuses.get(key.station_id, key.evse or _STATION)
        if key.kind is AlertKind.FAULTED:
            return state is not None and state.status is ConnectorStatus.FAULTED
        if key.kind is AlertKind.NO_ENERGY_WHILE_CHARGING:
            return self._no_energy(watch)
        if key.kind is AlertKind.START_FAILURES:
            # A pending claim whose opening lost a race: still failing?
            policy = self._policy
            failures = self._alerts.start_failures(key.tenant_id, key.station_id)
            return failures.in_loop(
                watch.due_at, policy.start_failure_window, policy.start_failures
            )
        if key.kind is AlertKind.STUCK_CONNECTOR:
            # Still in the state it was watched in, and never out of it since.
            return (
                state is not None
                and state.detail is not None
                and state.detail.value == watch.details.info
                and state.since <= watch.since
            )
        return False  # pragma: no cover - the kinds above are the only ones watched

    def _no_energy(self, watch: Watch) -> bool:
        """The watched session is still Charging and its energy has not grown since the watch."""
        session_id = watch.details.session_id
        if self._sessions is None or session_id is None:
            return False
        session = self._sessions.get(session_id)
        if session is None or session.state is not SessionState.ACTIVE:
            return False
        energy = session.energy_wh
        return (
            session.charging_state is ChargingState.CHARGING
            and energy is not None
            and energy <= (watch.details.energy_wh or Decimal(0))
        )

    def _open(self, pending: Watch) -> Alert | None:
        key = pending.key
        station = self._stations.get(key.station_id)
        alert = Alert(
            alert_id=alert_id_of(key, pending.since),
            key=key,
            site_id=station.site_id if station is not None else None,
            severity=severity_of(key.kind, pending.details.error_code),
            opened_at=pending.since,
            details=pending.details,
        )
        event = AlertOpened(**of_alert(alert), occurred_at=alert.opened_at)
        return alert if self._alerts.open(pending, alert, [event]) else None

    # -- reads --------------------------------------------------------------------------------

    def get(self, tenant_id: str, alert_id: str) -> Alert | None:
        """One alert of a tenant."""
        return self._alerts.get(tenant_id, alert_id)

    def list(
        self, tenant_id: str, query: AlertQuery, limit: int, cursor: str | None = None
    ) -> Page[Alert]:
        """A tenant's alerts, newest first."""
        return self._alerts.list(tenant_id, query, limit, cursor)


_STATION = EvseRef(evse_id=0, connector_id=0)
