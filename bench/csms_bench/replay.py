"""Replay a scenario through an algorithm in fixed steps, and measure what it delivered.

Time is cut into steps of N minutes from the first arrival (floored to a step). A session is
present in every step that begins at or after its arrival and ends by its departure (arrival
rounded up, departure down, to steps): the offline optimum uses the same grid. At each step
the algorithm gets what a CSMS would know, then each EV draws
min(its limit, its real max power, what it still needs / step); energy it did not get by its
departure is unmet. Every row of the site's tree (site, groups, phases, stations) is checked
against the real draws.
"""

from __future__ import annotations

import bisect
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from csms.domain.load.allocation import ConnectorLimit, changes
from csms.domain.load.config import CurrentType, SiteLoadConfig
from csms.domain.load.inputs import Available, Reading, ReadingKind, available_power
from csms.domain.load.needs import SessionDemand, connector_key
from csms.domain.load.tree import CompiledTree, Slot
from csms_bench.baselines import Algorithm
from csms_bench.scenario import Scenario, ScenarioSession

# A row used beyond its limit by more than this is a violation (float noise is not).
VIOLATION_TOLERANCE = 1e-6
# A session that got this share of its need was fully served.
FULLY_SERVED = 0.99
WORST_OFF_SHARE = 0.05
NOISE_DEPARTURE_SD_H = 2.0
NOISE_ENERGY_SIGMA = 0.4


class Information(StrEnum):
    """What the algorithms are told of each session's departure and energy."""

    # The truth, as if every driver knew and said it.
    EXACT = "exact"
    # Nothing: no departure, no energy.
    WITHHELD = "withheld"
    # The truth with noise: departure + N(0, 2 h) (never before arrival),
    # energy x lognormal(0, 0.4).
    NOISY = "noisy"
    # The scenario's own declaredDeparture / declaredEnergyKwh (unknown where left out).
    DECLARED = "declared"


@dataclass(frozen=True, slots=True)
class Grid:
    """The step grid of a scenario."""

    start: datetime
    step: timedelta
    count: int

    @classmethod
    def of(cls, scenario: Scenario, step: timedelta) -> Grid:
        """Steps from the first arrival (floored to a step) to the last departure."""
        seconds = step.total_seconds()
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        first = scenario.start.astimezone(UTC)
        start = epoch + step * math.floor((first - epoch).total_seconds() / seconds)
        count = math.ceil((scenario.end - start).total_seconds() / seconds)
        return cls(start, step, count)

    @property
    def hours(self) -> float:
        """One step in hours."""
        return self.step.total_seconds() / 3600

    def at(self, k: int) -> datetime:
        """The beginning of step k."""
        return self.start + self.step * k

    def present(self, session: ScenarioSession) -> range:
        """The steps a session is plugged in for the whole of."""
        seconds = self.step.total_seconds()
        first = math.ceil((session.arrival - self.start).total_seconds() / seconds - 1e-9)
        last = math.floor((session.departure - self.start).total_seconds() / seconds + 1e-9)
        return range(max(first, 0), max(last, first, 0))


@dataclass(frozen=True, slots=True)
class Declared:
    """What the algorithms are told of one session."""

    departure: datetime | None
    energy_kwh: float | None


def declared(
    sessions: Sequence[ScenarioSession], information: Information, seed: int
) -> list[Declared]:
    """The declared values of each session under an information mode (noise: fixed seed)."""
    if information is Information.EXACT:
        return [Declared(s.departure, s.energy_kwh) for s in sessions]
    if information is Information.WITHHELD:
        return [Declared(None, None) for _ in sessions]
    if information is Information.DECLARED:
        return [Declared(s.declared_departure, s.declared_energy_kwh) for s in sessions]
    rng = random.Random(seed)
    told = []
    for s in sessions:
        shift = timedelta(hours=rng.gauss(0, NOISE_DEPARTURE_SD_H))
        departure = max(s.departure + shift, s.arrival + timedelta(minutes=1))
        told.append(Declared(departure, s.energy_kwh * rng.lognormvariate(0, NOISE_ENERGY_SIGMA)))
    return told


@dataclass(slots=True)
class Outcome:
    """What one algorithm did with one scenario."""

    algorithm: str
    requested_kwh: list[float]
    delivered_kwh: list[float]
    peak_site_kw: float = 0.0
    violations: int = 0
    profile_messages: int | None = 0
    rebalance_s: list[float] = field(default_factory=list)
    compute_s: float = 0.0


class ViolationCheck:
    """Counts the rows (site, group, phase, station) that real draws push over their limit."""

    def __init__(self, config: SiteLoadConfig) -> None:
        self.config = config
        self._trees: dict[float, CompiledTree] = {}

    def tree(self, site_kw: float) -> CompiledTree:
        """The compiled tree for a site limit (the limit changes with time of day and meter)."""
        tree = self._trees.get(site_kw)
        if tree is None:
            tree = self._trees[site_kw] = CompiledTree(self.config, site_kw)
        return tree

    def count(
        self, site_kw: float, draws: dict[str, float], phases: dict[str, int] | None = None
    ) -> int:
        """How many rows the draws (kW by connector key, on `phases` phases) exceed."""
        tree = self.tree(site_kw)
        alloc = [0.0] * len(tree.slots)
        for i, slot in enumerate(tree.slots):
            tree.use_phases(i, (phases or {}).get(slot.key, slot.phases))
        for key, kw in draws.items():
            alloc[tree.by_key[key]] = kw
        used = tree.usage(alloc)
        return sum(
            1
            for row, load in zip(tree.rows, used, strict=True)
            if load > row.limit + VIOLATION_TOLERANCE
        )


class SiteInputs:
    """The site's available power at each step, from its limits and building load series."""

    def __init__(self, scenario: Scenario) -> None:
        self.config = scenario.site
        series = sorted(scenario.building_load_kw, key=lambda p: p.at)
        self._times = [p.at for p in series]
        self._readings = [Reading(kind=ReadingKind.METER, at=p.at, kw=p.kw) for p in series]

    def available(self, now: datetime) -> Available:
        """What the chargers may draw now: the latest meter reading stands for the building."""
        k = bisect.bisect_right(self._times, now)
        readings = (self._readings[k - 1],) if k else ()
        return available_power(self.config, readings, now)


def _phases(sessions: Sequence[ScenarioSession], slots: Sequence[Slot]) -> list[int]:
    return [
        min(s.ev_phases, slot.phases) if slot.current_type is CurrentType.AC else slot.phases
        for s, slot in zip(sessions, slots, strict=True)
    ]


def _offered_kw(limit: ConnectorLimit | None, slot: Slot, ev_phases: int) -> float:
    """What a limit lets an EV on `ev_phases` phases draw: amperes per phase on its phases."""
    if limit is None:
        return 0.0
    if limit.amps is None or slot.current_type is not CurrentType.AC:
        return max(limit.kw, 0.0)
    return max(limit.amps, 0.0) * slot.voltage * ev_phases / 1000


def ordered(scenario: Scenario) -> list[ScenarioSession]:
    """Sessions by arrival, then id: the order noise is drawn and results are listed in."""
    return sorted(scenario.sessions, key=lambda s: (s.arrival, s.id))


def replay(
    scenario: Scenario,
    algorithm: Algorithm,
    *,
    step: timedelta = timedelta(minutes=5),
    information: Information = Information.EXACT,
    seed: int = 0,
) -> Outcome:
    """Run one algorithm over a scenario and account for every kWh and profile."""
    config = scenario.site
    grid = Grid.of(scenario, step)
    sessions = ordered(scenario)
    told = declared(sessions, information, seed)
    keys = [connector_key(s.station_id, s.evse_id) for s in sessions]
    tree = CompiledTree(config, config.limit_kw)
    slots = [tree.slots[tree.by_key[key]] for key in keys]
    # The phases each EV really charges on, and whether that has been seen yet.
    phases = _phases(sessions, slots)
    seen_phases: list[int | None] = [None] * len(sessions)
    arrivals: dict[int, list[int]] = {}
    for n, steps in enumerate(grid.present(s) for s in sessions):
        if steps:
            arrivals.setdefault(steps.start, []).append(n)
    leaving = [grid.present(s).stop for s in sessions]
    outcome = Outcome(
        algorithm=algorithm.name,
        requested_kwh=[s.energy_kwh for s in sessions],
        delivered_kwh=[0.0] * len(sessions),
        profile_messages=0 if algorithm.sends_profiles else None,
    )
    observed_max: list[float | None] = [None] * len(sessions)
    last_draw: list[float | None] = [None] * len(sessions)
    inputs = SiteInputs(scenario)
    check = ViolationCheck(config)
    present: list[int] = []
    previous = None
    for k in range(grid.count):
        present = [n for n in present if leaving[n] > k] + arrivals.get(k, [])
        if not present:
            continue
        now = grid.at(k)
        available = inputs.available(now)
        demands = [
            SessionDemand(
                session_id=sessions[n].id,
                connector=keys[n],
                arrival=sessions[n].arrival,
                delivered_kwh=outcome.delivered_kwh[n],
                departure=told[n].departure,
                energy_kwh=told[n].energy_kwh,
                ev_max_kw=observed_max[n],
                ev_phases=seen_phases[n],
                measured_kw=last_draw[n],
                priority=sessions[n].priority,
                suspended_ev=sessions[n].energy_kwh - outcome.delivered_kwh[n] <= 1e-9,
            )
            for n in present
        ]
        began = time.perf_counter()
        allocation = algorithm.rebalance(config, demands, available, now, previous)
        outcome.rebalance_s.append(time.perf_counter() - began)
        if outcome.profile_messages is not None:
            outcome.profile_messages += len(changes(previous, allocation))
        previous = allocation
        limits = {limit.connector: limit for limit in allocation.connectors}
        draws: dict[str, float] = {}
        for n in present:
            session = sessions[n]
            limit = _offered_kw(limits.get(keys[n]), slots[n], phases[n])
            can = min(session.ev_max_kw, slots[n].max_kw_on(phases[n]))
            draw = min(
                limit, can, max(session.energy_kwh - outcome.delivered_kwh[n], 0.0) / grid.hours
            )
            # The EV showed its own ceiling: it drew less than offered and was not finishing.
            if draw < limit - 1e-9 and can < draw + 1e-9:
                observed_max[n] = draw
            # Per-phase meter values show the phases a drawing EV uses.
            if draw > 0 and phases[n] < slots[n].phases:
                seen_phases[n] = phases[n]
            outcome.delivered_kwh[n] += draw * grid.hours
            last_draw[n] = draw
            draws[keys[n]] = draw
        outcome.peak_site_kw = max(outcome.peak_site_kw, sum(draws.values()))
        outcome.violations += check.count(
            available.kw, draws, {keys[n]: phases[n] for n in present}
        )
    outcome.compute_s = sum(outcome.rebalance_s)
    return outcome


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return 0.0
    ordered_values = sorted(values)
    return ordered_values[min(len(values) - 1, math.ceil(share * len(values)) - 1)]


def shares(outcome: Outcome) -> list[float]:
    """Each session's delivered share of its need (a session that needed nothing: 1)."""
    return [
        min(delivered / requested, 1.0) if requested > 0 else 1.0
        for requested, delivered in zip(outcome.requested_kwh, outcome.delivered_kwh, strict=True)
    ]


def metrics(outcome: Outcome, optimum_kwh: float | None) -> dict[str, float | int | None]:
    """The figures of one outcome (docs/smart-charging.md explains each)."""
    requested = sum(outcome.requested_kwh)
    delivered = sum(outcome.delivered_kwh)
    served = shares(outcome)
    worst = sorted(served)[: max(1, math.ceil(WORST_OFF_SHARE * len(served)))]
    return {
        "sessions": len(served),
        "requested_kwh": round(requested, 3),
        "delivered_kwh": round(delivered, 3),
        "energy_pct_of_requested": round(100 * delivered / requested, 2) if requested else 100.0,
        "energy_pct_of_optimum": (round(100 * delivered / optimum_kwh, 2) if optimum_kwh else None),
        "sessions_fully_served": sum(1 for s in served if s >= FULLY_SERVED),
        "worst_off_5pct_share": round(_mean(worst), 4),
        "peak_site_kw": round(outcome.peak_site_kw, 3),
        "limit_violations": outcome.violations,
        "profile_messages": outcome.profile_messages,
        "rebalances": len(outcome.rebalance_s),
        "rebalance_ms_mean": round(1000 * _mean(outcome.rebalance_s), 3),
        "rebalance_ms_p95": round(1000 * _percentile(outcome.rebalance_s, 0.95), 3),
        "compute_s": round(outcome.compute_s, 3),
    }
