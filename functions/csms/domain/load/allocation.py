"""The result of a rebalance: a limit per EVSE with its reason, and the load on every limit.

An allocation is what is in force at a site: the limits the stations were sent (or are being
sent). The engine applies hysteresis itself, so `changes(previous, current)` is simply every
EVSE whose limit differs: exactly the SetChargingProfile calls to make.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class Reason(StrEnum):
    """Why an EVSE got the limit it got (the row that bound it, when a limit did)."""

    IDLE = "no-session"
    EV_MAX = "ev-max"
    EVSE_MAX = "evse-max"
    NEED_MET = "need-met"
    LIMIT = "limit"
    PAUSED = "paused-below-minimum"
    # Needs less than half a step at the minimum current: waits for power nobody else can use.
    FINISHING = "finishing-from-spare-power"
    SHARE = "fair-share"
    HELD = "held-by-hysteresis"
    UNMANAGED = "ignores-profiles"


class ConnectorLimit(_Model):
    """One EVSE's limit. `amps` per phase for AC stations (what the profile says), else None."""

    connector: str
    station_id: str
    evse_id: int
    session_id: str | None = None
    kw: float
    amps: float | None = None
    phases: int = 3
    reason: Reason
    # The limit that bound it (`site`, `group:feeder-a:L2`, `station:CS-1`), when one did.
    bound_by: str | None = None
    detail: str | None = None
    # Since when the EVSE has had this limit.
    since: AwareDatetime | None = None
    # The session's tier in the engine: 0 protected (floor share), 1 urgent, 2 the rest,
    # 3 finishing (served last).
    tier: int | None = None


class RowLoad(_Model):
    """How much of one limit the allocation uses."""

    label: str
    unit: Annotated[str, Field(pattern="^(kW|A)$")]
    limit: float
    allocated: float


class ProfileDelivery(_Model):
    """How one EVSE's limit is getting to its station; kept with the allocation by the rebalance.

    The engine never reads or sets these: csms.services.rebalance follows the command it sent
    (retry with backoff after a rejection, a CALLERROR or no answer) and, after repeated
    failures, treats the EVSE as drawing its maximum until `unmanaged_until`.
    """

    connector: str
    session_id: str | None = None
    # The last SetChargingProfile sent for the EVSE, and whether the station accepted it.
    command_id: str | None = None
    accepted: bool = False
    # Failed attempts in a row; back to 0 once the station accepts a profile.
    failures: int = 0
    # After a failure: not resent before this.
    retry_at: AwareDatetime | None = None
    # After too many failures: the EVSE counts at its maximum until then, then is tried again.
    unmanaged_until: AwareDatetime | None = None
    # The most the session's EV was seen to draw under a higher limit (kW).
    observed_ev_max_kw: float | None = None
    # A TxDefaultProfile of ours is on the connector (1.6, sent before a transaction id was
    # known). Unlike a TxProfile it outlives the session, so it is cleared once the EVSE has
    # no session left.
    tx_default: bool = False


class Allocation(_Model):
    """What a site's chargers may draw, per EVSE, as of `at`."""

    site_id: str
    at: AwareDatetime
    config_version: int = 0
    # When the engine last computed the limits (it keeps them while nothing material changes).
    computed_at: AwareDatetime | None = None
    available_kw: float
    constraint: str
    building_kw: float | None = None
    pv_kw: float = 0.0
    battery_kw: float = 0.0
    connectors: tuple[ConnectorLimit, ...] = ()
    rows: tuple[RowLoad, ...] = ()
    notes: tuple[str, ...] = ()
    # Set by the rebalance, not the engine: the delivery of each EVSE's profile.
    deliveries: tuple[ProfileDelivery, ...] = ()

    def limit_of(self, connector: str) -> ConnectorLimit | None:
        """One EVSE's limit, if it is in this allocation."""
        return next((c for c in self.connectors if c.connector == connector), None)

    @property
    def allocated_kw(self) -> float:
        """The total of every EVSE's limit."""
        return sum(c.kw for c in self.connectors)


def changes(previous: Allocation | None, current: Allocation) -> tuple[ConnectorLimit, ...]:
    """The EVSEs whose limit (or session) differs from what is in force: the profiles to send."""
    before = {c.connector: c for c in previous.connectors} if previous else {}
    changed: list[ConnectorLimit] = []
    for limit in current.connectors:
        if limit.session_id is None:
            continue  # nothing charging: a TxProfile ends with its transaction
        old = before.get(limit.connector)
        if old is None or old.session_id != limit.session_id or _differs(old, limit):
            changed.append(limit)
    return tuple(changed)


def _differs(old: ConnectorLimit, new: ConnectorLimit) -> bool:
    if new.amps is not None and old.amps is not None:
        return abs(new.amps - old.amps) > 1e-6
    return abs(new.kw - old.kw) > 1e-6


def total(limits: Sequence[ConnectorLimit]) -> float:
    """The sum of some limits in kW."""
    return sum(limit.kw for limit in limits)
