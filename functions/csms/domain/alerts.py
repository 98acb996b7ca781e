"""Alerts: what is broken at a station or port, how bad it is, and when it began and ended.

Detectors here are pure: they turn facts (events, the current state read at confirmation)
into conditions to watch, conditions that cleared, and the alerts they become.

Flapping is suppressed by a hold-down: a detected condition is only *watched* at first; the
periodic sweep opens the alert once the condition has lasted the hold-down (the offline grace for
an offline station, 60 s by default for a fault) and is still true in the stored state. A
fault that clears or a station that reconnects within it (API Gateway's 2-hour cut) opens
nothing, so no alert, event, escalation or notification follows a transient. A reboot loop is a
persistence in itself (several boots in a window) and opens at once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from csms.domain.connector import ConnectorStatus, EvseRef, OccupancyDetail


class AlertKind(StrEnum):
    """What the alert is about."""

    FAULTED = "faulted"
    OFFLINE = "offline"
    REBOOT_LOOP = "reboot-loop"
    STUCK_CONNECTOR = "stuck-connector"
    START_FAILURES = "start-failures"
    NO_ENERGY_WHILE_CHARGING = "no-energy-while-charging"


class Severity(StrEnum):
    """How urgently someone should look."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    INFO = "info"


class AlertState(StrEnum):
    """An alert is open until its condition clears."""

    OPEN = "open"
    CLOSED = "closed"


class WatchState(StrEnum):
    """A marker's state: watched through the hold-down, or the alert it opened."""

    PENDING = "pending"
    OPEN = "open"


class AlertDetails(BaseModel):
    """What the station told about the condition (all optional)."""

    model_config = ConfigDict(frozen=True)

    error_code: str | None = None
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None
    boots: int | None = None
    # No energy while charging: the session watched and its energy (Wh) when the watch began.
    session_id: str | None = None
    energy_wh: Decimal | None = None


class AlertStep(BaseModel):
    """One thing done about an alert (escalation steps are appended here)."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    action: str
    outcome: str | None = None


class AlertKey(BaseModel):
    """What an alert is about: at most one open alert per key."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    station_id: str
    # None: the station as a whole (offline, reboot loop, a fault on EVSE 0).
    evse: EvseRef | None = None
    kind: AlertKind

    @property
    def port(self) -> str:
        """`{evse:05}#{connector:05}`, `00000#00000` for the station as a whole."""
        evse = self.evse or EvseRef(evse_id=0, connector_id=0)
        return f"{evse.evse_id:05d}#{evse.connector_id:05d}"


class Watch(BaseModel):
    """The marker of a key: a condition in its hold-down, or the open alert it became."""

    model_config = ConfigDict(frozen=True)

    key: AlertKey
    state: WatchState
    since: datetime
    due_at: datetime
    details: AlertDetails = AlertDetails()
    alert_id: str | None = None


class Alert(BaseModel):
    """An alert, open or closed."""

    model_config = ConfigDict(frozen=True)

    alert_id: str
    key: AlertKey
    site_id: str | None = None
    severity: Severity
    state: AlertState = AlertState.OPEN
    # When the condition began (not when the hold-down ended), so durations are true.
    opened_at: datetime
    closed_at: datetime | None = None
    details: AlertDetails = AlertDetails()
    steps: tuple[AlertStep, ...] = ()
    version: int = Field(default=1, ge=1)

    def close(self, at: datetime) -> Alert:
        """The alert closed at `at` (never before it opened)."""
        return self.model_copy(
            update={
                "state": AlertState.CLOSED,
                "closed_at": max(at, self.opened_at),
                "version": self.version + 1,
            }
        )


# 1.6 ChargePointErrorCode values that stop a connector from delivering power for certain
# (a ground fault or over-voltage is a safety trip); the rest may be partial or reader issues.
_CRITICAL_CODES = frozenset(
    {"GroundFailure", "HighTemperature", "OverCurrentFailure", "OverVoltage", "PowerMeterFailure",
     "PowerSwitchFailure", "UnderVoltage", "InternalError", "EVCommunicationError"}
)  # fmt: skip
_MINOR_CODES = frozenset({"ReaderFailure", "LocalListConflict", "WeakSignal", "OtherError"})

_KIND_SEVERITY = {
    AlertKind.FAULTED: Severity.MAJOR,
    AlertKind.OFFLINE: Severity.MAJOR,
    AlertKind.REBOOT_LOOP: Severity.MAJOR,
    AlertKind.STUCK_CONNECTOR: Severity.MINOR,
    AlertKind.START_FAILURES: Severity.MINOR,
    AlertKind.NO_ENERGY_WHILE_CHARGING: Severity.MINOR,
}


def severity_of(kind: AlertKind, error_code: str | None = None) -> Severity:
    """Severity by kind, sharpened by the fault's error code."""
    if kind is AlertKind.FAULTED and error_code in _CRITICAL_CODES:
        return Severity.CRITICAL
    if kind is AlertKind.FAULTED and error_code in _MINOR_CODES:
        return Severity.MINOR
    return _KIND_SEVERITY[kind]


def alert_id_of(key: AlertKey, opened_at: datetime) -> str:
    """Sortable by opening time and unique per tenant: one open alert per key at a time."""
    digest = hashlib.sha256(f"{key.station_id}#{key.port}#{key.kind}".encode()).hexdigest()
    return f"{opened_at:%Y%m%dT%H%M%S}{opened_at.microsecond:06d}Z-{digest[:12]}"


# -- detectors -----------------------------------------------------------------------------


class Detected(BaseModel):
    """A condition began: watch it until `due_at`."""

    model_config = ConfigDict(frozen=True)

    watch: Watch


class Cleared(BaseModel):
    """A condition ended at `at`."""

    model_config = ConfigDict(frozen=True)

    key: AlertKey
    at: datetime


def status_observation(
    key_base: AlertKey,
    status: ConnectorStatus,
    at: datetime,
    hold_down: timedelta,
    details: AlertDetails,
) -> Detected | Cleared:
    """A connector that reports Faulted is watched; any other status clears its fault."""
    if status is ConnectorStatus.FAULTED:
        return Detected(
            watch=Watch(
                key=key_base,
                state=WatchState.PENDING,
                since=at,
                due_at=at + hold_down,
                details=details,
            )
        )
    return Cleared(key=key_base, at=at)


# 1.6 sub-states of Occupied that a connector should leave within minutes. (2.0.1 stations say
# only Occupied; their sessions tell the rest.)
STUCK_DETAILS = frozenset({OccupancyDetail.PREPARING, OccupancyDetail.FINISHING})


def stuck_observation(
    key_base: AlertKey,
    status: ConnectorStatus,
    detail: OccupancyDetail | None,
    at: datetime,
    stuck_after: timedelta,
) -> Detected | Cleared:
    """A connector entering Preparing or Finishing is watched; any other state clears it.

    The state is kept in the details (`info`), so the sweep can tell it is still the same one.
    """
    if status is ConnectorStatus.OCCUPIED and detail in STUCK_DETAILS:
        return Detected(
            watch=Watch(
                key=key_base,
                state=WatchState.PENDING,
                since=at,
                due_at=at + stuck_after,
                details=AlertDetails(info=detail.value if detail is not None else None),
            )
        )
    return Cleared(key=key_base, at=at)


def offline_watch(key: AlertKey, at: datetime, grace: timedelta) -> Watch:
    """A station that went offline is watched through the grace period."""
    return Watch(key=key, state=WatchState.PENDING, since=at, due_at=at + grace)


def still_offline(online: bool, connected_at: datetime | None, since: datetime) -> bool:
    """Whether a station offline since `since` has not come back (read from the station)."""
    return not (online and (connected_at is None or connected_at >= since))


class BootHistory(BaseModel):
    """A station's recent boot times, oldest first (small: at most `limit` kept).

    Failed starts are kept the same way (times in a window; a loop is `limit` of them).
    """

    model_config = ConfigDict(frozen=True)

    boots: tuple[datetime, ...] = ()

    def add(self, at: datetime, window: timedelta, limit: int) -> BootHistory:
        """The history with a boot at `at`; boots older than the window fall out."""
        recent = sorted({*(b for b in self.boots if at - b < window), at})
        return BootHistory(boots=tuple(recent[-limit:]))

    def in_loop(self, now: datetime, window: timedelta, limit: int) -> bool:
        """`limit` boots or more within the window ending now."""
        return sum(1 for b in self.boots if now - b < window) >= limit

    def quiet_at(self, window: timedelta) -> datetime | None:
        """When a loop ends if no boot follows: a whole window after the last boot."""
        return self.boots[-1] + window if self.boots else None
