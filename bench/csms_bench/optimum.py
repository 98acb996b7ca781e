"""The offline optimum: the most energy any algorithm could deliver, knowing the future.

A linear programme on the replay's step grid, solved with HiGHS:
    maximise   sum over sessions i, steps t of  w_t * x[i,t] * dt
    subject to 0 <= x[i,t] <= min(EV max, EVSE max)          while i is present at t
               sum_t x[i,t] * dt <= energy i really needs
               every row of the tree (site incl. time-of-day and building load, groups,
               phases, stations) at every step t: sum of coefficient * x <= its limit
with w_t slightly larger for earlier steps (1 + 1e-6 per step to go), so that among equal
optima the earliest delivery is chosen. The minimum current is not imposed (a relaxation), so
the optimum is an upper bound that no algorithm keeping that rule can beat.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import highspy
import numpy as np

from csms.domain.load.config import CurrentType
from csms.domain.load.needs import connector_key
from csms_bench.replay import Grid, Outcome, SiteInputs, ViolationCheck, ordered
from csms_bench.scenario import Scenario

EARLY_BONUS = 1e-6


class OptimumError(Exception):
    """HiGHS did not find the optimum (it always exists: zero power is feasible)."""


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    # HiGHS prints its banner from C++ on the first solver built: keep stdout for the JSON.
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@dataclass(slots=True)
class _Programme:
    """The LP in HiGHS's row-wise sparse form, built step by step."""

    columns: list[tuple[int, int]] = field(default_factory=list)  # (session, step)
    cost: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    starts: list[int] = field(default_factory=lambda: [0])
    index: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    row_upper: list[float] = field(default_factory=list)

    def column(self, n: int, k: int, upper: float, cost: float) -> int:
        """A variable: session n's power in step k."""
        self.columns.append((n, k))
        self.upper.append(upper)
        self.cost.append(cost)
        return len(self.columns) - 1

    def row(self, entries: Sequence[tuple[int, float]], limit: float) -> None:
        """sum of coefficient * variable <= limit."""
        for j, coefficient in entries:
            self.index.append(j)
            self.value.append(coefficient)
        self.starts.append(len(self.index))
        self.row_upper.append(limit)


def optimum(scenario: Scenario, *, step: timedelta = timedelta(minutes=5)) -> Outcome:
    """The optimum's deliveries, peak power and row check, as an Outcome."""
    began = time.perf_counter()
    grid = Grid.of(scenario, step)
    sessions = ordered(scenario)
    inputs = SiteInputs(scenario)
    check = ViolationCheck(scenario.site)
    keys = [connector_key(s.station_id, s.evse_id) for s in sessions]
    by_step: dict[int, list[int]] = {}
    for n, session in enumerate(sessions):
        for k in grid.present(session):
            by_step.setdefault(k, []).append(n)
    lp = _Programme()
    site_kw: dict[int, float] = {}
    per_session: list[list[int]] = [[] for _ in sessions]
    for k in sorted(by_step):
        site_kw[k] = inputs.available(grid.at(k)).kw
        tree = check.tree(site_kw[k])
        rows: dict[int, list[tuple[int, float]]] = {}
        for n in by_step[k]:
            slot_index = tree.by_key[keys[n]]
            slot = tree.slots[slot_index]
            # An EV on fewer phases than its station: its share of the EVSE, on its phases.
            phases = (
                min(sessions[n].ev_phases, slot.phases)
                if slot.current_type is CurrentType.AC
                else slot.phases
            )
            upper = min(sessions[n].ev_max_kw, slot.max_kw_on(phases))
            j = lp.column(n, k, upper, grid.hours * (1 + EARLY_BONUS * (grid.count - k)))
            per_session[n].append(j)
            tree.use_phases(slot_index, phases)
            for r, coefficient in tree.rows_of[slot_index]:
                rows.setdefault(r, []).append((j, coefficient))
            tree.use_phases(slot_index, slot.phases)
        for r, entries in rows.items():
            limit = tree.rows[r].limit
            alone = len(entries) == 1 and entries[0][1] * lp.upper[entries[0][0]] <= limit
            if not alone:  # a single variable's bound may already keep the row
                lp.row(entries, limit)
    for n, variables in enumerate(per_session):
        if variables:
            lp.row([(j, grid.hours) for j in variables], sessions[n].energy_kwh)

    outcome = Outcome(
        algorithm="optimum",
        requested_kwh=[s.energy_kwh for s in sessions],
        delivered_kwh=[0.0] * len(sessions),
        profile_messages=None,
    )
    draws: dict[int, dict[str, float]] = {}
    for (n, k), solved in zip(lp.columns, _solve(lp), strict=True):
        kw = max(solved, 0.0)
        outcome.delivered_kwh[n] += kw * grid.hours
        draws.setdefault(k, {})[keys[n]] = kw
    for k, by_key in draws.items():
        outcome.peak_site_kw = max(outcome.peak_site_kw, sum(by_key.values()))
        outcome.violations += check.count(site_kw[k], by_key)
    outcome.compute_s = time.perf_counter() - began
    return outcome


def _solve(programme: _Programme) -> list[float]:
    if not programme.cost:
        return []
    columns, rows = len(programme.cost), len(programme.row_upper)
    lp = highspy.HighsLp()
    lp.num_col_ = columns
    lp.num_row_ = rows
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = np.asarray(programme.cost, dtype=np.float64)
    lp.col_lower_ = np.zeros(columns)
    lp.col_upper_ = np.asarray(programme.upper, dtype=np.float64)
    lp.row_lower_ = np.full(rows, -highspy.kHighsInf)
    lp.row_upper_ = np.asarray(programme.row_upper, dtype=np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = columns
    lp.a_matrix_.num_row_ = rows
    lp.a_matrix_.start_ = np.asarray(programme.starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.asarray(programme.index, dtype=np.int32)
    lp.a_matrix_.value_ = np.asarray(programme.value, dtype=np.float64)
    with _stdout_to_stderr():
        solver = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy's __init__ is untyped
    solver.silent()
    solver.passModel(lp)
    solver.run()
    status = solver.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise OptimumError(f"HiGHS: {solver.modelStatusToString(status)}")
    return [float(v) for v in solver.getSolution().col_value]
