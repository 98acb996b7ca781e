"""Domain events and the `{metadata, data}` envelope they travel in (DESIGN §6)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from csms.domain.alerts import Alert, AlertDetails, AlertKind, Severity
from csms.domain.connection import RefusalReason
from csms.domain.connector import ConnectorStatus, EvseRef, OccupancyDetail
from csms.domain.meter import AnomalyKind
from csms.domain.sessions import ChargingState, StopReason
from csms.domain.station import BootReason, ProtocolVersion, RegistrationStatus
from csms.domain.tokens import AuthorizationStatus, IdTokenType


class DomainEvent(BaseModel):
    """Base of every event; subclasses name their source and detail type."""

    model_config = ConfigDict(frozen=True)

    source: ClassVar[str] = "csms.stations"
    detail_type: ClassVar[str]
    event_version: ClassVar[str] = "1"

    station_id: str
    tenant_id: str
    occurred_at: datetime


class StationConnected(DomainEvent):
    """A station opened a WebSocket connection and was accepted."""

    detail_type: ClassVar[str] = "StationConnected"

    connection_id: str
    protocol: ProtocolVersion


class StationDisconnected(DomainEvent):
    """A station's WebSocket connection closed.

    `superseded` is true when the station had already reconnected on a newer connection, so the
    station did not go offline.
    """

    detail_type: ClassVar[str] = "StationDisconnected"

    connection_id: str
    superseded: bool = False


class StationConnectionRefused(DomainEvent):
    """A connection attempt was refused at `$connect` (not published for unknown stations)."""

    detail_type: ClassVar[str] = "StationConnectionRefused"

    reason: RefusalReason


class StationBooted(DomainEvent):
    """A station sent a BootNotification."""

    detail_type: ClassVar[str] = "StationBooted"

    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    reason: BootReason
    registration_status: RegistrationStatus


class ConnectorStatusChanged(DomainEvent):
    """A connector (or the whole station, EVSE 0) changed status."""

    detail_type: ClassVar[str] = "ConnectorStatusChanged"

    evse: EvseRef
    status: ConnectorStatus
    detail: OccupancyDetail | None = None
    error_code: str | None = None
    # What the station added about a fault (free text, the vendor's own code).
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None


class SessionEvent(DomainEvent):
    """Base of the events of a charging session."""

    source: ClassVar[str] = "csms.sessions"

    session_id: str
    transaction_id: str
    evse: EvseRef | None = None


class TransactionStarted(SessionEvent):
    """A charging session started (or was first heard of: its start may arrive later)."""

    detail_type: ClassVar[str] = "TransactionStarted"

    protocol: ProtocolVersion
    # The station's site when the session started (load management rebalances that site).
    site_id: str | None = None
    id_token: str | None = None
    group_id: str | None = None
    authorization: AuthorizationStatus | None = None
    started_at: datetime | None = None
    meter_start_wh: Decimal | None = None
    remote_start_id: int | None = None


class TransactionUpdated(SessionEvent):
    """Progress of an active session; at most one per throttle period (default 5 minutes)."""

    detail_type: ClassVar[str] = "TransactionUpdated"

    energy_wh: Decimal | None = None
    power_w: Decimal | None = None
    soc: Decimal | None = None
    charging_state: ChargingState | None = None
    meter_at: datetime | None = None


class TransactionEnded(SessionEvent):
    """A session ended, with its final energy and duration.

    `revision` is 1 for the end; a later message that changes the final figures (an offline
    queue delivered late) publishes the corrected session again with the next revision, so
    billing can issue a credit or debit note instead of an edit.
    """

    detail_type: ClassVar[str] = "TransactionEnded"

    revision: int
    # The station's site when the session started (load management rebalances that site).
    site_id: str | None = None
    id_token: str | None = None
    group_id: str | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    duration_s: int | None = None
    energy_wh: Decimal | None = None
    meter_start_wh: Decimal | None = None
    meter_stop_wh: Decimal | None = None
    stop_reason: StopReason | None = None
    closed_by_cleanup: bool = False
    anomalies: list[AnomalyKind] = []


class TokenAuthorized(DomainEvent):
    """A station asked whether a token may charge (Authorize), and what it was told."""

    source: ClassVar[str] = "csms.sessions"
    detail_type: ClassVar[str] = "TokenAuthorized"

    id_token: str
    token_type: IdTokenType | None = None
    status: AuthorizationStatus
    group_id: str | None = None


class LoadChanged(DomainEvent):
    """A site's load configuration, readings or declared needs changed: rebalance the site."""

    source: ClassVar[str] = "csms.load"
    detail_type: ClassVar[str] = "LoadChanged"

    # A site's event concerns no one station (the envelope's station_id is optional too).
    station_id: str | None = None  # type: ignore[assignment]
    site_id: str
    reason: Literal["config", "readings", "needs"]


# --- billing ---
# A section of its own, so that it merges cleanly with the events above.


class BillingEvent(DomainEvent):
    """Base of the events of billing (CDRs, invoices, payments)."""

    source: ClassVar[str] = "csms.billing"

    # A statement concerns no one station (the envelope's station_id is optional too).
    station_id: str | None = None  # type: ignore[assignment]


class CdrCreated(BillingEvent):
    """A charge detail record was written (a credit CDR when `credit`)."""

    detail_type: ClassVar[str] = "CdrCreated"

    cdr_id: str
    session_id: str
    revision: int
    credit: bool = False
    credit_reference_id: str | None = None
    currency: str
    total_excl_tax: Decimal
    total_incl_tax: Decimal
    energy_kwh: Decimal


class InvoiceFinalized(BillingEvent):
    """An invoice was issued: numbered, its amount fixed and due (negative: a credit)."""

    detail_type: ClassVar[str] = "InvoiceFinalized"

    invoice_id: str
    number: int
    kind: str
    account_id: str | None = None
    session_id: str | None = None
    period: str | None = None
    refers_to: str | None = None
    currency: str
    total_excl_tax: Decimal
    total_incl_tax: Decimal


class InvoicePaid(BillingEvent):
    """An invoice is settled at the provider: collected, or given back.

    A credit note's amount is negative (what was refunded).
    """

    detail_type: ClassVar[str] = "InvoicePaid"

    invoice_id: str
    account_id: str | None = None
    session_id: str | None = None
    currency: str
    amount: Decimal
    payment_reference: str | None = None


class PaymentFailed(BillingEvent):
    """Collecting an invoice failed for good (declined, or the payer must act): not retried."""

    detail_type: ClassVar[str] = "PaymentFailed"

    invoice_id: str
    account_id: str | None = None
    session_id: str | None = None
    currency: str
    amount: Decimal
    # The provider's code (`card_declined`, `requires-action`, `no-payment-method`) and why.
    code: str
    reason: str


# --- alerts ---


class AlertEvent(DomainEvent):
    """Base of the events of alerts (csms.domain.alerts)."""

    source: ClassVar[str] = "csms.alerts"

    alert_id: str
    kind: AlertKind
    severity: Severity
    # None: the station as a whole.
    evse: EvseRef | None = None
    site_id: str | None = None
    details: AlertDetails = AlertDetails()


def of_alert(alert: Alert) -> dict[str, Any]:
    """What every alert event says about its alert (its fields but the time and extras)."""
    return {
        "station_id": alert.key.station_id,
        "tenant_id": alert.key.tenant_id,
        "alert_id": alert.alert_id,
        "kind": alert.key.kind,
        "severity": alert.severity,
        "evse": alert.key.evse,
        "site_id": alert.site_id,
        "details": alert.details,
    }


class AlertOpened(AlertEvent):
    """A condition lasted its hold-down: an alert opened (`occurred_at` is when it began)."""

    detail_type: ClassVar[str] = "AlertOpened"


class AlertClosed(AlertEvent):
    """An alert's condition cleared (`occurred_at` is when it cleared)."""

    detail_type: ClassVar[str] = "AlertClosed"

    opened_at: datetime


class AlertEscalated(AlertEvent):
    """The cheap fixes (soft, then hard reset) left a fault in place: people are needed now.

    `occurred_at` is when it was escalated; `ticket_id` names the maintenance ticket opened.
    """

    detail_type: ClassVar[str] = "AlertEscalated"

    opened_at: datetime
    ticket_id: str | None = None


EVENT_TYPES: tuple[type[DomainEvent], ...] = (
    StationConnected,
    StationDisconnected,
    StationConnectionRefused,
    StationBooted,
    ConnectorStatusChanged,
    TransactionStarted,
    TransactionUpdated,
    TransactionEnded,
    TokenAuthorized,
    LoadChanged,
    CdrCreated,
    InvoiceFinalized,
    InvoicePaid,
    PaymentFailed,
    AlertOpened,
    AlertClosed,
    AlertEscalated,
)


class EventMetadata(BaseModel):
    """What every event carries besides its data."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    event_version: str
    occurred_at: datetime
    tenant_id: str
    station_id: str | None = None


E = TypeVar("E", bound=DomainEvent)


class EventEnvelope(BaseModel, Generic[E]):
    """The EventBridge `detail` and the webhook body: `{metadata, data}`."""

    model_config = ConfigDict(frozen=True)

    metadata: EventMetadata
    data: E

    @classmethod
    def wrap(cls, event: E, event_id: str) -> EventEnvelope[E]:
        """Put an event in its envelope."""
        return cls(
            metadata=EventMetadata(
                event_id=event_id,
                event_version=event.event_version,
                occurred_at=event.occurred_at,
                tenant_id=event.tenant_id,
                station_id=event.station_id,
            ),
            data=event,
        )
