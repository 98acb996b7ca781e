"""Connector status, version-neutral.

OCPP 2.0.1 reports five connector states and tells the charging state through transactions;
OCPP 1.6 folds both into nine statuses. The domain keeps the 2.0.1 states and, for the 1.6
sub-states of Occupied, an `OccupancyDetail`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ConnectorStatus(StrEnum):
    """Connector state as both versions can express it."""

    AVAILABLE = "Available"
    OCCUPIED = "Occupied"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class OccupancyDetail(StrEnum):
    """What a 1.6 station says about an occupied connector (2.0.1 says it in TransactionEvent)."""

    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"


# Neither version bounds EVSE or connector ids; real stations count them on one hand.
MAX_ID = 99_999


class EvseRef(BaseModel):
    """An EVSE and one of its connectors; EVSE 0 addresses the whole station."""

    model_config = ConfigDict(frozen=True)

    evse_id: int = Field(ge=0, le=MAX_ID)
    connector_id: int = Field(ge=0, le=MAX_ID)

    @property
    def is_station(self) -> bool:
        """True when the reference addresses the station as a whole."""
        return self.evse_id == 0


class StatusReport(BaseModel):
    """A station's report of one connector's (or the whole station's) status."""

    model_config = ConfigDict(frozen=True)

    evse: EvseRef
    status: ConnectorStatus
    detail: OccupancyDetail | None = None
    # 1.6 ChargePointErrorCode when not NoError; 2.0.1 reports errors through NotifyEvent.
    error_code: str | None = None
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None
    # None when the station left it out (optional in 1.6): the time of receipt then applies.
    timestamp: datetime | None = None


class ConnectorState(BaseModel):
    """The last status the CSMS holds for a connector."""

    model_config = ConfigDict(frozen=True)

    evse: EvseRef
    status: ConnectorStatus
    detail: OccupancyDetail | None = None
    error_code: str | None = None
    info: str | None = None
    vendor_error_code: str | None = None
    since: datetime
    reported_at: datetime

    @classmethod
    def from_report(
        cls, report: StatusReport, previous: ConnectorState | None, received_at: datetime
    ) -> ConnectorState:
        """Fold a report into the state: `since` moves only when the status really changes."""
        at = report.timestamp or received_at
        changed = previous is None or previous.status_key != (report.status, report.detail)
        return cls(
            evse=report.evse,
            status=report.status,
            detail=report.detail,
            error_code=report.error_code,
            info=report.info,
            vendor_error_code=report.vendor_error_code,
            since=at if changed or previous is None else previous.since,
            reported_at=at,
        )

    @property
    def status_key(self) -> tuple[ConnectorStatus, OccupancyDetail | None]:
        """What counts as a change of status."""
        return (self.status, self.detail)


class StatusOutcome(StrEnum):
    """What a report did to the connector's state."""

    CHANGED = "Changed"  # first report, or a newer one with another status
    REPEATED = "Repeated"  # newer, same status: only the report time and error details moved
    STALE = "Stale"  # not newer than the state held (late or retransmitted)


class AppliedStatus(BaseModel):
    """The result of folding a report into a connector's state."""

    model_config = ConfigDict(frozen=True)

    outcome: StatusOutcome


def fold_report(
    report: StatusReport, held: ConnectorState | None, received_at: datetime
) -> tuple[AppliedStatus, ConnectorState | None]:
    """The rule every store applies: (what happened, the state to keep; None: keep held)."""
    state = ConnectorState.from_report(report, held, received_at)
    if held is None:
        return AppliedStatus(outcome=StatusOutcome.CHANGED), state
    if held.reported_at >= state.reported_at:
        return AppliedStatus(outcome=StatusOutcome.STALE), None
    if held.status_key != state.status_key:
        return AppliedStatus(outcome=StatusOutcome.CHANGED), state
    return AppliedStatus(outcome=StatusOutcome.REPEATED), state
