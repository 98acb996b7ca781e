"""How long one rebalance of the engine takes for sites of 10, 100 and 1,000 connectors.

The synthetic site: two-EVSE 22 kW three-phase stations, ten stations per feeder, each feeder
limited to 80 A per phase and the site to 40 % of what its stations could draw; 80 % of the
connectors busy with sessions of mixed departure, energy and EV power. Each size is rebalanced
`repeats` times, the sessions' delivered energy moving on between calls as in a real replay
(and the previous allocation handed back, so hysteresis has its usual work to do).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from csms.domain.load.allocation import Allocation
from csms.domain.load.config import EvseLoad, LoadGroup, PhaseLimits, SiteLoadConfig, StationLoad
from csms.domain.load.engine import allocate
from csms.domain.load.inputs import available_power
from csms.domain.load.needs import SessionDemand, connector_key
from csms.domain.load.tree import CompiledTree

SIZES = (10, 100, 1000)
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def synthetic_site(connectors: int) -> SiteLoadConfig:
    """A site of `connectors` EVSEs (two per station) under feeders with phase limits."""
    stations_n = math.ceil(connectors / 2)
    feeders = math.ceil(stations_n / 10)
    groups = tuple(
        LoadGroup(id=f"feeder-{f}", limit_a=PhaseLimits(l1=80, l2=80, l3=80))
        for f in range(feeders)
    )
    stations = []
    left = connectors
    for s in range(stations_n):
        evses = (EvseLoad(evse_id=1), EvseLoad(evse_id=2)) if left >= 2 else (EvseLoad(evse_id=1),)
        left -= len(evses)
        stations.append(
            StationLoad(
                station_id=f"CS-{s:04d}",
                group_id=f"feeder-{s // 10}",
                max_kw=22.08,
                evses=evses,
            )
        )
    return SiteLoadConfig(
        site_id=f"synthetic-{connectors}",
        limit_kw=round(0.4 * 22.08 * connectors, 1),
        groups=groups,
        stations=tuple(stations),
    )


def synthetic_demands(config: SiteLoadConfig, seed: int) -> list[SessionDemand]:
    """Sessions on 80 % of the connectors (fixed seed)."""
    rng = random.Random(seed)
    demands = []
    for station in config.stations:
        for evse in station.evses:
            if rng.random() > 0.8:
                continue
            arrival = NOW - timedelta(minutes=rng.randint(0, 240))
            demands.append(
                SessionDemand(
                    session_id=f"{station.station_id}-{evse.evse_id}",
                    connector=connector_key(station.station_id, evse.evse_id),
                    arrival=arrival,
                    departure=arrival + timedelta(hours=rng.uniform(2, 10)),
                    energy_kwh=rng.uniform(5, 60),
                    ev_max_kw=rng.choice((None, 7.4, 11.0, 22.0)),
                    priority=rng.choice((0, 0, 0, 1)),
                )
            )
    return demands


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def time_rebalance(connectors: int, repeats: int = 20, seed: int = 1) -> dict[str, float]:
    """Mean and p95 milliseconds of one engine rebalance of a synthetic site."""
    config = synthetic_site(connectors)
    demands = synthetic_demands(config, seed)
    step = timedelta(minutes=5)
    previous: Allocation | None = None
    spent: list[float] = []
    for n in range(repeats):
        now = NOW + step * n
        available = available_power(config, (), now)
        began = time.perf_counter()
        previous = allocate(config, demands, available, now, previous=previous)
        spent.append(time.perf_counter() - began)
        limits = {c.connector: c.kw for c in previous.connectors}
        demands = [
            replace(
                d,
                delivered_kwh=d.delivered_kwh + limits.get(d.connector, 0.0) * step.seconds / 3600,
                measured_kw=limits.get(d.connector, 0.0),
            )
            for d in demands
        ]
    return {
        "connectors": connectors,
        "sessions": len(demands),
        "rows": len(CompiledTree(config, config.limit_kw).rows),
        "repeats": repeats,
        "ms_mean": round(1000 * sum(spent) / len(spent), 3),
        "ms_p95": round(1000 * _percentile(spent, 0.95), 3),
    }


def timing(
    sizes: Sequence[int] = SIZES, repeats: int = 20, seed: int = 1
) -> list[dict[str, float]]:
    """The rebalance time of each size."""
    return [time_rebalance(size, repeats, seed) for size in sizes]
