"""Generated scenarios with fixed seeds: a workplace car park and an overnight van depot.

`python -m csms_bench.generate {workplace,depot} OUT.json [--seed N]`

Same seed, same file. The declared departure and energy are drawn too (drivers misstate both),
so the `declared` information mode has something to chew on.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from csms.domain.load.config import (
    LoadGroup,
    PhaseLimits,
    SiteLoadConfig,
    StationLoad,
    TimeOfDayLimit,
    Weekday,
)
from csms_bench.scenario import Scenario, ScenarioSession, dump_scenario

TIMEZONE = "Europe/Berlin"
DEFAULT_SEED = 20260301
# A Monday: both scenarios start on one.
FIRST_DAY = date(2026, 3, 2)


def _local(day: date, hours: float) -> datetime:
    return datetime.combine(day, time(), tzinfo=ZoneInfo(TIMEZONE)) + timedelta(
        minutes=round(hours * 60)
    )


def _declared(
    rng: random.Random, departure: datetime, arrival: datetime, energy: float
) -> tuple[datetime, float]:
    told = departure + timedelta(minutes=round(rng.gauss(0, 60)))
    told = max(told, arrival + timedelta(minutes=30))
    return told, round(energy * rng.lognormvariate(0, 0.3), 3)


def workplace(seed: int = DEFAULT_SEED, weeks: int = 4) -> Scenario:
    """30 x 11 kW three-phase stations under two feeders limited per phase; weekday commuters."""
    rng = random.Random(seed)
    groups = (
        LoadGroup(id="feeder-a", name="Feeder A", limit_a=PhaseLimits(l1=63, l2=63, l3=63)),
        LoadGroup(id="feeder-b", name="Feeder B", limit_a=PhaseLimits(l1=50, l2=50, l3=50)),
    )
    stations = tuple(
        StationLoad(
            station_id=f"WP-{n:02d}",
            group_id="feeder-a" if n <= 15 else "feeder-b",
            max_kw=11.04,
            phases=3,
        )
        for n in range(1, 31)
    )
    site = SiteLoadConfig(
        site_id="workplace",
        timezone=TIMEZONE,
        limit_kw=50,
        groups=groups,
        stations=stations,
    )
    sessions: list[ScenarioSession] = []
    for offset in range(weeks * 7):
        day = FIRST_DAY + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        for station in stations:
            if rng.random() > 0.8:
                continue
            arrival = _local(day, rng.uniform(7, 10))
            departure = arrival + timedelta(minutes=round(rng.uniform(6, 9) * 60))
            # A commute of 10-80 km a day at 0.18 kWh/km, often topped up for a few days.
            km = rng.uniform(10, 80) * rng.choice((1, 1, 1, 2, 3))
            energy = round(min(km * 0.18, 60.0), 3)
            ev_max = rng.choice((11.0, 11.0, 7.4, 3.7))
            # 16 A per phase: 3.7 kW cars are single-phase, 7.4 kW ones two-phase.
            ev_phases = {3.7: 1, 7.4: 2}.get(ev_max, 3)
            told_departure, told_energy = _declared(rng, departure, arrival, energy)
            sessions.append(
                ScenarioSession(
                    id=f"{day.isoformat()}-{station.station_id}",
                    station_id=station.station_id,
                    arrival=arrival,
                    departure=departure,
                    energy_kwh=energy,
                    ev_max_kw=ev_max,
                    ev_phases=ev_phases,
                    declared_departure=told_departure,
                    declared_energy_kwh=told_energy,
                )
            )
    return Scenario(
        name=f"workplace-seed{seed}",
        description=(
            "Workplace car park: 30 x 11 kW three-phase stations on two feeders (63 A and 50 A "
            "per phase), 50 kW grid limit; weekday arrivals 7-10 h, stays 6-9 h, "
            f"{weeks} weeks."
        ),
        timezone=TIMEZONE,
        site=site,
        sessions=tuple(sessions),
    )


def depot(seed: int = DEFAULT_SEED, nights: int = 14) -> Scenario:
    """40 vans on 22 kW stations overnight; a tight grid limit, lower in the evening peak."""
    rng = random.Random(seed)
    groups = (
        LoadGroup(id="row-1", limit_kw=75),
        LoadGroup(id="row-2", limit_kw=75),
    )
    stations = tuple(
        StationLoad(
            station_id=f"VAN-{n:02d}",
            group_id="row-1" if n <= 20 else "row-2",
            max_kw=22.08,
            phases=3,
        )
        for n in range(1, 41)
    )
    # The grid operator's evening peak: 70 kW instead of 110 from 17:00 to 21:00.
    evening = TimeOfDayLimit(start=time(17), end=time(21), limit_kw=70, days=tuple(Weekday))
    site = SiteLoadConfig(
        site_id="depot",
        timezone=TIMEZONE,
        limit_kw=110,
        groups=groups,
        stations=stations,
        time_of_day=(evening,),
    )
    batteries = [rng.uniform(60, 90) for _ in stations]
    onboard = [rng.choice((11.0, 22.0, 22.0)) for _ in stations]
    sessions: list[ScenarioSession] = []
    for night in range(nights):
        day = FIRST_DAY + timedelta(days=night)
        for n, station in enumerate(stations):
            if rng.random() > 0.95:
                continue
            arrival = _local(day, rng.uniform(17, 20))
            departure = _local(day + timedelta(days=1), rng.uniform(5, 7))
            km = min(max(rng.gammavariate(6, 20), 20), 300)
            energy = round(min(km * 0.25, 0.9 * batteries[n]), 3)
            told_departure, told_energy = _declared(rng, departure, arrival, energy)
            sessions.append(
                ScenarioSession(
                    id=f"{day.isoformat()}-{station.station_id}",
                    station_id=station.station_id,
                    arrival=arrival,
                    departure=departure,
                    energy_kwh=energy,
                    ev_max_kw=onboard[n],
                    declared_departure=told_departure,
                    declared_energy_kwh=told_energy,
                    priority=1 if n < 5 else 0,
                )
            )
    return Scenario(
        name=f"depot-seed{seed}",
        description=(
            "Overnight depot: 40 vans (60-90 kWh, 11 or 22 kW on board) on 22 kW stations in two "
            "rows of 75 kW; 110 kW grid limit, 70 kW from 17:00 to 21:00; arrivals 17-20 h, "
            f"departures 5-7 h, daily km from a gamma distribution; {nights} nights."
        ),
        timezone=TIMEZONE,
        site=site,
        sessions=tuple(sessions),
    )


GENERATORS: dict[str, Callable[[int], Scenario]] = {"workplace": workplace, "depot": depot}


def main(argv: Sequence[str] | None = None) -> int:
    """Write a generated scenario."""
    parser = argparse.ArgumentParser(prog="python -m csms_bench.generate", description=__doc__)
    parser.add_argument("kind", choices=sorted(GENERATORS))
    parser.add_argument("target", type=Path)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    scenario = GENERATORS[args.kind](args.seed)
    args.target.parent.mkdir(parents=True, exist_ok=True)
    args.target.write_text(dump_scenario(scenario), encoding="utf-8")
    print(f"{args.target}: {len(scenario.sessions)} sessions", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
