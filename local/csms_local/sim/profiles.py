"""Charging profiles as a simulated station applies them: the limit it offers each connector.

A real station keeps the profiles the CSMS sets and, at every moment, limits each connector to
the composite schedule: the lowest of the station-wide maximum (ChargePointMaxProfile /
ChargingStationMaxProfile, a total shared by the connectors that charge) and the transaction's
TxProfile, or the TxDefaultProfile when the transaction has none. Within one purpose the highest
stack level that has a period at that moment wins; one without (not yet valid, expired, past
its duration) gives way to the next lower level - 1.6 3.13.2, 2.0.1 K08. Limits in amperes are
per phase and become watts with the station's voltage and phases; below the minimum current
(6 A, IEC 61851-1) a connector pauses instead of charging slowly.

This module knows both versions' wire shapes only in `from_wire16` / `from_wire201`; the rest
is version-neutral and pure (time comes in as an argument).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

DEFAULT_PHASES = 3
"""Phases a period uses when it does not say (1.6 and 2.0.1: numberPhases defaults to 3)."""
MIN_CURRENT_A = 6.0
"""Below this a vehicle cannot charge (IEC 61851-1 PWM minimum): the session pauses."""
_RECURRENCE_S = {"Daily": 86_400.0, "Weekly": 604_800.0}
# GetCompositeSchedule covers at most this many changes (a runaway recurring profile stops here).
_MAX_PERIODS = 200


class Purpose(StrEnum):
    """What a profile limits, in neither version's spelling."""

    STATION_MAX = "StationMax"
    TX_DEFAULT = "TxDefault"
    TX = "Tx"


_PURPOSES_16 = {
    "ChargePointMaxProfile": Purpose.STATION_MAX,
    "TxDefaultProfile": Purpose.TX_DEFAULT,
    "TxProfile": Purpose.TX,
}
_PURPOSES_201 = {
    "ChargingStationMaxProfile": Purpose.STATION_MAX,
    # An external constraint (a local energy manager) caps the station like its maximum does.
    "ChargingStationExternalConstraints": Purpose.STATION_MAX,
    "TxDefaultProfile": Purpose.TX_DEFAULT,
    "TxProfile": Purpose.TX,
}


class ProfileError(ValueError):
    """A profile the station cannot apply (answered Rejected)."""


@dataclass(frozen=True)
class Period:
    """From `start_s` seconds into the schedule: `limit` (A per phase or W) on `phases`."""

    start_s: float
    limit: float
    phases: int | None = None


@dataclass(frozen=True)
class Profile:
    """One charging profile as the station keeps it."""

    id: int
    target: int
    """Connector (1.6) or EVSE (2.0.1); 0: the whole station."""
    purpose: Purpose
    stack_level: int
    kind: str
    """Absolute, Relative or Recurring."""
    unit: str
    """A (per phase) or W."""
    periods: tuple[Period, ...]
    received_at: datetime
    recurrency: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None
    start_schedule: datetime | None = None
    duration_s: float | None = None
    wire_purpose: str = ""
    """The purpose as the CSMS spelled it (ClearChargingProfile matches on it)."""


@dataclass(frozen=True)
class Electrical:
    """How a station converts a limit in amperes into watts."""

    voltage: float = 230.0
    phases: int = 3
    min_current_a: float = MIN_CURRENT_A

    def watts(self, limit: float, unit: str, phases: int | None) -> float:
        """A period's limit in W (amperes per phase, on the phases the station has)."""
        if unit == "W":
            return limit
        return limit * self.voltage * min(phases or DEFAULT_PHASES, self.phases)

    @property
    def minimum_w(self) -> float:
        """The least a charging session draws: the minimum current on every phase."""
        return self.min_current_a * self.voltage * self.phases


@dataclass(frozen=True)
class Running:
    """The transaction on a connector, as far as profiles care."""

    transaction_id: str
    started_at: datetime


@dataclass(frozen=True)
class Limit:
    """What the profiles allow at a moment, and until when that holds."""

    watts: float | None
    """None: no profile limits it."""
    until: datetime | None
    """The next moment a profile may change the limit (None: never)."""


# --- reading profiles off the wire (the `ocpp` package hands them over in snake_case) ---------


def from_wire16(payload: Mapping[str, Any], target: int, received_at: datetime) -> Profile:
    """A 1.6 `csChargingProfiles` on connector `target` (0: the charge point)."""
    transaction = payload.get("transaction_id")
    return _profile(
        payload,
        profile_id=payload.get("charging_profile_id"),
        schedule=payload.get("charging_schedule"),
        purposes=_PURPOSES_16,
        target=target,
        transaction_id=None if transaction is None else str(transaction),
        received_at=received_at,
    )


def from_wire201(payload: Mapping[str, Any], target: int, received_at: datetime) -> Profile:
    """A 2.0.1 `chargingProfile` on EVSE `target` (0: the station).

    Of several schedules (only ISO 15118 offers need more than one) the first applies.
    """
    schedules = payload.get("charging_schedule")
    schedule = schedules[0] if isinstance(schedules, list) and schedules else None
    return _profile(
        payload,
        profile_id=payload.get("id"),
        schedule=schedule,
        purposes=_PURPOSES_201,
        target=target,
        transaction_id=payload.get("transaction_id"),
        received_at=received_at,
    )


def _profile(
    payload: Mapping[str, Any],
    *,
    profile_id: Any,
    schedule: Any,
    purposes: Mapping[str, Purpose],
    target: int,
    transaction_id: str | None,
    received_at: datetime,
) -> Profile:
    purpose = purposes.get(str(payload.get("charging_profile_purpose")))
    if purpose is None or not isinstance(profile_id, int) or not isinstance(schedule, dict):
        raise ProfileError("not a charging profile this station knows")
    periods = tuple(
        Period(
            start_s=float(p["start_period"]),
            limit=float(p["limit"]),
            phases=p.get("number_phases"),
        )
        for p in schedule.get("charging_schedule_period") or ()
    )
    # The first period starts the schedule - 1.6 ChargingSchedulePeriod, 2.0.1 K01.FR.31.
    if not periods or periods[0].start_s != 0:
        raise ProfileError("the first period must start at 0")
    if any(b.start_s <= a.start_s for a, b in itertools.pairwise(periods)):
        raise ProfileError("periods must start in increasing order")
    if any(not math.isfinite(p.limit) or p.limit < 0 for p in periods):
        raise ProfileError("a limit must be 0 or more")
    kind = str(payload.get("charging_profile_kind"))
    recurrency = payload.get("recurrency_kind")
    start = _time(schedule.get("start_schedule"))
    if kind == "Recurring" and (recurrency not in _RECURRENCE_S or start is None):
        raise ProfileError("a recurring profile needs recurrencyKind and startSchedule")
    duration = schedule.get("duration")
    return Profile(
        id=profile_id,
        target=target,
        purpose=purpose,
        stack_level=int(payload.get("stack_level", 0)),
        kind=kind,
        unit=str(schedule.get("charging_rate_unit", "A")),
        periods=periods,
        received_at=received_at,
        recurrency=recurrency,
        valid_from=_time(payload.get("valid_from")),
        valid_to=_time(payload.get("valid_to")),
        transaction_id=transaction_id,
        start_schedule=start,
        duration_s=None if duration is None else float(duration),
        wire_purpose=str(payload.get("charging_profile_purpose")),
    )


def _time(text: Any) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        raise ProfileError(f"not a date and time: {text!r}") from None
    if moment.tzinfo is None:
        raise ProfileError(f"a time needs its offset: {text!r}")
    return moment


# --- one profile at one moment -------------------------------------------------------------


def _earliest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return min(known) if known else None


def profile_limit(
    profile: Profile, at: datetime, running: Running | None, electrical: Electrical
) -> Limit:
    """The profile's limit in W at `at` (None when it has no period then), and its next change."""
    if profile.valid_from is not None and at < profile.valid_from:
        return Limit(None, profile.valid_from)
    if profile.valid_to is not None and at >= profile.valid_to:
        return Limit(None, None)
    start, next_start = _schedule_start(profile, at, running)
    offset = (at - start).total_seconds()
    end = None if profile.duration_s is None else start + timedelta(seconds=profile.duration_s)
    if offset < 0:
        return Limit(None, _earliest(start, profile.valid_to))
    if end is not None and at >= end:
        return Limit(None, _earliest(next_start, profile.valid_to))
    current = profile.periods[0]
    following: datetime | None = None
    for period in profile.periods:
        if period.start_s <= offset:
            current = period
        else:
            following = start + timedelta(seconds=period.start_s)
            break
    watts = electrical.watts(current.limit, profile.unit, current.phases)
    return Limit(watts, _earliest(following, end, next_start, profile.valid_to))


def _schedule_start(
    profile: Profile, at: datetime, running: Running | None
) -> tuple[datetime, datetime | None]:
    """Where the schedule starts for `at`, and where it starts again (recurring)."""
    if profile.kind == "Recurring" and profile.start_schedule is not None:
        every = _RECURRENCE_S[str(profile.recurrency)]
        base = profile.start_schedule
        if at < base:
            return base, None
        cycles = math.floor((at - base).total_seconds() / every)
        start = base + timedelta(seconds=cycles * every)
        return start, start + timedelta(seconds=every)
    if profile.kind == "Relative":
        # Relative to the start of the transaction; with none, to the moment asked about.
        if running is not None and profile.purpose is not Purpose.STATION_MAX:
            return running.started_at, None
        return at, None
    return profile.start_schedule or profile.received_at, None


# --- the composite limit of a connector ----------------------------------------------------


def _stack(
    profiles: Iterable[Profile], at: datetime, running: Running | None, electrical: Electrical
) -> Limit:
    """Within one purpose: the highest stack level with a period at `at` (specific first)."""
    ordered = sorted(profiles, key=lambda p: (-p.stack_level, p.target == 0, p.id))
    watts: float | None = None
    until: datetime | None = None
    for profile in ordered:
        limit = profile_limit(profile, at, running, electrical)
        until = _earliest(until, limit.until)
        if watts is None and limit.watts is not None:
            watts = limit.watts
    return Limit(watts, until)


def station_limit(profiles: Iterable[Profile], at: datetime, electrical: Electrical) -> Limit:
    """The station-wide maximum at `at` (a total for all its connectors)."""
    chosen = [p for p in profiles if p.purpose is Purpose.STATION_MAX and p.target == 0]
    return _stack(chosen, at, None, electrical)


def connector_limit(
    profiles: Iterable[Profile],
    connector: int,
    at: datetime,
    running: Running | None,
    electrical: Electrical,
    *,
    sharing: int = 1,
) -> Limit:
    """The composite limit of one connector at `at`, in W.

    The station maximum is shared equally by the `sharing` connectors that charge; the
    transaction's TxProfile applies when it has one with a period now, else the TxDefault.
    """
    profiles = list(profiles)
    station = station_limit(profiles, at, electrical)
    tx = Limit(None, None)
    if running is not None:
        tx = _stack(
            (
                p
                for p in profiles
                if p.purpose is Purpose.TX
                and p.target == connector
                and p.transaction_id in (None, running.transaction_id)
            ),
            at,
            running,
            electrical,
        )
    default = _stack(
        (p for p in profiles if p.purpose is Purpose.TX_DEFAULT and p.target in (0, connector)),
        at,
        running,
        electrical,
    )
    own = tx.watts if tx.watts is not None else default.watts
    candidates = [w for w in (own, _share(station.watts, sharing)) if w is not None]
    return Limit(
        min(candidates) if candidates else None,
        _earliest(station.until, tx.until, default.until),
    )


def _share(watts: float | None, sharing: int) -> float | None:
    return None if watts is None else watts / max(1, sharing)


def offered_w(limit: Limit, electrical: Electrical) -> float | None:
    """What a connector offers the vehicle: the limit, or 0 (paused) below the minimum current."""
    if limit.watts is None:
        return None
    return 0.0 if limit.watts < electrical.minimum_w - 1e-6 else limit.watts


def composite_schedule(
    limit_at: Callable[[datetime], Limit], start: datetime, duration_s: float
) -> list[tuple[float, float | None]]:
    """(offset in s, W or None) periods of `limit_at(moment) -> Limit` over the window."""
    end = start + timedelta(seconds=duration_s)
    periods: list[tuple[float, float | None]] = []
    moment = start
    while moment < end and len(periods) < _MAX_PERIODS:
        limit = limit_at(moment)
        if not periods or periods[-1][1] != limit.watts:
            periods.append(((moment - start).total_seconds(), limit.watts))
        if limit.until is None or limit.until <= moment:
            break
        moment = limit.until
    return periods


def validate_for(
    profile: Profile, running: Running | None, *, connectors: int, needs_transaction_id: bool
) -> None:
    """Refuse a profile the station cannot take (answered Rejected), as a real station does."""
    if not 0 <= profile.target <= connectors:
        raise ProfileError(f"no connector {profile.target}")
    if profile.purpose is Purpose.STATION_MAX and profile.target != 0:
        raise ProfileError("a station maximum is set on the whole station (0)")
    if profile.purpose is Purpose.TX:
        # A TxProfile needs a transaction running on its connector - 1.6 SetChargingProfile,
        # 2.0.1 K01.FR.09/K01.FR.16 (and 2.0.1 names the transaction).
        if profile.target == 0 or running is None:
            raise ProfileError("no transaction on that connector")
        if needs_transaction_id and profile.transaction_id is None:
            raise ProfileError("a TxProfile names its transaction")
        if profile.transaction_id not in (None, running.transaction_id):
            raise ProfileError("not the transaction running on that connector")


def replaced_by(kept: Mapping[int, Profile], new: Profile) -> list[int]:
    """Ids of the kept profiles that `new` replaces.

    The same id, or the same purpose, stack level and connector - 1.6 SetChargingProfile (2.0.1
    replaces by id and refuses the rest; the simulator replaces both ways, to be forgiving).
    """
    return [
        pid
        for pid, old in kept.items()
        if pid == new.id
        or (
            old.purpose is new.purpose
            and old.stack_level == new.stack_level
            and old.target == new.target
        )
    ]
