"""The allocation engine: a limit for every EVSE of a site, every group and phase under its limit.

PROVISIONAL: least-laxity-first greedy; being replaced by the policy of ADR 0010.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from csms.domain.load.allocation import Allocation, ConnectorLimit, Reason, RowLoad
from csms.domain.load.config import CurrentType, SiteLoadConfig
from csms.domain.load.inputs import Available
from csms.domain.load.needs import SessionDemand
from csms.domain.load.tree import CompiledTree


@dataclass(frozen=True, slots=True)
class Policy:
    """The engine's tunables."""

    # Assumed stay of a session whose departure nobody declared.
    default_stay: timedelta = timedelta(hours=8)


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
    policy = policy or Policy()
    tree = CompiledTree(config, available.kw)
    n = len(tree.slots)
    alloc = [0.0] * n
    headroom = tree.headroom()
    sessions: dict[int, SessionDemand] = {}
    for each in demands:
        i = tree.by_key.get(each.connector)
        if i is not None:
            sessions[i] = each
    caps = [0.0] * n
    laxity: dict[int, float] = {}
    for i, demand in sorted(sessions.items()):
        slot = tree.slots[i]
        cap = slot.max_kw if demand.ev_max_kw is None else min(slot.max_kw, demand.ev_max_kw)
        remaining = demand.remaining_kwh
        if remaining is not None and remaining <= 1e-9:
            cap = 0.0
        caps[i] = cap
        departure = demand.departure or demand.arrival + policy.default_stay
        hours = max((departure - now).total_seconds() / 3600, 0.0)
        need = remaining if remaining is not None else cap * hours
        laxity[i] = hours - (need / cap if cap > 0 else 0.0)
    order = sorted(sessions, key=lambda i: (laxity[i], sessions[i].session_id))
    tree.fill(order, caps, alloc, headroom)
    limits = []
    for i, slot in enumerate(tree.slots):
        held = sessions.get(i)
        kw = alloc[i]
        reason = Reason.IDLE if held is None else Reason.LIMIT
        if held is not None and 0 < kw < slot.min_kw:
            tree.take(i, -kw, headroom)
            kw, reason = 0.0, Reason.PAUSED
        ac = slot.current_type is CurrentType.AC
        limits.append(
            ConnectorLimit(
                connector=slot.key,
                station_id=slot.station_id,
                evse_id=slot.evse_id,
                session_id=held.session_id if held else None,
                kw=kw,
                amps=slot.amps(kw) if ac else None,
                phases=slot.phases,
                reason=reason,
            )
        )
    used = tree.usage([limit.kw for limit in limits])
    rows = tuple(
        RowLoad(
            label=row.label,
            unit="A" if row.phase else "kW",
            limit=row.limit,
            allocated=used[r],
        )
        for r, row in enumerate(tree.rows)
    )
    return Allocation(
        site_id=config.site_id,
        at=now,
        config_version=config.version,
        available_kw=available.kw,
        constraint=available.constraint.value,
        building_kw=available.building_kw,
        pv_kw=available.pv_kw,
        battery_kw=available.battery_kw,
        connectors=tuple(limits),
        rows=rows,
        notes=available.notes,
    )
