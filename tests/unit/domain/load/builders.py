"""Builders shared by the load-management domain tests: a site, its stations and sessions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import settings
from tests.fakes import T0

from csms.domain.load.config import SiteLoadConfig, StationLoad
from csms.domain.load.inputs import Available, Constraint
from csms.domain.load.needs import SessionDemand

FAST = settings(database=None, deadline=None, derandomize=True, max_examples=200)
SITE = "site-1"
# One AC phase at the default minimum current: 6 A x 230 V.
MIN_1P_KW = 6 * 230 / 1000
MIN_3P_KW = 3 * MIN_1P_KW


def a_station(station_id: str = "CS-1", **over: Any) -> StationLoad:
    """A 22 kW three-phase AC station with one EVSE, directly below the site."""
    return StationLoad.model_validate({"station_id": station_id, "max_kw": 22.0, **over})


def a_config(**over: Any) -> SiteLoadConfig:
    """A 100 kW site with one default station unless told otherwise."""
    fields: dict[str, Any] = {"site_id": SITE, "limit_kw": 100.0, "stations": (a_station(),)}
    fields.update(over)
    return SiteLoadConfig.model_validate(fields)


def available(kw: float, constraint: Constraint = Constraint.SITE_LIMIT) -> Available:
    """What the site may give its chargers (the margin already taken off)."""
    return Available(kw=kw, constraint=constraint)


def a_demand(connector: str = "CS-1/1", **over: Any) -> SessionDemand:
    """A session that arrived an hour before T0, with nothing declared."""
    fields: dict[str, Any] = {
        "session_id": f"tx-{connector}",
        "connector": connector,
        "arrival": T0 - timedelta(hours=1),
    }
    fields.update(over)
    return SessionDemand(**fields)


def at(hours: float) -> datetime:
    """T0 plus some hours."""
    return T0 + timedelta(hours=hours)
