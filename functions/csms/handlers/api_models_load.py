"""Request and response bodies of load management (csms.handlers.api_load).

The configuration's parts (groups, stations, time-of-day limits, meter, hysteresis) are the
domain's own models: they already speak camelCase and carry their bounds, and one definition
keeps the API and what the engine reads from drifting apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from csms.domain.load.allocation import Allocation, ConnectorLimit, ProfileDelivery, Reason
from csms.domain.load.config import (
    DEFAULT_MIN_CURRENT_A,
    Hysteresis,
    Kw,
    LoadGroup,
    MeterPolicy,
    Percent,
    PhaseLimits,
    SiteLoadConfig,
    StationLoad,
    TimeOfDayLimit,
)
from csms.domain.load.inputs import MAX_READING_KW, Reading, ReadingKind
from csms.domain.load.needs import DeclaredNeeds, NeedsSource
from csms.handlers.api_models import ApiModel
from csms.services.load import MAX_READINGS


class _Body(ApiModel):
    model_config = ConfigDict(extra="forbid")


class _Config(ApiModel):
    """What a configuration holds besides its site and version."""

    limit_kw: Kw = Field(description="The grid connection's limit for the chargers, kW")
    limit_a: PhaseLimits | None = Field(
        default=None, description="The site's limit in amperes per phase (AC), if any"
    )
    safety_margin_pct: Percent = Field(default=0.0, description="Taken off every limit, %")
    min_current_a: Annotated[float, Field(ge=0, le=80, allow_inf_nan=False)] = Field(
        default=DEFAULT_MIN_CURRENT_A,
        description="Below this a session is paused rather than starved (A per phase)",
    )
    groups: Annotated[list[LoadGroup], Field(max_length=1000)] = Field(
        default=[], description="Feeders and sub-panels; `parentId` null: below the site"
    )
    stations: Annotated[list[StationLoad], Field(max_length=5000)] = Field(
        default=[], description="Stations of this site, where they hang and what they deliver"
    )
    time_of_day: Annotated[list[TimeOfDayLimit], Field(max_length=50)] = Field(
        default=[], description="Lower site limits at some local times"
    )
    meter: MeterPolicy | None = Field(
        default=None, description="The site meter, and the limit that holds while it is silent"
    )
    hysteresis: Hysteresis = Field(
        default=Hysteresis(), description="Limit changes smaller than this are not sent"
    )


class LoadConfigBody(_Config, _Body):
    """A site's load management configuration (PUT replaces it whole)."""

    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA zone of the time-of-day limits; null or absent: the site's",
    )

    def spec(self) -> dict[str, Any]:
        """The configuration's fields by Python name (domain models kept as they are)."""
        return {name: getattr(self, name) for name in type(self).model_fields}


class LoadConfigView(_Config):
    """A site's load management configuration."""

    site_id: str
    timezone: str
    version: int = Field(description="Changes with every update; the ETag carries it")

    @classmethod
    def of(cls, config: SiteLoadConfig) -> LoadConfigView:
        """From the domain configuration."""
        return cls.model_validate(
            {name: getattr(config, name) for name in cls.model_fields if hasattr(config, name)}
        )


class ReadingIn(_Body):
    """One reading: the site meter's load, PV production, or what the battery may discharge."""

    kind: ReadingKind
    at: AwareDatetime = Field(description="When measured (or from when a forecast holds)")
    kw: Annotated[float, Field(ge=-MAX_READING_KW, le=MAX_READING_KW, allow_inf_nan=False)] = Field(
        description="kW; the meter's import (a negative one counts as 0)"
    )
    valid_until: AwareDatetime | None = Field(
        default=None, description="For forecasts: valid until then (at most 48 h ahead)"
    )

    def reading(self) -> Reading:
        """The domain reading."""
        return Reading(kind=self.kind, at=self.at, kw=self.kw, valid_until=self.valid_until)


class ReadingsBody(_Body):
    """A batch of readings (oldest or newest first, as they come)."""

    readings: Annotated[list[ReadingIn], Field(min_length=1, max_length=MAX_READINGS)]


class ReadingsAccepted(ApiModel):
    """What became of the readings."""

    accepted: int
    rebalance: bool = Field(
        description="True when they moved the available power enough to rebalance at once; "
        "otherwise the periodic rebalance (every minute) takes them in"
    )


class NeedsBody(_Body):
    """What a session needs, as the driver or fleet system declares it (replaces earlier)."""

    departure: AwareDatetime | None = Field(
        default=None, description="When the vehicle leaves (in the future, at most 7 days)"
    )
    energy_kwh: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] | None = Field(
        default=None, description="Energy still wanted by the departure, kWh"
    )
    priority: Annotated[int, Field(ge=0, le=9)] | None = Field(
        default=None, description="0-9, higher first; null: the vehicle's or its group's"
    )


class NeedsView(ApiModel):
    """The needs declared for a session."""

    session_id: str
    station_id: str
    evse_id: int
    at: datetime
    departure: datetime | None = None
    energy_kwh: float | None = None
    priority: int | None = None
    source: NeedsSource

    @classmethod
    def of(cls, needs: DeclaredNeeds) -> NeedsView:
        """From the domain needs."""
        return cls(
            session_id=needs.session_id,
            station_id=needs.station_id,
            evse_id=needs.evse_id,
            at=needs.at,
            departure=needs.departure,
            energy_kwh=needs.energy_kwh,
            priority=needs.priority,
            source=needs.source,
        )


DeliveryState = Literal["pending", "accepted", "retrying", "ignores-profiles", "not-sent"]


class DeliveryView(ApiModel):
    """How an EVSE's limit is getting to its station."""

    state: DeliveryState = Field(
        description="`pending`: sent or queued, no answer yet; `accepted` by the station; "
        "`retrying` after a rejection, an error or no answer; `ignores-profiles`: failed "
        "repeatedly, the EVSE counts at its maximum until `unmanagedUntil`; `not-sent`"
    )
    command_id: str | None = None
    accepted: bool
    failures: int = Field(description="Failed attempts in a row (rejected, error, no answer)")
    retry_at: datetime | None = None
    unmanaged_until: datetime | None = Field(
        default=None,
        description="After repeated failures the EVSE counts at its maximum until then",
    )


class ConnectorLoadView(ApiModel):
    """One EVSE's limit and why it is what it is."""

    connector: str = Field(description="`{stationId}/{evseId}`")
    station_id: str
    evse_id: int
    session_id: str | None = None
    kw: float
    amps: float | None = Field(default=None, description="Per phase, for AC stations")
    phases: int
    reason: Reason
    bound_by: str | None = Field(
        default=None, description="The limit that bound it: `site`, `group:...`, `station:...`"
    )
    detail: str | None = None
    delivery: DeliveryView | None = None

    @classmethod
    def of(cls, limit: ConnectorLimit, delivery: ProfileDelivery | None) -> ConnectorLoadView:
        """From the domain limit and its delivery."""
        view = None
        if delivery is not None:
            view = DeliveryView.model_validate(
                {**delivery.model_dump(exclude={"connector"}), "state": _delivery_state(delivery)}
            )
        return cls.model_validate({**limit.model_dump(), "delivery": view})


def _delivery_state(delivery: ProfileDelivery) -> DeliveryState:
    if delivery.accepted:
        return "accepted"
    if delivery.unmanaged_until is not None:
        return "ignores-profiles"
    if delivery.retry_at is not None:
        return "retrying"
    return "pending" if delivery.command_id is not None else "not-sent"


class RowLoadView(ApiModel):
    """How much of one limit (site, group, phase, station) the allocation uses."""

    label: str
    unit: str
    limit: float
    allocated: float


class SiteLoadView(ApiModel):
    """The allocation in force at a site."""

    site_id: str
    at: datetime = Field(description="When it was computed")
    rebalanced: bool = Field(description="False until the site was first rebalanced")
    config_version: int
    available_kw: float = Field(description="What the chargers may draw now, in total")
    constraint: str = Field(
        description="What decided it: site-limit, time-of-day-limit, building-load, "
        "meter-stale-fallback"
    )
    building_kw: float | None = None
    pv_kw: float
    battery_kw: float
    allocated_kw: float
    connectors: list[ConnectorLoadView]
    rows: list[RowLoadView]
    notes: list[str] = Field(description="Alerts and remarks of the rebalance")

    @classmethod
    def of(cls, allocation: Allocation, *, rebalanced: bool) -> SiteLoadView:
        """From the domain allocation."""
        deliveries = {d.connector: d for d in allocation.deliveries}
        return cls(
            site_id=allocation.site_id,
            at=allocation.at,
            rebalanced=rebalanced,
            config_version=allocation.config_version,
            available_kw=allocation.available_kw,
            constraint=allocation.constraint,
            building_kw=allocation.building_kw,
            pv_kw=allocation.pv_kw,
            battery_kw=allocation.battery_kw,
            allocated_kw=allocation.allocated_kw,
            connectors=[
                ConnectorLoadView.of(c, deliveries.get(c.connector)) for c in allocation.connectors
            ],
            rows=[RowLoadView.model_validate(row.model_dump()) for row in allocation.rows],
            notes=list(allocation.notes),
        )
