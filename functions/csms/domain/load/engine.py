"""The allocation engine: a limit for every EVSE of a site, every group and phase under its limit.

One rebalance, in order (docs/adr/0010-load-management.md has the why and the measurements):

1. Facts per session: its ceiling (EVSE, station, EV), the time left until its departure
   (declared, or assumed), the energy it still wants (declared, or all it can take), its
   laxity (time left minus time needed at full power) and the share of its need met so far.
2. Four classes, served in this order:
   - pressed: sessions about to miss a minimum share of their need (`floor_share`) get the
     rate that still reaches it (protects the worst-off, including short stays);
   - critical: sessions with no laxity left (they must charge at full power to finish), the
     least served first;
   - the rest share what is left by water-filling on laxity: the rate of each is raised so
     that the lowest laxities rise together (least-laxity-first, without starving the next).
   - finishing: a session that needs less than half a step at the minimum current waits for
     power nobody else can use (offered the minimum, it would leave most of it unused).
   Sessions already charging get a small bonus (`stickiness`), so rankings do not flip-flop.
3. Every step goes through `CompiledTree.fill`/`room`, which never lets a row (site, group,
   phase, station) go over its limit.
4. A session left under the minimum current is paused (0 A) and its power given to the others.
5. Hysteresis: a limit that moved less than the configured minimum change keeps its previous
   value when the tree allows it, so stations are not sent changes that do not matter.

Pure: no clock, no I/O; the same inputs give the same allocation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from csms.domain.load.allocation import Allocation, ConnectorLimit, Reason, RowLoad
from csms.domain.load.config import CurrentType, SiteLoadConfig
from csms.domain.load.inputs import Available
from csms.domain.load.needs import SessionDemand
from csms.domain.load.tree import EPSILON, CompiledTree, Slot

_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Policy:
    """The engine's tunables (defaults measured in docs/smart-charging.md)."""

    # The time until the next rebalance: a rate given now lasts about this long.
    step: timedelta = timedelta(minutes=5)
    # Assumed stay of a session whose departure nobody declared.
    default_stay: timedelta = timedelta(hours=8)
    # A session still here after its (declared or assumed) departure is expected to leave soon.
    overstay: timedelta = timedelta(minutes=30)
    # Every session is protected up to this share of its need...
    floor_share: float = 0.55
    # ...once reaching it would take this share of its remaining time at full power.
    floor_pressure: float = 0.3
    # ...or, for a session already charging, this fraction of that pressure (a session under
    # way is kept going rather than dropped to start another).
    floor_hold: float = 0.2
    # Laxity bonus (hours) of a session already charging, against flip-flopping.
    stickiness_h: float = 0.5
    # Share the rest by water-filling on laxity (True) or serve it in rank order (False).
    water_fill: bool = True
    # A limit, once sent, is held this long unless a limit forces it down or a protected
    # session needs the power (stations and EVs dislike churn; so do the message bills).
    dwell: timedelta = timedelta(0)
    # The allocation is kept as it is, for at most this long, while nothing material changed:
    # the same sessions, no session newly protected or urgent, every limit still met, no more
    # power available. A periodic rebalance then sends nothing.
    hold: timedelta = timedelta(minutes=60)
    # Water-filling band: sessions this much laxity apart share in proportion (one step:
    # least-laxity-first; wider: closer to equal shares, more robust to misstated departures).
    band: timedelta = timedelta(0)
    # Lower the limit of an EV about to finish to what it can still take before the next
    # rebalance (more power for the others; one more profile message per session).
    cap_by_remaining: bool = True
    # What a session whose energy nobody declared is assumed to need (None: all it can take),
    # unless the site configures its own typical session.
    typical_energy_kwh: float | None = 10.0
    # A session that needs less than this many steps' worth of the minimum current is served
    # last, from power nobody else can use: the minimum it must be offered would mostly go
    # unused for a step (0: no such rule).
    finishing_steps: float = 0.5


@dataclass(slots=True)
class _Facts:
    index: int
    demand: SessionDemand
    cap: float
    # The cap before it was lowered to what the EV can still take before the next rebalance.
    ceiling: float
    min_kw: float
    hours: float
    remaining: float
    laxity: float
    share: float
    pressure: float
    floor_kw: float
    charging: bool
    finishing: bool

    @property
    def klass(self) -> int:
        if self.finishing:
            return 3
        if self.floor_kw > 0:
            return 0
        return 1 if self.laxity <= EPSILON else 2


def allocate(
    config: SiteLoadConfig,
    demands: Sequence[SessionDemand],
    available: Available,
    now: datetime,
    *,
    previous: Allocation | None = None,
    policy: Policy | None = None,
) -> Allocation:
    """Allocate the site's available power to its sessions (pure: same inputs, same result)."""
    return _Rebalance(config, available, policy or Policy()).run(demands, now, previous)


class _Rebalance:
    """One rebalance of one site: the tree, what is allocated so far, and what is left."""

    def __init__(self, config: SiteLoadConfig, available: Available, policy: Policy) -> None:
        self.config = config
        self.available = available
        self.policy = policy
        self.step_h = policy.step.total_seconds() / _HOUR
        self.tree = CompiledTree(config, available.kw)
        self.alloc = [0.0] * len(self.tree.slots)
        self.headroom = self.tree.headroom()
        self.bound: list[int | None] = [None] * len(self.tree.slots)

    def run(
        self, demands: Sequence[SessionDemand], now: datetime, previous: Allocation | None
    ) -> Allocation:
        tree = self.tree
        before = {c.connector: c for c in previous.connectors} if previous else {}
        facts, done, unmanaged = _facts(self.config, tree, demands, now, self.policy, before=before)
        # A station that ignores its profiles may draw its most: that power is not ours.
        for i in sorted(unmanaged):
            self.give(i, tree.slots[i].max_kw)
        ranked = sorted(facts, key=lambda f: _key(f, self.policy))
        if previous is not None and self.unchanged(previous, before, ranked, unmanaged, now):
            return previous.model_copy(update={"at": now})
        self.serve(ranked, before, now)
        self.pause_below_minimum(ranked)
        held = self.hysteresis(ranked, before)
        final = self.quantize(ranked, unmanaged)
        return self.allocation(
            now,
            ranked=ranked,
            final=final,
            held=held,
            done=done,
            unmanaged=unmanaged,
            demands=demands,
            before=before,
        )

    def unchanged(
        self,
        previous: Allocation,
        before: dict[str, ConnectorLimit],
        ranked: list[_Facts],
        unmanaged: set[int],
        now: datetime,
    ) -> bool:
        """Whether the previous allocation still stands (see Policy.hold)."""
        if (
            previous.computed_at is None
            or now - previous.computed_at >= self.policy.hold
            or previous.config_version != self.config.version
            or self.available.kw > previous.available_kw + self.config.hysteresis.min_change_kw
        ):
            return False
        slots = self.tree.slots
        served = {(slots[f.index].key, f.demand.session_id) for f in ranked}
        managed = {
            (c.connector, c.session_id)
            for c in previous.connectors
            if c.session_id is not None and c.reason not in {Reason.NEED_MET, Reason.UNMANAGED}
        }
        ignoring = {c.connector for c in previous.connectors if c.reason is Reason.UNMANAGED}
        if served != managed or ignoring != {slots[i].key for i in unmanaged}:
            return False
        unusable = 0.0
        for f in ranked:
            old = before[slots[f.index].key]
            if old.tier is None or _tier_for_hold(f, self.policy) < old.tier:
                return False
            unusable += max(old.kw - f.cap, 0.0)
        if ranked and unusable >= min(f.min_kw for f in ranked) > 0:
            return False  # power held by sessions that can no longer use it: give it on
        kept = [before[slot.key].kw if slot.key in before else 0.0 for slot in slots]
        used = self.tree.usage(kept)
        return all(u <= row.limit + EPSILON for u, row in zip(used, self.tree.rows, strict=True))

    def dwell(
        self, ranked: list[_Facts], before: dict[str, ConnectorLimit], now: datetime
    ) -> set[int]:
        """Give every session whose limit is younger than the dwell time that limit again."""
        kept: set[int] = set()
        if self.policy.dwell <= timedelta(0):
            return kept
        for f in ranked:
            old = before.get(self.tree.slots[f.index].key)
            if (
                old is None
                or old.session_id != f.demand.session_id
                or old.since is None
                or now - old.since >= self.policy.dwell
                or old.kw <= EPSILON
            ):
                continue
            room, _ = self.tree.room(f.index, self.headroom)
            self.give(f.index, max(min(old.kw, room, f.cap) - self.alloc[f.index], 0.0))
            kept.add(f.index)
        return kept

    def give(self, i: int, kw: float) -> None:
        self.alloc[i] += kw
        self.tree.take(i, kw, self.headroom)

    def fill(self, order: list[int], targets: list[float]) -> None:
        self.tree.fill(order, targets, self.alloc, self.headroom, self.bound)

    def serve(self, ranked: list[_Facts], before: dict[str, ConnectorLimit], now: datetime) -> None:
        targets = [0.0] * len(self.alloc)
        for fact in ranked:
            targets[fact.index] = fact.floor_kw
        self.fill([f.index for f in ranked if f.klass == 0], targets)
        self.dwell(ranked, before, now)
        for fact in ranked:
            targets[fact.index] = fact.cap
        self.fill([f.index for f in ranked if f.laxity <= EPSILON and not f.finishing], targets)
        if self.policy.water_fill:
            self.water_fill([f for f in ranked if f.laxity > EPSILON and not f.finishing])
        # Whatever the levels left (rounding, frozen groups): in rank order, to the ceilings.
        self.fill([f.index for f in ranked], targets)

    def water_fill(self, rest: list[_Facts]) -> None:
        """Raise the lowest laxities together: rate(level) = (level - laxity + step) x cap / step.

        Progressive filling over the tree: the highest level every row allows is found by
        bisection; the sessions under a row that is then full (or at their ceiling) stop there,
        and the others go on rising with what is left.
        """
        tree = self.tree
        active = [f for f in rest if f.cap - self.alloc[f.index] > EPSILON]
        while active:
            band = max(self.policy.band.total_seconds() / _HOUR, self.step_h)
            levels = _Levels(active, self.alloc, band, self.bonus)
            lo = min(f.laxity - self.bonus(f) for f in active) - band
            hi = max(f.laxity for f in active) + band
            if not self.fits(levels.rates(hi), active):
                # A level to a few milliseconds of laxity: finer changes no rate by 0.1 A.
                while hi - lo > 1e-6:
                    mid = (lo + hi) / 2
                    lo, hi = (mid, hi) if self.fits(levels.rates(mid), active) else (lo, mid)
                hi = lo
            for f, add in zip(active, levels.rates(hi), strict=True):
                if add > 0:
                    # Through `room`, so float noise can never push a row over its limit.
                    room, _ = tree.room(f.index, self.headroom)
                    self.give(f.index, min(add, room))
            tight = {
                r for r, h in enumerate(self.headroom) if h <= 1e-6 * max(tree.rows[r].limit, 1.0)
            }
            still = []
            for f in active:
                if f.cap - self.alloc[f.index] <= EPSILON:
                    continue
                hit = {r for r, _ in tree.rows_of[f.index]} & tight
                if hit:
                    self.bound[f.index] = min(hit)
                    continue
                still.append(f)
            if len(still) == len(active):
                return  # nothing stopped: the level is as high as it goes
            active = still

    def fits(self, adds: list[float], active: list[_Facts]) -> bool:
        """Whether raising the active sessions by `adds` keeps every row under its limit."""
        used = [0.0] * len(self.headroom)
        for f, add in zip(active, adds, strict=True):
            if add > 0:
                for r, coefficient in self.tree.rows_of[f.index]:
                    used[r] += add * coefficient
        return all(u <= h + EPSILON for u, h in zip(used, self.headroom, strict=True))

    def bonus(self, fact: _Facts) -> float:
        return self.policy.stickiness_h if fact.charging else 0.0

    def pause_below_minimum(self, ranked: list[_Facts]) -> None:
        """Below the minimum current a session is paused; its power goes to the others."""
        paused = [f for f in ranked if EPSILON < self.alloc[f.index] < f.min_kw - EPSILON]
        if not paused:
            return
        for f in paused:
            self.give(f.index, -self.alloc[f.index])
        targets = [0.0] * len(self.alloc)
        for f in ranked:
            targets[f.index] = f.cap
        # First those charging, up to their ceilings; then the paused, where the minimum fits.
        self.fill([f.index for f in ranked if self.alloc[f.index] > EPSILON], targets)
        # Those charging before go first, so pauses do not rotate from one rebalance to the next.
        for f in sorted(ranked, key=lambda f: not f.charging):
            if self.alloc[f.index] > EPSILON:
                continue
            room, _ = self.tree.room(f.index, self.headroom)
            if room >= f.min_kw - EPSILON:
                self.give(f.index, min(room, f.cap))

    def hysteresis(self, ranked: list[_Facts], before: dict[str, ConnectorLimit]) -> set[int]:
        """Keep a previous limit that moved less than the minimum change, where the tree allows."""
        tree = self.tree
        held: dict[int, float] = {}
        for f in ranked:
            slot = tree.slots[f.index]
            old = before.get(slot.key)
            if old is None or old.session_id != f.demand.session_id:
                continue
            new = self.alloc[f.index]
            if (old.kw > EPSILON) != (new > EPSILON) or old.kw > f.cap + EPSILON:
                continue
            if EPSILON < abs(new - old.kw) < self.min_change(f.index):
                held[f.index] = new
                self.give(f.index, old.kw - new)
        # Holding may lift a row over its limit: back to the new values, largest lift first.
        for i in sorted(held, key=lambda i: (self.alloc[i] - held[i], i), reverse=True):
            if all(h >= -EPSILON for h in self.headroom):
                break
            if self.alloc[i] > held[i]:
                self.give(i, held.pop(i) - self.alloc[i])
        kept = self.keep_unneeded_decreases(ranked, before) | set(held)
        self.top_up_changing(ranked, before, kept)
        return kept

    def keep_unneeded_decreases(
        self, ranked: list[_Facts], before: dict[str, ConnectorLimit]
    ) -> set[int]:
        """A lower limit that frees power nobody takes is not sent: the old one stays.

        Whatever is left under every limit after the allocation may keep, in rank order, the
        previous (higher) limit of a session still charging: lowering it would be a profile
        message that changes nothing for anyone else (a finishing EV, a share that shrank while
        the power it gave up stays unused).
        """
        kept: set[int] = set()
        for f in ranked:
            old = before.get(self.tree.slots[f.index].key)
            new = self.alloc[f.index]
            if (
                old is None
                or old.session_id != f.demand.session_id
                or new <= EPSILON
                or old.kw <= new + EPSILON
                or old.kw > f.ceiling + EPSILON
            ):
                continue
            room, _ = self.tree.room(f.index, self.headroom)
            if old.kw - new <= room + EPSILON:
                self.give(f.index, old.kw - new)
                kept.add(f.index)
        return kept

    def top_up_changing(
        self, ranked: list[_Facts], before: dict[str, ConnectorLimit], kept: set[int]
    ) -> None:
        """Power that held limits leave unused goes to sessions whose limit changes anyway.

        In rank order, up to their ceilings: no extra profile message, and the headroom a
        small rise not sent would have used is not lost.
        """
        order = []
        for f in ranked:
            new = self.alloc[f.index]
            if f.index in kept or new <= EPSILON:
                continue
            old = before.get(self.tree.slots[f.index].key)
            if old is None or old.session_id != f.demand.session_id or abs(old.kw - new) > EPSILON:
                order.append(f.index)
        targets = [0.0] * len(self.alloc)
        for f in ranked:
            targets[f.index] = max(f.cap, self.alloc[f.index])
        self.fill(order, targets)

    def min_change(self, i: int) -> float:
        if _ac(self.tree.slots[i]):
            return self.tree.kw_of(i, self.config.hysteresis.min_change_a)
        return self.config.hysteresis.min_change_kw

    def quantize(self, ranked: list[_Facts], unmanaged: set[int]) -> list[float]:
        """Limits go out in 0.1 A (AC; 1.6's precision) or 10 W (DC).

        Rounded down first, then up again in rank order where every row has room for it, so
        rounding neither breaks a limit nor wastes what a limit allows.
        """
        tree = self.tree
        final = [0.0] * len(self.alloc)
        for i, slot in enumerate(tree.slots):
            if i in unmanaged:
                final[i] = self.alloc[i]  # reserved, not sent: no rounding
            elif _ac(slot):
                final[i] = tree.kw_of(i, _down(tree.amps(i, self.alloc[i]), 10))
            else:
                final[i] = _down(self.alloc[i], 100)
        used = tree.usage(final)
        headroom = [row.limit - u for row, u in zip(tree.rows, used, strict=True)]
        caps = {f.index: f.cap for f in ranked}
        for i in (f.index for f in ranked):
            slot = tree.slots[i]
            if final[i] <= EPSILON or final[i] >= self.alloc[i] - EPSILON:
                continue
            up = (
                tree.kw_of(i, _down(tree.amps(i, final[i]), 10) + 0.1)
                if _ac(slot)
                else final[i] + 0.01
            )
            room, _ = tree.room(i, headroom)
            if up - final[i] <= room + EPSILON and up <= caps[i] + EPSILON:
                tree.take(i, up - final[i], headroom)
                final[i] = up
        return final

    def allocation(
        self,
        now: datetime,
        *,
        ranked: list[_Facts],
        final: list[float],
        held: set[int],
        done: set[int],
        unmanaged: set[int],
        demands: Sequence[SessionDemand],
        before: dict[str, ConnectorLimit],
    ) -> Allocation:
        tree, config, available = self.tree, self.config, self.available
        by_index = {f.index: f for f in ranked}
        sessions: dict[int, SessionDemand] = {}
        for demand in sorted(demands, key=lambda d: (d.connector, d.session_id)):
            i = tree.by_key.get(demand.connector)
            if i is not None and i not in sessions:
                sessions[i] = demand
        limits = []
        for i, slot in enumerate(tree.slots):
            session = sessions.get(i)
            kw = final[i]
            reason, bound_by = _reason(
                tree,
                fact=by_index.get(i),
                kw=kw,
                bound=self.bound[i],
                held=i in held,
                # Within one rounding step (0.1 A) of its ceiling, a session has all it can take.
                step=tree.kw_of(i, 0.1) if _ac(slot) else 0.01,
                evse_kw=slot.max_kw_on(tree.phases_of[i]),
            )
            if session is None:
                reason, bound_by = Reason.IDLE, None
            elif i in done:
                reason = Reason.NEED_MET
            elif i in unmanaged:
                reason = Reason.UNMANAGED
            old = before.get(slot.key)
            same = old is not None and old.session_id == (session.session_id if session else None)
            since = old.since if same and old and abs(old.kw - kw) <= EPSILON else now
            limits.append(
                ConnectorLimit.model_construct(
                    connector=slot.key,
                    station_id=slot.station_id,
                    evse_id=slot.evse_id,
                    session_id=session.session_id if session else None,
                    kw=kw,
                    amps=round(tree.amps(i, kw), 1) if _ac(slot) else None,
                    phases=tree.phases_of[i],
                    reason=reason,
                    bound_by=bound_by,
                    since=since,
                    tier=by_index[i].klass if i in by_index else None,
                )
            )
        used = tree.usage(final)
        rows = tuple(
            RowLoad.model_construct(
                label=row.label, unit="A" if row.phase else "kW", limit=row.limit, allocated=u
            )
            for row, u in zip(tree.rows, used, strict=True)
        )
        notes = [
            *available.notes,
            *(
                f"station {tree.slots[i].station_id} ignores its charging profiles: its "
                "maximum is reserved"
                for i in sorted(unmanaged)
            ),
        ]
        return Allocation(
            site_id=config.site_id,
            at=now,
            config_version=config.version,
            computed_at=now,
            available_kw=available.kw,
            constraint=available.constraint.value,
            building_kw=available.building_kw,
            pv_kw=available.pv_kw,
            battery_kw=available.battery_kw,
            connectors=tuple(limits),
            rows=rows,
            notes=tuple(notes),
        )


class _Levels:
    """The rate of each active session at a water level (added to what it already has)."""

    def __init__(
        self,
        active: list[_Facts],
        alloc: list[float],
        step_h: float,
        bonus: Callable[[_Facts], float],
    ) -> None:
        self.step_h = step_h
        self.terms = [(bonus(f) - f.laxity + step_h, f.cap, alloc[f.index]) for f in active]

    def rates(self, level: float) -> list[float]:
        return [
            min(max((level + offset) * cap / self.step_h, base), cap) - base
            for offset, cap, base in self.terms
        ]


def _ac(slot: Slot) -> bool:
    return slot.current_type is CurrentType.AC


def _down(value: float, per_unit: int) -> float:
    """Round down to 1/per_unit (a hair of float noise above a step counts as the step)."""
    return math.floor(value * per_unit + 1e-6) / per_unit


def _facts(
    config: SiteLoadConfig,
    tree: CompiledTree,
    demands: Sequence[SessionDemand],
    now: datetime,
    policy: Policy,
    *,
    before: dict[str, ConnectorLimit],
) -> tuple[list[_Facts], set[int], set[int]]:
    facts: list[_Facts] = []
    done: set[int] = set()
    unmanaged: set[int] = set()
    seen: set[int] = set()
    step_h = policy.step.total_seconds() / _HOUR
    for demand in sorted(demands, key=lambda d: (d.connector, d.session_id)):
        i = tree.by_key.get(demand.connector)
        if i is None or i in seen:
            continue  # not in the tree (or a second session on one EVSE): nothing to limit
        seen.add(i)
        slot = tree.slots[i]
        if demand.ignores_profiles:
            unmanaged.add(i)
            continue
        phases = _phases(slot, demand)
        if phases < slot.phases:
            tree.use_phases(i, phases)
        # The EVSE's current per phase is its limit, on as many phases as the EV uses.
        ceiling = slot.max_kw_on(phases)
        cap = ceiling if demand.ev_max_kw is None else min(ceiling, demand.ev_max_kw)
        full = max(cap, tree.min_kw(i))
        remaining = demand.remaining_kwh
        if demand.suspended_ev or cap <= EPSILON:
            done.add(i)
            continue
        hours = _hours_left(demand, now, policy)
        finishing = (
            remaining is not None
            and EPSILON < remaining < tree.min_kw(i) * step_h * policy.finishing_steps
        )
        if policy.cap_by_remaining and remaining is not None and remaining > EPSILON:
            # No more than the EV can still take before the next rebalance.
            cap = min(cap, remaining / step_h)
        # Never under the minimum current: below it the station pauses the EV (IEC 61851), so
        # an EV that takes less is still offered the minimum and draws what it takes.
        cap = max(cap, tree.min_kw(i))
        if remaining is not None and remaining <= EPSILON:
            # Declared energy delivered but the EV still draws: the declaration was low.
            remaining = None
        if remaining is None:
            # Unknown need: a typical session's, or (still drawing past it) another hour's.
            typical = config.typical_session_kwh or policy.typical_energy_kwh
            remaining = (
                cap * hours
                if typical is None
                else min(max(typical - demand.delivered_kwh, cap), cap * hours)
            )
        laxity = max(hours - remaining / cap, 0.0)
        need = demand.delivered_kwh + remaining
        share = demand.delivered_kwh / need if need > EPSILON else 1.0
        stay_h = max((now - demand.arrival).total_seconds() / _HOUR, 0.0) + hours
        reachable = min(need, cap * stay_h)
        gap = max(policy.floor_share * reachable - demand.delivered_kwh, 0.0)
        pressure = gap / (hours * cap) if hours > EPSILON else (1.0 if gap > 0 else 0.0)
        old = before.get(slot.key)
        charging = old is not None and old.session_id == demand.session_id and old.kw > EPSILON
        floor_kw = 0.0
        if gap > EPSILON and pressure >= policy.floor_pressure * (
            policy.floor_hold if charging else 1.0
        ):
            floor_kw = min(cap, max(gap / max(hours, step_h), tree.min_kw(i)))
        facts.append(
            _Facts(
                index=i,
                demand=demand,
                cap=cap,
                ceiling=full,
                min_kw=tree.min_kw(i),
                hours=hours,
                remaining=remaining,
                laxity=laxity,
                share=share,
                pressure=pressure,
                floor_kw=floor_kw,
                charging=charging,
                finishing=finishing,
            )
        )
    return facts, done, unmanaged


def _phases(slot: Slot, demand: SessionDemand) -> int:
    """How many phases the session's EV charges on: as seen (per-phase meter values), or all.

    Never guessed from low power: a limit is a current per phase, and a three-phase EV that
    tapers to 3 kW would draw a "single-phase" 16 A on all three phases.
    """
    if slot.current_type is not CurrentType.AC or demand.ev_phases is None:
        return slot.phases
    return min(max(demand.ev_phases, 1), slot.phases)


def _hours_left(demand: SessionDemand, now: datetime, policy: Policy) -> float:
    departure = demand.departure or demand.arrival + policy.default_stay
    left = (departure - now).total_seconds() / _HOUR
    if left > 0:
        return max(left, policy.step.total_seconds() / _HOUR)
    # Still here after the departure: plan for a little longer, never for nothing.
    return policy.overstay.total_seconds() / _HOUR


def _tier_for_hold(fact: _Facts, policy: Policy) -> int:
    """The session's tier as the hold rule sees it.

    A session protected only because it is under way (`floor_hold`) is not newly protected:
    it is being kept going, which the allocation in force already does.
    """
    if fact.klass == 0 and fact.pressure < policy.floor_pressure:
        return 1 if fact.laxity <= EPSILON else 2
    return fact.klass


def _key(fact: _Facts, policy: Policy) -> tuple[int, float, str]:
    bonus = policy.stickiness_h if fact.charging else 0.0
    if fact.klass == 0:
        return (0, -fact.pressure - (0.1 if fact.charging else 0.0), fact.demand.session_id)
    if fact.klass == 3:
        return (3, fact.laxity, fact.demand.session_id)
    if fact.klass == 1:
        return (1, fact.share - (0.1 if fact.charging else 0.0), fact.demand.session_id)
    return (2, fact.laxity - bonus, fact.demand.session_id)


def _reason(
    tree: CompiledTree,
    *,
    fact: _Facts | None,
    kw: float,
    bound: int | None,
    held: bool,
    step: float,
    evse_kw: float,
) -> tuple[Reason, str | None]:
    if fact is None:
        return Reason.IDLE, None
    if held:
        return Reason.HELD, None
    if kw <= EPSILON:
        if fact.finishing:
            return Reason.FINISHING, None
        return Reason.PAUSED, tree.rows[bound].label if bound is not None else None
    if kw >= fact.cap - step - EPSILON:
        # The EVSE's ceiling on the phases the EV uses, or the EV's own below it.
        if fact.cap < evse_kw - EPSILON:
            return Reason.EV_MAX, None
        return Reason.EVSE_MAX, None
    if bound is not None:
        return Reason.LIMIT, tree.rows[bound].label
    return Reason.SHARE, None
