"""The public-L2 station profile: one month of its messages, as a timeline (pure).

A public AC station (7.4 kW) on one connector:
- connected all month; API Gateway cuts every connection after 2 hours and the station
  reconnects at once (`$disconnect` + `$connect`; no BootNotification: it did not reboot);
- a Heartbeat every 300 s, whatever else it sends (most firmware does; the spec lets a
  station skip it when other traffic flowed, which would only lower the bill);
- ~1.5 sessions a day (45 in 30 days), evenly spread, of 3 hours each, drivers taking turns;
  per session: StatusNotification(s), Authorize, start, meter values every 60 s, stop;
  1.6: Preparing -> Authorize -> StartTransaction -> Charging -> MeterValues x180 ->
  StopTransaction -> Finishing -> Available;
  2.0.1: Occupied -> Authorize -> TransactionEvent Started -> Updated x180 -> Ended -> Available.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import IntEnum

DAY_S = 86_400


class Kind(IntEnum):
    """What a step is; the value orders steps of the same second (a call on the old
    connection, then its `$disconnect`, then the new `$connect`)."""

    CALL = 0
    DISCONNECT = 1
    CONNECT = 2


@dataclass(frozen=True)
class Profile:
    """The station's habits."""

    days: int = 30
    heartbeat_s: int = 300
    sessions_per_day: float = 1.5
    session_s: int = 3 * 3600
    meter_interval_s: int = 60
    connection_s: int = 2 * 3600  # API Gateway's maximum connection duration
    drivers: int = 15  # tokens taking turns: each charges three times a month

    @property
    def seconds(self) -> int:
        """Length of the replayed period."""
        return self.days * DAY_S

    @property
    def sessions(self) -> int:
        """Sessions in the period."""
        return round(self.days * self.sessions_per_day)

    @property
    def readings_per_session(self) -> int:
        """Meter values messages per session."""
        return self.session_s // self.meter_interval_s

    @property
    def connection_minutes(self) -> float:
        """Minutes connected (the reconnect gaps are a fraction of a second)."""
        return self.seconds / 60


@dataclass(frozen=True, order=True)
class Step:
    """One thing the station does, `at` seconds into the period."""

    at: int
    kind: Kind
    action: str = ""  # the OCPP action of a call
    detail: str = ""  # the status, or the TransactionEvent type
    session: int = -1  # which session a transaction message belongs to
    index: int = 0  # the meter reading's number in its session (1...)


STATUSES: dict[str, dict[str, tuple[str, ...]]] = {
    "1.6": {"plug": ("Preparing",), "start": ("Charging",), "stop": ("Finishing",)},
    "2.0.1": {"plug": ("Occupied",), "start": (), "stop": ()},
}
_UNPLUG_S = 300  # the driver comes back and unplugs five minutes after the stop


def session_start(profile: Profile, session: int) -> int:
    """When session `session` starts: sessions evenly spread, the first mid-interval."""
    spacing = profile.seconds / profile.sessions
    return round((session + 0.5) * spacing)


def _session_steps(profile: Profile, version: str, k: int) -> list[Step]:
    start = session_start(profile, k)
    end = start + profile.session_s
    statuses = STATUSES[version]
    v16 = version == "1.6"
    steps = [Step(start - 120, Kind.CALL, "StatusNotification", s, k) for s in statuses["plug"]]
    steps.append(Step(start - 60, Kind.CALL, "Authorize", "", k))
    if v16:
        steps.append(Step(start, Kind.CALL, "StartTransaction", "", k))
    else:
        steps.append(Step(start, Kind.CALL, "TransactionEvent", "Started", k))
    steps += [Step(start + 2, Kind.CALL, "StatusNotification", s, k) for s in statuses["start"]]
    for i in range(1, profile.readings_per_session + 1):
        at = start + i * profile.meter_interval_s
        if v16:
            steps.append(Step(at, Kind.CALL, "MeterValues", "", k, i))
        else:
            steps.append(Step(at, Kind.CALL, "TransactionEvent", "Updated", k, i))
    if v16:
        steps.append(Step(end + 10, Kind.CALL, "StopTransaction", "", k))
    else:
        steps.append(Step(end + 10, Kind.CALL, "TransactionEvent", "Ended", k))
    steps += [Step(end + 12, Kind.CALL, "StatusNotification", s, k) for s in statuses["stop"]]
    steps.append(Step(end + _UNPLUG_S, Kind.CALL, "StatusNotification", "Available", k))
    return steps


def month(profile: Profile, version: str) -> list[Step]:
    """Every step of the period in order of time."""
    if version not in STATUSES:
        msg = f"unknown OCPP version {version!r}"
        raise ValueError(msg)
    steps: list[Step] = []
    for start in range(0, profile.seconds, profile.connection_s):
        steps.append(Step(start, Kind.CONNECT))
        steps.append(Step(min(start + profile.connection_s, profile.seconds), Kind.DISCONNECT))
    steps += [
        Step(at, Kind.CALL, "Heartbeat")
        for at in range(profile.heartbeat_s, profile.seconds + 1, profile.heartbeat_s)
    ]
    for k in range(profile.sessions):
        steps += _session_steps(profile, version, k)
    return sorted(steps)


def label(step: Step) -> str:
    """`$connect`, `Heartbeat`, `TransactionEvent Updated`, `StatusNotification Charging`..."""
    if step.kind is Kind.CONNECT:
        return "$connect"
    if step.kind is Kind.DISCONNECT:
        return "$disconnect"
    return f"{step.action} {step.detail}".strip()


def counts(steps: list[Step]) -> Counter[str]:
    """Steps per label."""
    return Counter(label(step) for step in steps)
