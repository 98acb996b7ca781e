"""API models of alerts (csms.handlers.api_alerts)."""

from __future__ import annotations

from datetime import datetime

from csms.domain.alerts import Alert, AlertKind, AlertState, Severity
from csms.handlers.api_models import ApiModel


class AlertDetailsView(ApiModel):
    """What the station told about the condition."""

    error_code: str | None = None
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None
    boots: int | None = None


class AlertStepView(ApiModel):
    """One thing done about the alert (escalation steps)."""

    at: datetime
    action: str
    outcome: str | None = None


class AlertView(ApiModel):
    """An alert: what is wrong where, since when, and until when."""

    id: str
    station_id: str
    site_id: str | None = None
    # Absent for the station as a whole.
    evse_id: int | None = None
    connector_id: int | None = None
    kind: AlertKind
    severity: Severity
    state: AlertState
    opened_at: datetime
    closed_at: datetime | None = None
    details: AlertDetailsView
    steps: list[AlertStepView]

    @classmethod
    def of(cls, alert: Alert) -> AlertView:
        """The public view of an alert."""
        evse = alert.key.evse
        return cls(
            id=alert.alert_id,
            station_id=alert.key.station_id,
            site_id=alert.site_id,
            evse_id=evse.evse_id if evse else None,
            connector_id=evse.connector_id if evse else None,
            kind=alert.key.kind,
            severity=alert.severity,
            state=alert.state,
            opened_at=alert.opened_at,
            closed_at=alert.closed_at,
            details=AlertDetailsView.model_validate(alert.details.model_dump()),
            steps=[AlertStepView.model_validate(step.model_dump()) for step in alert.steps],
        )


class AlertPage(ApiModel):
    """A page of alerts, newest first."""

    items: list[AlertView]
    next_cursor: str | None = None
