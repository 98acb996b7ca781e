"""What a charging session needs, as far as the CSMS knows it, and how sure it is.

Departure and energy come from the vehicle (2.0.1 NotifyEVChargingNeeds), from the driver or
a fleet system through the API, from the vehicle record's usual departure, or nobody: the
engine then assumes a typical stay. Declared values are hints, not truths: drivers misstate
them by hours and kWh, so the engine treats them as such (docs/adr/0010-load-management.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class NeedsSource(StrEnum):
    """Where a session's departure and energy came from (the most trusted first)."""

    VEHICLE = "vehicle"
    API = "api"
    USUAL_DEPARTURE = "usual-departure"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SessionDemand:
    """One session on one EVSE, as the engine sees it at a rebalance.

    `connector` is the allocation key `{stationId}/{evseId}`. Energies in kWh, powers in kW,
    times tz-aware UTC. `measured_kw` is what the EV drew lately (None: no reading yet);
    `ev_max_kw` the most the EV has been seen or declared to take.
    """

    session_id: str
    connector: str
    arrival: datetime
    delivered_kwh: float = 0.0
    departure: datetime | None = None
    energy_kwh: float | None = None
    ev_max_kw: float | None = None
    # The phases the EV draws on (seen in per-phase meter values), when fewer than its station's.
    ev_phases: int | None = None
    measured_kw: float | None = None
    priority: int = 0
    source: NeedsSource = NeedsSource.UNKNOWN
    # Set by a session that stopped drawing: the EV is full, or paused itself.
    suspended_ev: bool = False
    # The station did not apply the profiles it was sent: it may draw up to its maximum.
    ignores_profiles: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def remaining_kwh(self) -> float | None:
        """Energy still wanted, when declared."""
        if self.energy_kwh is None:
            return None
        return max(self.energy_kwh - self.delivered_kwh, 0.0)


def connector_key(station_id: str, evse_id: int) -> str:
    """The key of an EVSE in allocations: `{stationId}/{evseId}`."""
    return f"{station_id}/{evse_id}"


# Declared needs are kept this long past their departure (or past their declaration when
# they name none), long after any session using them ended.
NEEDS_KEPT = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class DeclaredNeeds:
    """Departure and energy a driver or fleet system declared for a session (through the API).

    Kept next to the site's load state until the session ends (or `expires_at`). Values left
    out are unknown; `priority` overrides the group's or vehicle's for this session.
    """

    session_id: str
    station_id: str
    evse_id: int
    at: datetime
    departure: datetime | None = None
    energy_kwh: float | None = None
    priority: int | None = None
    source: NeedsSource = NeedsSource.API
