"""Request and response bodies of station management and the live view (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import ConfigDict, Field, model_validator

from csms.domain.connector import ConnectorState
from csms.domain.sessions import ChargingState
from csms.domain.station import (
    STATION_PASSWORD_PATTERN,
    ProtocolVersion,
    Station,
    StationState,
)
from csms.domain.tokens import IdTokenType
from csms.handlers.api_models import ApiModel, BootView, Number
from csms.services.live import LiveConnector, LiveSession, LiveStation, SiteLive, SiteSummary
from csms.services.station_admin import UNSET, StationPatch, StationRegistration

# The station id is its identity in the WebSocket URL (CiString48, URL-safe characters).
STATION_ID_PATTERN = r"^[A-Za-z0-9._~:*+@-]{1,48}$"
SITE_ID_PATTERN = r"^[A-Za-z0-9._:-]+$"

ApiStationId = Annotated[
    str, Field(min_length=1, max_length=48, pattern=STATION_ID_PATTERN, description="Identity")
]
ApiSiteId = Annotated[str, Field(min_length=1, max_length=64, pattern=SITE_ID_PATTERN)]
StationName = Annotated[str, Field(min_length=1, max_length=200)]
StationPassword = Annotated[
    str,
    Field(
        min_length=16,
        max_length=40,
        pattern=STATION_PASSWORD_PATTERN,
        description="16-40 characters of letters, digits and `*-_=:+|@.` (OCPP 2.0.1 "
        "BasicAuthPassword); left out, the CSMS generates one",
    ),
]


# -- stations -----------------------------------------------------------------------------------


class StationView(ApiModel):
    """A station as operators see it (never any password or hash)."""

    id: str
    name: str | None = None
    site_id: str | None = None
    state: StationState
    pinned_protocol: ProtocolVersion | None = None
    protocol: ProtocolVersion | None = Field(
        default=None, description="Negotiated on the current or last connection"
    )
    online: bool
    online_since: datetime | None = Field(default=None, description="Set while online")
    offline_since: datetime | None = Field(
        default=None, description="Set while offline, if it ever disconnected"
    )
    last_boot_at: datetime | None = None
    registered_at: datetime | None = None
    decommissioned_at: datetime | None = None
    trace_until: datetime | None = Field(
        default=None, description="Its frames go to the message log until then"
    )
    version: int = Field(description="Changes with every change an operator makes (the ETag)")

    @classmethod
    def fields_of(cls, station: Station) -> dict[str, Any]:
        """The view's fields from the domain station."""
        return {
            "id": station.id,
            "name": station.name,
            "site_id": station.site_id,
            "state": station.state,
            "pinned_protocol": station.pinned_protocol,
            "protocol": station.protocol,
            "online": station.online,
            "online_since": station.connected_at if station.online else None,
            "offline_since": None if station.online else station.disconnected_at,
            "last_boot_at": station.last_boot_at,
            "registered_at": station.registered_at,
            "decommissioned_at": station.decommissioned_at,
            "trace_until": station.trace_until,
            "version": station.version,
        }

    @classmethod
    def of(cls, station: Station) -> StationView:
        """From the domain station."""
        return cls(**cls.fields_of(station))

    def audit(self) -> dict[str, Any]:
        """What the audit log keeps of the station (what operators manage, as JSON)."""
        return self.model_dump(
            mode="json",
            by_alias=True,
            include={"id", "name", "site_id", "state", "pinned_protocol", "version"},
        )


class StationConnectorView(ApiModel):
    """A connector's last known status and the last error the station reported with it."""

    evse_id: int
    connector_id: int
    status: str
    detail: str | None = None
    error_code: str | None = Field(
        default=None, description="Error code of the last report (1.6 ChargePointErrorCode)"
    )
    vendor_error_code: str | None = None
    info: str | None = None
    since: datetime
    reported_at: datetime

    @classmethod
    def of(cls, state: ConnectorState) -> StationConnectorView:
        """From the domain state."""
        return cls(
            evse_id=state.evse.evse_id,
            connector_id=state.evse.connector_id,
            status=state.status.value,
            detail=state.detail.value if state.detail else None,
            error_code=state.error_code,
            vendor_error_code=state.vendor_error_code,
            info=state.info,
            since=state.since,
            reported_at=state.reported_at,
        )


class StationDetailView(StationView):
    """A station with its connection, boot and connectors."""

    connected_at: datetime | None = None
    disconnected_at: datetime | None = None
    last_seen_at: datetime | None = Field(
        default=None,
        description="Last heartbeat or other message (from API Gateway's connection record); "
        "the disconnect time when offline.",
    )
    last_boot: BootView | None = None
    connectors: list[StationConnectorView] = []


class StationListPage(ApiModel):
    """A page of stations."""

    items: list[StationView]
    next_cursor: str | None = Field(
        default=None,
        description="Set while there may be more; a page can hold fewer than `limit` items "
        "when filters leave many out",
    )


class StationWithPassword(StationView):
    """A station and its password in clear: shown in this answer only, never again."""

    password: str = Field(description="Configure it in the station now: it is not kept")


class StationCreate(ApiModel):
    """A station to register."""

    model_config = ConfigDict(extra="forbid")

    id: ApiStationId
    site_id: ApiSiteId
    name: StationName | None = None
    pinned_protocol: ProtocolVersion | None = None
    password: StationPassword | None = None

    def registration(self) -> StationRegistration:
        """The service's registration."""
        return StationRegistration(
            id=self.id,
            site_id=self.site_id,
            name=self.name,
            pinned_protocol=self.pinned_protocol,
            password=self.password,
        )


class StationUpdate(ApiModel):
    """A partial update (JSON merge patch): absent fields stay, null clears an optional one."""

    model_config = ConfigDict(extra="forbid")

    name: StationName | None = None
    site_id: ApiSiteId | None = Field(default=None, description="Cannot be null")
    pinned_protocol: ProtocolVersion | None = Field(
        default=None, description="null: the server's preference among the offered versions"
    )

    @model_validator(mode="after")
    def _site_is_not_cleared(self) -> Self:
        if "site_id" in self.model_fields_set and self.site_id is None:
            raise ValueError("siteId cannot be null: a station is at a site")
        return self

    def patch(self) -> StationPatch:
        """The service's patch: only the fields the body names."""
        given = self.model_fields_set
        return StationPatch(
            name=self.name if "name" in given else UNSET,
            site_id=self.site_id if self.site_id is not None else UNSET,
            pinned_protocol=self.pinned_protocol if "pinned_protocol" in given else UNSET,
        )


class PasswordRotation(ApiModel):
    """A new password for the station (left out: the CSMS generates one)."""

    model_config = ConfigDict(extra="forbid")

    password: StationPassword | None = None


# -- live view ----------------------------------------------------------------------------------


def _kilo(value: Decimal) -> Decimal:
    # kW and kWh to the watt and watt-hour.
    return (value / 1000).quantize(Decimal("0.001"))


class LiveSessionView(ApiModel):
    """The active session on a connector."""

    id: str
    started_at: datetime | None = None
    token_type: IdTokenType | None = None
    charging_state: ChargingState | None = None
    power_w: Number | None = Field(default=None, description="Last reported active power, W")
    energy_wh: Number | None = Field(default=None, description="Energy delivered so far, Wh")
    soc: Number | None = Field(default=None, description="State of charge, percent")
    last_meter_at: datetime | None = None

    @classmethod
    def of(cls, live: LiveSession) -> LiveSessionView:
        """From the session and its live totals."""
        session, totals = live.session, live.totals
        return cls(
            id=session.id,
            started_at=session.started_at,
            token_type=session.token_type,
            charging_state=session.charging_state,
            power_w=totals.power_w,
            energy_wh=totals.energy_wh,
            soc=totals.soc,
            last_meter_at=totals.meter_last.at if totals.meter_last else None,
        )


class LiveConnectorView(ApiModel):
    """A connector now: status since when, last error, charging or not, its session."""

    evse_id: int
    connector_id: int
    status: str | None = Field(default=None, description="null: no status reported yet")
    detail: str | None = None
    since: datetime | None = None
    error_code: str | None = None
    vendor_error_code: str | None = None
    info: str | None = None
    charging: bool
    session: LiveSessionView | None = None

    @classmethod
    def of(cls, connector: LiveConnector) -> LiveConnectorView:
        """From the live connector."""
        state = connector.state
        return cls(
            evse_id=connector.evse.evse_id,
            connector_id=connector.evse.connector_id,
            status=state.status.value if state else None,
            detail=state.detail.value if state and state.detail else None,
            since=state.since if state else None,
            error_code=state.error_code if state else None,
            vendor_error_code=state.vendor_error_code if state else None,
            info=state.info if state else None,
            charging=connector.charging,
            session=LiveSessionView.of(connector.session) if connector.session else None,
        )


class LiveStationView(ApiModel):
    """A station now."""

    id: str
    name: str | None = None
    online: bool
    online_since: datetime | None = None
    offline_since: datetime | None = None
    protocol: ProtocolVersion | None = None
    connectors: list[LiveConnectorView]
    unplaced_sessions: list[LiveSessionView] = Field(
        default=[], description="Active sessions whose EVSE the station has not told"
    )

    @classmethod
    def of(cls, live: LiveStation) -> LiveStationView:
        """From the live station."""
        station = live.station
        return cls(
            id=station.id,
            name=station.name,
            online=station.online,
            online_since=station.connected_at if station.online else None,
            offline_since=None if station.online else station.disconnected_at,
            protocol=station.protocol,
            connectors=[LiveConnectorView.of(c) for c in live.connectors],
            unplaced_sessions=[LiveSessionView.of(s) for s in live.unplaced],
        )


class SiteLiveSummaryView(ApiModel):
    """A site's figures now."""

    site_id: str
    name: str | None = None
    timezone: str = Field(description="IANA time zone of the site's day (UTC when unset)")
    stations_total: int = Field(description="Stations in service at the site")
    stations_online: int
    connectors_charging: int = Field(description="Connectors delivering energy now")
    power_kw: Number = Field(description="Sum of the active sessions' last reported power, kW")
    energy_today_kwh: Number = Field(
        description="Energy delivered since local midnight, kWh: sessions that started today "
        "in full, and of sessions that started before, the part after midnight, estimated pro "
        "rata by time between their first and newest energy register"
    )
    day_start: datetime = Field(description="Local midnight that `energyTodayKwh` counts from")
    as_of: datetime
    truncated: bool = Field(
        default=False, description="More stations at the site than one view reads (100)"
    )

    @classmethod
    def fields_of(cls, summary: SiteSummary) -> dict[str, Any]:
        """The view's fields from the summary."""
        return {
            "site_id": summary.site.id,
            "name": summary.site.name,
            "timezone": summary.site.timezone,
            "stations_total": summary.stations_total,
            "stations_online": summary.stations_online,
            "connectors_charging": summary.connectors_charging,
            "power_kw": _kilo(summary.power_w),
            "energy_today_kwh": _kilo(summary.energy_today_wh),
            "day_start": summary.day_start,
            "as_of": summary.as_of,
            "truncated": summary.truncated,
        }

    @classmethod
    def of(cls, summary: SiteSummary) -> SiteLiveSummaryView:
        """From the summary."""
        return cls(**cls.fields_of(summary))


class SiteLiveView(SiteLiveSummaryView):
    """A site's figures and its stations now."""

    stations: list[LiveStationView]

    @classmethod
    def of_site(cls, live: SiteLive) -> SiteLiveView:
        """From the site's live view."""
        return cls(
            **cls.fields_of(live.summary),
            stations=[LiveStationView.of(s) for s in live.stations],
        )


class LivePage(ApiModel):
    """A page of site summaries, by site id."""

    items: list[SiteLiveSummaryView]
    next_cursor: str | None = None
