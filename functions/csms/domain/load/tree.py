"""A site's tree compiled for allocation: limits as rows, EVSEs as slots, and one fill primitive.

Every limit becomes a row: a node's kW limit, or its amperes on one phase. An EVSE's power
counts in the rows of every node above it, with a coefficient (1 per kW in kW rows; amperes
per kW on each grid phase it loads in phase rows). All policies (the engine, and the baselines
the benchmark compares it with) are orders and targets handed to `fill`, which never lets a row
go below zero headroom: that is what keeps every group and phase under its limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from csms.domain.load.config import (
    PHASES,
    CurrentType,
    Phase,
    PhaseLimits,
    PhaseRotation,
    SiteLoadConfig,
    StationLoad,
    min_power_kw,
)
from csms.domain.load.needs import connector_key

# Headroom below this is treated as none (float noise must not create a limit violation).
EPSILON = 1e-9

_GRID = {"R": Phase.L1, "S": Phase.L2, "T": Phase.L3}


@dataclass(frozen=True, slots=True)
class Row:
    """One limit: a node's kW, or its amperes on one phase."""

    node: str
    kind: str  # "site", "group" or "station"
    phase: Phase | None
    limit: float

    @property
    def label(self) -> str:
        """How the allocation names this limit (`group:feeder-a:L2`)."""
        base = f"{self.kind}:{self.node}" if self.kind != "site" else "site"
        return f"{base}:{self.phase}" if self.phase else base


@dataclass(frozen=True, slots=True)
class Slot:
    """One EVSE: its ceiling, its minimum, and the rows its power counts in."""

    key: str
    station_id: str
    evse_id: int
    max_kw: float
    min_kw: float
    phases: int
    voltage: float
    current_type: CurrentType
    grid_phases: tuple[Phase, ...]
    rows: tuple[tuple[int, float], ...]

    def amps(self, kw: float, phases: int | None = None) -> float:
        """The current per phase this power draws on `phases` phases (AC; default: all)."""
        return kw * 1000 / (self.voltage * (phases or self.phases))

    def kw_of(self, amps: float, phases: int | None = None) -> float:
        """The power a current per phase gives on `phases` phases (AC; default: all)."""
        return amps * self.voltage * (phases or self.phases) / 1000

    def max_kw_on(self, phases: int) -> float:
        """The most this EVSE gives an EV on `phases` of its phases (its current per phase)."""
        return self.max_kw * phases / self.phases


def grid_phases(station: StationLoad) -> tuple[Phase, ...]:
    """The grid phases a station loads: all three, or its L1 through the rotation."""
    if station.current_type is CurrentType.DC or station.phases == 3:
        return PHASES
    if station.rotation is PhaseRotation.UNKNOWN:
        return PHASES
    return (_GRID[station.rotation.value[0]],)


def _rows(
    chain: list[str],
    index: dict[tuple[str, Phase | None], int],
    phases: tuple[Phase, ...],
    per_kw: float,
) -> tuple[tuple[int, float], ...]:
    """The rows a kW of an EVSE counts in: every node's kW row, and its phases' rows."""
    rows: list[tuple[int, float]] = []
    for node_id in chain:
        if (node_id, None) in index:
            rows.append((index[(node_id, None)], 1.0))
        rows.extend(
            (index[(node_id, phase)], per_kw) for phase in phases if (node_id, phase) in index
        )
    return tuple(rows)


def ev_phases(station: StationLoad, n: int) -> tuple[Phase, ...]:
    """The grid phases an EV on n of a three-phase station's phases loads (its L1, L2...)."""
    if station.rotation is PhaseRotation.UNKNOWN:
        return PHASES
    return tuple(_GRID[letter] for letter in station.rotation.value[:n])


class CompiledTree:
    """The rows and slots of one site, with the site's kW limit given at compile time."""

    def __init__(self, config: SiteLoadConfig, site_kw: float) -> None:
        margin = 1 - config.safety_margin_pct / 100
        self.rows: list[Row] = []
        index: dict[tuple[str, Phase | None], int] = {}
        parents = {group.id: group.parent_id for group in config.groups}
        groups = {group.id: group for group in config.groups}

        def add(node: str, kind: str, kw: float | None, amps: PhaseLimits | None) -> None:
            if kw is not None:
                index[(node, None)] = len(self.rows)
                self.rows.append(Row(node, kind, None, max(kw, 0.0)))
            for phase in PHASES:
                limit = amps.of(phase) if amps else None
                if limit is not None:
                    index[(node, phase)] = len(self.rows)
                    self.rows.append(Row(node, kind, phase, limit * margin))

        # site_kw already has the margin off (inputs.available_power).
        add(config.site_id, "site", site_kw, config.limit_a)
        for group in config.groups:
            kw = group.limit_kw * margin if group.limit_kw is not None else None
            add(group.id, "group", kw, group.limit_a)
        self.slots: list[Slot] = []
        self._index = index
        self._chains: dict[str, tuple[StationLoad, list[str]]] = {}
        self._fewer: dict[tuple[str, int], tuple[tuple[int, float], ...]] = {}
        for station in config.stations:
            add(station.station_id, "station", station.max_kw, None)
            chain: list[str] = [station.station_id]
            node = station.group_id
            while node is not None:
                chain.append(node)
                node = parents[node]
            chain.append(config.site_id)

            phases = grid_phases(station)
            rows = _rows(chain, index, phases, 1000 / (station.voltage * station.phases))
            self._chains[station.station_id] = (station, chain)
            for evse in station.evses:
                ceiling = min(evse.max_kw or station.max_kw, station.max_kw)
                self.slots.append(
                    Slot(
                        key=connector_key(station.station_id, evse.evse_id),
                        station_id=station.station_id,
                        evse_id=evse.evse_id,
                        max_kw=ceiling,
                        min_kw=min_power_kw(station, config.min_current_a),
                        phases=station.phases,
                        voltage=station.voltage,
                        current_type=station.current_type,
                        grid_phases=phases,
                        rows=rows,
                    )
                )
        del groups
        self.by_key = {slot.key: i for i, slot in enumerate(self.slots)}
        self.min_current_a = config.min_current_a
        # The phases each slot's session draws on (its station's, unless told otherwise).
        self.phases_of = [slot.phases for slot in self.slots]
        self.rows_of = [slot.rows for slot in self.slots]

    def use_phases(self, i: int, phases: int) -> None:
        """Let slot i's session count on `phases` phases (an EV on fewer than the station's)."""
        slot = self.slots[i]
        n = min(max(phases, 1), slot.phases)
        self.phases_of[i] = n
        self.rows_of[i] = slot.rows if n == slot.phases else self._rows_on(slot.station_id, n)

    def _rows_on(self, station_id: str, n: int) -> tuple[tuple[int, float], ...]:
        # An EV that charges on fewer phases than its station (a single-phase car on a
        # three-phase station) draws its current on the station's first phases only.
        rows = self._fewer.get((station_id, n))
        if rows is None:
            station, chain = self._chains[station_id]
            per_kw = 1000 / (station.voltage * n)
            rows = self._fewer[(station_id, n)] = _rows(
                chain, self._index, ev_phases(station, n), per_kw
            )
        return rows

    def amps(self, i: int, kw: float) -> float:
        """The current per phase slot i's session draws at this power (AC)."""
        return self.slots[i].amps(kw, self.phases_of[i])

    def kw_of(self, i: int, amps: float) -> float:
        """The power of slot i's session at a current per phase (AC)."""
        return self.slots[i].kw_of(amps, self.phases_of[i])

    def min_kw(self, i: int) -> float:
        """The power of slot i's session at the minimum current (DC: none)."""
        slot = self.slots[i]
        if slot.current_type is CurrentType.DC:
            return 0.0
        return self.kw_of(i, self.min_current_a)

    def headroom(self) -> list[float]:
        """Every row's limit: what is left before anything is allocated."""
        return [row.limit for row in self.rows]

    def room(self, i: int, headroom: Sequence[float]) -> tuple[float, int | None]:
        """The most slot i may still get, and the row that bounds it (None: nothing does)."""
        best, binding = float("inf"), None
        for r, coefficient in self.rows_of[i]:
            room = headroom[r] / coefficient
            if room < best:
                best, binding = room, r
        return max(best, 0.0), binding

    def take(self, i: int, kw: float, headroom: list[float]) -> None:
        """Charge kw of slot i to every row it counts in."""
        for r, coefficient in self.rows_of[i]:
            headroom[r] -= kw * coefficient

    def fill(
        self,
        order: Iterable[int],
        targets: Sequence[float],
        alloc: list[float],
        headroom: list[float],
        bound: list[int | None] | None = None,
    ) -> None:
        """Raise each slot in order towards its target as far as every row above it allows.

        `alloc` and `headroom` are updated in place; `bound` (if given) records the row that
        stopped a slot short of its target.
        """
        for i in order:
            want = targets[i] - alloc[i]
            if want <= EPSILON:
                continue
            room, binding = self.room(i, headroom)
            give = min(want, room)
            if give < want and bound is not None:
                bound[i] = binding
            if give <= EPSILON:
                continue
            alloc[i] += give
            self.take(i, give, headroom)

    def usage(self, alloc: Sequence[float]) -> list[float]:
        """What an allocation uses of every row."""
        used = [0.0] * len(self.rows)
        for rows, kw in zip(self.rows_of, alloc, strict=True):
            if kw:
                for r, coefficient in rows:
                    used[r] += kw * coefficient
        return used
