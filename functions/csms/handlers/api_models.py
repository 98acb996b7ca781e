"""Request and response bodies of the HTTP API (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel

from csms.domain.connection import ConnectionLogEntry
from csms.domain.meter import Anomaly, AnomalyKind, Measurand, Reading, Sample
from csms.domain.sessions import ChargingState, Session, SessionState, StopReason
from csms.domain.station import ProtocolVersion
from csms.domain.tokens import (
    MAX_TOKEN_LENGTH,
    AuthorizationStatus,
    GroupId,
    IdToken,
    IdTokenType,
    TokenStatus,
    TokenValue,
)
from csms.services.sessions import SessionView
from csms.services.tokens import UNSET, TokenPatch


class ApiModel(BaseModel):
    """camelCase JSON, snake_case Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class Problem(ApiModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class BootView(ApiModel):
    """What the station said when it last booted."""

    at: datetime | None
    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    reason: str
    registration_status: str | None = None


class ConnectionLogView(ApiModel):
    """One connection log entry."""

    at: datetime
    outcome: str
    reason: str | None = None
    protocol: str | None = None
    connection_id: str | None = None
    source_ip: str | None = None
    offered_protocols: list[str] = []
    password_used: str | None = Field(
        default=None,
        description="Current, or Previous when the password before a rotation opened it",
    )

    @classmethod
    def of(cls, entry: ConnectionLogEntry) -> ConnectionLogView:
        """From the domain entry."""
        return cls(
            at=entry.at,
            outcome=entry.outcome.value,
            reason=entry.reason.value if entry.reason else None,
            protocol=entry.protocol.value if entry.protocol else None,
            connection_id=entry.connection_id,
            source_ip=entry.source_ip,
            offered_protocols=list(entry.offered_protocols),
            password_used=entry.password_used.value if entry.password_used else None,
        )


class ConnectionLogPage(ApiModel):
    """A page of a station's connection log, newest first."""

    items: list[ConnectionLogView]
    next_cursor: str | None = None


def _json_number(value: Decimal) -> int | float:
    # Whole values (the usual case: registers in Wh, power in W) are exact JSON integers.
    return int(value) if value == value.to_integral_value() else float(value)


Number = Annotated[
    Decimal,
    PlainSerializer(_json_number, return_type=int | float, when_used="json"),
    WithJsonSchema({"type": "number"}),
]
"""A measured value as a JSON number: exact when whole, a double otherwise."""

_NUMBER = " A JSON number, exact when whole."


class AnomalyView(ApiModel):
    """Something found wrong with the station's transaction data, kept for operators."""

    kind: AnomalyKind
    at: datetime = Field(description="When the CSMS saw it")
    detail: str

    @classmethod
    def of(cls, anomaly: Anomaly) -> AnomalyView:
        """From the domain anomaly."""
        return cls(kind=anomaly.kind, at=anomaly.at, detail=anomaly.detail)


class SessionTotalsView(ApiModel):
    """What the session has delivered so far (final once it ended)."""

    energy_wh: Number | None = Field(
        default=None, description="Energy delivered, Wh (register difference)." + _NUMBER
    )
    power_w: Number | None = Field(
        default=None, description="Last reported active power, W (none once ended)." + _NUMBER
    )
    soc: Number | None = Field(
        default=None, description="Last reported state of charge, percent." + _NUMBER
    )
    duration_s: Number | None = Field(
        default=None,
        description="Seconds from start to stop, or to the newest reading while active." + _NUMBER,
    )
    last_meter_at: datetime | None = Field(
        default=None, description="Time of the newest energy register reading"
    )
    last_meter_wh: Number | None = Field(
        default=None, description="The newest energy register, Wh." + _NUMBER
    )


class SessionSummary(ApiModel):
    """A charging session in a list."""

    id: str
    state: SessionState
    station_id: str
    site_id: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    transaction_id: str = Field(
        description="The transaction id: the station's (2.0.1) or the CSMS's (1.6), as text"
    )
    ocpp16_transaction_id: int | None = Field(
        default=None, description="The integer transactionId of a 1.6 transaction"
    )
    protocol: ProtocolVersion
    id_token: str | None = None
    group_id: str | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    stop_reason: StopReason | None = None
    energy_wh: Number | None = Field(
        default=None,
        description="Final energy delivered, Wh, once the session ended; null while it is "
        "active (the session itself has the live totals)." + _NUMBER,
    )
    anomaly_count: int = 0
    closed_by_cleanup: bool = False

    @classmethod
    def fields_of(cls, session: Session) -> dict[str, Any]:
        """The summary's fields from the domain session."""
        return {
            "id": session.id,
            "state": session.state,
            "station_id": session.station_id,
            "site_id": session.site_id,
            "evse_id": session.evse.evse_id if session.evse else None,
            "connector_id": session.evse.connector_id if session.evse else None,
            "transaction_id": session.transaction_id,
            "ocpp16_transaction_id": session.ocpp16_id,
            "protocol": session.protocol,
            "id_token": session.id_token,
            "group_id": session.group_id,
            "started_at": session.started_at,
            "stopped_at": session.stopped_at,
            "stop_reason": session.stop_reason,
            "energy_wh": session.energy_wh if session.state is SessionState.ENDED else None,
            "anomaly_count": session.anomaly_count,
            "closed_by_cleanup": session.closed_by_cleanup,
        }

    @classmethod
    def of(cls, session: Session) -> SessionSummary:
        """From the domain session."""
        return cls(**cls.fields_of(session))


class SessionPage(ApiModel):
    """A page of sessions, newest start first."""

    items: list[SessionSummary]
    next_cursor: str | None = None


class SessionDetail(SessionSummary):
    """A charging session with its live totals."""

    energy_wh: Number | None = Field(
        default=None,
        description="Energy delivered so far, Wh (the same as `totals.energyWh`)." + _NUMBER,
    )
    totals: SessionTotalsView
    token_type: IdTokenType | None = None
    authorization_status: AuthorizationStatus | None = Field(
        default=None, description="The CSMS's answer to the token that started the session"
    )
    meter_start_wh: Number | None = Field(
        default=None, description="Energy register at the start, Wh." + _NUMBER
    )
    meter_stop_wh: Number | None = Field(
        default=None, description="Energy register the station reported at the stop, Wh." + _NUMBER
    )
    stopped_by: str | None = Field(
        default=None,
        description="The token that stopped the session, when not the one that started it",
    )
    charging_state: ChargingState | None = None
    remote_start_id: int | None = None
    reservation_id: int | None = None
    offline: bool = Field(
        default=False, description="Some of its messages were queued while the station was offline"
    )
    anomalies: list[AnomalyView] = Field(
        default=[], description="The first anomalies found; `anomalyCount` counts them all"
    )
    revision: int = Field(
        default=0,
        description="Revision of the final figures: 0 while active, 1 at the end, one more for "
        "each correction after it (as in the TransactionEnded event)",
    )
    updated_at: datetime

    @classmethod
    def of_view(cls, view: SessionView) -> SessionDetail:
        """From the session and its live totals."""
        session, live = view.session, view.totals
        last = live.meter_last
        totals = SessionTotalsView(
            energy_wh=live.energy_wh,
            power_w=live.power_w,
            soc=live.soc,
            duration_s=Decimal(str(live.duration.total_seconds()))
            if live.duration is not None
            else None,
            last_meter_at=last.at if last else None,
            last_meter_wh=last.wh if last else None,
        )
        return cls(
            **{**cls.fields_of(session), "energy_wh": live.energy_wh},
            totals=totals,
            token_type=session.token_type,
            authorization_status=session.authorization.status if session.authorization else None,
            meter_start_wh=session.meter_start.wh if session.meter_start else None,
            meter_stop_wh=session.meter_stop_wh,
            stopped_by=session.stopped_by,
            charging_state=session.charging_state,
            remote_start_id=session.remote_start_id,
            reservation_id=session.reservation_id,
            offline=session.offline,
            anomalies=[AnomalyView.of(a) for a in session.anomalies],
            revision=session.revision,
            updated_at=session.updated_at,
        )


MeterUnit = Literal["Wh", "W", "A", "V", "Percent"]

# Samples are stored in their measurand's base unit (csms.domain.meter normalises kWh, kW).
_UNIT_OF: dict[Measurand, MeterUnit] = {
    Measurand.ENERGY: "Wh",
    Measurand.POWER: "W",
    Measurand.CURRENT: "A",
    Measurand.VOLTAGE: "V",
    Measurand.SOC: "Percent",
}


class MeterSampleView(ApiModel):
    """One sampled value, in its measurand's base unit."""

    measurand: Measurand
    phase: str | None = Field(default=None, description="L1, L2, L3, N, L1-N, ...; null = total")
    value: Number = Field(description="The value in `unit`." + _NUMBER)
    unit: MeterUnit
    context: str | None = Field(
        default=None, description="Why the station sampled it (Sample.Periodic, ...)"
    )

    @classmethod
    def of(cls, sample: Sample) -> MeterSampleView:
        """From the domain sample."""
        return cls(
            measurand=sample.measurand,
            phase=sample.phase,
            value=sample.value,
            unit=_UNIT_OF[sample.measurand],
            context=sample.context,
        )


class MeterReadingView(ApiModel):
    """The samples a station took at one instant."""

    timestamp: datetime
    samples: list[MeterSampleView]

    @classmethod
    def of(cls, reading: Reading) -> MeterReadingView:
        """From the domain reading."""
        return cls(
            timestamp=reading.timestamp, samples=[MeterSampleView.of(s) for s in reading.samples]
        )


class MeterValuePage(ApiModel):
    """The readings of a page of the session's stored messages, oldest message first."""

    items: list[MeterReadingView]
    next_cursor: str | None = None


# -- id tokens ------------------------------------------------------------------------------

# Token values in the API: what needs no escaping in a URL path, so every token created here
# can be read and changed at /v1/tokens/{idToken}. OCPP allows up to 36 characters (2.0.1).
TOKEN_PATTERN = r"^[A-Za-z0-9._~:*+@=-]+$"  # noqa: S105 - a pattern, not a secret

ApiTokenValue = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_TOKEN_LENGTH,
        pattern=TOKEN_PATTERN,
        description="The token value (card UID, eMAID, ...), matched without regard to case",
    ),
]


class TokenView(ApiModel):
    """An id token of the tenant."""

    id_token: str
    type: IdTokenType | None = Field(default=None, description="2.0.1 type; null matches any")
    status: TokenStatus
    expires_at: datetime | None = None
    group_id: str | None = Field(default=None, description="Driver group (fleet, residents, ...)")
    parent_id_token: str | None = Field(
        default=None, description="1.6 parentIdTag / 2.0.1 groupIdToken"
    )

    @classmethod
    def of(cls, token: IdToken) -> TokenView:
        """From the domain token."""
        return cls(
            id_token=token.id_token,
            type=token.type,
            status=token.status,
            expires_at=token.expires_at,
            group_id=token.group_id,
            parent_id_token=token.parent_id_token,
        )


class TokenPage(ApiModel):
    """A page of id tokens, by value."""

    items: list[TokenView]
    next_cursor: str | None = None


class TokenCreate(ApiModel):
    """A new id token."""

    model_config = ConfigDict(extra="forbid")

    id_token: ApiTokenValue
    type: IdTokenType | None = None
    status: TokenStatus = TokenStatus.ACCEPTED
    expires_at: AwareDatetime | None = None
    group_id: GroupId | None = None
    parent_id_token: TokenValue | None = None

    def token(self) -> IdToken:
        """The domain token."""
        return IdToken(
            id_token=self.id_token,
            type=self.type,
            status=self.status,
            expires_at=self.expires_at,
            group_id=self.group_id,
            parent_id_token=self.parent_id_token,
        )


class TokenUpdate(ApiModel):
    """A partial update (JSON merge patch): absent fields stay, null clears an optional one."""

    model_config = ConfigDict(extra="forbid")

    status: TokenStatus | None = Field(default=None, description="Cannot be null")
    type: IdTokenType | None = None
    expires_at: AwareDatetime | None = None
    group_id: GroupId | None = None
    parent_id_token: TokenValue | None = None

    @model_validator(mode="after")
    def _status_is_not_cleared(self) -> Self:
        if "status" in self.model_fields_set and self.status is None:
            raise ValueError("status cannot be null")
        return self

    def patch(self) -> TokenPatch:
        """The service's patch: only the fields the body names."""
        given = self.model_fields_set
        return TokenPatch(
            status=self.status if self.status is not None else UNSET,
            type=self.type if "type" in given else UNSET,
            expires_at=self.expires_at if "expires_at" in given else UNSET,
            group_id=self.group_id if "group_id" in given else UNSET,
            parent_id_token=self.parent_id_token if "parent_id_token" in given else UNSET,
        )
