"""The simulated clock of charging sessions: real time, possibly accelerated.

Only the charging sessions run on it (meter intervals, session length, the pause between two
sessions); the connection itself (heartbeats, reconnect backoff, reply timeouts) keeps real
time, because the CSMS's idle and reply timeouts are real.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class SimClock(Protocol):
    """What a charging session asks of time; tests inject their own."""

    def now(self) -> datetime:
        """Simulated time (tz-aware UTC)."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once the simulated time has reached `when` (at once if it has)."""
        ...


class ScaledClock:
    """Starts at the real time now and runs `speed` times faster than real time."""

    def __init__(
        self,
        speed: float = 1.0,
        *,
        start: datetime | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be a positive number, not {speed!r}")
        if start is not None and start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.speed = speed
        self._start = start if start is not None else datetime.now(UTC)
        self._monotonic = monotonic
        self._origin = monotonic()

    def now(self) -> datetime:
        """Simulated time: the start plus `speed` times the real time elapsed since."""
        return self._start + timedelta(seconds=(self._monotonic() - self._origin) * self.speed)

    async def sleep_until(self, when: datetime) -> None:
        """Sleep the real time that makes the simulated clock reach `when`."""
        remaining = (when - self.now()).total_seconds()
        if remaining > 0:
            await asyncio.sleep(remaining / self.speed)


def wire_time(moment: datetime) -> str:
    """An OCPP timestamp: UTC, milliseconds, `Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
