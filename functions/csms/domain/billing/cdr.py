"""Charge detail records: what a session used and cost, sealed once billed.

A CDR is written once per billed revision of a session and never edited: a late correction
writes a credit CDR that cancels the previous one (same figures, costs negated) and a new CDR
with the corrected figures, as OCPI 2.2.1 does (CDR module, "Credit CDRs").

Ids derive from what the CDR is for, never from chance, so a replayed billing finds the CDR it
wrote before: `cdr_id(tenant, session, revision)` is `cdr-` and 32 hex digits (36 characters,
OCPI's limit for a normal CDR id); the credit CDR of a CDR is its id plus `-CR` (39, OCPI's
limit for a credit CDR id, which it lengthened for exactly this).

Mapping onto the OCPI 2.2.1 CDR object (fields not listed are not kept):

| OCPI                         | here                                                          |
|------------------------------|---------------------------------------------------------------|
| id                           | `id`                                                          |
| start_date_time/end_date_time| `start_date_time`/`end_date_time` (the session's start/stop)  |
| session_id                   | `session_id`                                                  |
| cdr_token.uid/type/contract_id | `cdr_token` (the id token; type from the OCPP token type;   |
|                              | contract id: the billing account, else the token)             |
| auth_method                  | `auth_method` (COMMAND: remote start; AUTH_REQUEST: the CSMS  |
|                              | authorised the token; WHITELIST: the station did)             |
| cdr_location.id/evse_uid/evse_id/connector_id | `location` (site, `station*evse`, connector) |
| currency                     | `currency`                                                    |
| tariffs[].id (+ version)     | `tariff_id`, `tariff_version` (the version in force at start) |
| charging_periods             | `charging_periods`: one per time-of-use period used, from its |
|                              | price lines (ENERGY kWh, TIME h), and one PARKING_TIME period |
|                              | for a billed idle fee; a session without lines gets one period|
|                              | with what it measured                                         |
| total_cost (excl/incl VAT)   | `total_cost`                                                  |
| total_fixed_cost             | `total_fixed_cost` (the session fee)                          |
| total_energy/_cost           | `total_energy` (kWh measured), `total_energy_cost`            |
| total_time/_cost             | `total_time` (h, the whole session), `total_time_cost`        |
|                              | (charging-time and plugged-in-time lines)                     |
| total_parking_time/_cost     | `total_parking_time` (h idle), `total_parking_cost` (idle fee)|
| credit, credit_reference_id  | `credit`, `credit_reference_id`                               |
| last_updated                 | `last_updated`                                                |

Kept beyond OCPI, for cost allocation (reports): `group_id`, the driver group of the session's
token at its start (None on CDRs written before it was kept, and for a token of no group).

Component costs: the lines of each component (energy, time, parking, fixed) in the tariff's
basis; a MINIMUM_PRICE or MAXIMUM_PRICE line, which OCPI has no component for, is shared out
over the components in proportion to their amounts (to the fixed cost when they are all zero).
Each total (excl. and incl. VAT) is split that way to the minor unit by largest remainder, so
the four components always add up to `total_cost`, none is ever negative on a normal CDR.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from csms.domain.billing.money import minor_units
from csms.domain.billing.pricing import Component, PricedSession, PriceLine, Unit
from csms.domain.billing.tariff import Tariff
from csms.domain.billing.usage import SessionUsage
from csms.domain.tokens import IdTokenType

_ZERO = Decimal(0)
_HOURS = Decimal("0.000001")
CREDIT_SUFFIX = "-CR"


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class CdrTokenType(StrEnum):
    """OCPI TokenType."""

    AD_HOC_USER = "AD_HOC_USER"
    APP_USER = "APP_USER"
    OTHER = "OTHER"
    RFID = "RFID"


class AuthMethod(StrEnum):
    """OCPI AuthMethod: how the session was authorised."""

    AUTH_REQUEST = "AUTH_REQUEST"
    COMMAND = "COMMAND"
    WHITELIST = "WHITELIST"


class DimensionType(StrEnum):
    """The OCPI CdrDimensionType values a CDR here carries."""

    ENERGY = "ENERGY"
    TIME = "TIME"
    PARKING_TIME = "PARKING_TIME"


_TOKEN_TYPES = {
    IdTokenType.ISO14443: CdrTokenType.RFID,
    IdTokenType.ISO15693: CdrTokenType.RFID,
    IdTokenType.EMAID: CdrTokenType.RFID,
    IdTokenType.CENTRAL: CdrTokenType.APP_USER,
    IdTokenType.NO_AUTHORIZATION: CdrTokenType.AD_HOC_USER,
}


def token_type(ocpp: IdTokenType | None) -> CdrTokenType:
    """The OCPI token type of an OCPP token type (a 1.6 idTag has none: OTHER)."""
    return _TOKEN_TYPES.get(ocpp, CdrTokenType.OTHER) if ocpp is not None else CdrTokenType.OTHER


def auth_method(*, remote_start: bool, authorized_by_csms: bool) -> AuthMethod:
    """How a session was authorised, as OCPI names it."""
    if remote_start:
        return AuthMethod.COMMAND
    return AuthMethod.AUTH_REQUEST if authorized_by_csms else AuthMethod.WHITELIST


class CdrToken(_Model):
    """Who charged (OCPI CdrToken)."""

    uid: str
    type: CdrTokenType
    contract_id: str


class CdrLocation(_Model):
    """Where (OCPI CdrLocation, by reference: the site, the EVSE and its connector)."""

    id: str | None
    evse_uid: str
    evse_id: str
    connector_id: str


class CdrPrice(_Model):
    """An amount without and with VAT (OCPI Price)."""

    excl_vat: Decimal
    incl_vat: Decimal

    def negated(self) -> CdrPrice:
        """The same amount taken off (a credit CDR)."""
        return CdrPrice(excl_vat=-self.excl_vat, incl_vat=-self.incl_vat)


class CdrDimension(_Model):
    """A volume of one dimension in a charging period (kWh, hours)."""

    type: DimensionType
    volume: Decimal


class ChargingPeriod(_Model):
    """From `start_date_time` on, these prices applied (OCPI ChargingPeriod)."""

    start_date_time: datetime
    dimensions: tuple[CdrDimension, ...]
    # The time-of-use period whose prices applied (None: the tariff's own prices).
    tou_period: str | None = None


class SessionFacts(_Model):
    """What the CDR states about the session besides its usage and price."""

    tenant_id: str
    session_id: str
    revision: Annotated[int, Field(ge=1)]
    station_id: str
    site_id: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    token_type: IdTokenType | None = None
    group_id: str | None = None
    auth_method: AuthMethod = AuthMethod.WHITELIST
    # The billing account the session is charged to (the CDR's contract id), when known.
    account_id: str | None = None


class Cdr(_Model):
    """A charge detail record (see the module docstring for the OCPI mapping)."""

    id: str
    tenant_id: str
    session_id: str
    # The session revision this CDR bills (1: its end; higher: a correction).
    revision: int
    start_date_time: datetime
    end_date_time: datetime
    cdr_token: CdrToken
    auth_method: AuthMethod
    location: CdrLocation
    currency: str
    tariff_id: str
    tariff_version: int
    charging_periods: tuple[ChargingPeriod, ...]
    total_cost: CdrPrice
    total_fixed_cost: CdrPrice
    total_energy: Decimal
    total_energy_cost: CdrPrice
    total_time: Decimal
    total_time_cost: CdrPrice
    total_parking_time: Decimal
    total_parking_cost: CdrPrice
    credit: bool = False
    credit_reference_id: str | None = None
    last_updated: datetime
    group_id: str | None = None


def cdr_id(tenant_id: str, session_id: str, revision: int) -> str:
    """The id of a session revision's CDR: the same on every replay."""
    digest = hashlib.sha256(f"{tenant_id}|{session_id}|{revision}".encode()).hexdigest()
    return "cdr-" + digest[:32]


def build_cdr(
    facts: SessionFacts, tariff: Tariff, usage: SessionUsage, priced: PricedSession, now: datetime
) -> Cdr:
    """The CDR of a priced session revision."""
    lines = priced.lines
    energy, time, parking, fixed = _component_costs(priced)
    token = facts.id_token or "unknown"
    evse_uid = f"{facts.station_id}*{facts.evse_id}" if facts.evse_id else facts.station_id
    return Cdr(
        id=cdr_id(facts.tenant_id, facts.session_id, facts.revision),
        tenant_id=facts.tenant_id,
        session_id=facts.session_id,
        revision=facts.revision,
        start_date_time=usage.start,
        end_date_time=usage.stop,
        cdr_token=CdrToken(
            uid=token,
            type=token_type(facts.token_type),
            contract_id=facts.account_id or token,
        ),
        auth_method=facts.auth_method,
        location=CdrLocation(
            id=facts.site_id,
            evse_uid=evse_uid,
            evse_id=evse_uid,
            connector_id=str(facts.connector_id or 1),
        ),
        currency=priced.currency,
        tariff_id=priced.tariff_id,
        tariff_version=priced.tariff_version,
        charging_periods=_periods(tariff, usage, priced, lines),
        total_cost=CdrPrice(excl_vat=priced.total_excl_tax, incl_vat=priced.total_incl_tax),
        total_fixed_cost=fixed,
        total_energy=priced.energy_kwh,
        total_energy_cost=energy,
        total_time=_hours(priced.plugged_minutes),
        total_time_cost=time,
        total_parking_time=_hours(priced.idle_minutes),
        total_parking_cost=parking,
        last_updated=now.astimezone(UTC),
        group_id=facts.group_id,
    )


def credit_cdr(original: Cdr, revision: int, now: datetime) -> Cdr:
    """The credit CDR that cancels `original` (same usage, every cost negated).

    `revision` is the session revision that made the credit necessary.
    """
    return original.model_copy(
        update={
            "id": original.id + CREDIT_SUFFIX,
            "revision": revision,
            "total_cost": original.total_cost.negated(),
            "total_fixed_cost": original.total_fixed_cost.negated(),
            "total_energy_cost": original.total_energy_cost.negated(),
            "total_time_cost": original.total_time_cost.negated(),
            "total_parking_cost": original.total_parking_cost.negated(),
            "credit": True,
            "credit_reference_id": original.id,
            "last_updated": now.astimezone(UTC),
        }
    )


# --- costs per component ----------------------------------------------------------------------

_ENERGY = {Component.ENERGY}
_TIME = {Component.CHARGING_TIME, Component.PLUGGED_TIME}
_PARKING = {Component.IDLE}
_FIXED = {Component.SESSION_FEE}


def _component_costs(priced: PricedSession) -> list[CdrPrice]:
    """Energy, time, parking and fixed cost: each total split by the components' amounts."""
    weights = [
        sum((line.amount for line in priced.lines if line.component in group), _ZERO)
        for group in (_ENERGY, _TIME, _PARKING, _FIXED)
    ]
    excl = allocate(priced.total_excl_tax, weights, priced.currency)
    incl = allocate(priced.total_incl_tax, weights, priced.currency)
    return [CdrPrice(excl_vat=e, incl_vat=i) for e, i in zip(excl, incl, strict=True)]


def allocate(total: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    """`total` split in proportion to `weights`, in minor units, adding up to `total` exactly.

    Largest remainder: every share is first rounded towards zero, then the minor units left
    go one each to the shares that lost the most (the earlier one on a tie). With weights that
    are all zero, the last share takes the whole total.
    """
    unit = Decimal(1).scaleb(-minor_units(currency))
    whole = sum(weights, _ZERO)
    if not whole:
        return [*([_ZERO.quantize(unit)] * (len(weights) - 1)), total.quantize(unit)]
    exact = [total * w / whole for w in weights]
    shares = [e.quantize(unit, rounding=ROUND_DOWN) for e in exact]
    left = int(((total - sum(shares, _ZERO)) / unit).to_integral_value(ROUND_HALF_UP))
    step = unit if left >= 0 else -unit
    order = sorted(range(len(weights)), key=lambda i: (-abs(exact[i] - shares[i]), i))
    for i in order[: abs(left)]:
        shares[i] += step
    return shares


# --- charging periods ---------------------------------------------------------------------------


def _periods(
    tariff: Tariff, usage: SessionUsage, priced: PricedSession, lines: tuple[PriceLine, ...]
) -> tuple[ChargingPeriod, ...]:
    starts = _period_starts(tariff, usage)
    periods: list[ChargingPeriod] = []
    for name in dict.fromkeys(line.period for line in lines if line.component in _ENERGY | _TIME):
        dimensions = _dimensions([line for line in lines if line.period == name])
        periods.append(
            ChargingPeriod(
                start_date_time=starts.get(name, usage.start),
                dimensions=dimensions,
                tou_period=name,
            )
        )
    periods.sort(key=lambda p: p.start_date_time)
    idle = next((line for line in lines if line.component is Component.IDLE), None)
    if idle is not None and usage.idle is not None:
        grace = timedelta(minutes=tariff.idle_fee.grace_minutes if tariff.idle_fee else 0)
        periods.append(
            ChargingPeriod(
                start_date_time=min(usage.idle.start + grace, usage.idle.end),
                dimensions=(CdrDimension(type=DimensionType.PARKING_TIME, volume=_in_hours(idle)),),
            )
        )
    if not periods:
        # Nothing priced by usage (a free or flat tariff): state what was measured.
        periods.append(
            ChargingPeriod(
                start_date_time=usage.start,
                dimensions=(
                    CdrDimension(type=DimensionType.ENERGY, volume=priced.energy_kwh),
                    CdrDimension(type=DimensionType.TIME, volume=_hours(priced.charging_minutes)),
                ),
            )
        )
    return tuple(periods)


def _dimensions(lines: list[PriceLine]) -> tuple[CdrDimension, ...]:
    dimensions = [
        CdrDimension(type=DimensionType.ENERGY, volume=line.quantity)
        for line in lines
        if line.component is Component.ENERGY
    ]
    # Charging time and plugged-in time of one period are one TIME dimension: the longer.
    times = [_in_hours(line) for line in lines if line.component in _TIME]
    if times:
        dimensions.append(CdrDimension(type=DimensionType.TIME, volume=max(times)))
    return tuple(dimensions)


def _period_starts(tariff: Tariff, usage: SessionUsage) -> dict[str | None, datetime]:
    """When each set of prices first applied in the session (as pricing cuts the session)."""
    zone = usage.zone
    moments = [usage.start]
    for wall in tariff.changes_between(usage.start.astimezone(zone), usage.stop.astimezone(zone)):
        # fold=0 in a DST gap, as pricing localises it.
        moment = wall.replace(tzinfo=zone).astimezone(UTC)
        if usage.start < moment < usage.stop:
            moments.append(moment)
    starts: dict[str | None, datetime] = {}
    for moment in sorted(moments):
        period = tariff.period_at(moment.astimezone(zone))
        starts.setdefault(period.name if period is not None else None, moment)
    return starts


def _in_hours(line: PriceLine) -> Decimal:
    if line.unit is Unit.HOUR:
        return line.quantity
    return _hours(line.quantity)


def _hours(minutes: Decimal) -> Decimal:
    hours = (minutes / 60).quantize(_HOURS, ROUND_HALF_UP)
    whole = hours.to_integral_value()
    return whole if whole == hours else hours.normalize()
