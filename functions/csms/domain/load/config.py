"""What an operator configures for a site's load management: the tree and its limits.

The tree is site -> groups (feeders, sub-panels; nested to any depth) -> stations -> EVSEs.
Every node may carry a limit in kW and, for AC, in amperes per phase; a safety margin takes a
share off every limit. The site is the root: its limit is the grid connection's, lowered by the
time-of-day limits and, when the site has a meter, by the building's load (see inputs.py).

A configuration is validated as a whole when it is saved, so the engine never sees a loop, an
orphan, or a limit that could not power even one session at the minimum current. Limits below
the sum of the minimum currents beneath them are accepted: the engine pauses the sessions it
cannot serve at the minimum, in turns (docs/adr/0010-load-management.md).
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

MAX_DEPTH = 8
"""Levels of groups below the site: deeper trees are refused (and cannot loop)."""

NodeId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Kw = Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]
Amperes = Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]
Percent = Annotated[float, Field(ge=0, le=50, allow_inf_nan=False)]

DEFAULT_MIN_CURRENT_A = 6.0
"""IEC 61851-1: the lowest current a PWM signal may offer; below it a session is paused."""


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class Phase(StrEnum):
    """The grid's phases as the site's panel names them."""

    L1 = "L1"
    L2 = "L2"
    L3 = "L3"


PHASES = (Phase.L1, Phase.L2, Phase.L3)


class PhaseRotation(StrEnum):
    """How a station is wired: its L1, L2, L3 on the grid's R, S, T (OCPP PhaseRotation).

    RST is straight wiring. A single-phase station draws on its L1, so on the grid's first
    letter: an `SRT` single-phase station loads the grid's L2. Unknown wiring counts a
    single-phase station on every phase, which is safe and wastes headroom.
    """

    RST = "RST"
    RTS = "RTS"
    SRT = "SRT"
    STR = "STR"
    TRS = "TRS"
    TSR = "TSR"
    UNKNOWN = "Unknown"


class CurrentType(StrEnum):
    """AC stations are limited in amperes per phase, DC stations in watts."""

    AC = "AC"
    DC = "DC"


class PhaseLimits(_Model):
    """A limit in amperes on each phase; a phase left out is not limited at this node."""

    l1: Amperes | None = None
    l2: Amperes | None = None
    l3: Amperes | None = None

    def of(self, phase: Phase) -> float | None:
        """The limit on one phase."""
        return {Phase.L1: self.l1, Phase.L2: self.l2, Phase.L3: self.l3}[phase]


class LoadGroup(_Model):
    """A feeder or sub-panel: the stations below it share its limits."""

    id: NodeId
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    # None: directly below the site.
    parent_id: NodeId | None = None
    limit_kw: Kw | None = None
    limit_a: PhaseLimits | None = None


class EvseLoad(_Model):
    """One EVSE of a station (1.6: a connector). Its own ceiling, when lower than the station's."""

    evse_id: Annotated[int, Field(ge=1, le=99)]
    max_kw: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] | None = None


class StationLoad(_Model):
    """A station in the tree: where it hangs, how it is wired, what it can deliver."""

    station_id: NodeId
    # None: directly below the site.
    group_id: NodeId | None = None
    max_kw: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)]
    current_type: CurrentType = CurrentType.AC
    phases: Literal[1, 3] = 3
    # Line-to-neutral voltage of each phase (230 V in Europe; 120 V or 277 V split phase in
    # North America). A 208 V station wired line-to-line is given as phases 1, voltage 208.
    voltage: Annotated[float, Field(ge=100, le=1000, allow_inf_nan=False)] = 230.0
    rotation: PhaseRotation = PhaseRotation.RST
    evses: Annotated[tuple[EvseLoad, ...], Field(min_length=1, max_length=99)] = (
        EvseLoad(evse_id=1),
    )

    @model_validator(mode="after")
    def _evses_once(self) -> Self:
        ids = [evse.evse_id for evse in self.evses]
        if len(set(ids)) != len(ids):
            raise ValueError(f"station {self.station_id}: each evseId may appear once")
        return self


class Weekday(StrEnum):
    """ISO 8601 days, Monday first."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


WEEK = tuple(Weekday)


class TimeOfDayLimit(_Model):
    """A lower site limit on some days between two local times (end before start: overnight)."""

    days: Annotated[tuple[Weekday, ...], Field(min_length=1, max_length=7)] = WEEK
    start: time
    end: time
    limit_kw: Kw

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.start == self.end:
            raise ValueError("a time-of-day window needs start and end to differ")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("time-of-day windows are in the site's local time, without offset")
        return self


class MeterKind(StrEnum):
    """What the site meter measures."""

    # The building alone (a sub-meter that excludes the chargers).
    BUILDING = "building"
    # Everything at the grid connection, chargers included: the CSMS subtracts its own load.
    GRID = "grid"


class MeterPolicy(_Model):
    """A site meter reports the load that is not ours; without fresh readings, a safe limit."""

    kind: MeterKind = MeterKind.BUILDING
    stale_after_s: Annotated[int, Field(ge=10, le=86_400)] = 300
    # What the chargers may draw in total while the meter is silent.
    fallback_limit_kw: Kw


class Hysteresis(_Model):
    """Profile changes smaller than this are not sent (real chargers dislike churn)."""

    min_change_a: Amperes = 1.0
    min_change_kw: Kw = 0.5


class SiteLoadConfig(_Model):
    """A site's load management: everything the engine needs that changes rarely."""

    site_id: NodeId
    timezone: str = "UTC"
    limit_kw: Kw
    limit_a: PhaseLimits | None = None
    safety_margin_pct: Percent = 0.0
    min_current_a: Annotated[float, Field(ge=0, le=80, allow_inf_nan=False)] = DEFAULT_MIN_CURRENT_A
    groups: Annotated[tuple[LoadGroup, ...], Field(max_length=1000)] = ()
    stations: Annotated[tuple[StationLoad, ...], Field(max_length=5000)] = ()
    time_of_day: Annotated[tuple[TimeOfDayLimit, ...], Field(max_length=50)] = ()
    meter: MeterPolicy | None = None
    hysteresis: Hysteresis = Hysteresis()
    # What a session that declares no energy usually needs here (the engine assumes 10 kWh).
    typical_session_kwh: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] | None = None
    version: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _a_tree(self) -> Self:
        groups = {group.id: group for group in self.groups}
        if len(groups) != len(self.groups):
            raise ValueError("each group id may appear once")
        if self.site_id in groups:
            raise ValueError(f"group id {self.site_id!r} is the site's own id")
        for group in self.groups:
            depth, parent = 0, group.parent_id
            while parent is not None:
                if parent not in groups:
                    raise ValueError(f"group {group.id!r}: parent {parent!r} is not a group")
                if parent == group.id:
                    raise ValueError(f"group {group.id!r} is its own ancestor (a loop)")
                depth += 1
                if depth >= MAX_DEPTH:
                    raise ValueError(
                        f"group {group.id!r}: a loop, or more than {MAX_DEPTH} levels of groups"
                    )
                parent = groups[parent].parent_id
        stations = [station.station_id for station in self.stations]
        if len(set(stations)) != len(stations):
            raise ValueError("each station may appear once")
        for station in self.stations:
            if station.group_id is not None and station.group_id not in groups:
                raise ValueError(
                    f"station {station.station_id!r}: group {station.group_id!r} is not a group"
                )
        if self.meter and self.meter.fallback_limit_kw > self.limit_kw:
            raise ValueError("the meter's fallback limit may not exceed the site limit")
        self._limits_can_power_one_session(groups)
        return self

    def _limits_can_power_one_session(self, groups: dict[str, LoadGroup]) -> None:
        # A limit that cannot carry one session at the minimum current is a typo (W for kW):
        # every session below it would be paused forever.
        smallest: dict[str | None, float] = {}
        for station in self.stations:
            need = min_power_kw(station, self.min_current_a)
            lowest = min((e.max_kw for e in station.evses if e.max_kw), default=station.max_kw)
            if station.current_type is CurrentType.AC and need > min(station.max_kw, lowest):
                raise ValueError(
                    f"station {station.station_id!r}: max {min(station.max_kw, lowest)} kW is "
                    f"below the minimum current ({self.min_current_a} A = {need:.2f} kW)"
                )
            node: str | None = station.group_id
            while True:
                smallest[node] = min(smallest.get(node, need), need)
                if node is None:
                    break
                node = groups[node].parent_id
        margin = 1 - self.safety_margin_pct / 100
        for node, need in smallest.items():
            limit = self.limit_kw if node is None else groups[node].limit_kw
            if limit is not None and limit * margin < need - 1e-9:
                where = "the site" if node is None else f"group {node!r}"
                raise ValueError(
                    f"{where}: limit {limit} kW (after the safety margin) cannot power one "
                    f"session at the minimum current ({need:.2f} kW)"
                )

    def station(self, station_id: str) -> StationLoad | None:
        """A station's place in the tree, if it has one."""
        return next((s for s in self.stations if s.station_id == station_id), None)


def min_power_kw(station: StationLoad, min_current_a: float) -> float:
    """The power of one session at the minimum current (DC stations: none)."""
    if station.current_type is CurrentType.DC:
        return 0.0
    return min_current_a * station.voltage * station.phases / 1000
