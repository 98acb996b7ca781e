"""Bodies of the tariff endpoints: tariffs, their versions, tariff assignments.

A tariff body is the domain Tariff (csms.domain.billing.tariff) in camelCase without `id` and
`version`: the id is in the path of a PUT (in the body of a POST), the version comes from
storage. Amounts and prices are decimal strings on the wire ("0.39"), never binary floats.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Self

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from csms.domain.billing.assignment import EvseId, StationId, TariffAssignment
from csms.domain.billing.money import CurrencyCode
from csms.domain.billing.pricing import PricedSession
from csms.domain.billing.tariff import (
    Amount,
    IdleFee,
    Name,
    PriceComponents,
    Rounding,
    Tariff,
    TaxRate,
    TouPeriod,
    check_periods,
)
from csms.domain.tenancy import ResourceId
from csms.domain.tokens import GroupId, TokenValue
from csms.handlers.api_models import ApiModel
from csms.services.session_price import SessionPrice
from csms.services.tariffs import Resolved, TariffVersion


class _Body(ApiModel):
    model_config = ConfigDict(extra="forbid")


class TariffTerms(_Body):
    """What a tariff charges (PUT body: the next version of the tariff)."""

    name: Name
    currency: CurrencyCode = Field(description="ISO 4217 code")
    prices_include_tax: bool = Field(
        default=True, description="Prices include the tax rates (B2C) or exclude them (B2B)"
    )
    tax_rates: Annotated[tuple[TaxRate, ...], Field(max_length=4)] = ()
    session_fee: Amount = Field(default=Decimal(0), description="Flat fee per session")
    prices: PriceComponents = Field(
        default=PriceComponents(), description="Unit prices outside every time-of-use period"
    )
    tou: Annotated[tuple[TouPeriod, ...], Field(max_length=12)] = Field(
        default=(), description="Time-of-use periods in the site's time zone; never overlapping"
    )
    idle_fee: IdleFee | None = None
    min_price: Amount | None = None
    max_price: Amount | None = None
    rounding: Rounding = Rounding()

    @field_validator("tou")
    @classmethod
    def _periods_apart(cls, tou: tuple[TouPeriod, ...]) -> tuple[TouPeriod, ...]:
        check_periods(tou)
        return tou

    @field_validator("max_price")
    @classmethod
    def _max_not_below_min(cls, value: Amount | None, info: ValidationInfo) -> Amount | None:
        low = info.data.get("min_price")
        if value is not None and low is not None and low > value:
            raise ValueError("maxPrice must not be below minPrice")
        return value

    def tariff(self, tariff_id: str) -> Tariff:
        """The domain tariff with this id (version 0: storage numbers it)."""
        return Tariff.model_validate({**self.model_dump(exclude={"id"}), "id": tariff_id})


class TariffCreate(TariffTerms):
    """A new tariff (stored as version 1)."""

    id: ResourceId


class TariffView(ApiModel):
    """A version of a tariff: its terms, its number and when it took effect."""

    id: str
    version: int = Field(description="Counts from 1; the ETag of the tariff carries it")
    valid_from: datetime = Field(description="When this version took effect")
    name: str
    currency: str
    prices_include_tax: bool
    tax_rates: tuple[TaxRate, ...]
    session_fee: Amount
    prices: PriceComponents
    tou: tuple[TouPeriod, ...]
    idle_fee: IdleFee | None = None
    min_price: Amount | None = None
    max_price: Amount | None = None
    rounding: Rounding

    @classmethod
    def of(cls, stored: TariffVersion) -> TariffView:
        """From a stored version."""
        return cls.model_validate({**stored.tariff.model_dump(), "valid_from": stored.valid_from})


class TariffPage(ApiModel):
    """A page of tariffs (current versions), by id."""

    items: list[TariffView]
    next_cursor: str | None = None


class TariffVersionPage(ApiModel):
    """A page of a tariff's versions, oldest first."""

    items: list[TariffView]
    next_cursor: str | None = None


# -- assignments ------------------------------------------------------------------------------


class AssignmentCreate(_Body):
    """A tariff for a place and, optionally, for a driver group or one id token.

    The place is the whole tenant (nothing named), a site (`siteId`), a station (`stationId`)
    or one EVSE of it (`stationId` and `evseId`).
    """

    tariff_id: ResourceId
    site_id: ResourceId | None = None
    station_id: StationId | None = None
    evse_id: EvseId | None = None
    group_id: GroupId | None = Field(default=None, description="Only for this driver group")
    id_token: TokenValue | None = Field(default=None, description="Only for this id token")

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        if self.site_id is not None and self.station_id is not None:
            raise ValueError("name a site or a station, not both (a station's site is known)")
        return self

    def assignment(self) -> TariffAssignment:
        """The domain assignment (domain rules checked: a ValidationError is a 400)."""
        return TariffAssignment.model_validate(self.model_dump())


class AssignmentView(ApiModel):
    """A tariff assignment; its id derives from its place, drivers and when it took effect."""

    id: str
    tariff_id: str
    site_id: str | None = Field(
        default=None, description="The site; for station and EVSE assignments, the station's"
    )
    station_id: str | None = None
    evse_id: int | None = None
    group_id: str | None = None
    id_token: str | None = None
    level: str = Field(description="tenant, site, station or evse")
    audience: str = Field(description="anyone, group or token")
    created_at: datetime | None = None
    valid_from: datetime | None = Field(
        default=None,
        description="In force for sessions starting from then (absent: since always)",
    )
    valid_until: datetime | None = Field(
        default=None,
        description="Deleted: in force for sessions starting before then (absent: in force)",
    )

    @classmethod
    def of(cls, assignment: TariffAssignment) -> AssignmentView:
        """From the domain assignment."""
        return cls.model_validate(
            {
                **assignment.model_dump(),
                "level": assignment.where.name.lower(),
                "audience": assignment.who.name.lower(),
            }
        )


class AssignmentPage(ApiModel):
    """A page of tariff assignments, by id."""

    items: list[AssignmentView]
    next_cursor: str | None = None


class ResolvedView(ApiModel):
    """The assignment that applies now, and the version of its tariff in force."""

    assignment: AssignmentView
    tariff: TariffView

    @classmethod
    def of(cls, resolved: Resolved) -> ResolvedView:
        """From the service's answer."""
        return cls(
            assignment=AssignmentView.of(resolved.assignment),
            tariff=TariffView.of(resolved.tariff),
        )


# -- session price ----------------------------------------------------------------------------


class SessionPriceView(ApiModel):
    """A session's price: final once it ended, else as if it stopped now."""

    session_id: str
    state: str
    final: bool = Field(description="False while charging: the price so far")
    assignment_id: str = Field(description="The tariff assignment that applies")
    price: PricedSession = Field(
        description="Lines, taxes and totals in the tariff's currency; amounts are decimal strings"
    )

    @classmethod
    def of(cls, estimate: SessionPrice) -> SessionPriceView:
        """From the service's answer."""
        return cls(
            session_id=estimate.session.id,
            state=estimate.session.state.value,
            final=estimate.final,
            assignment_id=estimate.resolved.assignment.id,
            price=estimate.priced,
        )
