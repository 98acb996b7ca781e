"""The algorithms the engine is measured against, built on the same tree primitives.

Each turns the sessions present into a limit per EVSE under every row of the compiled tree
(site, groups, phases, stations), except `uncontrolled`, which is what a site without load
management does: every EV at its max, limits ignored. All of them keep the minimum-current rule:
a session that would get less than its minimum is paused (0 kW) and its share is left to the
others. They see what the engine sees (declared departure and energy, the EV's observed max),
never the truth. None applies hysteresis: every change is a profile message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from csms.domain.load.allocation import Allocation, ConnectorLimit, Reason
from csms.domain.load.config import CurrentType, SiteLoadConfig
from csms.domain.load.engine import allocate
from csms.domain.load.inputs import Available
from csms.domain.load.needs import SessionDemand
from csms.domain.load.tree import EPSILON, CompiledTree

# Unknown departure: assume a typical working day (as the engine's default policy does).
DEFAULT_STAY = timedelta(hours=8)

Rebalance = Callable[
    [SiteLoadConfig, Sequence[SessionDemand], Available, datetime, Allocation | None], Allocation
]


@dataclass(frozen=True, slots=True)
class Algorithm:
    """An algorithm under test: its name, its rebalance function, and whether it sends profiles."""

    name: str
    rebalance: Rebalance
    sends_profiles: bool = True


def _sessions(tree: CompiledTree, demands: Sequence[SessionDemand]) -> dict[int, SessionDemand]:
    found: dict[int, SessionDemand] = {}
    for demand in demands:
        i = tree.by_key.get(demand.connector)
        if i is not None:
            found[i] = demand
            # An EV seen on fewer phases than its station counts on those (as the engine does).
            if demand.ev_phases is not None:
                tree.use_phases(i, demand.ev_phases)
    return found


def caps(tree: CompiledTree, sessions: dict[int, SessionDemand], step_h: float) -> list[float]:
    """What each slot could use this step: EVSE max, the EV's observed max, declared need left.

    A cap under the slot's minimum is raised to it: the limit sent may not be lower (the EV
    then draws what it takes). Full (suspended) or absent EVs get nothing.
    """
    result = [0.0] * len(tree.slots)
    for i, demand in sessions.items():
        if demand.suspended_ev:
            continue
        slot = tree.slots[i]
        ceiling = slot.max_kw_on(tree.phases_of[i])
        cap = ceiling if demand.ev_max_kw is None else min(ceiling, demand.ev_max_kw)
        remaining = demand.remaining_kwh
        # An EV still drawing past its declared energy proved the declaration wrong: it is
        # served as one whose need is unknown, until it is full (suspended_ev).
        if remaining is not None and remaining > EPSILON:
            cap = min(cap, remaining / step_h)
        result[i] = min(max(cap, tree.min_kw(i)), ceiling)
    return result


def greedy(tree: CompiledTree, order: Sequence[int], targets: Sequence[float]) -> list[float]:
    """Serve slots in order, each as far as every row allows; below its minimum, paused."""
    alloc = [0.0] * len(tree.slots)
    headroom = tree.headroom()
    for i in order:
        if targets[i] <= EPSILON:
            continue
        room, _ = tree.room(i, headroom)
        give = min(targets[i], room)
        if give < tree.min_kw(i) - EPSILON or give <= EPSILON:
            continue  # paused: its share stays with the slots after it
        alloc[i] = give
        tree.take(i, give, headroom)
    return alloc


def water_fill(tree: CompiledTree, active: Sequence[int], targets: Sequence[float]) -> list[float]:
    """Max-min fair shares under every row (progressive filling, exact).

    All unfrozen slots rise together until a slot reaches its target or a row its limit; the
    slots of a full row freeze. Each round freezes at least one slot.
    """
    alloc = [0.0] * len(tree.slots)
    headroom = tree.headroom()
    rising = {i for i in active if targets[i] > EPSILON}
    while rising:
        weight: dict[int, float] = {}
        for i in rising:
            for r, coefficient in tree.rows_of[i]:
                weight[r] = weight.get(r, 0.0) + coefficient
        step = min(targets[i] - alloc[i] for i in rising)
        for r, total in weight.items():
            step = min(step, max(headroom[r], 0.0) / total)
        for i in rising:
            alloc[i] += step
            tree.take(i, step, headroom)
        full = {r for r in weight if headroom[r] <= EPSILON * max(1.0, tree.rows[r].limit)}
        rising = {
            i
            for i in rising
            if targets[i] - alloc[i] > EPSILON and not any(r in full for r, _ in tree.rows_of[i])
        }
    return alloc


def equal_share_alloc(
    tree: CompiledTree, order: Sequence[int], targets: Sequence[float]
) -> list[float]:
    """Water filling; while a share is under its minimum, pause the last in `order` of those."""
    active = [i for i in order if targets[i] > EPSILON]
    while True:
        alloc = water_fill(tree, active, targets)
        starved = [i for i in active if alloc[i] < tree.min_kw(i) - EPSILON]
        if not starved:
            return alloc
        active.remove(starved[-1])


def _allocation(
    config: SiteLoadConfig,
    tree: CompiledTree,
    *,
    sessions: dict[int, SessionDemand],
    alloc: Sequence[float],
    available: Available,
    now: datetime,
) -> Allocation:
    limits = []
    for i, slot in enumerate(tree.slots):
        held = sessions.get(i)
        kw = alloc[i]
        if held is None:
            reason = Reason.IDLE
        elif kw <= EPSILON:
            kw, reason = 0.0, Reason.PAUSED
        else:
            reason = Reason.LIMIT
        limits.append(
            ConnectorLimit(
                connector=slot.key,
                station_id=slot.station_id,
                evse_id=slot.evse_id,
                session_id=held.session_id if held else None,
                kw=kw,
                amps=tree.amps(i, kw) if slot.current_type is CurrentType.AC else None,
                phases=tree.phases_of[i],
                reason=reason,
            )
        )
    return Allocation(
        site_id=config.site_id,
        at=now,
        config_version=config.version,
        available_kw=available.kw,
        constraint=available.constraint.value,
        connectors=tuple(limits),
    )


def _departure(demand: SessionDemand) -> datetime:
    return demand.departure or demand.arrival + DEFAULT_STAY


def _ordered(
    key: Callable[[SessionDemand, float], tuple[float, ...]],
    fill: Callable[[CompiledTree, Sequence[int], Sequence[float]], list[float]],
    step: timedelta,
) -> Rebalance:
    step_h = step.total_seconds() / 3600

    def rebalance(
        config: SiteLoadConfig,
        demands: Sequence[SessionDemand],
        available: Available,
        now: datetime,
        previous: Allocation | None,
    ) -> Allocation:
        del previous  # no hysteresis: the baselines decide afresh every time
        tree = CompiledTree(config, available.kw)
        sessions = _sessions(tree, demands)
        targets = caps(tree, sessions, step_h)
        order = sorted(
            sessions,
            key=lambda i: (
                *key(sessions[i], targets[i]),
                sessions[i].arrival.timestamp(),
                sessions[i].session_id,
            ),
        )
        alloc = fill(tree, order, targets)
        return _allocation(
            config, tree, sessions=sessions, alloc=alloc, available=available, now=now
        )

    return rebalance


def uncontrolled(
    config: SiteLoadConfig,
    demands: Sequence[SessionDemand],
    available: Available,
    now: datetime,
    previous: Allocation | None,
) -> Allocation:
    """Every EVSE at its max, whatever the limits: a site without load management."""
    del previous
    tree = CompiledTree(config, available.kw)
    sessions = _sessions(tree, demands)
    alloc = [tree.slots[i].max_kw if i in sessions else 0.0 for i in range(len(tree.slots))]
    return _allocation(config, tree, sessions=sessions, alloc=alloc, available=available, now=now)


def engine(
    config: SiteLoadConfig,
    demands: Sequence[SessionDemand],
    available: Available,
    now: datetime,
    previous: Allocation | None,
) -> Allocation:
    """The runtime's engine (csms.domain.load.engine), as the rebalance flow calls it."""
    return allocate(config, demands, available, now, previous=previous)


def _laxity(now: datetime) -> Callable[[SessionDemand, float], tuple[float, ...]]:
    def key(demand: SessionDemand, cap: float) -> tuple[float, ...]:
        hours = (_departure(demand) - now).total_seconds() / 3600
        remaining = demand.remaining_kwh
        # Unknown energy: it may want to charge the whole stay (no slack).
        need_h = remaining / cap if remaining is not None and cap > 0 else max(hours, 0.0)
        return (hours - need_h,)

    return key


def _llf(step: timedelta) -> Rebalance:
    # Laxity depends on the time of the rebalance, so the order key is made per call.
    def rebalance(
        config: SiteLoadConfig,
        demands: Sequence[SessionDemand],
        available: Available,
        now: datetime,
        previous: Allocation | None,
    ) -> Allocation:
        return _ordered(_laxity(now), greedy, step)(config, demands, available, now, previous)

    return rebalance


NAMES = ("engine", "uncontrolled", "equal-share", "fcfs", "edf", "llf")


def algorithm(name: str, step: timedelta) -> Algorithm:
    """One algorithm by name (NAMES), for replays in steps of `step`."""
    if name == "engine":
        return Algorithm(name, engine)
    if name == "uncontrolled":
        return Algorithm(name, uncontrolled, sends_profiles=False)
    if name == "equal-share":
        return Algorithm(name, _ordered(lambda d, c: (), equal_share_alloc, step))
    if name == "fcfs":
        return Algorithm(name, _ordered(lambda d, c: (), greedy, step))
    if name == "edf":
        return Algorithm(name, _ordered(lambda d, c: (_departure(d).timestamp(),), greedy, step))
    if name == "llf":
        return Algorithm(name, _llf(step))
    raise ValueError(f"unknown algorithm {name!r}: one of {', '.join(NAMES)}")
